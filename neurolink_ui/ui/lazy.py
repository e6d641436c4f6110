"""Work for a tab done when the tab is first opened, not at every page load (issue 21).

Each panel's Advanced form and example prompts used to load on page load, for all five panels
at once: 19 events through the queue and five forms drawn for a visitor who sees one tab. A
panel built inside `opened_by(tab)` loads them the first time its tab is selected — by a click,
or by the server (Explore's "Open in panel", Remix), which Gradio reports as a select too — and
whenever their inputs change after that, as before. The first tab's panel is built outside it
and loads with the page.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import gradio as gr

_opened: ContextVar[gr.State | None] = ContextVar("neurolink_opened", default=None)


@contextlib.contextmanager
def opened_by(tab: gr.Tab) -> Iterator[gr.State]:
    """Panels built in this block load their forms when `tab` is first selected.

    A State turns True at the first select; its change (once per page) is the trigger. The
    select is queued: Gradio reports a State's change only from a queued event."""
    opened = gr.State(False)
    tab.select(lambda: True, None, opened, api_visibility="private", show_progress="hidden")
    token = _opened.set(opened)
    try:
        yield opened
    finally:
        _opened.reset(token)


def load_triggers(inputs: Sequence[Any]) -> list[Any] | None:
    """The triggers of a load that reads `inputs` (components with a change event): page load and their changes (None, Gradio's
    default for `gr.on` and `gr.render`) — or, inside `opened_by`, the tab's first opening
    instead of the page load."""
    opened = _opened.get()
    if opened is None:
        return None
    return [opened.change, *(component.change for component in inputs)]
