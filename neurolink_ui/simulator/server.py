"""The Replicate-compatible HTTP API of the simulator: `create_app(state) -> Starlette`.

Built from Replicate's OpenAPI spec and recorded bodies (copies in tests/fixtures/): the /v1 routes,
SSE streams at `/v1/streams/<id>`, output delivery at `/delivery/<token>/<name>` and the
unauthenticated, loopback-only control routes under `/_sim` — one module per resource in
`routes/`, the shared `SimState` (state.py) on `app.state.sim`. This module assembles them and adds
the middleware that records requests, injects faults and sets rate-limit headers.

Choices where Replicate's behaviour is unverified (REPLICATE-API.md §9), documented here:
- A `Prefer` header outside `^wait(=([1-9]|[1-9][0-9]|60))?$` is rejected with 400, so a client bug
  (`wait=0`, `wait=90`) shows up in tests instead of silently not holding.
- An invalid or too short (< 5 s) `Cancel-After` is rejected with 400.
- A held create (`Prefer: wait`) returns once the output is complete: a chat model then still says
  `processing` with its full token list and no `completed_at`/`metrics` (sample 07); file models
  return the terminal prediction. On timeout the incomplete prediction returns. Always 201.
- Unknown prediction / file / model ids answer 404 problem+json `{"detail": ..., "status": 404}`.
  Predictions and files are scoped to the token's account (token_id): another token gets 404.
- Cancel on a terminal prediction returns it unchanged with 200.
- Webhooks are validated and echoed but never delivered (no traffic leaves loopback).
- `"stream": true` for a plain-text (non-iterator) model is a 422; file models do get a stream.
- SSE `done` for an `aborted` prediction carries `{"reason": "canceled"}` (no documented reason).
- `GET /v1/files/{id}/download` accepts the owner's token instead of a signed query.
"""

from __future__ import annotations

import re
import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import Fault
from .routes import ROUTES
from .routes.common import ProblemError, bearer_token, problem, problem_response, status_title
from .routes.delivery import mp4_free_box_header
from .routes.files import MAX_FILE_BYTES
from .routes.predictions import PAGE_SIZE, parse_cancel_after
from .routes.streams import format_sse
from .state import DeliveredFile, PredictionState, RequestRecord, SimState, token_id_of

_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})


def create_app(state: SimState) -> Starlette:
    """The simulator's ASGI app over `state` (which the runner shares), kept as `app.state.sim`."""
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(_SimMiddleware, state=state)],
        exception_handlers={ProblemError: _on_problem, HTTPException: _on_http_exception},
    )
    app.state.sim = state
    return app


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    title = status_title(exc.status_code)
    return problem_response(problem(exc.status_code, str(exc.detail or title), title))


def _ratelimit_remaining(method: str, path: str) -> str:
    """The values recorded at Replicate (REPLICATE-API.md §2)."""
    if method == "POST" and (
        path == "/v1/predictions"
        or (path.startswith(("/v1/models/", "/v1/deployments/")) and path.endswith("/predictions"))
    ):
        return "599"
    if method == "GET" and re.fullmatch(r"/v1/predictions/[^/]+", path):
        return "59999"
    return "2999"


class _SimMiddleware:
    """Records every request (without its token), injects faults, adds rate-limit headers."""

    def __init__(self, app: ASGIApp, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if "host" in headers:
            self.state.own_netlocs.add(headers["host"])
        token = bearer_token(headers.get("authorization"))
        record = RequestRecord(
            method=method,
            path=path,
            status=0,
            token_id=token_id_of(token) if token else None,
            headers={k: v for k, v in headers.items() if k not in _SECRET_HEADERS},
            time=time.time(),
        )
        add_ratelimit = path.startswith("/v1/") and not path.startswith("/v1/streams/")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                self.state.requests.append(record)
                if add_ratelimit:
                    extra = [
                        (b"ratelimit-remaining", _ratelimit_remaining(method, path).encode()),
                        (b"ratelimit-reset", b"1"),
                    ]
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        fault = self.state.match_fault(method, path)
        try:
            if fault is not None:
                await problem_response(_fault_problem(fault))(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            if record.status == 0:  # the app crashed before answering
                record.status = 500
                self.state.requests.append(record)


def _fault_problem(fault: Fault) -> ProblemError:
    if fault.status == 429:  # no title, as Replicate's throttling answer
        seconds = fault.retry_after if fault.retry_after and fault.retry_after.isdigit() else "1"
        error = problem(
            429, fault.detail or f"Request was throttled. Your rate limit resets in ~{seconds}s."
        )
    else:
        title = status_title(fault.status)
        error = problem(fault.status, fault.detail or title, title)
    if fault.retry_after is not None:
        error.headers["Retry-After"] = fault.retry_after
    return error


__all__ = [
    "MAX_FILE_BYTES",
    "PAGE_SIZE",
    "DeliveredFile",
    "PredictionState",
    "RequestRecord",
    "SimState",
    "create_app",
    "format_sse",
    "mp4_free_box_header",
    "parse_cancel_after",
    "token_id_of",
]
