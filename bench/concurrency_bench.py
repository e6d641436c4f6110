"""3. Concurrency: n people asking the app for an image at the same moment.

The simulator (`python -m neurolink_ui.simulator`), the app (`python app.py`, or Gradio's default
queue via bench/default_queue_app.py) and the people (gradio_client threads in this process) are
three processes, so the app is measured on its own rather than sharing one interpreter with the
stand-in for Replicate. Every request of a batch asks for the same image with the same input:
the simulator draws it once (at the warm-up) and serves its cached copy, as Replicate's GPUs
would do the work elsewhere, leaving the cores to the app. Backend times are the simulator's own
(`created_at → completed_at` of each prediction, read back through its API).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from .app_bench import IMAGE_MODEL, SMALL_IMAGE
from .common import TOKEN, Figure, Spread, assert_loopback, gradio_client, ms, wait_until
from .subprocess_bench import SimProcess, app_processes, configure, cpu_seconds

PROMPT = "A red panda reading a map"  # one prompt for every request: generated once, then cached
JOB_TIMEOUT = 300.0  # seconds any one batch may take (Gradio's default queue serialises 50 × 2 s)
COLD_START = 0.05


@dataclass(frozen=True)
class Mode:
    key: str
    title: str
    script: str  # what the app process runs, from the repository root
    has_goal: bool
    min_level: int = 1  # levels below this are not run in this mode


MODES = (
    Mode("app", "the app as shipped (python app.py)", "app.py", True),
    Mode(
        "gradio_default",
        "Gradio's default queue: one run at a time per event",
        "bench/default_queue_app.py",
        False,
    ),
)


@dataclass(frozen=True)
class SimPrediction:
    """One prediction as the simulator process recorded it (its own clock, epoch seconds)."""

    id: str
    created_at: float
    completed_at: float | None


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def sim_predictions(base: str, since: float, max_pages: int = 20) -> list[SimPrediction]:
    """Predictions created at or after `since`, through the simulator's list API (paged)."""
    assert_loopback(base)
    url: str | None = f"{base}/v1/predictions"
    params: dict[str, str] | None = {
        "created_after": datetime.fromtimestamp(since, UTC).isoformat()
    }
    found: list[SimPrediction] = []
    with httpx.Client(
        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30.0, trust_env=False
    ) as http:
        for _ in range(max_pages):
            if url is None:
                break
            assert_loopback(url)
            page = http.get(url, params=params)
            page.raise_for_status()
            body = page.json()
            for item in body["results"]:
                done = item.get("completed_at")
                found.append(
                    SimPrediction(
                        item["id"], _epoch(item["created_at"]), _epoch(done) if done else None
                    )
                )
            url, params = body.get("next"), None  # `next` carries the query and the cursor
    return found


@dataclass(frozen=True)
class Batch:
    wall: float  # seconds until the last request was back (or had failed)
    failures: list[str]
    predictions: list[SimPrediction]
    cpu: dict[str, float]  # CPU seconds each process spent on the batch: app, simulator, clients


def _close_later(client: Any) -> None:
    """gradio_client's close() waits ~1 s for its heartbeat thread: done off the clock."""
    threading.Thread(target=client.close, daemon=True).start()


def submit_image(client: Any) -> Any:
    """One /image request of the app (the same prompt every time: drawn once, then cached)."""
    return client.submit(PROMPT, model=IMAGE_MODEL, advanced=SMALL_IMAGE, api_name="/image")


def _batch(sim: SimProcess, app_pid: int, url: str, size: int, submit: Any = submit_image) -> Batch:
    """`size` identical image requests submitted at once; a failed one is counted, not fatal.

    A new gradio_client (so a new session) per batch: the app's per-session state (History,
    hashed by Gradio at every update) holds what one person's would, not every batch's entries.
    """
    client = gradio_client(url, workers=size + 8)
    failures: list[str] = []
    since = time.time()
    cpu_before = (cpu_seconds(app_pid), cpu_seconds(sim.pid), time.process_time())
    started = time.perf_counter()
    jobs = [submit(client) for _ in range(size)]
    for job in jobs:
        try:
            result = job.result(timeout=JOB_TIMEOUT)
        except Exception as exc:  # an AppError carries the app's message
            failures.append(str(exc)[:300])
            continue
        if not result[0]:
            failures.append("no images")
    wall = time.perf_counter() - started
    cpu_after = (cpu_seconds(app_pid), cpu_seconds(sim.pid), time.process_time())
    _close_later(client)
    cpu = {
        name: after - before
        for name, before, after in zip(
            ("app", "simulator", "clients"), cpu_before, cpu_after, strict=True
        )
    }
    predictions: list[SimPrediction] = []

    def all_done() -> bool:
        nonlocal predictions
        predictions = sim_predictions(sim.base, since)
        return all(p.completed_at is not None for p in predictions)

    wait_until(all_done, 10.0, 0.1)
    return Batch(wall, failures, [p for p in predictions if p.completed_at is not None], cpu)


@contextlib.contextmanager
def py_spy_record(pid: int, output: Path | None) -> Iterator[None]:
    """`py-spy record` on the app process for the duration of the block, when asked and found.

    Raw (collapsed-stack) format, so the top costs can be summed per function afterwards.
    """
    binary = shutil.which("py-spy") if output is not None else None
    if binary is None or output is None:
        yield
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    recorder = subprocess.Popen(
        # --gil: only the thread holding the GIL, i.e. where the interpreter's one core goes;
        # --nonblocking: the app is not paused for each sample.
        [
            *(binary, "record", "--pid", str(pid), "--gil", "--nonblocking"),
            *("--rate", "200", "--format", "raw", "-o", str(output)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # attached before the load starts
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            recorder.wait(30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait(10)


def _figure(mode: Mode, level: int, run_time: float, batches: list[Batch]) -> Figure:
    walls = [batch.wall for batch in batches]
    failures = [failure for batch in batches for failure in batch.failures]
    backends = [
        p.completed_at - p.created_at
        for batch in batches
        for p in batch.predictions
        if p.completed_at is not None
    ]
    # One request's time: the median prediction the simulator recorded in these batches.
    one_recorded = Spread.of(backends).median
    ratios = Spread.of([wall / one_recorded for wall in walls])
    overlapped = [
        max(p.created_at for p in batch.predictions)
        < min(p.completed_at or 0.0 for p in batch.predictions)
        for batch in batches
        if batch.predictions
    ]
    # How long the app took to get every create out: its own dispatch under load.
    create_spread = [
        ms(
            max(p.created_at for p in batch.predictions)
            - min(p.created_at for p in batch.predictions)
        )
        for batch in batches
        if batch.predictions
    ]
    one = COLD_START + run_time
    return Figure(
        f"concurrency.{mode.key}.{level}",
        f"{level} simultaneous /image, {mode.title}",
        "< 1.5× one request" if mode.has_goal else "(reference)",
        "×",
        ratios,
        (ratios.median < 1.5 and not failures) if mode.has_goal else None,
        f"app, simulator and gradio_client in 3 processes; {level} identical /image submits at "
        "once (cached output, 0.25 MP); batch wall time over one request's backend time as the "
        f"simulator recorded it (configured {COLD_START:g} s cold + {run_time:g} s run)",
        digits=2,
        context={
            "batch_wall_s": Spread.of(walls).__dict__,
            "batch_wall_over_configured": Spread.of([wall / one for wall in walls]).__dict__,
            "backend_per_prediction_ms": Spread.of([ms(b) for b in backends]).__dict__,
            "create_spread_ms": Spread.of(create_spread).__dict__ if create_spread else None,
            "predictions_seen": sum(len(batch.predictions) for batch in batches),
            # CPU per request in each process: on 2 shared cores, their sum bounds the batch.
            **{
                f"cpu_ms_per_request_{name}": Spread.of(
                    [ms(batch.cpu[name]) / level for batch in batches]
                ).__dict__
                for name in ("app", "simulator", "clients")
            },
            "all_predictions_overlapped": bool(overlapped) and all(overlapped),
            "failed_requests": len(failures),
            "failures": sorted(set(failures))[:5],
        },
    )


def run_concurrency(
    sim: SimProcess,
    levels: list[int],
    runs: int,
    run_time: float,
    workdir: Path,
    default_levels: list[int],
    profile_dir: Path | None = None,
) -> list[Figure]:
    """Batch wall time over one request's backend time, per level and queue mode.

    Gradio's default serialises the batch (n × run_time), so it runs once per level and only at
    `default_levels`: the point is the shape, not its spread. With `profile_dir` (and py-spy on
    PATH), the app process is profiled during one more batch of the largest level, not counted.
    """
    figures: list[Figure] = []
    plan: list[tuple[Mode, list[int]]] = []
    for mode in MODES:
        pool = levels if mode.has_goal else default_levels
        mode_levels = [level for level in pool if level >= mode.min_level]
        if mode_levels:
            plan.append((mode, mode_levels))
    configure(sim.base, cold_start=COLD_START, run_time=run_time, output_padding=0)
    launches = [(workdir / f"app-concurrency-{mode.key}", mode.script) for mode, _ in plan]
    # Started together (loading in parallel), measured one after the other: an idle app
    # process waits on its sockets and takes no CPU from the one being measured.
    with app_processes(sim.base, launches) as apps:
        for (mode, mode_levels), app in zip(plan, apps, strict=True):
            pid = app.process.pid
            mode_runs = runs if mode.has_goal else 1
            _batch(sim, pid, app.url, 1)  # warm-up: draws the image once, opens pools
            for level in mode_levels:
                batches = [_batch(sim, pid, app.url, level) for _ in range(mode_runs)]
                figures.append(_figure(mode, level, run_time, batches))
            if profile_dir is not None:
                largest = max(mode_levels)
                with py_spy_record(pid, profile_dir / f"py-spy-{mode.key}-{largest}.txt"):
                    _batch(sim, pid, app.url, largest)
    return figures


def top_functions(raw_profile: Path, count: int = 15) -> list[tuple[str, float, float]]:
    """(function, self share, inclusive share) from a py-spy raw (collapsed-stack) file."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw_profile.read_text(encoding="utf-8").splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        samples = int(number)
        total += samples
        frames = [frame.split(" (")[0] + " " + _file_of(frame) for frame in stack.split(";")]
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + samples
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + samples
    if total == 0:
        return []
    ranked = sorted(own, key=lambda name: own[name], reverse=True)[:count]
    return [(name, own[name] / total, inclusive[name] / total) for name in ranked]


def _file_of(frame: str) -> str:
    """`fn (path/to/file.py:12)` → `(file.py)`, to tell same-named functions apart."""
    if " (" not in frame:
        return ""
    location = frame.split(" (", 1)[1].rstrip(")")
    return "(" + location.rsplit(":", 1)[0].rsplit("/", 2)[-1] + ")"
