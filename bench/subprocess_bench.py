"""5–6. The app as its own process: memory while big outputs download, and start-up time.

The simulator runs in another process (`python -m neurolink_ui.simulator`), the app is started as
people start it (`python app.py`), and its memory is read from /proc/<pid>/status (VmRSS, VmHWM).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .app_bench import make_inputs
from .common import (
    LOOPBACK,
    ROOT,
    TOKEN,
    Figure,
    Spread,
    assert_loopback,
    free_port,
    gradio_client,
    ms,
    read_proc_kib,
    wait_until,
)

VIDEO_MODEL = "wan-video/wan-2.2-i2v-fast"  # H.264 MP4: the padding goes into a `free` box
MB = 1_000_000
START_TIMEOUT = 120.0


def _page_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End one process we started: SIGTERM, then SIGKILL if it lingers (bounded)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@dataclass(frozen=True)
class SimProcess:
    base: str  # the simulator's base URL
    pid: int


@contextlib.contextmanager
def simulator_process() -> Iterator[SimProcess]:
    """`python -m neurolink_ui.simulator --port N`; yields its base URL and pid."""
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "neurolink_ui.simulator", "--port", str(port), "--host", LOOPBACK],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not wait_until(lambda: _page_ok(f"{base}/_sim/config"), START_TIMEOUT, 0.05):
            raise RuntimeError("the simulator process did not start")
        yield SimProcess(base, process.pid)
    finally:
        _stop(process)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/<pid>/stat, all its threads)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # After the `(comm)` field: state is fields[0], utime fields[11], stime fields[12].
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def configure(base: str, **values: Any) -> None:
    assert_loopback(base)
    response = httpx.put(f"{base}/_sim/config", json=values, timeout=10.0, trust_env=False)
    response.raise_for_status()


def app_env(
    base: str, port: int, workdir: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "REPLICATE_API_TOKEN": TOKEN,
            "REPLICATE_BASE_URL": base,
            "GRADIO_SERVER_NAME": LOOPBACK,
            "GRADIO_SERVER_PORT": str(port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1",
            "GRADIO_TEMP_DIR": str(workdir / "gradio"),
            "TMPDIR": str(workdir),  # the app's outputs folder lives under tempfile.gettempdir()
            # The app's own overhead is measured, not guarded demo mode's limits: all off.
            "NEUROLINK_DATA_DIR": str(workdir / "data"),
            "NEUROLINK_VISITOR_RUNS_PER_MINUTE": "0",
            "NEUROLINK_VISITOR_RUNS_PER_DAY": "0",
            "NEUROLINK_VISITOR_CONCURRENT": "0",
            "NEUROLINK_DAILY_RUNS": "0",
            "NEUROLINK_ALLOWED_MODELS": "*",
            **(extra or {}),
        }
    )
    return env


@dataclass
class AppProcess:
    process: subprocess.Popen[bytes]
    url: str
    started_in: float  # seconds from Popen to the first HTTP 200 on /


@contextlib.contextmanager
def app_processes(
    base: str, launches: list[tuple[Path, str]], extra_env: dict[str, str] | None = None
) -> Iterator[list[AppProcess]]:
    """`python <script>` for each (workdir, script) — app.py or a bench launcher — each on a
    free loopback port, started together (they load in parallel) and ready when yielded."""
    started = time.perf_counter()
    launched: list[tuple[subprocess.Popen[bytes], str, str]] = []
    try:
        for workdir, script in launches:
            port = free_port()
            workdir.mkdir(parents=True, exist_ok=True)
            process = subprocess.Popen(
                [sys.executable, script],
                cwd=ROOT,
                env=app_env(base, port, workdir, extra_env),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            launched.append((process, f"http://{LOOPBACK}:{port}/", script))
        ready: list[AppProcess] = []
        deadline = time.monotonic() + START_TIMEOUT
        for process, url, script in launched:
            while time.monotonic() < deadline and process.poll() is None and not _page_ok(url):
                time.sleep(0.02)
            if process.poll() is not None or not _page_ok(url):
                raise RuntimeError(f"{script} did not serve its page (exit code {process.poll()})")
            ready.append(AppProcess(process, url, time.perf_counter() - started))
        yield ready
    finally:
        for process, _, _ in launched:
            _stop(process)


@contextlib.contextmanager
def app_process(
    base: str, workdir: Path, script: str = "app.py", extra_env: dict[str, str] | None = None
) -> Iterator[AppProcess]:
    """One `python <script>` on a free loopback port; `started_in` is its time to first page."""
    with app_processes(base, [(workdir, script)], extra_env) as (app,):
        yield app


# ---- 5. memory while large outputs download -----------------------------------------------


class RssSampler:
    """The process's resident memory every few milliseconds, in a thread (bounded by stop())."""

    def __init__(self, pid: int, every: float = 0.01) -> None:
        self.pid = pid
        self.every = every
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.peak_kib = max(self.peak_kib, read_proc_kib(self.pid, "VmRSS"))
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (`echo 5 > clear_refs`); False where not permitted."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def _video_batch(client: Any, count: int, start_frame: Path) -> None:
    from gradio_client import handle_file

    jobs = [
        client.submit(
            f"large output {i}",
            handle_file(str(start_frame)),
            model=VIDEO_MODEL,
            length=2,
            api_name="/video",
        )
        for i in range(count)
    ]
    for job in jobs:
        job.result(timeout=600)


def _clear_outputs(workdir: Path) -> None:
    """Delete downloaded outputs and Gradio's cached copies between runs (disk, not memory)."""
    for folder in (workdir / "neurolink_ui", workdir / "gradio"):
        for child in folder.glob("*/*"):
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def run_large_outputs(
    base: str, workdir: Path, runs: int, padding: int, simultaneous: int
) -> list[Figure]:
    configure(base, cold_start=0.05, run_time=0.2, output_padding=0)
    growth_mb: list[float] = []
    hwm_growth_mb: list[float] = []
    idle_mb: list[float] = []
    start_frame = make_inputs(workdir).portrait
    with (
        app_process(base, workdir / "app-memory") as app,
        contextlib.closing(gradio_client(app.url, workers=simultaneous + 4)) as client,
    ):
        _video_batch(client, 1, start_frame)  # warm-up: every code path loaded, pools open
        pid = app.process.pid
        for _ in range(runs):
            _clear_outputs(workdir / "app-memory")
            configure(base, output_padding=0)
            time.sleep(0.5)
            idle = read_proc_kib(pid, "VmRSS")
            hwm_reset = _reset_peak(pid)
            configure(base, output_padding=padding)
            with RssSampler(pid) as sampler:
                _video_batch(client, simultaneous, start_frame)
            peak = max(sampler.peak_kib, read_proc_kib(pid, "VmHWM") if hwm_reset else 0)
            idle_mb.append(idle * 1024 / MB)
            growth_mb.append((peak - idle) * 1024 / MB)
            if hwm_reset:
                hwm_growth_mb.append((read_proc_kib(pid, "VmHWM") - idle) * 1024 / MB)
        _clear_outputs(workdir / "app-memory")
    configure(base, output_padding=0)
    spread = Spread.of(growth_mb)
    return [
        Figure(
            "memory.large_outputs",
            f"Peak app memory over idle, {simultaneous} × {padding / MB:g} MB videos at once",
            "< 64 MB",
            " MB",
            spread,
            spread.median < 64,
            f"python app.py against a simulator process (output_padding={padding}); peak "
            "VmRSS (sampled every 10 ms, and VmHWM after resetting it) minus VmRSS at idle "
            "after a warm-up",
            digits=1,
            context={
                "idle_rss_mb": Spread.of(idle_mb).__dict__,
                "vmhwm_growth_mb": Spread.of(hwm_growth_mb).__dict__ if hwm_growth_mb else None,
                "bytes_per_output": padding,
            },
        )
    ]


# ---- 6. start-up ---------------------------------------------------------------------------


def _import_gradio_seconds() -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import gradio"],
        cwd=ROOT,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
        check=True,
        timeout=START_TIMEOUT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def run_startup(base: str, workdir: Path, runs: int) -> list[Figure]:
    app_s: list[float] = []
    import_s: list[float] = []
    for index in range(runs):  # interleaved, so both see the same load
        import_s.append(_import_gradio_seconds())
        with app_process(base, workdir / f"app-start-{index}") as app:
            app_s.append(app.started_in)
    extra = Spread.of([ms(a - i) for a, i in zip(app_s, import_s, strict=True)])
    ratio = Spread.of([a / i for a, i in zip(app_s, import_s, strict=True)])
    how = (
        "subprocesses, interleaved: `python app.py` from start to the first HTTP 200 on /, "
        "and `python -c 'import gradio'` to exit"
    )
    context = {
        "app_first_page_s": Spread.of(app_s).__dict__,
        "import_gradio_s": Spread.of(import_s).__dict__,
    }
    return [
        Figure(
            "startup.ratio",
            "Start-up: python app.py to first page, over import gradio",
            "(context)",
            "×",
            ratio,
            None,
            how,
            digits=2,
            context=context,
        ),
        Figure(
            "startup.extra",
            "Start-up: app.py to first page minus import gradio",
            "(context)",
            " ms",
            extra,
            None,
            how,
            context=context,
        ),
    ]
