"""1. Client overhead: our ReplicateClient against the official `replicate` client, same predictions.

Three clients talk HTTPS to one simulator (TLS, so the official client's FileOutput sees delivery
URLs as it would see Replicate's) in the same run, turn by turn, so the noise of the machine hits
them alike: ours (creates not held: create, then the stream or polls), ours as it was with held
`Prefer: wait` creates (the client module of `HELD_REF`, loaded from git), and the official one.
Per prediction: wall time minus the simulator's own created → completed time, the time from the
prediction's end to the output in the caller's hands, and the number of HTTP requests the
simulator saw (API calls, streams and file downloads).
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .common import (
    ROOT,
    TOKEN,
    Figure,
    Spread,
    backend_seconds,
    ms,
    new_predictions,
    wait_until,
)

# The last commit whose client held creates open with `Prefer: wait` (and found a held create's
# prediction by listing on Stop): the baseline of the create/cancel design (issue 8 item 3).
HELD_REF = "47bd1a4"


def _pinned(owner: str, name: str) -> str:
    """A community model as people run it with the official client: owner/name:version."""
    from neurolink_ui.simulator.catalog import get_model

    model = get_model(owner, name)
    if model is None:
        raise RuntimeError(f"the simulator has no {owner}/{name}")
    return f"{owner}/{name}:{model.version_id}"


SHORT_MODEL = _pinned("replicate", "hello-world")
IMAGE_MODEL = "black-forest-labs/flux-schnell"
SMALL_WAIT = 1  # seconds of `Prefer: wait` in the long case: the prediction outlives it


@dataclass(frozen=True)
class Case:
    """One kind of prediction, run the same way through both clients."""

    key: str
    title: str
    model: str
    input: dict[str, Any]
    sim_config: dict[str, Any]
    wait: int  # Prefer: wait of the official client and of the held-create baseline
    downloads: bool
    phase_spread: float = 0.0
    """Seconds over which the cold start is spread across runs: a polled prediction's overhead
    depends on where its end falls between two polls, so runs sample that phase evenly."""

    def config_for_run(self, index: int, runs: int) -> dict[str, Any]:
        if not self.phase_spread:
            return self.sim_config
        shift = self.phase_spread * (index + 0.5) / runs
        return {**self.sim_config, "cold_start": self.sim_config["cold_start"] + shift}


def cases(quick: bool) -> list[Case]:
    cold = 0.1 if quick else 0.5
    long_cold = 1.1 if quick else 2.5  # longer than SMALL_WAIT: both clients must poll
    return [
        Case(
            "short",
            "short text prediction, done inside the wait window",
            SHORT_MODEL,
            {"text": "bench"},
            {"cold_start": cold, "first_token_delay": 0.05, "token_interval": 0.0},
            60,
            False,
        ),
        Case(
            "long",
            f"long prediction, outlives a {SMALL_WAIT} s wait window (polling)",
            SHORT_MODEL,
            {"text": "bench"},
            {"cold_start": long_cold, "first_token_delay": 0.05, "token_interval": 0.0},
            SMALL_WAIT,
            False,
            phase_spread=1.0,
        ),
        Case(
            "image",
            "image prediction with its output file downloaded",
            IMAGE_MODEL,
            {"prompt": "a lighthouse at dusk", "num_outputs": 1},
            {"cold_start": 0.1, "run_time": cold},
            60,
            True,
        ),
    ]


@dataclass
class Sample:
    wall: float
    backend: float
    after_end: float  # the prediction's end (simulator clock) → output in the caller's hands
    requests: int
    kinds: Counter[str]


def request_kind(method: str, path: str) -> str:
    if path.startswith("/delivery/"):
        return "download"
    if path.startswith("/v1/streams/"):
        return "stream"
    if method == "POST" and path.endswith("/predictions"):
        return "create"
    if method == "GET" and path.startswith("/v1/predictions/"):
        return "poll"
    if "/versions/" in path or path.startswith("/v1/models/"):
        return "model"
    return f"{method} {path.split('/')[2] if path.count('/') > 1 else path}"


def _guarded_download_transport(base_url: str, ssl_context: Any) -> httpx.AsyncBaseTransport:
    """Our guarded download transport, trusting the simulator's throwaway certificate.

    GuardedTransport builds its own httpcore pool (to put its network backend in); the only change
    here is the CA it trusts, so every check of the guard still runs.
    """
    from neurolink_ui.replicate.netguard import GuardedTransport

    transport = GuardedTransport(base_url)
    transport._pool._ssl_context = ssl_context
    return transport


def held_client_class(ref: str = HELD_REF) -> Any:
    """`ReplicateClient` of the held-create design, from `ref`'s client.py (git show), run against
    this tree's other client modules; None when git or the commit is not available."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{ref}:neurolink_ui/replicate/client.py"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    name = "neurolink_ui.replicate._held_client"
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "neurolink_ui.replicate"
    sys.modules[name] = module  # dataclasses look their module up
    exec(compile(source, f"{ref}:neurolink_ui/replicate/client.py", "exec"), module.__dict__)
    return module.ReplicateClient


class Runners:
    """The clients, each with one pool for the whole benchmark (as an app would keep it)."""

    def __init__(self, sim: Any, dest: Path) -> None:
        import replicate

        from neurolink_ui.replicate.client import ReplicateClient

        ssl_context = sim.ssl_context()
        self.dest = dest

        def transports() -> dict[str, Any]:
            return {
                "transport": httpx.AsyncHTTPTransport(verify=ssl_context),
                "download_transport": _guarded_download_transport(sim.base_url, ssl_context),
            }

        self.ours = ReplicateClient(sim.base_url, poll_cap=120, **transports())
        held = held_client_class()
        self.held: dict[int, Any] = {}
        if held is not None:
            for wait in (60, SMALL_WAIT):
                self.held[wait] = held(sim.base_url, sync_wait=wait, poll_cap=120, **transports())
        self.official = replicate.Client(
            api_token=TOKEN,
            base_url=sim.base_url,
            transport=httpx.AsyncHTTPTransport(verify=ssl_context),
        )

    async def aclose(self) -> None:
        for client in (self.ours, *self.held.values()):
            await client.aclose()
        await self.official._async_client.aclose()

    async def run_ours(self, case: Case, index: int, held: bool = False) -> None:
        client = self.held[case.wait] if held else self.ours
        who = "held" if held else "ours"
        prediction = await client.run(case.model, dict(case.input), token=TOKEN)
        if case.downloads:
            files = await client.download_outputs(
                prediction.output, self.dest / f"{who}-{case.key}-{index}", kind="image"
            )
            if not files or files[0].stat().st_size == 0:
                raise RuntimeError(f"{who}: no image downloaded")
        elif not prediction.output:
            raise RuntimeError(f"{who}: no output returned")

    async def run_held(self, case: Case, index: int) -> None:
        await self.run_ours(case, index, held=True)

    async def run_official(self, case: Case, index: int) -> None:
        from replicate.helpers import transform_output

        client = self.official
        if case.wait == 60:
            # async_run: Prefer: wait=60, then the output (FileOutput for files).
            output = await client.async_run(case.model, input=dict(case.input))
        else:
            # async_run(wait=N) takes a `processing` reply as final; create + wait is the path
            # for predictions that outlive the window.
            version = case.model.partition(":")[2]
            prediction = await client.predictions.async_create(
                version=version, input=dict(case.input), wait=case.wait
            )
            await prediction.async_wait()
            output = transform_output(prediction.output, client)
        if case.downloads:
            outputs = output if isinstance(output, list) else [output]
            folder = self.dest / f"official-{case.key}-{index}"
            folder.mkdir(parents=True, exist_ok=True)
            for number, file_output in enumerate(outputs):
                # Plain file writes, chunk by chunk, as our Downloader does: same cost both sides.
                with open(folder / f"out-{number}", "wb") as sink:  # noqa: ASYNC230
                    async for chunk in file_output:
                        sink.write(chunk)
                if (folder / f"out-{number}").stat().st_size == 0:
                    raise RuntimeError("the official client downloaded no image")
        elif not output:
            raise RuntimeError("the official client returned no output")


async def _measure(sim: Any, run: Callable[[], Awaitable[None]], limit: float) -> Sample:
    before_ids = set(sim.predictions)
    before_requests = len(sim.requests)
    started = time.perf_counter()
    await asyncio.wait_for(run(), limit)
    wall = time.perf_counter() - started
    returned = time.time()  # the simulator runs in this process: one clock for both
    (state,) = new_predictions(sim, before_ids)
    # A sync reply may carry the full output a moment before the prediction is marked done
    # (token_interval is 0 in these cases, so that moment is the completion).
    wait_until(lambda: state.completed_at is not None, 5.0, 0.005)
    seen = list(sim.requests)[before_requests:]
    kinds = Counter(request_kind(r.method, r.path) for r in seen)
    return Sample(
        wall=wall,
        backend=backend_seconds(state),
        after_end=max(returned - state.completed_at, 0.0),
        requests=len(seen),
        kinds=kinds,
    )


async def run_client_overhead(sim: Any, runs: int, quick: bool) -> list[Figure]:
    """Figures for every case: ms over the backend for each client, and requests each."""
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-client-") as tmp:
        runners = Runners(sim, Path(tmp))
        try:
            for case in cases(quick):
                sim.reset()
                sim.config.update_from_json(case.sim_config)
                timeout = 60.0
                # One warm-up each: schema cache, TLS connections (an app keeps both warm).
                await runners.run_ours(case, -1)
                if runners.held:
                    await runners.run_held(case, -1)
                await runners.run_official(case, -1)
                ours: list[Sample] = []
                held: list[Sample] = []
                official: list[Sample] = []
                for index in range(runs):  # interleaved: all see the same noise
                    sim.config.update_from_json(case.config_for_run(index, runs))
                    ours.append(
                        await _measure(sim, lambda c=case, i=index: runners.run_ours(c, i), timeout)
                    )
                    if runners.held:
                        held.append(
                            await _measure(
                                sim, lambda c=case, i=index: runners.run_held(c, i), timeout
                            )
                        )
                    official.append(
                        await _measure(
                            sim, lambda c=case, i=index: runners.run_official(c, i), timeout
                        )
                    )
                figures.extend(_case_figures(case, ours, official))
                if held:
                    figures.extend(_held_figures(case, held))
        finally:
            await runners.aclose()
            sim.reset()
    return figures


def _case_figures(case: Case, ours: list[Sample], official: list[Sample]) -> list[Figure]:
    def over(samples: list[Sample]) -> Spread:
        return Spread.of([ms(s.wall - s.backend) for s in samples])

    def after_end(samples: list[Sample]) -> Spread:
        return Spread.of([ms(s.after_end) for s in samples])

    def ratio(samples: list[Sample]) -> Spread:
        return Spread.of([s.wall / s.backend for s in samples])

    def context(samples: list[Sample]) -> dict[str, Any]:
        kinds: Counter[str] = Counter()
        for s in samples:
            kinds.update(s.kinds)
        return {
            "backend_ms": Spread.of([ms(s.backend) for s in samples]).__dict__,
            "wall_over_backend": ratio(samples).__dict__,
            "requests_by_kind_per_prediction": {
                k: round(v / len(samples), 2) for k, v in sorted(kinds.items())
            },
        }

    ours_over, official_over = over(ours), over(official)
    ours_end, official_end = after_end(ours), after_end(official)
    ours_req = Spread.of([float(s.requests) for s in ours])
    official_req = Spread.of([float(s.requests) for s in official])
    how = (
        f"{case.title}; {case.model.split(':')[0]}, sim {case.sim_config}"
        + (f" + cold start spread over {case.phase_spread:g} s" if case.phase_spread else "")
        + f", official: Prefer: wait={case.wait}, ours: creates not held; wall "
        "time minus the simulator's created→completed time, per prediction"
    )
    return [
        Figure(
            f"client.{case.key}.ours_over_backend",
            f"Client overhead, {case.key}: ours",
            "≤ 50 ms over backend",
            " ms",
            ours_over,
            ours_over.median <= 50.0,
            how,
            context=context(ours),
        ),
        Figure(
            f"client.{case.key}.official_over_backend",
            f"Client overhead, {case.key}: official replicate 1.0.7",
            "(reference)",
            " ms",
            official_over,
            None,
            how,
            context=context(official),
        ),
        Figure(
            f"client.{case.key}.ours_after_end",
            f"Prediction end → output in the caller's hands, {case.key}: ours",
            "(context)",
            " ms",
            ours_end,
            None,
            "the simulator's completed_at to the client's return (files downloaded), same clock",
        ),
        Figure(
            f"client.{case.key}.official_after_end",
            f"Prediction end → output in the caller's hands, {case.key}: official",
            "(reference)",
            " ms",
            official_end,
            None,
            "the simulator's completed_at to the client's return (files downloaded), same clock",
        ),
        Figure(
            f"client.{case.key}.ours_requests",
            f"HTTP requests per prediction, {case.key}: ours",
            f"≤ official ({official_req.median:g})",
            " req",
            ours_req,
            ours_req.median <= official_req.median,
            "requests the simulator logged per prediction (API, stream, downloads); by kind: "
            + ", ".join(
                f"{k} {v}" for k, v in context(ours)["requests_by_kind_per_prediction"].items()
            ),
        ),
        Figure(
            f"client.{case.key}.official_requests",
            f"HTTP requests per prediction, {case.key}: official",
            "(reference)",
            " req",
            official_req,
            None,
            "by kind: "
            + ", ".join(
                f"{k} {v}" for k, v in context(official)["requests_by_kind_per_prediction"].items()
            ),
        ),
    ]


def _held_figures(case: Case, held: list[Sample]) -> list[Figure]:
    """The held-create design (HELD_REF) on the same case: overhead, end → output, requests."""
    kinds: Counter[str] = Counter()
    for sample in held:
        kinds.update(sample.kinds)
    by_kind = ", ".join(f"{k} {round(v / len(held), 2)}" for k, v in sorted(kinds.items()))
    how = f"client.py of {HELD_REF} (held `Prefer: wait={case.wait}` creates), same case and run"
    return [
        Figure(
            f"client.{case.key}.held_over_backend",
            f"Client overhead, {case.key}: held creates (before)",
            "(baseline)",
            " ms",
            Spread.of([ms(s.wall - s.backend) for s in held]),
            None,
            how,
        ),
        Figure(
            f"client.{case.key}.held_after_end",
            f"Prediction end → output in the caller's hands, {case.key}: held creates (before)",
            "(baseline)",
            " ms",
            Spread.of([ms(s.after_end) for s in held]),
            None,
            how,
        ),
        Figure(
            f"client.{case.key}.held_requests",
            f"HTTP requests per prediction, {case.key}: held creates (before)",
            "(baseline)",
            " req",
            Spread.of([float(s.requests) for s in held]),
            None,
            f"{how}; by kind: {by_kind}",
        ),
    ]
