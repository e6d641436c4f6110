"""Helpers several test modules share (importable as `helpers`: pytest puts tests/ on the path).

Fixtures live in conftest.py; plain functions that module-scoped fixtures also need live here.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

# Test files sit one folder down (tests/<module>/test_x.py); these name the places they read.
REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"  # copies of reference material, see its README


# Under pytest-xdist each worker (gw0, gw1, …) hands out ports from its own block of 1,000, in
# turn, below the kernel's ephemeral range (32768 up, what a bind to port 0 gets): a port checked
# free here and bound a moment later by an app starting up cannot have been handed to another
# worker, nor to this one again, in between.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_BLOCK = 20000 + 1000 * int(_WORKER[2:]) if _WORKER[2:].isdigit() else 0
_NEXT_PORT = itertools.cycle(range(_BLOCK, _BLOCK + 1000)) if 0 < _BLOCK < 32000 else None


def _bindable(port: int) -> int | None:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return None
        return int(sock.getsockname()[1])


def free_port() -> int:
    """A loopback port nothing listens on right now (this worker's own, under pytest-xdist)."""
    if _NEXT_PORT is not None:
        for _ in range(1000):
            port = _bindable(next(_NEXT_PORT))
            if port is not None:
                return port
    port = _bindable(0)
    assert port is not None
    return port


def wait_for_page(
    url: str,
    process: subprocess.Popen[Any],
    output: Callable[[], str],
    timeout: float = 90,
) -> httpx.Response:
    """The first answer of a loopback `url` served by `process` (an app starting up).

    Fails the test with the tail of `output()` when the process exits first, or when nothing
    answers within `timeout` seconds.
    """
    assert url.startswith("http://127.0.0.1:"), url  # never anything but loopback
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"the app exited with {process.returncode}: {output()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"the app did not answer {url} within {timeout:.0f} s")
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.25)


def until(condition: Callable[[], object], timeout: float = 30, what: str = "") -> None:
    """Poll `condition` until it is true; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {what or condition}")
        time.sleep(0.02)


def interruptible() -> None:
    """`preexec_fn` for a child the test stops with SIGINT (Ctrl-C): its default disposition.
    A shell that starts pytest in the background (`cmd &`, no job control: CI scripts, nohup)
    makes it ignore SIGINT; its children inherit that, and Python then installs no
    KeyboardInterrupt handler, so the Ctrl-C would never reach the code under test."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop_process(process: subprocess.Popen[Any], grace: float = 15) -> None:
    """Terminate, and kill when it does not exit within `grace` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def shared_parts(opened: tuple[Any, ...]) -> dict[str, Any]:
    """The Shared tab's page-load updates (`make_open_shared`'s tuple) by name: `tab`, `text`,
    `inputs`, `input_audio`, `gallery`, `videos`, `audios`, `remix`, `shown`, `tabs`."""
    from neurolink_ui.ui.panels.shared import MAX_PLAYERS

    names = ["tab", "text", "inputs", "input_audio", "gallery"]
    fixed = dict(zip(names, opened[:5], strict=True))
    players = opened[5 : 5 + 2 * MAX_PLAYERS]
    rest = dict(zip(["remix", "shown", "tabs"], opened[5 + 2 * MAX_PLAYERS :], strict=True))
    return {**fixed, "videos": players[:MAX_PLAYERS], "audios": players[MAX_PLAYERS:], **rest}


async def until_async(condition: Callable[[], bool], within: float, what: str) -> None:
    """Wait for `condition` to hold, checking every 10 ms; fail naming `what` after `within` s.
    (For state that has no event to await: a simulator's predictions, a session's live runs.)"""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.01)


def simulator_inputs(log: Path) -> list[dict[str, Any]]:
    """Every prediction's input the built-in simulator of an `app.py` (whose start-up line is in
    `log`) received, oldest first."""
    from neurolink_ui.config import BUILTIN_SIMULATOR_TOKEN

    port = re.search(r"built-in Replicate simulator on port (\d+)", log.read_text())
    assert port, log.read_text()[-2000:]
    sim = f"http://127.0.0.1:{port.group(1)}"
    auth = {"Authorization": f"Bearer {BUILTIN_SIMULATOR_TOKEN}"}
    listed = httpx.get(f"{sim}/v1/predictions", headers=auth).json()["results"]
    ids = [p["id"] for p in reversed(listed)]
    return [httpx.get(f"{sim}/v1/predictions/{i}", headers=auth).json()["input"] for i in ids]


def _history_events(http: httpx.Client, base: str) -> tuple[int, int, int]:
    """(the History tab's id, its select listener's index, its drawing render's index)."""
    config = http.get(f"{base}/config").json()
    components = config["components"]
    tab = next(c["id"] for c in components
               if c.get("type") == "tabitem" and c["props"].get("id") == "history")  # fmt: skip
    ticket = next(c["id"] for c in components if c["props"].get("label") == "Generations shown")
    deps = config["dependencies"]
    select = next(d["id"] for d in deps
                  if d.get("render_id") is None and [tab, "select"] in map(list, d["targets"]))  # fmt: skip
    render = next(d["id"] for d in deps
                  if d.get("render_id") is not None
                  and [ticket, "change"] in map(list, d["targets"]))  # fmt: skip
    return tab, select, render


def open_history_tab(url: str, session_hash: str) -> int:
    """A session's History tab opened as the page opens it (the tab's select: a queue-less call
    that marks it open and hands it a new drawing ticket). Returns the drawing render's index,
    which the page then joins."""
    base = url.rstrip("/")
    with httpx.Client(timeout=60, trust_env=False) as http:
        tab, select, render = _history_events(http, base)
        opened = http.post(
            f"{base}/gradio_api/run/predict",
            json={
                "fn_index": select,
                "session_hash": session_hash,
                "data": [],
                "event_data": None,
                "trigger_id": tab,
            },
        )
        assert opened.status_code == 200, opened.text
    return render


def draw_history(url: str, session_hash: str) -> str:
    """History drawn for a session as the page draws it: the tab opened (`open_history_tab`),
    then the drawing its ticket triggers (a private render, joined by its index). Returns the
    render's completion message."""
    base = url.rstrip("/")
    render = open_history_tab(url, session_hash)
    with httpx.Client(timeout=60, trust_env=False) as http:
        joined = http.post(
            f"{base}/gradio_api/queue/join",
            json={
                "fn_index": render,
                "session_hash": session_hash,
                "trigger_id": None,
                "event_data": None,
                "data": [None, None],
            },
        )
        assert joined.status_code == 200, joined.text
        with http.stream(
            "GET", f"{base}/gradio_api/queue/data", params={"session_hash": session_hash}
        ) as events:
            for line in events.iter_lines():
                if "process_completed" in line:
                    return line
    raise AssertionError("History was never drawn")


def panel_alone(ctx: Any, build_panel: Callable[..., Any]) -> Any:
    """A tab's panel built as the page draws it when the tab is opened, but in a Blocks of its
    own with the page's session States, so a test can read its components and event graph
    (in the app, every tab but the first is drawn on demand: `ui/on_demand.py`)."""
    import gradio as gr

    from neurolink_ui.runs import LiveRuns
    from neurolink_ui.ui.history_log import history_state

    with gr.Blocks() as demo:
        session = gr.State(None)
        history = history_state(ctx.settings.output_ttl, ctx.results)
        live = gr.State(LiveRuns())
        build_panel(ctx, session, history, live)
    return demo
