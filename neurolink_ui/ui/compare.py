"""The Compare tab: one input, 2–4 models side by side, each cell run, stopped and retried alone.

Each model's input is mapped from its own schema by the modality's builder, exactly as its panel
does, and run by `pipeline.run_model`; every cell is one run (quota, History, Stop) of its own.

Why fixed cell slots: Gradio gives one event one stream of updates, and `cancels=` ends whole
events. So the page has MAX_CELLS slots, each with its own run event fanned out from Compare (and
its own Retry event); a cell's Stop `cancels=` only that cell's events, whose cancel cancels only
its prediction at Replicate, and the others keep running. The API (`/compare`, `/compare_stop`,
in compare_api.py) shares `run_cell()` with the page; the request checks and each cell's state
are pure (neurolink_ui/comparison.py), testable without a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..comparison import (
    CONTROL_ORDER,
    IMAGE_ROLES,
    MAX_CELLS,
    MIN_MODELS,
    MODALITIES,
    OUTPUT_KINDS,
    SUGGESTED_MODELS,
    CellView,
    CompareBoard,
    ComparePlan,
    Modality,
    board_summary,
    can_share,
    cell_key,
    cell_title,
    collect_values,
    conceal,
    label_of,
    map_input,
    parse_modality,
    parse_plan,
    remix_values,
    shared_input,
)
from ..modalities.chat import DEFAULT_SYSTEM_PROMPT
from ..modalities.common import InputProblem
from ..modalities.image import AUTO_RATIO
from ..model_choices import IMAGE_MODELS
from ..pipeline import RunResult, run_model
from ..replicate.errors import DownloadError, PredictionCanceledError, ReplicateError
from ..replicate.types import (
    ModelRef,
    Prediction,
    Progress,
    TextDelta,
)
from ..results import StoredResult
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
from .common import add_history, close_run, download_budget, error_markdown
from .components import AudioOutput, GalleryOutput, ImageInput, ImageOutput, VideoOutput
from .context import AppContext
from .history import HistoryHandles, HistoryLog, app_url, refresh_after, share_url
from .image import RATIO_CHOICES
from .live import LiveRuns, live_run, stopping, track, wire_stop
from .music import MODEL_VERSIONS
from .quota import check_run
from .shared import kept_input_file
from .video import ANIMATED_IMAGE_SUFFIXES, VIDEO_ASPECT_RATIOS

# ---------------------------------------------------------------------------------------------
# A cell's view (comparison.CellView) as Markdown and dialog.


def progress_text(view: CellView, hidden: bool) -> str:
    """The running cell's status line: answering once text streams, else where its prediction is.
    `hidden`: no link to the prediction's page."""
    if view.text:
        return streaming_markdown(view.elapsed, len(view.text))
    if view.progress is None:
        return ""
    return progress_markdown(view.progress, view.on_replicate and not hidden)


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
        text = progress_text(view, hidden) or "📤 Sending to Replicate…"
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


def chat_messages(view: CellView, prompt: str, hidden: bool) -> list[dict[str, Any]]:
    """A chat cell's dialog: the shared message, then the model's answer (Thinking apart)."""
    stream = ChatStreamView(model=view.label if hidden else view.model)
    stream.add(view.text)
    if view.state == "done":
        stream.finish(view.predict_time, view.total_time or 0.0)
    shown = stream.messages() if view.text or view.state == "running" else []
    return [{"role": "user", "content": prompt}, *shown]


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
        budget = download_budget(ctx, session_hash)
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
            made_from=mapped.made_from,
        )
        try:
            async for event in events:
                if isinstance(event, RunResult):
                    if live is not None:  # ended: a late Stop has nothing left to cancel
                        live.running.pop(key, None)
                    close_run(
                        ctx, event, plan.modality, plan.prompt, info, ref, budget,
                        session_hash, caller.generations,
                    )  # fmt: skip
                    view.apply(event)
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
                view.apply(event)
                now = time.monotonic()
                if isinstance(event, TextDelta):  # answering: the boot is over
                    view.elapsed = now - started
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
# Sharing the whole compare as one kept result, and Remix of one.

SHARE_LABEL = "🔗 Share this comparison"
SHARE_BLIND_LABEL = "🔗 Share this comparison (blind: pick one first)"


def compare_entry(board: CompareBoard) -> dict[str, Any]:
    """The compare as one History entry (kind `compare`): the models, the shared prompt and
    input, every finished cell's files in cell order, the per-cell summary."""
    plan = board.plan
    assert plan is not None
    done = [view for view in board.cells if view.state == "done"]
    stored = shared_input(board)
    times = [view.total_time for view in board.cells if view.total_time is not None]
    return {
        "kind": "compare",
        "prompt": plan.prompt,
        "full_prompt": plan.prompt,
        "model": ", ".join(plan.models),
        "version": None,
        "params": stored,
        "input": stored,
        "predict_time": None,
        "wall_time": round(max(times, default=0.0), 3),
        "cold_boot": None,
        "files": [str(path) for view in done for path in view.files],
        "file_labels": [f"{view.label} · {view.model}" for view in done for _ in view.files],
        # The person's own upload(s), which every cell's input was made from.
        "input_files": {
            name: [str(path)]
            for name, path in (("image", plan.image), ("audio", plan.audio))
            if path is not None
        },
        "text": board_summary(board),
        "prediction_id": "",
        "notes": [],
        "created": time.strftime("%H:%M:%S"),
        "created_at": time.time(),
    }


def share_board(board: CompareBoard | None, log: HistoryLog | None) -> str | None:
    """Keep the compare as one result in this browser's History and share it: its share id, or
    None when there is nothing to share yet (or it could not be kept)."""
    if board is None or not can_share(board):
        return None
    result_id = add_history(log, compare_entry(board))
    return log.share(result_id) if log is not None and result_id else None


def share_button(board: CompareBoard | None) -> Any:
    blind = board is not None and board.hidden
    return gr.update(
        interactive=board is not None and can_share(board),
        value=SHARE_BLIND_LABEL if blind else SHARE_LABEL,
    )


def modality_view(key: Modality) -> dict[str, Any]:
    """What shows for `key`: the prompt (not for avatar), its controls, its uploads."""
    role = IMAGE_ROLES[key]
    return {
        "prompt": gr.update(visible=key != "avatar"),
        **{f"{name}.group": gr.update(visible=key == name) for name in ("chat", "image", "video")},
        "music.group": gr.update(visible=key == "music"),
        "image": gr.update(visible=role is not None, label=(role or "image").capitalize()),
        "audio": gr.update(visible=key == "avatar"),
    }


@dataclass(frozen=True)
class CompareRemix:
    """Remix of a shared compare (shared.Remixable): the modality, models, their controls'
    visibility, the prompt and main controls (CONTROL_ORDER), filled from the stored input."""

    modality: gr.Radio
    models: gr.Dropdown
    parts: dict[str, gr.components.Component]  # the modality_view keys' components
    controls: Sequence[gr.components.Component]  # in CONTROL_ORDER
    panel: str = "compare"

    @property
    def components(self) -> list[gr.components.Component]:
        shown = [c for key, c in self.parts.items() if key != "prompt"]
        return [self.modality, self.models, *shown, *self.controls]

    def values(self, result: StoredResult) -> list[Any]:
        filled = remix_values(result.input)
        if filled is None:
            return [gr.skip()] * len(self.components)
        key: Modality = filled["modality"]
        view = modality_view(key)
        controls = [
            gr.update(value=filled[name]) if name in filled else gr.skip() for name in CONTROL_ORDER
        ]
        controls[0] = gr.update(  # the prompt: shown but for avatar
            visible=key != "avatar", **({"value": filled["prompt"]} if "prompt" in filled else {})
        )
        for name in ("image", "audio"):  # the uploads every cell was made from, when kept
            kept = kept_input_file(result, (name,), self.parts[name])
            if kept is not None:
                view[name] = {**view[name], "value": kept}
        shown = [view[name] for name in self.parts if name != "prompt"]
        models = gr.update(choices=_choices(key, filled["models"]), value=filled["models"])
        return [key, models, *shown, *controls]


def _choices(key: Modality, models: list[str]) -> list[str]:
    suggested = SUGGESTED_MODELS[key]
    return [*suggested, *(m for m in models if m not in suggested)]


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
        cell_run = run_cell(ctx, plan, index, caller)
        # The whole run is marked live, so Stop's handler leaves the status to its last update.
        with live_run(live, cell_key(index)):
            async with contextlib.aclosing(cell_run) as views:
                async for view in views:
                    if current.run != run:  # a newer Compare owns the slot (and cancels this)
                        return
                    current.cells[index] = view
                    yield cell_update(view, plan, current.hidden)

    return cell


def build_compare_panel(
    ctx: AppContext, session: gr.State, history: HistoryHandles, live: gr.State
) -> CompareRemix:
    """The Compare tab: its controls, MAX_CELLS cell slots, and their events (the API's events:
    compare_api.build_compare_api). Returns what Remix of a shared compare fills."""
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
    sharing = ctx.settings.sharing
    with gr.Row(visible=sharing):
        share = gr.Button(SHARE_LABEL, size="sm", interactive=False, scale=0, min_width=220)
    share_link = gr.Textbox(
        label="Share link: anyone with it sees this comparison (its models, prompt and results)",
        visible=False,
        interactive=False,
        buttons=["copy"],
    )

    # One row: the cells side by side on a wide screen, wrapping to one a line on a phone.
    with gr.Row(equal_height=False):
        slots = [_cell_slot(index) for index in range(MAX_CELLS)]

    # Modality: its controls, its upload's role, its suggested models.
    groups = {"chat": chat_controls, "image": image_controls, "video": video_controls}
    groups["music"] = music_controls

    parts: dict[str, gr.components.Component] = {
        "prompt": prompt,
        **{f"{name}.group": group for name, group in groups.items()},
        "image": image,
        "audio": audio,
    }

    def choose(kind: str) -> list[Any]:
        key = parse_modality(kind)
        suggested = SUGGESTED_MODELS[key]
        view = modality_view(key)
        return [
            gr.update(choices=suggested, value=suggested[: 3 if key == "image" else 2]),
            *(view[name] for name in parts),
        ]

    # On the person's choice only: Remix sets the modality and its models together.
    modality.input(
        choose, [modality], [models, *parts.values()], api_visibility="private", queue=False
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
    ended: list[Any] = []  # the events after which the share button may change
    prepared = run.click(
        prepare,
        [modality, models, blind, image, audio, board, *controls],
        [overall, *slot_outputs],
        api_visibility="private",
        show_progress="hidden",
    )
    ended.append(prepared)
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
        ended += [ran, retried]
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
        picked = slot.pick.click(
            make_pick(index),
            [board],
            [overall, *(s.title for s in slots), *(s.status for s in slots)],
            api_visibility="private",
            queue=False,
        )
        ended.append(picked)

    # Share: enabled once a cell has finished (blind: once the person picked).
    for event in ended:
        event.then(share_button, [board], [share], api_visibility="private", queue=False)
    prepared.then(
        lambda: gr.update(value="", visible=False),
        None,
        [share_link],
        api_visibility="private",
        queue=False,
    )

    def make_link(state: CompareBoard | None, log: HistoryLog | None, request: gr.Request) -> Any:
        share_id = share_board(state, log) if sharing else None
        if share_id is None:
            said = "Nothing to share yet: wait for a cell to finish (blind: pick one first)."
            return gr.update(value=said, visible=True)
        return gr.update(value=share_url(app_url(request), share_id), visible=True)

    shared = share.click(
        make_link, [board, history.log], [share_link], api_visibility="private", queue=False
    )
    refresh_after(shared, history)
    return CompareRemix(modality, models, parts, controls)


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
