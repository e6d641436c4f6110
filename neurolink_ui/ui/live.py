"""Stop: the run each panel of a session has in progress, and the Stop button that cancels it."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..replicate.errors import ReplicateError
from ..replicate.types import Prediction, Progress
from .adapters import cancel_failed_markdown, stopped_markdown
from .context import AppContext
from .events import EVENT_CONCURRENCY, Update

# How long Stop waits, once its cancel reached Replicate, for the run to end and say so itself.
STOP_REPORT_WAIT = 3.0


@dataclass
class LiveRuns:
    """The run each panel of this session has in progress: what its Stop button cancels.

    One object per session (a `gr.State`), shared by reference like the History log.
    """

    running: dict[str, str] = field(default_factory=dict)  # panel → prediction id
    stopping: set[str] = field(default_factory=set)  # panels whose Stop was clicked
    active: set[str] = field(default_factory=set)  # panels whose run has not ended

    def start(self, panel: str) -> None:
        self.finish(panel)
        self.active.add(panel)

    def track(self, panel: str, prediction_id: str) -> None:
        if prediction_id:
            self.running[panel] = prediction_id

    def finish(self, panel: str) -> None:
        self.running.pop(panel, None)
        self.stopping.discard(panel)
        self.active.discard(panel)

    async def ended(self, panel: str, within: float) -> bool:
        """Whether the panel's run ends within `within` seconds."""
        deadline = time.monotonic() + within
        while panel in self.active:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True


@contextmanager
def live_run(live: LiveRuns | None, panel: str) -> Iterator[None]:
    """Marks the panel's run in progress while the block runs (a handler's whole run, so its
    last update is out before Stop reads it as ended)."""
    if live is None:
        yield
        return
    live.start(panel)
    try:
        yield
    finally:
        live.finish(panel)


def runs_live(
    panel: str,
) -> Callable[
    [Callable[..., AsyncGenerator[Update, None]]], Callable[..., AsyncGenerator[Update, None]]
]:
    """A panel handler whose run is marked in progress (`live_run`) in the session's LiveRuns,
    the argument of that type."""

    def decorate(
        handler: Callable[..., AsyncGenerator[Update, None]],
    ) -> Callable[..., AsyncGenerator[Update, None]]:
        @functools.wraps(handler)
        async def running(*args: Any, **kwargs: Any) -> AsyncGenerator[Update, None]:
            live = next((a for a in (*args, *kwargs.values()) if isinstance(a, LiveRuns)), None)
            updates = handler(*args, **kwargs)
            with live_run(live, panel):
                async with aclosing(updates):
                    async for update in updates:
                        yield update

        return running

    return decorate


def track(live: LiveRuns | None, panel: str, event: Progress) -> None:
    if live is not None:
        live.track(panel, event.prediction_id)


def stopping(live: LiveRuns | None, panel: str) -> bool:
    """Stop was clicked: the run shows no more progress, only how it ended."""
    return live is not None and panel in live.stopping


def wire_stop(
    ctx: AppContext,
    panel: str,
    stop: gr.Button,
    events: list[Any],
    session: gr.State,
    live: gr.State,
    status: gr.Markdown,
) -> None:
    """Stop cancels the panel's prediction at Replicate and ends its `events`; the status says
    how the run ended (see `make_stop_handler`)."""
    stop.click(
        make_stop_handler(ctx, panel),
        [session, live],
        [status],
        cancels=events,
        api_visibility="private",
        concurrency_limit=EVENT_CONCURRENCY,  # a Stop never queues behind another visitor's
        concurrency_id="stop",
    )


def make_stop_handler(ctx: AppContext, panel: str) -> Callable[..., Any]:
    """The Stop button's own handler: it cancels the run's prediction at Replicate, then lets the
    run say how it ended.

    The page writes an event's last update again when the event completes (Gradio repeats a
    generator's final values), so a status written here is overwritten by the run's last one
    whenever the run ends by itself. So the run ends with its own "Stopped" status (or its
    result, when the prediction finished first), and this handler writes the status only when
    the run does not end within STOP_REPORT_WAIT: no prediction yet, the cancel failed, or
    Replicate is slow to end it. Then `cancels=` ends the event, which sends nothing more.
    """

    async def stop(session_token: str | None, live: LiveRuns | None) -> Any:
        # Not popped: a second click cancels again (idempotent) instead of "nothing running".
        prediction_id = live.running.get(panel) if live else None
        if live is not None:
            live.stopping.add(panel)
        backend = ctx.backend(session_token)
        if not prediction_id:
            return stopped_markdown(None)
        prediction: Prediction | None = None
        try:
            prediction = await backend.client.cancel_prediction(prediction_id, token=backend.token)
        except ReplicateError as exc:
            return cancel_failed_markdown(prediction_id, str(exc), backend.on_replicate)
        if live is not None and await live.ended(panel, STOP_REPORT_WAIT):
            return gr.skip()  # the run's last update says it
        return stopped_markdown(prediction, backend.on_replicate)

    return stop
