"""An event the page no longer has: a clear 404, not a 500 and a traceback in the log.

Gradio looks a posted event's function up by its index (`route_utils.get_fn`: `fns[fn_index]`)
on `/gradio_api/run/predict` (unqueued events) and `/gradio_api/queue/join`; an index it does not
have raises KeyError, which reaches the server as an unhandled error: a 500 and a traceback in
the log. A page whose render was just replaced can send one (a control of the old Advanced form
firing its change), and so can any client posting any number. This handler answers those two
paths with a 404 that says what happened, logged as one line; every other KeyError is raised on,
to be the 500 it was.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger(__name__)

EVENT_PATHS = ("/gradio_api/run/predict", "/gradio_api/queue/join")

GONE = (
    "This page no longer has the event it sent: part of the page was redrawn. "
    "If it keeps happening, reload the page."
)


async def unknown_event(request: Request, exc: Exception) -> Response:
    """A FastAPI exception handler for KeyError (see the module's docstring)."""
    path = request.url.path.rstrip("/")
    if request.method == "POST" and path.endswith(EVENT_PATHS):
        log.warning("refused an event the app does not have (%s, index %s)", path, exc)
        return JSONResponse({"detail": GONE}, status_code=404)
    raise exc
