"""Streams: server-sent events at `/v1/streams/<id>` (a capability URL: no token needed).

An opening `: hi` comment, `id: <time>:<index>` on every event, resumable with `Last-Event-ID`;
`drop_stream_after` in the config closes the connection early without `done`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..state import PredictionState
from .common import base_of, not_found, sim_state


async def stream(request: Request) -> Response:
    state = sim_state(request)
    pred = state.predictions.get(request.path_params["id"])
    if pred is None or not pred.has_stream:
        raise not_found("Stream not found.")
    start = _resume_index(request.headers.get("last-event-id"))
    drop_after = state.config.drop_stream_after
    base = base_of(request)
    return StreamingResponse(
        _sse_events(pred, start, drop_after, base),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _resume_index(last_event_id: str | None) -> int:
    """Index of the first event to send: the one after `Last-Event-ID` (`<time>:<index>`)."""
    if not last_event_id:
        return 0
    _, _, index = last_event_id.strip().rpartition(":")
    return int(index) + 1 if index.isdigit() else 0


def format_sse(event: str, data: str, event_id: str) -> str:
    lines = [f"event: {event}", f"id: {event_id}"]
    lines += [f"data: {part}" for part in data.split("\n")]
    return "\n".join(lines) + "\n\n"


async def _sse_events(
    pred: PredictionState, start: int, drop_after: int | None, base: str
) -> AsyncGenerator[str, None]:
    yield ": hi\n\n"
    index, outputs_sent = start, 0
    if drop_after is not None and drop_after <= 0:
        return
    while True:
        while index < len(pred.events):
            event = pred.events[index]
            data = event.file.url(base) if event.file is not None else event.data
            yield format_sse(event.event, data, pred.sse_id(index))
            index += 1
            if event.event == "done":
                return
            if event.event == "output":
                outputs_sent += 1
                if drop_after is not None and outputs_sent >= drop_after:
                    return  # simulated dropped connection: no `done`
        if pred.is_terminal and index >= len(pred.events):
            return  # resumed after the final event: nothing more will come
        await pred.wait_change(15.0)


routes = [Route("/v1/streams/{id}", stream, methods=["GET"])]
