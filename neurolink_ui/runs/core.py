"""The run core: the one way a model is run, whoever asks. No Gradio.

It owns the whole sequence once — model reference → backend (the visitor's own token, the
simulator, the owner's) → quota admission → model info (fetched once) → the run's deadline (from
what is known of the model's run time, `neurolink_ui.deadlines`; within the owner's limit on a
guarded Space, which refuses a model too slow for it) → input mapping and cost clamping (in a
worker thread) → the prediction → downloads under the session's budget → closing notes → one
typed record handed to the results store — and yields typed events
(`runs.events`). The panels, Chat, Compare cells, Explore, `/compare`, `/run_model` and the command
line are thin renderers of those events, as FastChat's arena renders its one chat generator.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from ..config import BUILTIN_SIMULATOR_TOKEN, Settings
from ..costs import CostEstimate, SessionCosts, run_cost, usage_of
from ..deadlines import deadline_seconds, known_run_time, official
from ..modalities.common import InputProblem, MappedInput
from ..pipeline import RunResult, run_model
from ..quota.guard import CostPlan, QuotaGuard, QuotaRefused, Ticket
from ..quota.identity import Visitor, identify
from ..replicate.client import DEFAULT_BASE_URL, ReplicateClient
from ..replicate.errors import DownloadBudgetError, PredictionCanceledError, ReplicateError
from ..replicate.outputs import RunOutput
from ..replicate.schema import ModelInfo
from ..replicate.types import ModelRef, Prediction, Progress, TextDelta
from ..results import NewResult
from ..snippets import file_field_names
from .events import RunEvent, RunFailed, RunFinished, RunProgress, RunStarted, RunStopped, RunText
from .live import LiveRuns
from .pacing import ProgressThrottle, UpdatePacer, text_update_interval
from .work import WorkTimeout, offload, offload_within

log = logging.getLogger("neurolink_ui.runs")

# Mapping a person's values onto a schema may encode (a portrait into a still video), probe
# images and read audio: bounded inputs keep it to seconds; past this the run says so.
MAP_SECONDS = 60.0


@dataclass
class Backend:
    """Where one run's requests go and with which token."""

    client: ReplicateClient
    token: str
    owner_paid: bool = False  # the Space owner's token pays: the guarded-demo limits apply

    @property
    def simulated(self) -> bool:
        """The built-in simulator runs it (free, synthetic): its results are kept apart."""
        return self.token == BUILTIN_SIMULATOR_TOKEN

    @property
    def on_replicate(self) -> bool:
        """Runs go to Replicate itself (not a simulator), so its prediction pages exist."""
        return self.client.base_url == DEFAULT_BASE_URL


class OutputRoom(Protocol):
    """Where a session's downloads go, and how much room it has (ui.retention.OutputStore)."""

    def session_dir(self, session_hash: str | None) -> Path: ...
    def room(self, session_hash: str | None) -> int: ...
    def refuse_when_full(self, session_hash: str | None) -> None: ...
    def room_note(self, room: int) -> str: ...
    def refused_download(self, room: int, url: str) -> InputProblem: ...


class RunHost(Protocol):
    """What the core needs of the app (the AppContext), or of the command line."""

    settings: Settings
    quota: QuotaGuard | None

    @property
    def outputs(self) -> OutputRoom: ...

    def backend(self, session_token: str | None) -> Backend: ...


class ResultSink(Protocol):
    """Where a finished run's record is kept (a History log): the kept result's id, or None."""

    def add(self, record: NewResult) -> str | None: ...


@dataclass(frozen=True)
class RunRequest:
    """One run, as an entry point hands it over once it has read the person's values.

    `build` maps those values onto the model's schema (raising InputProblem for values the model
    would refuse); `precheck` refuses bad input before any request (a broken upload). Both run in
    a worker thread, so they may probe images and encode.
    """

    modality: str  # what History records and the quota's panel rules see ("image", "explore"…)
    model: str  # owner/name[:version] or deployment:owner/name, as typed (parsed here, once)
    prompt: str  # what History shows as the prompt
    build: Callable[[ModelInfo], MappedInput]
    output: RunOutput | Callable[[ModelInfo], RunOutput]  # a callable: decided by the model
    precheck: Callable[[], None] | None = None
    key: str | None = None  # what Stop names (LiveRuns key); the modality when None
    started: float | None = None  # time.monotonic() when the person asked
    # Seconds between streamed-text updates (pacing.text_update_interval): longer for one of
    # several answers streaming on the same page.
    text_interval: float = text_update_interval()


@dataclass(frozen=True)
class Caller:
    """Who runs it: their token, session, identity for the quota, History and Stop."""

    session_token: str | None = None
    session_hash: str | None = None
    visitor: Visitor | None = None
    results: ResultSink | None = None
    live: LiveRuns | None = None
    # Set when the caller signed in with their own token and it is gone (their session state
    # was dropped): the run is refused with this message, never moved onto the owner's token.
    token_lost: str | None = None
    costs: SessionCosts | None = None  # the session's running total of what its runs cost


def _download_budget(host: RunHost, session_hash: str | None) -> int | None:
    """Refuses a run when the session's outputs are full; else the bytes its downloads may
    take: the session's room when below the client's cap (None: the cap applies)."""
    host.outputs.refuse_when_full(session_hash)
    room = host.outputs.room(session_hash)
    return room if room < host.settings.max_output_bytes else None


def closing_notes(host: RunHost, info: ModelInfo, ref: ModelRef, budget: int | None) -> list[str]:
    """What every finished run says last: the version a community model ran, the room left."""
    notes: list[str] = []
    pinned = info.run_version(ref)
    if pinned and not ref.version:  # a community model run by name ran on its latest version
        notes.append(f"Ran version {pinned[:12]}…")
    if info.deployment is not None:  # what the deployment's current release runs
        release = info.deployment
        number = f" (release {release.release})" if release.release is not None else ""
        notes.append(f"Ran {release.model} version {release.version[:12]}…{number}")
    if budget is not None:
        notes.append(host.outputs.room_note(budget))
    return notes


async def estimate_run(info: ModelInfo, result: RunResult) -> CostEstimate:
    """What the finished run cost (an estimate from its own metrics and outputs)."""
    usage = await offload(usage_of, result.prediction, result.files, result.input)
    return run_cost(result.model, info.is_official, usage)


def run_record(
    request: RunRequest,
    info: ModelInfo,
    result: RunResult,
    file_labels: tuple[str, ...] = (),
    simulated: bool = False,
    cost: CostEstimate | None = None,
) -> NewResult:
    """The typed record of a finished run, as the results store keeps it."""
    return NewResult(
        kind=request.modality,
        model=result.model,
        version=result.prediction.version,
        prompt=request.prompt,
        input=result.input,
        file_fields=tuple(file_field_names(info.input_schema)),
        files=tuple(result.files),
        input_files=tuple(
            (name, path) for name, paths in result.input_files.items() for path in paths
        ),
        file_labels=file_labels,
        text=result.text,
        notes=tuple(result.notes),
        predict_time=result.predict_time,
        wall_time=round(result.wall_time, 3),
        cold_boot=result.cold_boot,
        prediction_id=result.prediction.id,
        simulated=simulated,
        cost_usd=None if cost is None else cost.usd,
        cost_basis="" if cost is None else cost.basis,
    )


async def run(host: RunHost, request: RunRequest, caller: Caller) -> AsyncGenerator[RunEvent, None]:
    """Run one model for one caller, yielding its events; see the module's docstring.

    Every failure ends in `RunFailed` (never a raised error); cancelling the consumer cancels the
    prediction this run created (the client guarantees it) and then propagates.
    """
    started = request.started if request.started is not None else time.monotonic()
    key = request.key or request.modality
    live = caller.live
    if caller.token_lost is not None:
        yield RunFailed("token", caller.token_lost, "Paste your token again")
        return
    backend = host.backend(caller.session_token)
    on_replicate = backend.on_replicate
    visitor: Visitor | None = None
    cost_plan: CostPlan | None = None
    try:
        if request.precheck is not None:
            await offload_within(MAP_SECONDS, "Checking the input", request.precheck)
        budget = await offload(_download_budget, host, caller.session_hash)
        ref = ModelRef.parse(request.model)
        if host.quota is not None and backend.owner_paid:
            visitor = caller.visitor or identify(
                hf_username=None,
                peer=None,
                forwarded_for=(),
                proxy_hops=0,
                session_hash=caller.session_hash,
            )
            host.quota.check_model(request.modality, str(ref))
            await host.quota.precheck(visitor)
        info = await backend.client.get_model(ref, token=backend.token)
        deadline = run_deadline(
            host, backend, request, ref, info, owner_limited=visitor is not None
        )
        mapped = await offload_within(
            MAP_SECONDS, "Preparing the model's input", request.build, info
        )
        if host.quota is not None and visitor is not None:
            clamped = host.quota.clamp(info.input_schema, mapped.input, request.modality)
            mapped = replace(mapped, input=clamped.input, notes=[*mapped.notes, *clamped.notes])
            # Its worst-case cost under the dollar budget (the deadline bounds hardware time).
            cost_plan = host.quota.plan_cost(str(ref), info, mapped.input, deadline)
    except QuotaRefused as exc:
        yield RunFailed("quota", exc.message, exc.title)
        return
    except InputProblem as exc:
        yield RunFailed("input", str(exc), getattr(exc, "title", "Invalid input"))
        return
    except ReplicateError as exc:
        yield RunFailed("replicate", str(exc), exc.title)
        return
    except WorkTimeout as exc:
        yield RunFailed("busy", f"{exc} Try a smaller input.", "Input too large")
        return

    yield RunStarted(str(ref), tuple(mapped.notes), on_replicate)
    ticket: Ticket | None = None
    if host.quota is not None and visitor is not None:
        try:  # atomic admission, when the run starts
            ticket = await host.quota.admit(visitor, cost_plan, deadline)
        except QuotaRefused as exc:
            yield RunFailed("quota", exc.message, exc.title)
            return
    # What the run cost, for the budget: nothing until a prediction exists; then unknown (its
    # reservation stands) until the finished run's estimate replaces it.
    charged: CostEstimate | None = CostEstimate(0.0, "no prediction was created")
    # The page has just shown RunStarted ("Sending"): the first progress waits its turn.
    throttle, pacer = ProgressThrottle(shown_at=0.0), UpdatePacer(request.text_interval)
    text = ""
    try:
        events = run_model(
            backend.client,
            ref,
            mapped.input,
            token=backend.token,
            kind=request.output if isinstance(request.output, str) else request.output(info),
            dest_dir=host.outputs.session_dir(caller.session_hash),
            notes=mapped.notes,
            started=started,
            max_bytes=budget,
            made_from=mapped.made_from,
            info=info,
            deadline=deadline,
        )
        async with contextlib.aclosing(events) as steps:
            async for event in steps:
                stopping = live is not None and live.is_stopping(key)
                now = time.monotonic()
                if isinstance(event, TextDelta):
                    text += event.text
                    yield RunText(
                        text, event.text, now - started, pacer.ready(now) and not stopping
                    )
                elif isinstance(event, Progress):
                    if event.prediction_id:
                        charged = None
                    if live is not None:
                        live.track(key, event.prediction_id)
                        if stopping:
                            await _cancel_late(backend, live, event.prediction_id)
                    if text:  # answering: the boot is over, the text says how far it is
                        yield RunText(text, "", now - started, pacer.ready(now) and not stopping)
                    else:
                        show = throttle.should_show(event) and not stopping
                        yield RunProgress(event, show, on_replicate)
                elif isinstance(event, RunResult):
                    if live is not None:
                        live.ended_run(key)
                    event.notes.extend(closing_notes(host, info, ref, budget))
                    cost = charged = await estimate_run(info, event)
                    session = ""
                    if caller.costs is not None:
                        caller.costs.add(cost, backend.simulated)
                        session = caller.costs.text(backend.simulated)
                    record = run_record(
                        request, info, event, simulated=backend.simulated, cost=cost
                    )
                    kept = None
                    if caller.results is not None:
                        kept = await offload(caller.results.add, record)
                    yield RunFinished(event, record, kept, on_replicate, info, cost, session)
    except PredictionCanceledError as exc:
        yield RunStopped(exc.prediction or Prediction(id="", status="canceled"), on_replicate)
    except DownloadBudgetError as exc:
        if budget is not None:  # the session's room, not the client's cap
            yield RunFailed("budget", str(host.outputs.refused_download(budget, exc.url)))
        else:
            yield RunFailed("replicate", str(exc), exc.title)
    except ReplicateError as exc:
        yield RunFailed("replicate", str(exc), exc.title)
    except InputProblem as exc:
        yield RunFailed("input", str(exc), getattr(exc, "title", "Invalid input"))
    finally:
        if ticket is not None and host.quota is not None:
            try:
                await host.quota.settle(ticket, charged)
            finally:
                await host.quota.release(ticket)


def run_deadline(
    host: RunHost,
    backend: Backend,
    request: RunRequest,
    ref: ModelRef,
    info: ModelInfo,
    *,
    owner_limited: bool,
) -> float:
    """The run's deadline (`Cancel-After` and the wait): from what is known of the model's run
    time (the catalogue's evidence, its panel's usual run, the runs seen here), else the poll
    cap. On the owner's token of a guarded Space, within its limit; QuotaRefused for a model
    whose typical run is longer (unless the owner allowed it)."""
    known = known_run_time(
        ref, request.modality, info, seen=backend.client.run_times.longest(str(ref))
    )
    deadline = deadline_seconds(known, official=official(ref, info), default=host.settings.poll_cap)
    if owner_limited and host.quota is not None:
        deadline = host.quota.limit_run_time(str(ref), known, deadline)
    return deadline


async def _cancel_late(backend: Backend, live: LiveRuns, prediction_id: str) -> None:
    """Stop was pressed before the prediction had an id: cancel it the moment it has one (once)."""
    if not prediction_id or prediction_id in live.canceled:
        return
    live.canceled.add(prediction_id)
    with contextlib.suppress(ReplicateError):  # else it runs to its end; the run says how
        await backend.client.cancel_prediction(prediction_id, token=backend.token)


async def stop(live: LiveRuns, key: str, backend: Backend) -> Prediction | None:
    """Stop the key's run: marks it stopping (so a prediction whose id arrives later is canceled
    by the run itself) and cancels the prediction whose id is known. Returns that prediction's
    state after the cancel, None when none was known; ReplicateError when the cancel failed.

    When nothing runs under the key (its run has ended: a Stop after Done) it does nothing and
    returns None; `live.is_running(key)` tells the two Nones apart."""
    if not live.is_running(key):
        return None
    prediction_id = live.running.get(key)  # not popped: a second click cancels again
    live.stopping.add(key)
    if not prediction_id:
        return None
    live.canceled.add(prediction_id)
    return await backend.client.cancel_prediction(prediction_id, token=backend.token)
