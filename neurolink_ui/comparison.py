"""Compare's pure parts: a checked compare request, each model's input mapped from its own
schema, and what each cell of a compare is (its run's events turned into state). No Gradio.

`ui/panels/compare.py` shows these on the page and `ui/panels/compare_api.py` answers
`/compare` with them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .costs import CostEstimate, cost_text
from .limits import check_number, check_text, parse_json_object
from .modalities.common import InputProblem, MappedInput, open_image
from .modalities.registry import get_modality, modalities, modality_names
from .modalities.spec import ModalityValues
from .pipeline import RunResult
from .replicate.outputs import RunOutput
from .replicate.schema import ModelInfo
from .replicate.types import ModelRef, Prediction, Progress
from .runs import (
    RunEvent,
    RunFailed,
    RunFinished,
    RunProgress,
    RunStarted,
    RunStopped,
    RunText,
)

MIN_MODELS, MAX_CELLS = 2, 4
MAX_MODEL_CHARS = 200  # owner/name:version is far shorter; anything longer is not a model id
LABELS = "ABCD"


def compare_modalities() -> tuple[str, ...]:
    """What Compare offers: every registered modality, in the tabs' order."""
    return modality_names()


def output_kind(modality: str) -> RunOutput:
    return get_modality(modality).output


def suggested_for(modality: str) -> list[str]:
    return get_modality(modality).suggested_models()


def control_defaults(modality: str) -> dict[str, str | float]:
    """The modality's shared controls (its panel's main ones) and their defaults; the type of a
    default is the type a value must have. The API's input JSON takes exactly these keys."""
    return get_modality(modality).control_defaults


def image_role(modality: str) -> str | None:
    """What the shared image upload is to the modality (None: it takes no image)."""
    return get_modality(modality).image_role


def control_order() -> list[str]:
    """Every modality's controls as the page lays them out: the shared prompt, then
    `<modality>.<control>` for each modality's own."""
    return [
        "prompt",
        *(
            f"{modality.name}.{control.name}"
            for modality in modalities()
            for control in modality.controls
            if control.name != "prompt"
        ),
    ]


# ---------------------------------------------------------------------------------------------
# The request: checked like everything a visitor sends (limits.py), before anything runs.


@dataclass(frozen=True)
class ComparePlan:
    """One checked compare request: what every cell maps from its own model's schema."""

    modality: str  # a registered modality's name
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


def parse_modality(value: Any) -> str:
    """A registered modality's name, or InputProblem naming the ones there are."""
    return get_modality(value if isinstance(value, str) else repr(value)[:40]).name


def parse_models(models: Any) -> tuple[str, ...]:
    """2–4 distinct model ids, each `owner/name`, `owner/name:version` or
    `deployment:owner/name`."""
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
    modality: str, raw: str | dict[str, Any] | None, *, text_limit: int
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
    defaults = control_defaults(modality)
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
    if get_modality(modality).needs_prompt and not str(checked.get("prompt", "")).strip():
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
    modality = get_modality(kind)
    role = modality.image_role
    modality.check_uploads(image, audio, where="compare")
    if not modality.needs_prompt and role and not image:  # the upload is all it takes
        raise InputProblem(f"Add a {role} image first.")
    if modality.audio_role and not audio:
        raise InputProblem(f"Add {modality.audio_role} audio first (upload a file or record it).")
    picture = Path(image) if image else None
    if picture is not None:  # a broken upload is refused before any prediction is paid for
        open_image(picture, role or "image")
    order = random.sample(chosen, len(chosen)) if blind else chosen  # blind: no order to go by
    return ComparePlan(
        kind, tuple(order), checked, picture, Path(audio) if audio else None, blind=blind
    )


def map_input(plan: ComparePlan, info: ModelInfo) -> MappedInput:
    """One model's input from the shared values, by its modality's registered mapping and its
    own schema (the same mapping its panel uses)."""
    values = ModalityValues(
        prompt=str(plan.values.get("prompt") or ""),
        controls=plan.values,
        image=plan.image,
        audio=plan.audio,
    )
    return get_modality(plan.modality).map_input(info, values)


# ---------------------------------------------------------------------------------------------
# Cells: per-cell events turned into what a cell is.

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


@dataclass
class CellView:
    """What one cell has to show: its model, where its run is, and its result or error."""

    index: int
    model: str
    state: CellState = "waiting"
    progress: Progress | None = None  # the latest status while running
    elapsed: float = 0.0  # seconds since the person asked, at the latest event
    text: str = ""
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""
    prediction_id: str = ""
    prediction: Prediction | None = None
    predict_time: float | None = None
    total_time: float | None = None
    starting_time: float | None = None
    cold_boot: bool | None = None
    on_replicate: bool = False
    simulated: bool = False  # its run went to the simulator (what the results store keeps apart)
    cost: CostEstimate | None = None  # what its run cost (an estimate), once done

    @property
    def label(self) -> str:
        return label_of(self.index)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "stopped", "refused")

    def apply(self, event: RunEvent) -> None:
        """Take one event of the cell's run (the run core's)."""
        if isinstance(event, RunStarted):
            self.state = "running"
            self.notes = list(event.notes)
            self.on_replicate = event.on_replicate
        elif isinstance(event, RunText):
            self.text, self.elapsed = event.text, event.elapsed
        elif isinstance(event, RunProgress):
            self.state = "running"
            self.prediction_id = event.progress.prediction_id or self.prediction_id
            self.progress, self.elapsed = event.progress, event.progress.elapsed
        elif isinstance(event, RunFinished):
            self.simulated = event.record.simulated
            self.cost = event.cost
            self.finish(event.result)
        elif isinstance(event, RunStopped):
            self.stop(event.prediction)
        elif isinstance(event, RunFailed):
            self.fail(event.message, "refused" if event.stays else "failed")

    def finish(self, event: RunResult) -> None:
        self.state = "done"
        self.prediction = event.prediction
        self.prediction_id = event.prediction.id
        self.text = self.text or event.text
        self.files = list(event.files)
        self.notes = list(event.notes)
        self.predict_time = event.predict_time
        self.total_time = round(event.wall_time, 3)
        self.starting_time = event.starting_time
        self.cold_boot = event.cold_boot

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


def cell_title(view: CellView | None, index: int, hidden: bool, picked: int | None) -> str:
    name = label_of(index) if hidden or view is None else f"`{view.model}`"
    if picked == index:
        return f"### ⭐ {name} — your pick"
    return f"### {name}"


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


def collect_values(modality: str, *controls: Any) -> dict[str, Any]:
    """The page's controls (in control_order()) as `modality`'s input values (the API's JSON)."""
    named = dict(zip(control_order(), controls, strict=True))
    keys = control_defaults(parse_modality(modality))
    return {key: named[key if key == "prompt" else f"{modality}.{key}"] for key in keys}


# ---------------------------------------------------------------------------------------------
# Sharing a compare as one result, and Remix of it (the stored input back to the page's controls).


def can_share(board: CompareBoard) -> bool:
    """A compare can be shared once one cell has finished, and (blind) once the person picked:
    the shared result names the models."""
    return board.plan is not None and not board.hidden and any(c.finished for c in board.cells)


def shared_input(board: CompareBoard) -> dict[str, Any]:
    """What a shared compare keeps as its input: what Remix loads back into the Compare tab."""
    plan = board.plan
    assert plan is not None
    picked = board.cell(board.picked) if board.picked is not None else None
    return {
        "modality": plan.modality,
        "models": list(plan.models),
        "input": dict(plan.values),
        "blind": plan.blind,
        "pick": picked.model if picked else None,
    }


def board_cost(board: CompareBoard) -> CostEstimate | None:
    """What the finished cells cost together: a sum when every one is known, else unknown
    naming the cells whose cost is not (None: no cell finished)."""
    done = [view for view in board.cells if view.state == "done"]
    if not done:
        return None
    missing = [view.label for view in done if view.cost is None or view.cost.usd is None]
    if missing:
        return CostEstimate(None, f"{', '.join(missing)}: cost unknown")
    total = sum(view.cost.usd or 0.0 for view in done if view.cost is not None)
    return CostEstimate(total, f"{len(done)} cells together")


def board_summary(board: CompareBoard) -> str:
    """A per-cell Markdown summary: model, how it ended, its times; a chat cell's answer. An
    error is named by its state only (its text may carry addresses of the run)."""
    parts: list[str] = []
    for view in board.cells:
        times = []
        if view.predict_time is not None:
            times.append(f"predict {view.predict_time:.2f} s")
        if view.cost is not None and view.state == "done":
            times.append(cost_text(view.cost, view.simulated))
        if view.total_time is not None:
            times.append(f"total {view.total_time:.2f} s")
        star = " ⭐ picked" if board.picked == view.index else ""
        line = f"**{view.label} · `{view.model}`**{star} — {view.state}"
        parts.append(" · ".join([line, *times]))
        if view.text and view.state == "done":
            parts.append("\n".join(f"> {row}" if row else ">" for row in view.text.splitlines()))
    return "\n\n".join(parts)


REMIX_TEXT_LIMIT = 1_000_000  # a kept input was checked when it ran; this only bounds a bad row


def remix_values(stored: Any) -> dict[str, Any] | None:
    """A shared compare's stored input as the Compare tab's values: `modality`, `models`, and
    each control by its control_order() name (`prompt`, `image.seed`…). None if it is not one."""
    if not isinstance(stored, dict):
        return None
    try:
        kind = parse_modality(stored.get("modality"))
        models = parse_models(stored.get("models"))
        raw = stored.get("input")
        values = parse_values(
            kind, raw if isinstance(raw, dict) else {}, text_limit=REMIX_TEXT_LIMIT
        )
    except ValueError:  # InputProblem, InvalidModelRefError: not a compare's input
        return None
    named = {key if key == "prompt" else f"{kind}.{key}": value for key, value in values.items()}
    return {"modality": kind, "models": list(models), **named}
