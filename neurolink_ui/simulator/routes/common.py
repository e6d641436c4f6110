"""What every route shares: problem+json errors, the caller's token, the shared `SimState`."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..state import SimState, token_id_of

_UNAUTHENTICATED = {
    "title": "Unauthenticated",
    "detail": "You did not pass a valid authentication token",
    "status": 401,
}
_INSUFFICIENT_CREDIT = {
    "title": "Insufficient credit",
    "detail": (
        "You have insufficient credit to run this model. Go to "
        "https://replicate.com/account/billing#billing to purchase credit. Once you purchase "
        "credit, please wait a few minutes before trying again."
    ),
    "status": 402,
}


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Bearer <t>` or `Token <t>` (both accepted, as Replicate does), else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in ("bearer", "token") or not token:
        return None
    return token


class ProblemError(Exception):
    """Answered as `application/problem+json` with the given body."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(body.get("detail", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


def status_title(status: int) -> str:
    """The standard reason phrase of an HTTP status, "Error" for a non-standard one."""
    return HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"


def problem(status: int, detail: str, title: str | None = None, **extra: Any) -> ProblemError:
    body: dict[str, Any] = {}
    if title:
        body["title"] = title
    body["detail"] = detail
    body["status"] = status
    body.update(extra)
    return ProblemError(status, body)


def not_found(detail: str = "Not found.") -> ProblemError:
    return problem(404, detail)  # no title, as in sample 10


def problem_response(error: ProblemError) -> Response:
    return JSONResponse(
        error.body,
        status_code=error.status,
        headers=error.headers,
        media_type="application/problem+json",
    )


def sim_state(request: Request) -> SimState:
    """The simulator's state, kept on the Starlette app by `create_app`."""
    state = request.app.state.sim
    assert isinstance(state, SimState)
    return state


def base_of(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# What Replicate accepts as a token's shape: `r8_` then letters and digits.
_TOKEN_RE = re.compile(r"r8_[A-Za-z0-9]+")


def require_token(request: Request) -> str:
    """The caller's token_id; 401 exactly as sample 09 when missing, malformed or invalid."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None or not _TOKEN_RE.fullmatch(token) or token.startswith("r8_invalid"):
        raise ProblemError(401, dict(_UNAUTHENTICATED))
    return token_id_of(token)


def require_credit(request: Request) -> None:
    token = bearer_token(request.headers.get("authorization")) or ""
    if token.startswith("r8_nocredit"):
        raise ProblemError(402, dict(_INSUFFICIENT_CREDIT))


def invalid_body(fields: list[dict[str, str]]) -> ProblemError:
    detail = "\n".join(f"- {f['field']}: {f['description']}" for f in fields)
    return problem(422, detail, "Input validation failed", invalid_fields=fields)
