"""Stop on the page: a handler's run marked live, and the Stop button that cancels it.

What a session has running (`LiveRuns`) and the one Stop rule live in the run core
(`runs.live`, `runs.stop`); this module wires them to Gradio's events.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

import gradio as gr

from ..replicate.errors import ReplicateError
from ..runs import LiveRuns, live_run
from ..runs import stop as stop_run
from .adapters import cancel_failed_markdown, stopped_markdown
from .context import AppContext
from .events import EVENT_CONCURRENCY, Update

# How long Stop waits, once its cancel reached Replicate, for the run to end and say so itself.
STOP_REPORT_WAIT = 3.0

__all__ = ["LiveRuns", "live_run", "make_stop_handler", "runs_live", "wire_stop"]


def runs_live(
    key: str,
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
            with live_run(live, key):
                async with aclosing(updates):
                    async for update in updates:
                        yield update

        return running

    return decorate


def wire_stop(
    ctx: AppContext,
    key: str,
    stop: gr.Button,
    events: list[Any],
    session: gr.State,
    live: gr.State,
    status: gr.Markdown,
    report_wait: float = STOP_REPORT_WAIT,
) -> None:
    """Stop cancels the run's prediction at Replicate and ends its `events`; the status says
    how the run ended (see `make_stop_handler`)."""
    stop.click(
        make_stop_handler(ctx, key, report_wait),
        [session, live],
        [status],
        cancels=events,
        api_visibility="private",
        concurrency_limit=EVENT_CONCURRENCY,  # a Stop never queues behind another visitor's
        concurrency_id="stop",
    )


def make_stop_handler(
    ctx: AppContext, key: str, report_wait: float = STOP_REPORT_WAIT
) -> Callable[..., Any]:
    """The Stop button's own handler: it cancels the run's prediction at Replicate, then lets the
    run say how it ended.

    The page writes an event's last update again when the event completes (Gradio repeats a
    generator's final values), so a status written here is overwritten by the run's last one
    whenever the run ends by itself. So the run ends with its own "Stopped" status (or its
    result, when the prediction finished first), and this handler writes the status only when
    the run does not end within `report_wait`: no prediction yet, the cancel failed, or
    Replicate is slow to end it. Then `cancels=` ends the event, which sends nothing more.

    When nothing runs (the run has ended) Stop does nothing: the status stays as the run left
    it, its prediction id and seed included.
    """

    async def stop(session_token: str | None, live: LiveRuns | None) -> Any:
        if live is None or not live.is_running(key):
            return gr.skip()  # nothing to stop: a finished run's status is not replaced
        backend = ctx.backend(session_token)
        prediction_id = live.running.get(key)
        try:
            prediction = await stop_run(live, key, backend)
        except ReplicateError as exc:
            return cancel_failed_markdown(prediction_id or "", str(exc), backend.on_replicate)
        if prediction is None:
            return stopped_markdown(None)
        if await live.ended(key, report_wait):
            return gr.skip()  # the run's last update says it
        return stopped_markdown(prediction, backend.on_replicate)

    return stop
