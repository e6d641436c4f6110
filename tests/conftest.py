"""Shared fixtures: one simulator per test session on loopback, reset before each test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# No test may reach outside loopback, and nothing phones home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
for _var in ("REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", "REPLICATE_MODEL"):
    os.environ.pop(_var, None)

TOKEN = "r8_testtokenalpha0123456789"
OTHER_TOKEN = "r8_testtokenbravo9876543210"


@pytest.fixture(scope="session")
def simulator_session() -> Iterator[object]:
    from neurolink_ui.simulator.runner import Simulator

    with Simulator() as sim:
        yield sim


@pytest.fixture
def simulator(simulator_session):  # type: ignore[no-untyped-def]
    simulator_session.reset()
    yield simulator_session
    simulator_session.reset()


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def other_token() -> str:
    return OTHER_TOKEN


def _free_loopback_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on."""
    return _free_loopback_port()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server (Debian's, installed by scripts/test.sh) on a free loopback port."""
    import shutil
    import subprocess
    import time

    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: scripts/test.sh installs it")
    port = _free_loopback_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
