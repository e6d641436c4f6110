"""Control routes under `/_sim` (unauthenticated, loopback clients only): the live config, the
request log, reset. Tests and the benchmark steer the simulator through them over HTTP.
"""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .common import problem, sim_state

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})


def require_loopback(request: Request) -> None:
    host = request.client.host if request.client else ""
    if host not in _LOOPBACK_HOSTS and not host.startswith("127."):
        raise problem(403, "Simulator control routes answer loopback clients only", "Forbidden")


async def sim_get_config(request: Request) -> Response:
    require_loopback(request)
    return JSONResponse(sim_state(request).config.to_json())


async def sim_put_config(request: Request) -> Response:
    require_loopback(request)
    try:
        data = await request.json()
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        sim_state(request).config.update_from_json(data)
    except (ValueError, TypeError) as exc:
        raise problem(422, str(exc), "Invalid simulator config") from exc
    return JSONResponse(sim_state(request).config.to_json())


async def sim_requests(request: Request) -> Response:
    require_loopback(request)
    return JSONResponse([asdict(r) for r in list(sim_state(request).requests)])


async def sim_reset(request: Request) -> Response:
    require_loopback(request)
    sim_state(request).reset()
    return JSONResponse(sim_state(request).config.to_json())


routes = [
    Route("/_sim/config", sim_get_config, methods=["GET"]),
    Route("/_sim/config", sim_put_config, methods=["PUT"]),
    Route("/_sim/requests", sim_requests, methods=["GET"]),
    Route("/_sim/reset", sim_reset, methods=["POST"]),
]
