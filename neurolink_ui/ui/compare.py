"""The Compare tab: one input, 2–4 models side by side, each cell run, stopped and retried alone.

Each model's input is mapped from its own schema by the modality's builder, exactly as its panel
does, and run by `pipeline.run_model`; every cell is one run (quota, History, Stop) of its own.

Why fixed cell slots: Gradio gives one event one stream of updates, and `cancels=` ends whole
events. So the page has MAX_CELLS slots, each with its own run event fanned out from Compare (and
its own Retry event); a cell's Stop `cancels=` only that cell's events, whose cancel cancels only
its prediction at Replicate, and the others keep running. The API (`/compare`) is one event
merging every cell's stream (asyncio tasks), with `/compare_stop` for a cell: both paths share
`run_cell()` and the pure views below, which are testable without a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gradio as gr

from ..limits import check_number, check_text, parse_json_object
from ..modalities.avatar import build_avatar_input
from ..modalities.chat import build_chat_input
from ..modalities.common import InputProblem, MappedInput, open_image
from ..modalities.image import AUTO_RATIO, build_image_input
from ..modalities.music import build_music_input
from ..modalities.video import build_video_input
from ..model_choices import AVATAR_MODELS, CHAT_MODELS, IMAGE_MODELS, MUSIC_MODELS, VIDEO_MODELS
from ..pipeline import OutputKind, RunResult, run_model
from ..replicate.errors import DownloadError, PredictionCanceledError, ReplicateError
from ..replicate.schema import ModelInfo
from ..replicate.types import (
    Completed,
    ModelRef,
    Prediction,
    PredictionEvent,
    Progress,
    TextDelta,
)
from .adapters import (
    ChatStreamView,
    ProgressThrottle,
    UpdatePacer,
    done_markdown,
    plain_text,
    progress_markdown,
    stopped_markdown,
    streaming_markdown,
)
from .chat import DEFAULT_SYSTEM_PROMPT
from .common import add_history, error_markdown, history_entry, refuse
from .components import AudioOutput, GalleryOutput, ImageInput, ImageOutput, VideoOutput
from .context import AppContext
from .history import HistoryHandles, HistoryLog, refresh_after
from .image import RATIO_CHOICES
from .live import LiveRuns, live_run, make_stop_handler, stopping, track, wire_stop
from .music import MODEL_VERSIONS
from .quota import check_run
from .video import ANIMATED_IMAGE_SUFFIXES, VIDEO_ASPECT_RATIOS

Modality = Literal["chat", "image", "video", "avatar", "music"]
MODALITIES: tuple[Modality, ...] = ("chat", "image", "video", "avatar", "music")
MIN_MODELS, MAX_CELLS = 2, 4
MAX_MODEL_CHARS = 200  # owner/name:version is far shorter; anything longer is not a model id
LABELS = "ABCD"
# Replicate says nothing of boots, only when a prediction was created and when it started: a warm
# model starts within a second or so, a cold boot takes from several seconds to minutes.
COLD_BOOT_SECONDS = 2.0

OUTPUT_KINDS: dict[Modality, OutputKind] = {
    "chat": "text",
    "image": "image",
    "video": "video",
    "avatar": "video",
    "music": "audio",
}
SUGGESTED_MODELS: dict[Modality, list[str]] = {
    "chat": CHAT_MODELS,
    "image": IMAGE_MODELS,
    "video": VIDEO_MODELS,
    "avatar": AVATAR_MODELS,
    "music": MUSIC_MODELS,
}
# Each modality's shared controls (the panel's main ones) and their defaults; the type of a
# default is the type a value must have. The API's input JSON takes exactly these keys.
CONTROLS: dict[Modality, dict[str, str | float]] = {
    "chat": {
        "prompt": "",
        "system_prompt": DEFAULT_SYSTEM_PROMPT,
        "max_tokens": 0,
        "temperature": 0.6,
    },
    "image": {"prompt": "", "aspect_ratio": AUTO_RATIO, "seed": -1, "num_outputs": 1},
    "video": {"prompt": "", "length": 4, "aspect_ratio": "16:9"},
    "avatar": {},
    "music": {
        "prompt": "",
        "duration": 8,
        "tempo": 90,
        "model_version": "stereo-large",
        "output_format": "mp3",
    },
}
# What the shared image upload is to each modality (None: it takes no image).
IMAGE_ROLES: dict[Modality, str | None] = {
    "chat": "image (for models that see images)",
    "image": "input image (image-to-image)",
    "video": "start frame",
    "avatar": "portrait",
    "music": None,
}


# ---------------------------------------------------------------------------------------------
# The request: checked like everything a visitor sends (limits.py), before anything runs.


@dataclass(frozen=True)
class ComparePlan:
    """One checked compare request: what every cell maps from its own model's schema."""

    modality: Modality
    models: tuple[str, ...]
    values: dict[str, Any]
    image: Path | None = None
    audio: Path | None = None
    blind: bool = False

    @property
    def prompt(self) -> str:
        """What History records as the prompt (avatar: the narration's file name)."""
        if self.modality == "avatar":
            return self.audio.name if self.audio else ""
        return str(self.values.get("prompt") or "")


def parse_modality(value: Any) -> Modality:
    for modality in MODALITIES:
        if value == modality:
            return modality
    shown = str(value)[:40]
    raise InputProblem(f"Unknown modality {shown!r}: use one of {', '.join(MODALITIES)}.")


def parse_models(models: Any) -> tuple[str, ...]:
    """2–4 distinct model ids, each `owner/name` or `owner/name:version`."""
    if isinstance(models, str):
        models = [part for part in models.replace("\n", ",").split(",") if part.strip()]
    if not isinstance(models, list | tuple) or not all(isinstance(m, str) for m in models):
        raise InputProblem("Models must be a list of model ids (owner/name).")
    if not MIN_MODELS <= len(models) <= MAX_CELLS:
        raise InputProblem(
            f"Compare takes {MIN_MODELS} to {MAX_CELLS} models; {len(models)} were given."
        )
    parsed: list[str] = []
    for model in models:
        if len(model) > MAX_MODEL_CHARS:
            raise InputProblem(
                f"A model id is {len(model):,} characters long; model ids are owner/name "
                f"(at most {MAX_MODEL_CHARS} characters)."
            )
        ref = str(ModelRef.parse(model))  # InvalidModelRefError says the accepted forms
        if ref in parsed:
            raise InputProblem(f"{ref} is listed twice: compare different models.")
        parsed.append(ref)
    return tuple(parsed)


def parse_values(
    modality: Modality, raw: str | dict[str, Any] | None, *, text_limit: int
) -> dict[str, Any]:
    """The shared controls of `modality` from a JSON object (size, depth, numbers and texts
    checked before use), unknown keys refused, missing ones at their defaults."""
    if raw is None or raw == "":
        values: dict[str, Any] = {}
    elif isinstance(raw, str):
        values = parse_json_object(raw, "The compare input")
    elif isinstance(raw, dict):
        values = raw
    else:
        raise InputProblem("The compare input must be a JSON object of control names to values.")
    defaults = CONTROLS[modality]
    unknown = sorted(str(k)[:40] for k in values if k not in defaults)
    if unknown:
        accepted = ", ".join(defaults) or "nothing (upload a portrait and narration)"
        raise InputProblem(f"{modality} compare takes {accepted}; not {', '.join(unknown[:5])}.")
    checked: dict[str, Any] = dict(defaults)
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(defaults[name], str):
            if not isinstance(value, str):
                raise InputProblem(f"The {name.replace('_', ' ')} must be text.", field=name)
            check_text(value, name.replace("_", " "), text_limit)
        else:
            check_number(value, name.replace("_", " "))
        checked[name] = value
    if modality != "avatar" and not str(checked["prompt"]).strip():
        raise InputProblem("Type a prompt first: every model gets the same one.", field="prompt")
    return checked


def parse_plan(
    modality: Any,
    models: Any,
    values: str | dict[str, Any] | None,
    image: str | None,
    audio: str | None,
    *,
    text_limit: int,
    chat_limit: int,
    blind: bool = False,
) -> ComparePlan:
    """A whole compare request checked: modality, models, controls, uploads."""
    kind = parse_modality(modality)
    chosen = parse_models(models)
    checked = parse_values(kind, values, text_limit=chat_limit if kind == "chat" else text_limit)
    role = IMAGE_ROLES[kind]
    if image and role is None:
        raise InputProblem(f"The {kind} compare takes no image; leave the image empty.")
    if audio and kind != "avatar":
        raise InputProblem(f"The {kind} compare takes no audio; audio is the avatar's narration.")
    if kind == "avatar" and not image:
        raise InputProblem("Add a portrait image first.")
    if kind == "avatar" and not audio:
        raise InputProblem("Add narration audio first (upload a file or record it).")
    picture = Path(image) if image else None
    if picture is not None:  # a broken upload is refused before any prediction is paid for
        open_image(picture, role or "image")
    order = random.sample(chosen, len(chosen)) if blind else chosen  # blind: no order to go by
    return ComparePlan(
        kind, tuple(order), checked, picture, Path(audio) if audio else None, blind=blind
    )


def _whole(value: Any) -> int | None:
    return int(value) if value else None


def map_input(plan: ComparePlan, info: ModelInfo) -> MappedInput:
    """One model's input from the shared values, by its modality's builder and its own schema
    (the same call its panel makes)."""
    values, schema = plan.values, info.input_schema
    if plan.modality == "chat":
        return build_chat_input(
            schema,
            system_prompt=values["system_prompt"],
            history=None,
            message=values["prompt"],
            max_tokens=_whole(values["max_tokens"]),
            temperature=values["temperature"],
            image=plan.image,
            model_description=info.description,
        )
    if plan.modality == "image":
        seed = values["seed"]
        return build_image_input(
            schema,
            prompt=values["prompt"],
            aspect_ratio=values["aspect_ratio"] or None,
            seed=int(seed) if seed is not None and seed >= 0 else None,
            num_outputs=_whole(values["num_outputs"]),
            image=plan.image,
        )
    if plan.modality == "video":
        return build_video_input(
            schema,
            prompt=values["prompt"],
            start_image=plan.image,
            length_seconds=float(values["length"]) if values["length"] else None,
            aspect_ratio=values["aspect_ratio"] or None,
        )
    if plan.modality == "avatar":
        return build_avatar_input(schema, portrait=plan.image, audio=plan.audio)
    return build_music_input(
        schema,
        prompt=values["prompt"],
        duration=float(values["duration"]) if values["duration"] else None,
        tempo=float(values["tempo"]) if values["tempo"] else None,
        model_version=values["model_version"] or None,
        output_format=values["output_format"] or None,
    )


# ---------------------------------------------------------------------------------------------
# Cells: per-cell events turned into what a cell shows (pure).

CellState = Literal["waiting", "running", "done", "failed", "stopped", "refused"]
API_STATUS: dict[CellState, str] = {
    "waiting": "waiting",
    "running": "running",
    "done": "succeeded",
    "failed": "failed",
    "stopped": "canceled",
    "refused": "refused",
}


def label_of(index: int) -> str:
    return f"Model {LABELS[index]}"


def cell_key(index: int) -> str:
    """The cell's name in the session's LiveRuns (what its Stop cancels)."""
    return f"compare-{index}"


def _seconds_between(start: str | None, end: str | None) -> float | None:
    from datetime import datetime

    if not start or not end:
        return None
    try:
        first = datetime.fromisoformat(start.replace("Z", "+00:00"))
        last = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max((last - first).total_seconds(), 0.0)


def starting_seconds(prediction: Prediction) -> float | None:
    """Seconds the prediction spent before running (queue and boot): Replicate's metrics
    `total_time - predict_time`, else `started_at - created_at`."""
    total, predict = prediction.metrics.get("total_time"), prediction.predict_time
    if isinstance(total, int | float) and predict is not None:
        return max(float(total) - predict, 0.0)
    return _seconds_between(prediction.created_at, prediction.started_at)


@dataclass
class CellView:
    """What one cell has to show: its model, where its run is, and its result or error."""

    index: int
    model: str
    state: CellState = "waiting"
    progress: str = ""  # the latest status line while running
    text: str = ""
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""
    prediction_id: str = ""
    prediction: Prediction | None = None
    predict_time: float | None = None
    total_time: float | None = None
    starting_time: float | None = None
    on_replicate: bool = False
    cancel_sent: bool = False  # Stop came before the prediction had an id; canceled since

    @property
    def label(self) -> str:
        return label_of(self.index)

    @property
    def cold_boot(self) -> bool | None:
        if self.starting_time is None:
            return None
        return self.starting_time >= COLD_BOOT_SECONDS

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "stopped", "refused")

    def apply(self, event: PredictionEvent | RunResult, hidden: bool = False) -> None:
        """Take one event of the cell's run."""
        if isinstance(event, Completed):  # run_model turns it into its RunResult
            return
        if isinstance(event, TextDelta):
            self.text += event.text
            return
        if isinstance(event, Progress):
            self.state = "running"
            self.prediction_id = event.prediction_id or self.prediction_id
            on_replicate = self.on_replicate and not hidden
            if self.text:
                self.progress = streaming_markdown(event.elapsed, len(self.text))
            else:
                self.progress = progress_markdown(event, on_replicate)
            return
        self.state = "done"
        self.prediction = event.prediction
        self.prediction_id = event.prediction.id
        self.text = self.text or event.text
        self.files = list(event.files)
        self.notes = list(event.notes)
        self.predict_time = event.predict_time
        self.total_time = round(event.wall_time, 3)
        self.starting_time = starting_seconds(event.prediction)

    def fail(self, message: str, state: CellState = "failed") -> None:
        self.state = state
        self.error = message

    def stop(self, prediction: Prediction | None) -> None:
        self.state = "stopped"
        self.prediction = prediction


def conceal(text: str, model: str, label: str) -> str:
    """`text` with the model's id (and its owner/name) replaced by the cell's label."""
    for name in sorted({model, model.split(":", 1)[0]}, key=len, reverse=True):  # longest first
        text = text.replace(name, label)
    return text


def boot_text(view: CellView) -> str:
    if view.cold_boot is None:
        return ""
    if view.cold_boot:
        return f"🧊 cold boot ({view.starting_time:.1f} s to start)"
    return f"🔥 warm ({view.starting_time:.1f} s to start)"


def cell_status(view: CellView, hidden: bool) -> str:
    """The cell's status Markdown: progress, the ✅ Done line with times and boot, or its error.
    `hidden` (blind mode before a pick): no model name, no link to the prediction's page."""
    name = view.label if hidden else view.model
    on_replicate = view.on_replicate and not hidden
    if view.state == "waiting":
        text = "⏳ Waiting to start…"
    elif view.state == "running":
        text = view.progress or "📤 Sending to Replicate…"
    elif view.state == "done":
        text = done_markdown(
            name, view.predict_time, view.total_time or 0.0, [], view.prediction, on_replicate
        )
        boot = boot_text(view)
        if boot:
            text += f"\n\n{boot}"
    elif view.state == "stopped":
        text = stopped_markdown(view.prediction, on_replicate)
    elif view.state == "refused":
        text = f"🎟️ {view.error}"
    else:
        text = error_markdown(view.error)
    for note in view.notes:
        text += f"\n\nℹ️ {note}"
    return conceal(text, view.model, view.label) if hidden else text


def cell_title(view: CellView | None, index: int, hidden: bool, picked: int | None) -> str:
    name = label_of(index) if hidden or view is None else f"`{view.model}`"
    if picked == index:
        return f"### ⭐ {name} — your pick"
    return f"### {name}"


def chat_messages(view: CellView, prompt: str, hidden: bool) -> list[dict[str, Any]]:
    """A chat cell's dialog: the shared message, then the model's answer (Thinking apart)."""
    stream = ChatStreamView(model=view.label if hidden else view.model)
    stream.add(view.text)
    if view.state == "done":
        stream.finish(view.predict_time, view.total_time or 0.0)
    shown = stream.messages() if view.text or view.state == "running" else []
    return [{"role": "user", "content": prompt}, *shown]


def api_cell(view: CellView) -> dict[str, Any]:
    """One cell as the `/compare` API returns it (files by name: the File output holds them)."""
    return {
        "cell": view.index,
        "model": view.model,
        "status": API_STATUS[view.state],
        "error": plain_text(view.error) if view.error else None,
        "text": view.text,
        "files": [path.name for path in view.files],
        "predict_time": view.predict_time,
        "total_time": view.total_time,
        "starting_time": view.starting_time,
        "cold_boot": view.cold_boot,
        "notes": list(view.notes),
        "prediction_id": view.prediction_id or None,
    }


def api_result(plan: ComparePlan, views: Sequence[CellView]) -> dict[str, Any]:
    return {"modality": plan.modality, "cells": [api_cell(view) for view in views]}


@dataclass
class CompareBoard:
    """This session's compare on the page: the plan, each cell's latest view, the pick.

    One object per session (a `gr.State`, passed to events by reference): the cells' events
    write their views here, so Pick can re-render every cell's name when blind mode ends.
    """

    plan: ComparePlan | None = None
    cells: list[CellView] = field(default_factory=list)
    picked: int | None = None
    run: int = 0  # which Compare click the cells belong to

    def start(self, plan: ComparePlan) -> None:
        self.plan = plan
        self.cells = [CellView(index, model) for index, model in enumerate(plan.models)]
        self.picked = None
        self.run += 1

    @property
    def hidden(self) -> bool:
        return self.plan is not None and self.plan.blind and self.picked is None

    def cell(self, index: int) -> CellView | None:
        return self.cells[index] if 0 <= index < len(self.cells) else None

    def pick(self, index: int) -> str:
        """Mark cell `index` as preferred; the sentence saying so (or why not)."""
        view = self.cell(index)
        if view is None or view.state != "done":
            return "Pick a cell whose result is done."
        self.picked = index
        return f"⭐ Your pick: **{view.label}** — `{view.model}`."


# ---------------------------------------------------------------------------------------------
# One cell's run: the same steps as a panel's (quota, schema, mapping, run, History).


@dataclass(frozen=True)
class Caller:
    """Who runs a cell, and where it is recorded: what Gradio hands each run event."""

    session_token: str | None = None
    generations: HistoryLog | None = None
    live: LiveRuns | None = None
    request: gr.Request | None = None
    profile: gr.OAuthProfile | None = None


async def run_cell(
    ctx: AppContext,
    plan: ComparePlan,
    index: int,
    caller: Caller,
    hidden: Callable[[], bool] = lambda: False,
) -> AsyncGenerator[CellView, None]:
    """Run cell `index` of `plan`, yielding its view as it changes (paced: progress when it
    says something new, streamed text at most ~10 times a second). Its errors end in the view;
    only cancellation (Stop) propagates, after the client has canceled the prediction."""
    view = CellView(index, plan.models[index])
    key = cell_key(index)
    live, request = caller.live, caller.request
    started = time.monotonic()
    session_hash = request.session_hash if request else None
    store = ctx.outputs
    backend = ctx.backend(caller.session_token)
    view.on_replicate = backend.on_replicate
    throttle, pacer = ProgressThrottle(), UpdatePacer()
    budget: int | None = None
    try:
        store.refuse_when_full(session_hash)
        room = store.room(session_hash)
        budget = room if room < ctx.settings.max_output_bytes else None
        ref = ModelRef.parse(view.model)
        quota = await check_run(ctx, plan.modality, ref, backend, request, caller.profile)
        info = await backend.client.get_model(ref, token=backend.token)
        mapped = quota.clamp(map_input(plan, info), info.input_schema)
        view.notes = list(mapped.notes)
        view.state = "running"
        yield view
        events = quota.guard(run_model)(
            backend.client,
            ref,
            mapped.input,
            token=backend.token,
            kind=OUTPUT_KINDS[plan.modality],
            dest_dir=store.session_dir(session_hash),
            notes=mapped.notes,
            started=started,
            max_bytes=budget,
        )
        try:
            async for event in events:
                if isinstance(event, RunResult):
                    if live is not None:  # ended: a late Stop has nothing left to cancel
                        live.running.pop(key, None)
                    if not info.is_official and info.version_id and not ref.version:
                        event.notes.append(f"Ran version {info.version_id[:12]}…")
                    if budget is not None:
                        event.notes.append(store.room_note(budget))
                    view.apply(event)
                    entry = history_entry(
                        plan.modality, plan.prompt, event, store.session_dir(session_hash),
                        schema=info.input_schema,
                    )  # fmt: skip
                    add_history(caller.generations, entry)
                    yield view
                    continue
                if isinstance(event, Progress):
                    track(live, key, event)
                    if stopping(live, key) and event.prediction_id and not view.cancel_sent:
                        # Stopped before the prediction had an id: cancel it now it has one.
                        view.cancel_sent = True
                        with contextlib.suppress(ReplicateError):  # else it runs to its end
                            await backend.client.cancel_prediction(
                                event.prediction_id, token=backend.token
                            )
                view.apply(event, hidden())
                now = time.monotonic()
                if isinstance(event, TextDelta):  # answering: the boot is over
                    view.progress = streaming_markdown(now - started, len(view.text))
                if isinstance(event, Progress) and not view.text:
                    if throttle.should_show(event):
                        yield view
                elif pacer.ready(now):
                    yield view
        finally:  # closed now, not when collected: its prediction is canceled at once
            if isinstance(events, AsyncGenerator):
                await events.aclose()
    except PredictionCanceledError as exc:
        view.stop(exc.prediction or Prediction(id=view.prediction_id, status="canceled"))
    except DownloadError as exc:
        if budget is not None and "limit" in str(exc):
            view.fail(str(store.refused_download(budget, exc.url)))
        else:
            view.fail(str(exc))
    except (ReplicateError, InputProblem) as exc:
        view.fail(str(exc))
    except gr.Error as exc:  # the quota's refusal: this cell is not run, the others are
        view.fail(plain_text(exc.message), "refused")
    except asyncio.CancelledError:
        # The event was canceled (Stop): the client has canceled the prediction it created.
        view.stop(
            Prediction(id=view.prediction_id, status="canceled") if view.prediction_id else None
        )
        raise
    yield view


# ---------------------------------------------------------------------------------------------
# The page: controls, four cell slots, and their events.


@dataclass(frozen=True)
class CellSlot:
    """One cell's components on the page."""

    box: gr.Column
    title: gr.Markdown
    chat: gr.Chatbot
    gallery: GalleryOutput
    video: VideoOutput
    animated: ImageOutput
    audio: AudioOutput
    status: gr.Markdown
    stop: gr.Button
    retry: gr.Button
    pick: gr.Button

    @property
    def outputs(self) -> list[Any]:
        """What the cell's run events update."""
        return [self.chat, self.gallery, self.video, self.animated, self.audio, self.status]


CellUpdate = tuple[Any, ...]


def cell_update(view: CellView, plan: ComparePlan, hidden: bool) -> CellUpdate:
    """The cell's six outputs for `view`: its media (or dialog) and its status."""
    skip = gr.skip()
    status = cell_status(view, hidden)
    if plan.modality == "chat":
        return chat_messages(view, plan.prompt, hidden), skip, skip, skip, skip, status
    if view.state != "done":
        return skip, skip, skip, skip, skip, status
    files = [str(path) for path in view.files]
    if plan.modality == "image":
        return skip, files, skip, skip, skip, status
    if plan.modality == "music":
        return skip, skip, skip, skip, files[0], status
    animated = view.files[0].suffix.lower() in ANIMATED_IMAGE_SUFFIXES
    return (
        skip,
        skip,
        gr.update(value=None if animated else files[0], visible=not animated),
        gr.update(value=files[0] if animated else None, visible=animated),
        skip,
        status,
    )


def slot_reset(modality: Modality, shown: bool, title: str) -> list[Any]:
    """A slot cleared for a new compare: visible if used, with the modality's output only."""
    kind = OUTPUT_KINDS[modality]
    return [
        gr.update(visible=shown),
        title,
        gr.update(value=[], visible=modality == "chat"),
        gr.update(value=None, visible=kind == "image"),
        gr.update(value=None, visible=kind == "video"),
        gr.update(value=None, visible=False),
        gr.update(value=None, visible=kind == "audio"),
        "⏳ Waiting to start…" if shown else "",
    ]


def make_cell_handler(
    ctx: AppContext, index: int
) -> Callable[..., AsyncGenerator[CellUpdate, None]]:
    async def cell(
        board: CompareBoard | None,
        session_token: str | None = None,
        generations: HistoryLog | None = None,
        live: LiveRuns | None = None,
        request: gr.Request | None = None,
        profile: gr.OAuthProfile | None = None,
    ) -> AsyncGenerator[CellUpdate, None]:
        plan = board.plan if board is not None else None
        if board is None or plan is None or index >= len(plan.models):
            yield (gr.skip(),) * 6
            return
        current, run = board, board.run
        caller = Caller(session_token, generations, live, request, profile)
        cell_run = run_cell(ctx, plan, index, caller, hidden=lambda: current.hidden)
        # The whole run is marked live, so Stop's handler leaves the status to its last update.
        with live_run(live, cell_key(index)):
            async with contextlib.aclosing(cell_run) as views:
                async for view in views:
                    if current.run != run:  # a newer Compare owns the slot (and cancels this)
                        return
                    current.cells[index] = view
                    yield cell_update(view, plan, current.hidden)

    return cell


def make_stop_api(ctx: AppContext) -> Callable[..., Any]:
    """`/compare_stop`: Stop for an API caller's cell (the page's Stop buttons do the same)."""

    async def compare_stop(
        cell: float, session_token: str | None = None, live: LiveRuns | None = None
    ) -> str:
        """Stop cell `cell` (0–3) of this session's running compare; the others keep running."""
        if not isinstance(cell, int | float) or not 0 <= cell < MAX_CELLS:
            raise refuse(f"Cell must be a number from 0 to {MAX_CELLS - 1}.")
        said = await make_stop_handler(ctx, cell_key(int(cell)))(session_token, live)
        # Nothing to say when the cell ended by itself: its status in `/compare` says how.
        return plain_text(said) if isinstance(said, str) else "Stopped: see the cell's status."

    return compare_stop


def make_compare_api(ctx: AppContext) -> Callable[..., AsyncGenerator[tuple[Any, Any], None]]:
    async def compare(
        modality: str,
        models: list[str] | str | None,
        input_json: str = "{}",
        image: str | None = None,
        audio: str | None = None,
        session_token: str | None = None,
        generations: HistoryLog | None = None,
        live: LiveRuns | None = None,
        request: gr.Request | None = None,
        profile: gr.OAuthProfile | None = None,
    ) -> AsyncGenerator[tuple[Any, Any], None]:
        """Run 2–4 `models` of `modality` on one input at the same time. `input_json` holds the
        modality's controls (e.g. {"prompt": …}); `image` / `audio` the optional uploads. Yields
        every cell's state as it changes; the last update has every output (files by name, in
        the File output) and each cell's status, error and times."""
        try:
            plan = parse_plan(
                modality,
                models,
                input_json,
                image,
                audio,
                text_limit=ctx.settings.max_prompt_chars,
                chat_limit=ctx.settings.max_chat_chars,
            )
        except (InputProblem, ReplicateError) as exc:
            raise refuse(plain_text(str(exc))) from None
        caller = Caller(session_token, generations, live, request, profile)
        views = [CellView(index, model) for index, model in enumerate(plan.models)]
        changed: asyncio.Queue[int | None] = asyncio.Queue()

        async def drive(index: int) -> None:
            try:
                with live_run(live, cell_key(index)):
                    async for view in run_cell(ctx, plan, index, caller):
                        views[index] = view
                        changed.put_nowait(index)
            finally:
                changed.put_nowait(None)

        tasks = [asyncio.create_task(drive(index)) for index in range(len(views))]
        pacer = UpdatePacer()
        try:
            running = len(tasks)
            while running:
                if await changed.get() is None:
                    running -= 1
                elif pacer.ready(time.monotonic()):
                    yield api_result(plan, views), gr.skip()
            files = [str(path) for view in views for path in view.files]
            yield api_result(plan, views), files
        finally:  # the caller went away: every cell's prediction is canceled by its client
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return compare


def collect_values(modality: str, *controls: Any) -> dict[str, Any]:
    """The page's controls (in CONTROL_ORDER) as `modality`'s input values (the API's JSON)."""
    named = dict(zip(CONTROL_ORDER, controls, strict=True))
    keys = CONTROLS[parse_modality(modality)]
    return {key: named[key if key == "prompt" else f"{modality}.{key}"] for key in keys}


CONTROL_ORDER = [
    "prompt",
    "chat.system_prompt",
    "chat.max_tokens",
    "chat.temperature",
    "image.aspect_ratio",
    "image.seed",
    "image.num_outputs",
    "video.length",
    "video.aspect_ratio",
    "music.duration",
    "music.tempo",
    "music.model_version",
    "music.output_format",
]


def build_compare_panel(
    ctx: AppContext, session: gr.State, history: HistoryHandles, live: gr.State
) -> None:
    """The Compare tab: its controls, MAX_CELLS cell slots, and their events; `/compare` and
    `/compare_stop` for API callers."""
    board = gr.State(CompareBoard(), time_to_live=ctx.settings.session_ttl)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            modality = gr.Radio(
                [(m.capitalize(), m) for m in MODALITIES], value="image", label="Modality"
            )
            models = gr.Dropdown(
                choices=IMAGE_MODELS,
                value=IMAGE_MODELS[:3],
                multiselect=True,
                max_choices=MAX_CELLS,
                allow_custom_value=True,
                label=f"Models ({MIN_MODELS}–{MAX_CELLS})",
                info="Pick from the list, or type any owner/name and press Enter",
            )
            blind = gr.Checkbox(label="Blind: hide the models' names until I pick one", value=False)
        with gr.Column(scale=3, min_width=300):
            prompt = gr.Textbox(
                label="Prompt (the same for every model)", lines=3, placeholder="Describe it once"
            )
            with gr.Row(visible=False) as chat_controls:
                system_prompt = gr.Textbox(value=DEFAULT_SYSTEM_PROMPT, label="System prompt")
                max_tokens = gr.Slider(
                    0, 16384, value=0, step=16, label="Max tokens (0 = the model's default)"
                )
                temperature = gr.Slider(0.0, 2.0, value=0.6, step=0.05, label="Temperature")
            with gr.Row(visible=True) as image_controls:
                aspect_ratio = gr.Dropdown(RATIO_CHOICES, value=AUTO_RATIO, label="Aspect ratio")
                seed = gr.Number(label="Seed (-1 = random)", precision=0, value=-1, minimum=-1)
                num_outputs = gr.Slider(1, 4, value=1, step=1, label="Images")
            with gr.Row(visible=False) as video_controls:
                length = gr.Slider(1, 10, value=4, step=1, label="Length (seconds)")
                video_ratio = gr.Dropdown(VIDEO_ASPECT_RATIOS, value="16:9", label="Aspect ratio")
            with gr.Row(visible=False) as music_controls:
                duration = gr.Slider(1, 30, value=8, step=1, label="Duration (seconds)")
                tempo = gr.Slider(40, 200, value=90, step=1, label="Tempo (BPM)")
                model_version = gr.Dropdown(
                    MODEL_VERSIONS, value="stereo-large", label="Model version"
                )
                output_format = gr.Radio(["mp3", "wav"], value="mp3", label="Format")
            with gr.Row():
                image = ImageInput(
                    label="Input image (optional, image-to-image)",
                    type="filepath",
                    height=160,
                    min_width=200,
                )
                audio = gr.Audio(
                    label="Narration",
                    sources=["upload", "microphone"],
                    type="filepath",
                    visible=False,
                    min_width=200,
                )
    with gr.Row(elem_classes=["nl-run"]):
        run = gr.Button("Compare", variant="primary", scale=2, min_width=120)
    overall = gr.Markdown(elem_classes=["nl-status"])

    # One row: the cells side by side on a wide screen, wrapping to one a line on a phone.
    with gr.Row(equal_height=False):
        slots = [_cell_slot(index) for index in range(MAX_CELLS)]

    # Modality: its controls, its upload's role, its suggested models.
    groups = {"chat": chat_controls, "image": image_controls, "video": video_controls}
    groups["music"] = music_controls

    def choose(kind: str) -> list[Any]:
        key = parse_modality(kind)
        role = IMAGE_ROLES[key]
        suggested = SUGGESTED_MODELS[key]
        return [
            gr.update(choices=suggested, value=suggested[: 3 if key == "image" else 2]),
            gr.update(visible=key != "avatar"),
            *(gr.update(visible=key == name) for name in groups),
            gr.update(visible=role is not None, label=(role or "image").capitalize()),
            gr.update(visible=key == "avatar"),
        ]

    modality.change(
        choose,
        [modality],
        [models, prompt, *groups.values(), image, audio],
        api_visibility="private",
        queue=False,
    )

    # Compare: check the shared input once, reset the slots, then each cell runs on its own.
    controls = [
        prompt,
        system_prompt, max_tokens, temperature,
        aspect_ratio, seed, num_outputs,
        length, video_ratio,
        duration, tempo, model_version, output_format,
    ]  # fmt: skip

    def prepare(
        kind: str,
        chosen: list[str] | None,
        hide: bool,
        picture: str | None,
        narration: str | None,
        state: CompareBoard,
        *values: Any,
    ) -> list[Any]:
        try:
            plan = parse_plan(
                kind,
                chosen or [],
                collect_values(kind, *values),
                picture,
                narration,
                text_limit=ctx.settings.max_prompt_chars,
                chat_limit=ctx.settings.max_chat_chars,
                blind=bool(hide),
            )
        except (InputProblem, ReplicateError) as exc:
            state.plan = None
            state.run += 1  # cells of an earlier compare stop updating; the new one runs none
            return [error_markdown(str(exc)), *(gr.skip() for slot in slots for _ in range(8))]
        state.start(plan)
        resets = [
            part
            for index in range(MAX_CELLS)
            for part in slot_reset(
                plan.modality,
                index < len(plan.models),
                cell_title(state.cell(index), index, state.hidden, None),
            )
        ]
        names = "blind: names are hidden until you pick" if plan.blind else "side by side"
        return [f"Comparing {len(plan.models)} models, {names}.", *resets]

    slot_outputs = [
        part
        for slot in slots
        for part in (
            slot.box,
            slot.title,
            slot.chat,
            slot.gallery,
            slot.video,
            slot.animated,
            slot.audio,
            slot.status,
        )
    ]
    state = [session, history.log, live]
    prepared = run.click(
        prepare,
        [modality, models, blind, image, audio, board, *controls],
        [overall, *slot_outputs],
        api_visibility="private",
        show_progress="hidden",
    )
    for index, slot in enumerate(slots):
        handler = make_cell_handler(ctx, index)
        common: dict[str, Any] = {
            "api_visibility": "private",
            "concurrency_limit": None,
            "concurrency_id": f"compare-cell-{index}",
            "show_progress": "hidden",
        }
        ran = prepared.then(handler, [board, *state], slot.outputs, **common)
        retried = slot.retry.click(handler, [board, *state], slot.outputs, cancels=[ran], **common)
        refresh_after(ran, history)
        refresh_after(retried, history)
        wire_stop(ctx, cell_key(index), slot.stop, [ran, retried], session, live, slot.status)

    def make_pick(index: int) -> Callable[[CompareBoard], list[Any]]:
        def pick(state: CompareBoard) -> list[Any]:
            said = state.pick(index)
            if state.picked != index:
                return [said, *(gr.skip() for _ in range(2 * MAX_CELLS))]
            titles = [
                cell_title(state.cell(i), i, state.hidden, state.picked) for i in range(MAX_CELLS)
            ]
            statuses = [
                cell_status(view, state.hidden) if (view := state.cell(i)) else gr.skip()
                for i in range(MAX_CELLS)
            ]
            return [said, *titles, *statuses]

        return pick

    for index, slot in enumerate(slots):
        slot.pick.click(
            make_pick(index),
            [board],
            [overall, *(s.title for s in slots), *(s.status for s in slots)],
            api_visibility="private",
            queue=False,
        )

    # The API: one event merging every cell; inputs of their own (never shown).
    with gr.Column(visible=False):
        api_modality = gr.Textbox(label="modality")
        api_models = gr.Dropdown(
            choices=[], multiselect=True, allow_custom_value=True, label="models"
        )
        api_input = gr.Textbox(value="{}", label="input_json")
        api_image = ImageInput(type="filepath", label="image")
        api_audio = gr.Audio(type="filepath", label="audio")
        api_cell_index = gr.Number(value=0, precision=0, label="cell")
        api_result_json = gr.JSON(label="result")
        api_files = gr.File(file_count="multiple", label="files")
        api_stopped = gr.Markdown()
        api_run = gr.Button("compare")
        api_stop = gr.Button("compare_stop")
    api_event = api_run.click(
        make_compare_api(ctx),
        [api_modality, api_models, api_input, api_image, api_audio, *state],
        [api_result_json, api_files],
        api_name="compare",
        concurrency_limit=None,
        concurrency_id="compare",
    )
    refresh_after(api_event, history)
    api_stop.click(
        make_stop_api(ctx),
        [api_cell_index, session, live],
        [api_stopped],
        api_name="compare_stop",
        concurrency_limit=None,
        concurrency_id="compare_stop",
    )


def _cell_slot(index: int) -> CellSlot:
    with gr.Column(
        min_width=280, visible=index < 3, elem_id=f"nl-compare-{index}", elem_classes=["nl-card"]
    ) as box:
        title = gr.Markdown(f"### {label_of(index)}")
        # Above the output, so they stay in place while an answer streams in below them.
        with gr.Row():
            stop = gr.Button("Stop", variant="stop", size="sm", min_width=60)
            retry = gr.Button("↻ Retry", size="sm", min_width=60)
            pick = gr.Button("⭐ Pick", size="sm", min_width=60)
        chat = gr.Chatbot(label="Answer", height=320, visible=False, buttons=["copy"])
        gallery = GalleryOutput(
            label="Images",
            columns=2,
            height=300,
            object_fit="contain",
            buttons=["download", "fullscreen"],
        )
        video = VideoOutput(label="Video", height=300, visible=False, interactive=False)
        animated = ImageOutput(
            label="Video (animated image)",
            type="filepath",
            height=300,
            visible=False,
            interactive=False,
        )
        audio = AudioOutput(label="Track", type="filepath", visible=False, buttons=["download"])
        status = gr.Markdown(elem_classes=["nl-status"])
    return CellSlot(box, title, chat, gallery, video, animated, audio, status, stop, retry, pick)
