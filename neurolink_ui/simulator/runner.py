"""Simulator: the Replicate simulator served by uvicorn in a daemon thread on a loopback port."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from types import TracebackType

import uvicorn

from .config import SimulatorConfig
from .server import PredictionState, RequestRecord, SimState, create_app

_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0


class Simulator:
    """`with Simulator() as sim: ...` serves the fake Replicate API at `sim.base_url`.

    The server has its own event loop in a daemon thread; predictions run as tasks in that loop.
    `port=0` picks a free port (the socket is bound before start() returns, so there is no race).
    """

    def __init__(
        self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.state = SimState(config or SimulatorConfig())
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # ---- lifecycle ----

    def start(self) -> Simulator:
        if self._thread is not None:
            raise RuntimeError("Simulator already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.state),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name=f"replicate-simulator-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Simulator failed to start: {self._error!r}")
            time.sleep(0.005)
        return self

    def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            assert self._server is not None
            loop.run_until_complete(self._server.serve(sockets=[sock]))
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            # Prediction tasks and timers die with the server.
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            sock.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(_STOP_TIMEOUT)
        self._thread = None
        self._server = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- views of the state ----

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def config(self) -> SimulatorConfig:
        return self.state.config

    @config.setter
    def config(self, value: SimulatorConfig) -> None:
        value.validate()
        for field in dataclasses.fields(value):  # in place, so the server keeps the same object
            setattr(self.state.config, field.name, getattr(value, field.name))

    @property
    def requests(self) -> list[RequestRecord]:
        return self.state.requests

    @property
    def predictions(self) -> dict[str, PredictionState]:
        return self.state.predictions

    def reset(self) -> None:
        """Config back to defaults and the request log cleared; predictions and files stay."""
        self.state.reset()
