"""Simulator: the Replicate simulator served by uvicorn in a daemon thread on a loopback port."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import ipaddress
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from .config import SimulatorConfig
from .server import create_app
from .state import PredictionState, RequestRecord, SimState

_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0


class Simulator:
    """`with Simulator() as sim: ...` serves the fake Replicate API at `sim.base_url`.

    The server has its own event loop in a daemon thread; predictions run as tasks in that loop.
    `port=0` picks a free port (the socket is bound before start() returns, so there is no race).
    `tls=True` serves HTTPS with a throwaway self-signed certificate (`cert_path`,
    `ssl_context()`): clients that treat only `https:` outputs as files (the official
    `replicate` package's FileOutput) then see delivery URLs as Replicate's.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: bool = False,
    ) -> None:
        self.state = SimState(config or SimulatorConfig())
        self.host = host
        self.port = port
        self.tls = tls
        self.cert_path: Path | None = None
        self._cert_dir: tempfile.TemporaryDirectory[str] | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- lifecycle ----

    def start(self) -> Simulator:
        if self._thread is not None:
            raise RuntimeError("Simulator already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit it: without it uvicorn's separate header/body writes meet the
        # client's delayed ACK and every keep-alive request waits ~40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        certfile = keyfile = None
        if self.tls:
            self._cert_dir = tempfile.TemporaryDirectory(prefix="replicate-sim-tls-")
            cert, key = _self_signed_certificate(Path(self._cert_dir.name), self.host)
            self.cert_path = cert
            certfile, keyfile = str(cert), str(key)
        config = uvicorn.Config(
            create_app(self.state),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
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
        self._loop = loop
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
        if self._cert_dir is not None:
            self._cert_dir.cleanup()
            self._cert_dir = None

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
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting this simulator's certificate (tls=True, once started)."""
        if self.cert_path is None:
            raise RuntimeError("ssl_context() needs Simulator(tls=True) to be started")
        return ssl.create_default_context(cafile=str(self.cert_path))

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

    def end_cold_starts(self) -> int:
        """Boot every prediction now in `starting` at once; how many there were.

        With a long `cold_start`, a test sees the booting state for as long as it needs, then
        lets the run go on: no race between the page and a short timer."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("end_cold_starts() needs a started Simulator")
        starting = [p for p in list(self.state.predictions.values()) if p.status == "starting"]
        for pred in starting:
            loop.call_soon_threadsafe(pred.booted.set)
        return len(starting)

    def reset(self) -> None:
        """Config back to defaults and the request log cleared; predictions and files stay."""
        self.state.reset()


def _self_signed_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A one-day certificate for `host`, 127.0.0.1, ::1 and localhost (cert.pem, key.pem).

    Uses `cryptography` when it is installed (it is not a declared dependency, so it is imported
    only here), else the `openssl` command.
    """
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        alt = "DNS:localhost,IP:127.0.0.1,IP:::1"
        alt += f",IP:{host}" if _is_ip(host) else f",DNS:{host}"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "1", "-subj", "/CN=replicate-simulator",
             "-addext", f"subjectAltName={alt}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-keyout", str(key_path), "-out", str(cert_path)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return cert_path, key_path

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "replicate-simulator")])
    alt_names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    if _is_ip(host):
        alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
    else:
        alt_names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
