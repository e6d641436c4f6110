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

import contextlib
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ...comparison import (
    MAX_CELLS,
    MIN_MODELS,
    CompareBoard,
    board_cost,
    board_summary,
    can_share,
    cell_key,
    cell_title,
    collect_values,
    compare_modalities,
    control_order,
    parse_modality,
    parse_plan,
    remix_values,
    shared_input,
    suggested_for,
)
from ...modalities.common import InputProblem
from ...modalities.registry import get_modality, modalities
from ...replicate.errors import ReplicateError
from ...results import NewResult, StoredResult
from ..common import caller_of, check_refused, error_markdown
from ..components import ImageInput
from ..context import AppContext
from ..forms import control_component
from ..history_log import HistoryHandles, HistoryLog, app_url, refresh_after, share_url
from ..live import LiveRuns, live_run, wire_stop
from ..remix import kept_input_file
from .compare_cells import (
    CellUpdate,
    cell_slot,
    cell_status,
    cell_update,
    run_cell,
    slot_reset,
)

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
    cost = board_cost(board)
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
        cost_usd=None if cost is None else cost.usd,
        cost_basis="" if cost is None else cost.basis,
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
                info="Pick from the list, or type any owner/name (deployment:owner/name for a "
                "deployment) and press Enter",
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
        slots = [cell_slot(index) for index in range(MAX_CELLS)]

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
            check_refused((picture, narration, *values))  # what a control refused to read
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
