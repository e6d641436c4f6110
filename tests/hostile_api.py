"""A hostile Replicate API on loopback, and a trap listener that records whether anyone connected.

`HostileAPI` is a reverse proxy in front of the simulator: every request is forwarded (the Host
header kept, so the simulator's own URLs name the proxy's origin), and JSON answers pass through
`rewrite(method, path, body)` first — the test decides which URL the API hands back. `create_delay`
holds the answer to a prediction create (the prediction exists at the simulator already), standing
in for a slow network during the create. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

Rewrite = Callable[[str, str, Any], Any]
LEAK = "INTERNAL-SERVICE-SECRET"
_HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


class Trap:
    """A loopback listener standing in for an internal service; answers like an SSE stream."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        body = f"event: output\ndata: {LEAK}\n\nevent: done\ndata: {{}}\n\n".encode()
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(65536)
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                        + f"content-length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()

    def __enter__(self) -> Trap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HostileAPI:
    """`with HostileAPI(sim.base_url, rewrite) as api:` serves at `api.base_url`."""

    def __init__(self, upstream: str, rewrite: Rewrite | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrite: Rewrite = rewrite or (lambda method, path, body: body)
        self.create_delay = 0.0
        self.creates_answered: list[float] = []  # when each held create's answer was released
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                Starlette(routes=[Route("/{path:path}", self._proxy, methods=_METHODS)]),
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
            )
        )
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    async def _proxy(self, request: Request) -> Response:
        path = request.url.path
        query = f"?{request.url.query}" if request.url.query else ""
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        client = httpx.AsyncClient(timeout=httpx.Timeout(120.0), trust_env=False)
        upstream = await client.send(
            client.build_request(
                request.method, self.upstream + path + query, headers=headers,
                content=await request.body(),
            ),
            stream=True,
        )  # fmt: skip
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
        if upstream.headers.get("content-type", "").startswith(
            ("application/json", "application/problem")
        ):
            body = json.loads(await upstream.aread() or b"null")
            await upstream.aclose()
            await client.aclose()
            if request.method == "POST" and path.endswith("/predictions") and self.create_delay:
                await asyncio.sleep(self.create_delay)
                self.creates_answered.append(time.time())
            body = self.rewrite(request.method, path, body)
            return Response(json.dumps(body), upstream.status_code, headers=out_headers)

        async def close() -> None:
            await upstream.aclose()
            await client.aclose()

        return StreamingResponse(
            upstream.aiter_raw(), upstream.status_code, headers=out_headers,
            background=BackgroundTask(close),
        )  # fmt: skip

    def __enter__(self) -> HostileAPI:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the hostile API did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(5)
        self._sock.close()


_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]


def set_url(body: Any, key: str, url: str) -> Any:
    """`body` with `urls[key]` pointing at `url` (when it is a prediction or file object)."""
    if isinstance(body, dict) and isinstance(body.get("urls"), dict):
        body["urls"][key] = url
    return body
