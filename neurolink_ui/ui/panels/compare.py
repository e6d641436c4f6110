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
import functools
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ...comparison import (
    MAX_CELLS,
    MIN_MODELS,
    CellView,
    CompareBoard,
    ComparePlan,
    board_summary,
    can_share,
    cell_key,
    cell_title,
    collect_values,
    compare_modalities,
    conceal,
    control_order,
    label_of,
    map_input,
    output_kind,
    parse_modality,
    parse_plan,
    remix_values,
    shared_input,
    suggested_for,
)
from ...modalities.common import InputProblem
from ...modalities.generic import file_category
from ...modalities.registry import get_modality, modalities
from ...modalities.spec import Control
from ...replicate.errors import ReplicateError
from ...replicate.types import Prediction
from ...results import NewResult, StoredResult
from ...runs import Caller, RunProgress, RunRequest, RunText, run
from ..adapters import (
    ChatStreamView,
    done_markdown,
    progress_markdown,
    stopped_markdown,
    streaming_markdown,
)
from ..common import caller_of, error_markdown
from ..components import AudioOutput, GalleryOutput, ImageInput, ImageOutput, VideoOutput
from ..context import AppContext
from ..history_log import HistoryHandles, HistoryLog, app_url, refresh_after, share_url
from ..inert import without_html
from ..live import LiveRuns, live_run, wire_stop
from ..remix import kept_input_file

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
        text = f"🎟️ {without_html(view.error)}"
    else:
        text = error_markdown(without_html(view.error))
    for note in view.notes:
        text += f"\n\nℹ️ {without_html(note)}"
    return conceal(text, view.model, view.label) if hidden else text


def chat_messages(view: CellView, prompt: str, hidden: bool) -> list[dict[str, Any]]:
    """A chat cell's dialog: the shared message, then the model's answer (Thinking apart)."""
    stream = ChatStreamView(model=view.label if hidden else view.model)
    stream.add(view.text)
    if view.state == "done":
        stream.finish(view.predict_time, view.total_time or 0.0)
    shown = stream.messages() if view.text or view.state == "running" else []
    return [{"role": "user", "content": without_html(prompt)}, *shown]


# ---------------------------------------------------------------------------------------------
# One cell's run: the same steps as a panel's (quota, schema, mapping, run, History).


async def run_cell(
    ctx: AppContext,
    plan: ComparePlan,
    index: int,
    caller: Caller,
) -> AsyncGenerator[CellView, None]:
    """Cell `index` of `plan` as the run core's events turned into its view, yielded as it
    changes (paced by the core). Its failures end in the view; only cancellation (Stop)
    propagates, after the client has canceled the prediction."""
    view = CellView(index, plan.models[index])
    request = RunRequest(
        plan.modality,
        view.model,
        plan.prompt,
        functools.partial(map_input, plan),
        output_kind(plan.modality),
        key=cell_key(index),
    )
    try:
        async with contextlib.aclosing(run(ctx, request, caller)) as events:
            async for event in events:
                view.apply(event)
                if isinstance(event, RunProgress | RunText) and not event.show:
                    continue
                yield view
    except asyncio.CancelledError:
        # The event was canceled (Stop): the client has canceled the prediction it created.
        view.stop(
            Prediction(id=view.prediction_id, status="canceled") if view.prediction_id else None
        )
        raise


# ---------------------------------------------------------------------------------------------
# Sharing the whole compare as one kept result, and Remix of one.

SHARE_LABEL = "🔗 Share this comparison"
SHARE_BLIND_LABEL = "🔗 Share this comparison (blind: pick one first)"


def compare_record(board: CompareBoard) -> NewResult:
    """The compare as one kept result (kind `compare`): the models, the shared prompt and
    input, every finished cell's files in cell order (captioned by cell), the per-cell summary."""
    plan = board.plan
    assert plan is not None
    done = [view for view in board.cells if view.state == "done"]
    times = [view.total_time for view in board.cells if view.total_time is not None]
    # The person's own upload(s), which every cell's input was made from.
    uploads = (("image", plan.image), ("audio", plan.audio))
    return NewResult(
        kind="compare",
        model=", ".join(plan.models),
        prompt=plan.prompt,
        input=shared_input(board),
        files=tuple(path for view in done for path in view.files),
        file_labels=tuple(f"{view.label} · {view.model}" for view in done for _ in view.files),
        input_files=tuple((name, path) for name, path in uploads if path is not None),
        text=board_summary(board),
        wall_time=round(max(times, default=0.0), 3),
        simulated=any(view.simulated for view in done),
    )


def share_board(board: CompareBoard | None, log: HistoryLog | None) -> str | None:
    """Keep the compare as one result in this browser's History and share it: its share id, or
    None when there is nothing to share yet (or it could not be kept)."""
    if board is None or not can_share(board):
        return None
    result_id = log.add(compare_record(board)) if log is not None else None
    return log.share(result_id) if log is not None and result_id else None


def share_button(board: CompareBoard | None) -> Any:
    blind = board is not None and board.hidden
    return gr.update(
        interactive=board is not None and can_share(board),
        value=SHARE_BLIND_LABEL if blind else SHARE_LABEL,
    )


def modality_view(key: str) -> dict[str, Any]:
    """What shows for `key`: the prompt (where it takes one), its controls, its uploads."""
    modality = get_modality(key)
    image, audio = modality.image_role, modality.audio_role
    return {
        "prompt": gr.update(visible=modality.needs_prompt),
        **{f"{name}.group": gr.update(visible=key == name) for name in compare_modalities()},
        "image": gr.update(visible=image is not None, label=(image or "image").capitalize()),
        "audio": gr.update(visible=audio is not None, label=(audio or "audio").capitalize()),
    }


def control_component(control: Control) -> gr.components.Component:
    """A modality's main control as its Compare component (its label, default and bounds)."""
    number = control.default if isinstance(control.default, int | float) else None
    if control.kind == "slider":
        return gr.Slider(
            control.minimum or 0,
            control.maximum or 100,
            value=number,
            step=control.step,
            label=control.label,
        )
    if control.kind == "number":
        whole = isinstance(control.default, int)
        return gr.Number(
            label=control.label,
            value=number,
            precision=0 if whole else None,
            minimum=control.minimum,
            maximum=control.maximum,
        )
    if control.kind == "dropdown":
        return gr.Dropdown(list(control.choices), value=control.default, label=control.label)
    if control.kind == "radio":
        return gr.Radio(list(control.choices), value=control.default, label=control.label)
    return gr.Textbox(value=str(control.default), label=control.label)


@dataclass(frozen=True)
class CompareRemix:
    """Remix of a shared compare (shared.Remixable): the modality, models, their controls'
    visibility, the prompt and main controls (control_order()), filled from the stored input."""

    modality: gr.Radio
    models: gr.Dropdown
    parts: dict[str, Any]  # the modality_view keys' components
    controls: Sequence[gr.components.Component]  # in control_order()
    panel: str = "compare"

    @property
    def components(self) -> list[gr.components.Component]:
        shown = [c for key, c in self.parts.items() if key != "prompt"]
        return [self.modality, self.models, *shown, *self.controls]

    def values(self, result: StoredResult) -> list[Any]:
        filled = remix_values(result.input)
        if filled is None:
            return [gr.skip()] * len(self.components)
        key: str = filled["modality"]
        view = modality_view(key)
        controls = [
            gr.update(value=filled[name]) if name in filled else gr.skip()
            for name in control_order()
        ]
        controls[0] = gr.update(  # the prompt: shown where the modality takes one
            visible=get_modality(key).needs_prompt,
            **({"value": filled["prompt"]} if "prompt" in filled else {}),
        )
        for name in ("image", "audio"):  # the uploads every cell was made from, when kept
            kept = kept_input_file(result, (name,), self.parts[name])
            if kept is not None:
                view[name] = {**view[name], "value": kept}
        shown = [view[name] for name in self.parts if name != "prompt"]
        models = gr.update(choices=_choices(key, filled["models"]), value=filled["models"])
        return [key, models, *shown, *controls]


def _choices(key: str, models: list[str]) -> list[str]:
    suggested = suggested_for(key)
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
    kind = output_kind(plan.modality)
    if kind == "text":
        return chat_messages(view, plan.prompt, hidden), skip, skip, skip, skip, status
    if view.state != "done":
        return skip, skip, skip, skip, skip, status
    files = [str(path) for path in view.files]
    if kind == "image":
        return skip, files, skip, skip, skip, status
    if kind == "audio":
        return skip, skip, skip, skip, files[0], status
    # A clip returned as an animated image (by its bytes) plays in an <img>, not a <video>.
    animated = file_category(view.files[0]) == "image"
    return (
        skip,
        skip,
        gr.update(value=None if animated else files[0], visible=not animated),
        gr.update(value=files[0] if animated else None, visible=animated),
        skip,
        status,
    )


def slot_reset(modality: str, shown: bool, title: str) -> list[Any]:
    """A slot cleared for a new compare: visible if used, with the modality's output only."""
    kind = output_kind(modality)
    return [
        gr.update(visible=shown),
        title,
        gr.update(value=[], visible=kind == "text"),
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
        caller = caller_of(ctx, session_token, generations, live, request, profile)
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
                [(get_modality(m).title, m) for m in compare_modalities()],
                value="image",
                label="Modality",
            )
            models = gr.Dropdown(
                choices=suggested_for("image"),
                value=suggested_for("image")[:3],
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
            # Each modality's own controls, from its registry entry, in control_order().
            groups: dict[str, gr.Row] = {}
            named: dict[str, gr.components.Component] = {"prompt": prompt}
            for entry in modalities():
                with gr.Row(visible=entry.name == "image") as group:
                    for control in entry.controls:
                        if control.name != "prompt":
                            named[f"{entry.name}.{control.name}"] = control_component(control)
                groups[entry.name] = group
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
    parts: dict[str, Any] = {
        "prompt": prompt,
        **{f"{name}.group": group for name, group in groups.items()},
        "image": image,
        "audio": audio,
    }

    def choose(kind: str) -> list[Any]:
        key = parse_modality(kind)
        suggested = suggested_for(key)
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
    controls = [named[name] for name in control_order()]

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
