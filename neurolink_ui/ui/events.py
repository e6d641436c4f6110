"""How the panels' Gradio events are set up: how many run at once, and their update types."""

from __future__ import annotations

from typing import Any, TypeVar

# Events talk to Replicate and wait: many may run at once (Gradio's default is one per event).
EVENT_CONCURRENCY: int | None = None

# Gradio's renders of one session add events to a dict other renders of that session iterate
# without a copy (`set_event_trigger`, `Renderable.apply` on the session's BlocksConfig): two at
# once raised `RuntimeError: dictionary changed size during iteration` at page load, when every
# panel's Advanced form renders. So a session's renders take turns. Only a session's: sessions
# share no BlocksConfig, and one lane for every session let one visitor's 30 queued History
# renders hold a newcomer's Advanced forms for 45 s (issue 20). Every render declares this group;
# the app's queue (fairness.FairQueue) moves each render event into its session's own lane of one.
RENDER_ONE_AT_A_TIME: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "render"}

Update = TypeVar("Update", bound=tuple)
