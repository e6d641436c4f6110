"""What every benchmark shares: statistics, figures, the in-process app, loopback helpers.

Every figure is relative: a difference or a ratio against the simulator's own, known time for the
same work, measured in the same run. The machines are shared and noisy, so absolute times are
kept only as context in the JSON.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Nothing phones home, nothing reads a real token or API address from the environment.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
for _var in ("REPLICATE_API_TOKEN", "REPLICATE_BASE_URL"):
    os.environ.pop(_var, None)

TOKEN = "r8_benchtoken0123456789abcdef"
LOOPBACK = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Spread:
    """Median and spread of several runs of one quantity."""

    median: float
    minimum: float
    maximum: float
    q1: float
    q3: float
    runs: int

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        if not values:
            raise ValueError("no values to summarise")
        ordered = sorted(values)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1 = q3 = ordered[0]
        return cls(statistics.median(ordered), ordered[0], ordered[-1], q1, q3, len(ordered))

    def text(self, unit: str, digits: int = 0) -> str:
        """`12 ms (8–20, n=5)`: the median, then min–max."""
        fmt = f"{{:.{digits}f}}"
        span = f"{fmt.format(self.minimum)}–{fmt.format(self.maximum)}"
        return f"{fmt.format(self.median)}{unit} ({span}, n={self.runs})"


@dataclass
class Figure:
    """One row of the results table."""

    key: str
    title: str
    goal: str
    unit: str  # " ms", "×", " MB", " req"
    spread: Spread
    met: bool | None  # None when there is no goal for this row (context)
    how: str
    digits: int = 0
    context: dict[str, Any] = field(default_factory=dict)

    def measured(self) -> str:
        return self.spread.text(self.unit, self.digits)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["measured"] = self.measured()
        return data


def ms(seconds: float) -> float:
    return seconds * 1000.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def assert_loopback(url: str) -> None:
    """Every request of the benchmarks stays on this machine."""
    import httpx

    host = httpx.URL(url).host
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise RuntimeError(f"benchmarks talk to loopback only, not {url}")


def wait_until(predicate: Any, timeout: float, step: float = 0.02) -> bool:
    """Poll `predicate` until true or `timeout` seconds pass (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def read_proc_kib(pid: int, field_name: str) -> int:
    """A `VmRSS`/`VmHWM`-style line of /proc/<pid>/status, in KiB (psutil is not installed)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise KeyError(field_name)


@dataclass
class InProcessApp:
    """The playground launched in this process against a simulator, as the e2e tests do."""

    url: str
    demo: Any
    ctx: Any


@contextlib.contextmanager
def launched_app(
    base_url: str,
    outputs_dir: Path,
    *,
    transport: Any = None,
) -> Iterator[InProcessApp]:
    """`build_app()` + `launch(**launch_options())` on a free loopback port, in this process."""
    from neurolink_ui.config import Settings
    from neurolink_ui.ui.app import build_app, launch_options
    from neurolink_ui.ui.context import AppContext

    assert_loopback(base_url)
    settings = Settings(api_token=TOKEN, base_url=base_url, poll_cap=120)
    ctx = AppContext.create(settings, outputs_dir=outputs_dir)
    if transport is not None:
        from neurolink_ui.replicate.client import ReplicateClient

        ctx.client = ReplicateClient.from_settings(settings, transport=transport)
    demo = build_app(ctx=ctx)
    _, url, _ = demo.launch(
        prevent_thread_lock=True,
        quiet=True,
        server_name=LOOPBACK,
        server_port=free_port(),
        **launch_options(ctx),
    )
    assert_loopback(url)
    try:
        yield InProcessApp(url=url, demo=demo, ctx=ctx)
    finally:
        demo.close()


def gradio_client(url: str, workers: int = 40) -> Any:
    """A gradio_client on the app; files are left on the server (nothing to download twice)."""
    from gradio_client import Client

    assert_loopback(url)
    return Client(
        url,
        verbose=False,
        analytics_enabled=False,
        download_files=False,
        max_workers=max(workers, 1),
    )


def new_predictions(sim: Any, before: set[str]) -> list[Any]:
    """Predictions the simulator created since `before` (a set of ids) was taken."""
    return [state for pid, state in list(sim.predictions.items()) if pid not in before]


def backend_seconds(state: Any) -> float:
    """The simulator's own time for one prediction: created → completed, as it recorded it."""
    if state.completed_at is None:
        raise RuntimeError(f"prediction {state.id} has not finished")
    return float(state.completed_at - state.created_at)
