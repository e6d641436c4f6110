"""Shared fixtures: one simulator per test session on loopback, reset before each test."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import app_zygote
import pytest
from app_zygote import AppProcess
from helpers import REPO, free_port

# No test may reach outside loopback, and nothing phones home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
for _var in ("REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", "REPLICATE_MODEL"):
    os.environ.pop(_var, None)
for _var in [name for name in os.environ if name.startswith("NEUROLINK_")]:
    os.environ.pop(_var, None)
# Apps started by tests (in process or as `app.py`) keep run counts here, never in the home folder.
os.environ["NEUROLINK_DATA_DIR"] = tempfile.mkdtemp(prefix="neurolink-test-data-")
# Gradio's cache of served files, this process's own (pytest-xdist workers run side by side).
os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="neurolink-test-gradio-"))


def _close_without_waiting(client: object) -> None:
    """gradio_client's `Client.close` tells its heartbeat thread to stop, then joins it for up to
    1 s; that thread sits in a long-poll of the app's heartbeat stream, so every close of a
    client that has made a call waited the whole second (~55 s of the suite's time in 55
    teardowns). The thread is a daemon and ends at its next heartbeat or when the app closes."""
    client._kill_heartbeat.set()  # type: ignore[attr-defined]


def _patch_client_close() -> None:
    from gradio_client import Client

    Client.close = _close_without_waiting  # type: ignore[method-assign]


_patch_client_close()

TOKEN = "r8_testtokenalpha0123456789"
OTHER_TOKEN = "r8_testtokenbravo9876543210"


BROWSER_TESTS = REPO / "tests" / "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/browser/ drives Chromium against a launched app: `browser` and
    `slow` by its folder, so a new browser test cannot slip into `pytest -m "not slow"`.

    (pytest-xdist's `loadfile` hands out files by their number of tests, most first, whatever
    the order here: putting the browser files first, with `--no-loadscope-reorder`, made the
    suite no faster — 562 s against 552 s — as its 2 cores are ~90% busy either way.)"""
    for item in items:
        if item.path.is_relative_to(BROWSER_TESTS):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


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
async def ctx(simulator, token: str, tmp_path: Path) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    """The app's context (settings, client, output store) on this test's simulator and token,
    for handlers called directly on the test's event loop."""
    from neurolink_ui.config import Settings
    from neurolink_ui.ui.context import AppContext

    context = AppContext.create(
        Settings(api_token=token, base_url=simulator.base_url), outputs_dir=tmp_path / "out"
    )
    yield context
    await context.aclose()


@pytest.fixture
def other_token() -> str:
    return OTHER_TOKEN


def token_id(token: str) -> str:
    """How the simulator records a token: the first 12 hex of its sha256."""
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()[:12]


def start_app_process(
    env_extra: dict[str, str], log: Path
) -> tuple[AppProcess | subprocess.Popen, str]:  # type: ignore[type-arg]
    """`python app.py` on a free loopback port, with no REPLICATE_*/NEUROLINK_* but `env_extra`
    (forked from the tests' warm interpreter, `app_zygote`)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPLICATE_", "NEUROLINK_"))}
    env.update(
        NEUROLINK_DATA_DIR=os.environ["NEUROLINK_DATA_DIR"],
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
    )
    env.update(env_extra)
    return app_zygote.start(["app.py"], env, REPO, log), f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server (Debian's, installed by scripts/test.sh) on a free loopback port."""
    import shutil

    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: scripts/test.sh installs it")
    port = free_port()
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL server (Debian's) on a free loopback port, one per test worker, started
    as the `postgres` user when the tests run as root (it refuses to run as root); stopped at
    the end. Its URL, for the `postgres` database; modules make their own (`new_database`).
    Never skipped: a server that cannot start fails the tests that need it, saying why."""
    from bench.postgres import PostgresUnavailable, postgres_server

    try:
        with postgres_server(free_port()) as url:
            yield url
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))


def new_database(server_url: str) -> str:
    """A fresh, empty database on the test server; its URL."""
    from bench.postgres import new_database

    return new_database(server_url)
