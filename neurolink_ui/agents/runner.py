"""What an agent's tool call runs (issue 24): its input files fetched under the app's URL policy,
one run of the core rendered as MCP progress and a result, a comparison of several models.

The transports, who asks and the protocol are in server.py; this module knows only an `Agent`
(who a call is from) and a `Reporter` (where its progress goes).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp.server import ServerRequestContext

from ..comparison import CellView, CompareBoard, ComparePlan, cell_key, parse_plan
from ..config import BUILTIN_SIMULATOR_TOKEN
from ..modalities.common import InputProblem
from ..modalities.registry import get_modality
from ..modalities.spec import ModalityValues
from ..pipeline import progress_phase
from ..quota.identity import Visitor
from ..replicate.errors import ReplicateError
from ..replicate.types import Progress
from ..runs import (
    Caller,
    RunFailed,
    RunFinished,
    RunProgress,
    RunRequest,
    RunStarted,
    RunStopped,
    RunText,
    run,
)
from ..runs.work import offload
from ..ui.common import image_check, mapper
from ..ui.context import AppContext
from ..ui.history_log import HistoryLog, share_url
from ..ui.panels.compare import compare_record
from ..ui.panels.compare_cells import run_cell
from ..ui.panels.explore import explore_output, fitted_input
from .content import RunReport, compare_result, error_result, run_result
from .tools import MAX_DATA_URL_CHARS, MAX_URL_CHARS, ToolSpec

MAX_INPUT_FILE_BYTES = 32 * 1024 * 1024  # an input file fetched from an agent's address

AGENT_WAYS = (
    "To go on now: send your own Replicate token in the X-Replicate-Token header (your account "
    "pays, no limits here), send X-NeuroLink-Backend: simulator (free, synthetic outputs), or "
    "run your own copy of this app with your own token."
)


class AgentRefused(Exception):
    """A call refused before it runs (a fair-share bound, a malformed header)."""

    def __init__(self, message: str, title: str = "Refused") -> None:
        super().__init__(message)
        self.message = message
        self.title = title


@dataclass(frozen=True)
class Agent:
    """Who a tool call is from: the token its runs use (its own, the simulator's, or None: the
    app's default backend), how it is counted, and the app's address as it reached it."""

    token: str | None = field(repr=False)
    visitor: Visitor
    base: str  # the app's public address: share and file links
    history_id: str  # where its results are kept (derived from the visitor, never sent)
    room: str  # its outputs folder's session name

    @property
    def own_token(self) -> bool:
        return self.token is not None and self.token != BUILTIN_SIMULATOR_TOKEN


class Reporter:
    """MCP progress notifications for one call: status, percent and log lines, the value
    increasing with every notification (as the protocol asks)."""

    def __init__(self, context: ServerRequestContext[Any, Any]) -> None:
        self.context = context
        self.value = 0.0

    async def say(self, message: str, percent: float | None = None) -> None:
        value = self.value + 0.1 if percent is None else max(self.value + 0.1, min(percent, 99.9))
        self.value = min(value, 99.9)
        with contextlib.suppress(Exception):  # a client gone is the run's cancellation, not this
            await self.context.session.report_progress(self.value, 100.0, message[:2000])

    async def progress(self, event: Progress, prefix: str = "") -> None:
        await self.say(prefix + progress_line(event), event.percent)


def progress_line(event: Progress) -> str:
    """One progress message: what Replicate does, for how long, how far, the last log lines."""
    phase = progress_phase(event.status, event.elapsed, event.percent)
    pct = f" {phase.percent:.0f}%" if phase.percent is not None else ""
    doing = f" — {phase.doing}" if phase.doing else ""
    head = f"{phase.name}{pct}{doing} · {event.elapsed:.1f} s"
    tail = [line.strip()[-200:] for line in event.log_tail if line.strip()][-3:]
    return head + ("\n" + "\n".join(tail) if tail else "")


class ToolRunner:
    """The runs of one app's agents: every call a thin renderer of the run core's events."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    # ---- input files ----------------------------------------------------------------------

    async def fetch(self, agent: Agent, value: str | None, kind: str, role: str) -> Path | None:
        """An input file from an agent's https:// address or data: URL, fetched under the app's
        one URL policy (netguard: public https hosts only) and size caps, its bytes checked to
        be of `kind`; counted against the address's upload allowance."""
        if not value:
            return None
        if value.startswith("data:"):
            if len(value) > MAX_DATA_URL_CHARS:
                raise InputProblem(
                    f"'{role}' is a data: URL over {MAX_DATA_URL_CHARS:,} characters."
                )
        elif not value.startswith(("https://", "http://")):
            raise InputProblem(f"'{role}' must be an https:// address or a data: URL.")
        elif len(value) > MAX_URL_CHARS:
            raise InputProblem(f"'{role}' is an address over {MAX_URL_CHARS:,} characters.")
        fair = self.ctx.fair
        key = agent.visitor.key
        used = fair.upload_bytes.used(key)
        if used >= fair.share.upload_mb_per_hour:
            raise AgentRefused(
                f"Your address may send {fair.share.upload_mb_per_hour:,.0f} MB of input files "
                "an hour to this server, and has. Try again later.",
                "Too many uploads",
            )
        backend = self.ctx.backend(agent.token)
        folder = self.ctx.session_dir(agent.room) / f"input-{uuid.uuid4().hex[:12]}"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            files = await backend.client.download_outputs(
                value, folder, kind=kind, max_files=1, max_bytes=MAX_INPUT_FILE_BYTES
            )
        except ReplicateError as exc:
            raise InputProblem(f"'{role}' could not be read: {exc}") from None
        if not files:
            raise InputProblem(f"'{role}' could not be read: {files.note or 'no file'}")
        size = files[0].stat().st_size
        fair.upload_bytes.hit(key, float("inf"), size / (1024 * 1024))
        return files[0]

    # ---- runs -----------------------------------------------------------------------------

    def caller(self, agent: Agent) -> tuple[Caller, HistoryLog]:
        history = HistoryLog(store=self.ctx.results, history_id=agent.history_id)
        visitor = agent.visitor if self.ctx.quota is not None else None
        return Caller(agent.token, agent.room, visitor, history), history

    async def run_modality(
        self, spec: ToolSpec, args: dict[str, Any], agent: Agent, reporter: Reporter
    ) -> types.CallToolResult:
        name = spec.modality or spec.name
        modality = get_modality(name)
        model = args.get("model") or self.ctx.settings.model_for(name)
        advanced = dict(args.get("advanced") or {})
        image: Path | None = None
        audio: Path | None = None
        more: dict[str, Path] = {}
        prompt = str(args.get("prompt") or args.get("message") or "")
        checks: list[Callable[[], None]] = []
        if name == "chat":
            image = await self.fetch(agent, args.get("image"), "image", "image")
            history = [
                {"role": m["role"], "content": m["content"]} for m in args.get("history") or []
            ]
            controls: dict[str, Any] = {
                "system_prompt": args.get(
                    "system_prompt", modality.control_defaults["system_prompt"]
                ),
                "history": history,
                "max_tokens": args.get("max_tokens", modality.control_defaults["max_tokens"]),
                "temperature": args.get("temperature", modality.control_defaults["temperature"]),
            }
        elif name == "image":
            image = await self.fetch(agent, args.get("image"), "image", "image")
            controls = {
                "aspect_ratio": args.get("aspect_ratio", "auto"),
                "seed": args.get("seed", -1),
                "num_outputs": args.get("num_outputs", 1),
            }
        elif name == "video":
            image = await self.fetch(agent, args.get("start_image"), "image", "start_image")
            last = await self.fetch(agent, args.get("last_frame"), "image", "last_frame")
            if last is not None:
                more["last_frame"] = last
                checks.append(functools.partial(_open_image, last, "last frame"))
            controls = {
                "length": args.get("length", modality.control_defaults["length"]),
                "aspect_ratio": args.get("aspect_ratio", "16:9"),
            }
        elif name == "avatar":
            image = await self.fetch(agent, args.get("portrait"), "image", "portrait")
            audio = await self.fetch(agent, args.get("narration"), "audio", "narration")
            prompt = audio.name if audio is not None else ""
            controls = {}
        else:  # music
            controls = {
                key: args.get(key, modality.control_defaults[key])
                for key in ("duration", "tempo", "model_version", "output_format", "lyrics")
            }
        check = image_check(image, modality.image_role or "image")
        if check is not None:
            checks.insert(0, check)
        values = ModalityValues(
            "" if name == "avatar" else prompt,
            controls,
            image=image,
            audio=audio,
            advanced=advanced,
            more_images=more,
        )

        def precheck() -> None:
            for one in checks:
                one()

        request = RunRequest(
            name,
            str(model),
            prompt,
            mapper(modality, values),
            modality.output,
            precheck=precheck if checks else None,
        )
        return await self.drive(request, agent, reporter)

    async def run_any(
        self, args: dict[str, Any], agent: Agent, reporter: Reporter
    ) -> types.CallToolResult:
        values = dict(args["input"])
        prompt = next(
            (str(v) for k, v in values.items() if "prompt" in k and isinstance(v, str)), ""
        )
        request = RunRequest(
            "explore",
            args["model"],
            prompt or args["model"],
            functools.partial(fitted_input, values),
            explore_output,
        )
        return await self.drive(request, agent, reporter)

    async def drive(
        self, request: RunRequest, agent: Agent, reporter: Reporter
    ) -> types.CallToolResult:
        """One run of the core, rendered for an agent: progress notifications while it runs,
        then its result (or why it did not finish)."""
        caller, history = self.caller(agent)
        outcome: types.CallToolResult | None = None
        async with contextlib.aclosing(run(self.ctx, request, caller)) as events:
            async for event in events:
                if isinstance(event, RunStarted):
                    notes = "".join(f"\n{note}" for note in event.notes)
                    await reporter.say(f"sending to Replicate: {event.model}{notes}")
                elif isinstance(event, RunProgress):
                    if event.show:
                        await reporter.progress(event.progress)
                elif isinstance(event, RunText):
                    if event.show:
                        await reporter.say(
                            f"answering · {len(event.text):,} characters · {event.elapsed:.1f} s"
                        )
                elif isinstance(event, RunFinished):
                    report = await self.report(event, agent, history)
                    # Small images are read and encoded inline: off the event loop.
                    outcome = await offload(run_result, agent.base, report)
                elif isinstance(event, RunStopped):
                    outcome = error_result("The prediction was canceled at Replicate.", "Canceled")
                elif isinstance(event, RunFailed):
                    outcome = error_result(self.failure(event), event.title)
        return outcome or error_result("The run ended without a result.", "No result")

    def failure(self, failed: RunFailed) -> str:
        """A failure's message for an agent: a quota refusal names the limit and when it resets
        (the guard's words), then the ways on an agent has."""
        message = failed.message
        quota = self.ctx.quota
        if failed.reason == "quota" and quota is not None:
            message = message.removesuffix(quota.ways_on()).rstrip() + " " + AGENT_WAYS
        return message

    async def report(self, event: RunFinished, agent: Agent, history: HistoryLog) -> RunReport:
        result = event.result
        files = list(result.files)
        share, note = None, ""
        if event.kept_id is not None:
            kept = await offload(self.ctx.results.get, agent.history_id, event.kept_id)
            if kept is not None:
                files = list(kept.files)  # the kept copies: they last as long as the result
            if self.ctx.settings.sharing:
                share_id = await offload(history.share, event.kept_id)
                share = share_url(agent.base, share_id) if share_id else None
            else:
                note = "Share links are turned off on this app (NEUROLINK_SHARING=off)."
        else:
            note = "This result could not be kept (the results store is full): no share link."
        return RunReport(
            model=result.model,
            version=result.prediction.version,
            text=result.text,
            files=files,
            notes=list(result.notes),
            predict_time=result.predict_time,
            total_time=round(result.wall_time, 3),
            prediction_id=result.prediction.id,
            share_url=share,
            share_note=note,
            cost=event.cost,
            simulated=event.simulated,
        )

    # ---- compare --------------------------------------------------------------------------

    async def compare(
        self, args: dict[str, Any], agent: Agent, reporter: Reporter
    ) -> types.CallToolResult:
        modality = args["modality"]
        role = get_modality(modality).image_role
        image = await self.fetch(agent, args.get("image"), "image", "image") if role else None
        if args.get("image") and not role:
            raise InputProblem(f"The {modality} compare takes no image; leave `image` out.")
        audio = await self.fetch(agent, args.get("audio"), "audio", "audio")
        settings = self.ctx.settings
        plan: ComparePlan = await offload(
            functools.partial(
                parse_plan,
                modality,
                list(args["models"]),
                dict(args.get("input") or {}),
                str(image) if image else None,
                str(audio) if audio else None,
                text_limit=settings.max_prompt_chars,
                chat_limit=settings.max_chat_chars,
            )
        )
        caller, history = self.caller(agent)
        views = [CellView(index, model) for index, model in enumerate(plan.models)]
        changed: asyncio.Queue[int | None] = asyncio.Queue()

        async def drive(index: int) -> None:
            try:
                async for view in run_cell(self.ctx, plan, index, caller):
                    views[index] = view
                    changed.put_nowait(index)
            finally:
                changed.put_nowait(None)

        tasks = [
            asyncio.create_task(drive(index), name=cell_key(index)) for index in range(len(views))
        ]
        try:
            running = len(tasks)
            while running:
                index = await changed.get()
                if index is None:
                    running -= 1
                    continue
                view = views[index]
                line: str = view.state
                if view.progress is not None and view.state == "running":
                    line = progress_line(view.progress).split("\n", 1)[0]
                elif view.text and view.state == "running":
                    line = f"answering · {len(view.text):,} characters"
                await reporter.say(f"{view.label} · {view.model}: {line}", None)
            await asyncio.gather(*tasks)
        finally:  # the agent canceled: every cell's prediction is canceled by its client
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        board = CompareBoard()
        board.start(plan)
        board.cells = views
        reports: list[RunReport] = []
        failures: list[str] = []
        for view in views:
            if view.state == "done":
                reports.append(
                    RunReport(
                        model=view.model,
                        version=view.prediction.version if view.prediction else None,
                        text=view.text,
                        files=list(view.files),
                        notes=list(view.notes),
                        predict_time=view.predict_time,
                        total_time=view.total_time,
                        prediction_id=view.prediction_id,
                        cost=view.cost,
                        simulated=view.simulated,
                        label=view.label,
                    )
                )
            else:
                error = (
                    self.failure(
                        RunFailed("quota" if view.state == "refused" else "replicate", view.error)
                    )
                    if view.error
                    else view.state
                )
                failures.append(f"❌ {view.label} · {view.model}: {error}")
        share, note = None, "Nothing finished: no share link."
        if reports:
            if settings.sharing:
                kept = await offload(history.add, compare_record(board))
                share_id = await offload(history.share, kept) if kept else None
                share = share_url(agent.base, share_id) if share_id else None
                if share is None:
                    note = "The comparison could not be kept: no share link."
            else:
                note = "Share links are turned off on this app (NEUROLINK_SHARING=off)."
        return await offload(compare_result, agent.base, reports, failures, share, note)


def _open_image(path: Path, role: str) -> None:
    from ..modalities.common import open_image

    open_image(path, role)
