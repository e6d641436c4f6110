"""How the panels' Gradio events are set up: how many run at once, and their update types."""

from __future__ import annotations

from typing import Any, TypeVar

# Events talk to Replicate and wait: many may run at once (Gradio's default is one per event).
EVENT_CONCURRENCY: int | None = None

# Gradio's renders of one session add events to a dict other renders iterate without a copy
# (`set_event_trigger`, `Renderable.apply`): two at once raised `RuntimeError: dictionary changed
# size during iteration` at page load, when every panel's Advanced form renders. Renders are short
# (no I/O), so they take turns.
RENDER_ONE_AT_A_TIME: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "render"}

Update = TypeVar("Update", bound=tuple)
