"""Account: who the token belongs to (`sim-` + the first 6 hex of its token id)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .common import require_token


async def account(request: Request) -> Response:
    token_id = require_token(request)
    return JSONResponse(
        {
            "type": "user",
            "username": f"sim-{token_id[:6]}",
            "name": f"Simulated user {token_id[:6]}",
        }
    )


routes = [Route("/v1/account", account, methods=["GET"])]
