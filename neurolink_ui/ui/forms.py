"""The model picker and the schema-driven Advanced form every panel shares, its example prompts
and its run / Stop buttons."""

from __future__ import annotations

import json
import math
import secrets
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gradio as gr

from ..config import Settings
from ..deadlines import known_run_time, run_time_note
from ..examples import MAX_EXAMPLE_CHARS, MAX_EXAMPLES, Panel, panel_examples
from ..limits import check_number, check_values, parse_json_object
from ..modalities.common import InputProblem
from ..modalities.forms import FormField, collect_advanced, form_fields
from ..modalities.spec import Control
from ..replicate.errors import ReplicateError
from ..replicate.schema import InputSchema, ModelInfo
from ..replicate.types import ModelRef
from ..runs import Backend
from .common import refuse, user_errors
from .components import NumberInput, SliderInput
from .context import AppContext
from .events import RENDER_ONE_AT_A_TIME
from .lazy import load_triggers

DEFAULT_TEXT_LIMIT = Settings.max_prompt_chars
# What a model picker says it takes (each panel's picker, Chat's).
MODEL_INFO = "Pick one, or type any owner/name, owner/name:version or deployment:owner/name"


def model_picker(label: str, default: str, choices: list[str]) -> gr.Dropdown:
    ordered = list(dict.fromkeys([default, *choices]))
    return gr.Dropdown(
        choices=ordered,
        value=default,
        label=label,
        allow_custom_value=True,
        info=MODEL_INFO,
        scale=3,
    )


def parse_advanced(
    raw: str | dict | None,
    upload_root: Path | None = None,
    *,
    text_limit: int = DEFAULT_TEXT_LIMIT,
) -> dict[str, Any]:
    """The Advanced form's values; file paths only from Gradio's own upload cache. Size, depth,
    numbers and texts are checked before use (a visitor may send any JSON)."""
    if not raw:
        return {}
    with user_errors():
        if isinstance(raw, dict):
            values = raw
        elif isinstance(raw, str):
            values = parse_json_object(raw)
        else:
            raise InputProblem("Advanced parameters must be a JSON object of names to values.")
        check_values(values, text_limit)
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, dict) and "path" in value:  # a Gradio FileData
            value = value["path"]
        if isinstance(value, str) and value.startswith("/"):
            path = Path(value).resolve()
            root = (upload_root or Path(gr.utils.get_upload_folder())).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                raise refuse(f"'{name}': upload the file; server paths are not accepted.")
            value = path
        cleaned[name] = value
    return cleaned


def check_numbers(**values: Any) -> None:
    """Each named number finite and of bounded size, before anything converts it."""
    with user_errors():
        for name, value in values.items():
            check_number(value, name.replace("_", " "))


def collect_form(
    fields: Iterable[FormField], values: Iterable[Any], keep: Iterable[str] = ()
) -> dict[str, Any]:
    """What a generated form's controls hold, as `collect_advanced` reads it, field by field: a
    value a field cannot read (text in a number box, JSON that does not parse) is kept as typed.
    The run then refuses it, in the panel's status, as the model's schema says (the form's
    change events fire at every keystroke: a refusal there was a toast per key, and the value
    the run sent was the last one that read)."""
    kept = tuple(keep)
    changed: dict[str, Any] = {}
    for spec, value in zip(fields, values, strict=False):
        try:
            changed.update(collect_advanced([spec], [value], keep=kept))
        except InputProblem:
            changed[spec.name] = value
    return changed


# `collect_form` in the page's JavaScript: the form's change events write the Advanced JSON in the
# browser, so it holds a control's new value before any click that follows. Same rules: blanks
# and a field's default dropped (unless kept), numbers and JSON typed as text read, a value that
# does not read kept as typed (the run refuses it, in the panel's status), an upload by its path.
# The fields come from a model's schema (anyone's): they reach the script as one JSON string
# literal, parsed there, never as code.
_COLLECT_JS = """(...values) => {
  const fields = JSON.parse(%s);
  const keep = new Set(JSON.parse(%s));
  const NUMBER = /^\\s*[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?\\s*$/;
  const same = (value, fallback) => {
    if (typeof value === "boolean" || typeof fallback === "boolean") return value === fallback;
    if (typeof value === "number" && typeof fallback === "number") {
      const scale = Math.max(Math.abs(value), Math.abs(fallback));
      return Math.abs(value - fallback) <= Math.max(1e-9 * scale, 1e-12);
    }
    return JSON.stringify(value) === JSON.stringify(fallback ?? null);
  };
  const path = (file) => (file && typeof file === "object" && "path" in file ? file.path : file);
  const changed = {};
  fields.forEach((field, index) => {
    let value = values[index];
    if (value === null || value === undefined) return;
    if (typeof value === "string" && !value.trim()) return;
    if (field.kind === "file") {
      if (Array.isArray(value)) {
        if (!value.length) return;
        value = value.map(path);
      } else {
        value = path(value);
      }
    }
    if (field.kind === "json" && typeof value === "string") {
      try { value = JSON.parse(value); } catch (error) { changed[field.name] = value; return; }
    }
    if ((field.kind === "number" || field.kind === "slider") && typeof value === "string") {
      const number = NUMBER.test(value) ? Number(value) : NaN;
      if (!Number.isFinite(number) || (field.integer && !Number.isInteger(number))) {
        changed[field.name] = value;
        return;
      }
      value = number;
    }
    if (field.integer && typeof value === "number" && !Number.isInteger(value)) {
      value = Math.round(value);  // a whole-number box rounds, as gr.Number(precision=0) does
    }
    if (same(value, field.default) && !keep.has(field.name)) return;
    changed[field.name] = value;
  });
  return JSON.stringify(changed);
}"""


def collect_script(fields: Iterable[FormField], keep: Iterable[str] = ()) -> str:
    """The page's `collect_form` for `fields` (a change event's `js`, no server function)."""
    described = [
        {"name": f.name, "kind": f.kind, "default": f.default, "integer": f.integer} for f in fields
    ]
    literal = json.dumps(json.dumps(described, default=str))
    return _COLLECT_JS % (literal, json.dumps(json.dumps(list(keep))))


FormComponent = gr.Dropdown | gr.Slider | gr.Number | gr.Checkbox | gr.File | gr.Textbox


_DEFAULT: Any = object()


def form_component(spec: FormField, value: Any = _DEFAULT, model: str = "") -> FormComponent:
    """The control for one form field, holding `value` (else the model's default).

    With `model`, the control is keyed by the model and the field, so a render of another model's
    form never reuses it. Unkeyed, Gradio matches a render's children by position: on a loaded
    machine, switching models quickly, the page once handed a Number box another model's
    checkbox value ("false" cannot be parsed) and sent a change event of the replaced form (a
    500: its function was gone). The key preserves nothing: a render starts from its own values
    (the model's defaults, or a Remix's)."""
    if value is not _DEFAULT:
        if spec.kind == "json" and not isinstance(value, str):
            value = json.dumps(value)
        spec = replace(spec, default=value)
    keyed: dict[str, Any] = (
        {"key": f"{model}|{spec.name}", "preserved_by_key": None} if model else {}
    )
    common: dict[str, Any] = {
        "label": spec.label,
        "info": spec.info or None,
        "interactive": True,
        **keyed,
    }
    if spec.kind == "dropdown":
        return gr.Dropdown(choices=list(spec.choices or ()), value=spec.default, **common)
    if spec.kind == "slider" and spec.minimum is not None and spec.maximum is not None:
        return gr.Slider(
            minimum=spec.minimum, maximum=spec.maximum, step=spec.step, value=spec.default, **common
        )
    if spec.kind in ("number", "slider") and spec.default is None:
        # gr.Number shows 0 when empty; a box left blank sends nothing and the model decides.
        # `collect_advanced` reads the number (and refuses text that is not one).
        return gr.Textbox(value="", placeholder="Empty: the model decides", **common)
    if spec.kind in ("number", "slider"):  # a slider without both bounds is a number box
        return gr.Number(value=spec.default, precision=0 if spec.integer else None, **common)
    if spec.kind == "checkbox":
        return gr.Checkbox(value=bool(spec.default), **common)
    if spec.kind == "file":  # a Remix's kept file, staged in the upload folder (`stage_upload`)
        return gr.File(
            value=spec.default if isinstance(spec.default, str) else None,
            label=spec.label,
            interactive=True,
            **keyed,
        )
    lines = 3 if spec.multiline else 1
    return gr.Textbox(value=spec.default or "", lines=lines, **common)


FilledFields = Callable[[InputSchema], Iterable[str]]
PanelDefaults = Callable[[InputSchema], Mapping[str, Any]]


@dataclass(frozen=True)
class ModelForm:
    """The Advanced form of one model (as picked): its fields, or a note saying why none."""

    model: str
    fields: tuple[FormField, ...] = ()  # hashable: Gradio hashes a State's value after events
    note: str = "This model has no further parameters."
    start: str = "{}"  # JSON: the values the controls start from where not the model's defaults
    # Fields sent even when equal to the model's default: a Remix sends what the shared run sent.
    pinned: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdvancedPreset:
    """Values a panel's next Advanced form for `model` starts from (Remix writes them); a form
    loaded for another model drops them. `values` is a JSON object's text (hashable); `files`
    one of the kept input files by field (server paths: never sent to the page as they are)."""

    model: str
    values: str
    files: str = "{}"


def stage_upload(path: Path, upload_root: Path | None = None) -> str | None:
    """A copy of a kept file in the web server's upload folder, where an upload would be (the
    only place `parse_advanced` takes a file from); None if it cannot be read."""
    root = upload_root or Path(gr.utils.get_upload_folder())
    try:
        folder = root / f"remix-{secrets.token_hex(16)}"
        folder.mkdir(parents=True)
        staged = folder / path.name
        shutil.copyfile(path, staged)
    except OSError:
        return None
    return str(staged)


def _preset_value(spec: FormField, value: Any) -> Any:
    """`value` if the control of `spec` can hold it, else `_DEFAULT` (files are never preset)."""
    if spec.kind == "file" or value is None:
        return _DEFAULT
    if spec.kind == "dropdown":
        return value if value in (spec.choices or ()) else _DEFAULT
    if spec.kind == "checkbox":
        return value if isinstance(value, bool) else _DEFAULT
    if spec.kind in ("slider", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _DEFAULT
        if not math.isfinite(value) or (spec.integer and not float(value).is_integer()):
            return _DEFAULT
        if (spec.minimum is not None and value < spec.minimum) or (
            spec.maximum is not None and value > spec.maximum
        ):
            return _DEFAULT
        return int(value) if spec.integer else value
    if spec.kind == "json":
        return value if isinstance(value, list | dict) else _DEFAULT
    return value if isinstance(value, str) else _DEFAULT


def same_form(shown: ModelForm | None, loaded: ModelForm) -> bool:
    """Whether `loaded` is the form already shown: the same model and fields (a Remix's start
    values on the shown one do not make it another form)."""
    return shown is not None and (shown.model, shown.fields) == (loaded.model, loaded.fields)


def apply_preset(
    form: ModelForm, preset: AdvancedPreset | None, upload_root: Path | None = None
) -> tuple[ModelForm, str]:
    """`form` starting from `preset`'s values (only a preset for the same model; values its
    controls cannot hold dropped; a file control gets its kept file, staged as an upload), and
    the Advanced JSON those values make."""
    if preset is None or preset.model != form.model or not form.fields:
        return form, "{}"
    try:
        stored = json.loads(preset.values)
        files = json.loads(preset.files)
    except json.JSONDecodeError:
        return form, "{}"
    if not isinstance(stored, dict) or not isinstance(files, dict):
        return form, "{}"
    start = {}
    for spec in form.fields:
        value = _preset_value(spec, stored.get(spec.name))
        kept = files.get(spec.name)
        if spec.kind == "file" and isinstance(kept, str) and Path(kept).is_file():
            value = stage_upload(Path(kept), upload_root) or _DEFAULT
        if value is not _DEFAULT:
            start[spec.name] = value
    try:
        advanced = collect_advanced(form.fields, start, keep=start.keys())
    except InputProblem:
        return form, "{}"
    remixed = replace(form, start=json.dumps(start), pinned=tuple(start))
    return remixed, json.dumps(advanced, default=str)


def run_time_markdown(ctx: AppContext, backend: Backend, ref: ModelRef, info: ModelInfo) -> str:
    """What the panel says of the picked model before its run (`deadlines.run_time_note`): that
    it typically takes minutes, or that it is too slow for this Space's token (owner-paid)."""
    known = known_run_time(ref, None, info, seen=backend.client.run_times.longest(str(ref)))
    quota = ctx.quota if backend.owner_paid else None
    if quota is None:
        return run_time_note(known)
    limits = quota.settings
    return run_time_note(known, owner_cap=limits.max_seconds, raised=limits.runs_long(str(ref)))


def run_time_info(ctx: AppContext, backend: Backend, ref: ModelRef, info: ModelInfo) -> str:
    """The model picker's note (its `info`) for the picked model: the run-time note, when there
    is one, before what the picker takes."""
    note = run_time_markdown(ctx, backend, ref, info)
    return f"{note} {MODEL_INFO}." if note else MODEL_INFO


def advanced_form(
    ctx: AppContext,
    model: gr.Dropdown,
    session: gr.State,
    filled: FilledFields,
    preset: gr.State | None = None,
    defaults: PanelDefaults | None = None,
) -> gr.Textbox:
    """An Advanced accordion generated from the selected model's input schema, without the
    fields the panel's own controls fill (`filled`, the modality's own answer for that schema).

    Its values live in a hidden JSON textbox, which is what the panel's event (and API callers)
    read; changing the model rebuilds the form with that model's defaults, ranges and descriptions.
    An `AdvancedPreset` in `preset` (Remix writes it with the model) gives the form of its model
    its start values instead; the first form loaded for another model drops it. `defaults`: what
    the panel sends where the model's default differs (the Image panel's PNG), shown as the
    fields' defaults, so the form shows what the run sends.

    The model picker's own note (its `info`, right under its label) says, as the form loads, when
    the model typically takes minutes or is too slow for this Space's token (`run_time_info`).
    """
    with gr.Accordion("Advanced — parameters from the model's schema", open=False):
        advanced = gr.Textbox(
            value="{}",
            label="Advanced parameters (JSON)",
            visible=False,
        )

        form = gr.State(None)  # the last loaded model's ModelForm

        # Drawn when the model changes and when its form has loaded. The page reuses a render's
        # controls by position (its children are keyed by index), so a new model's controls
        # drawn straight over the old ones got their stale values ("webp" in a slider: a console
        # warning). Defined before the form's load, this render runs first on a model change and
        # draws a note where the old controls were; the new controls follow once loaded.
        @gr.render(inputs=[form, model], **RENDER_ONE_AT_A_TIME)
        def render_form(loaded: ModelForm | None, model_text: str) -> None:
            if loaded is None or loaded.model != model_text:
                gr.Markdown("Reading the model's schema…")
                return
            if not loaded.fields:
                gr.Markdown(loaded.note)
                return
            fields, pinned = loaded.fields, loaded.pinned
            start = json.loads(loaded.start)
            components = [
                form_component(spec, start.get(spec.name, _DEFAULT), model=loaded.model)
                for spec in fields
            ]

            # In the page, not on the server: a run clicked right after a change read the JSON
            # the change's round trip had not yet written, and sent the previous value.
            collect = collect_script(fields, keep=pinned)
            for component in components:
                component.change(
                    None, components, advanced, js=collect, api_visibility="private", queue=False
                )

        async def load_form(
            model_text: str,
            token: str | None,
            shown: ModelForm | None,
            *preset_value: AdvancedPreset | None,
        ) -> tuple[Any, ...]:
            # A new model's form starts from its own defaults (or its preset); old values don't
            # apply. A preset for another model is dropped (None), one for this model kept (a
            # Remix sets model and preset at once: both changes load, both must apply it).
            given = preset_value[0] if preset_value else None
            kept: tuple[Any, ...] = ()
            if preset is not None:
                kept = (gr.skip() if given is None or given.model == model_text else None,)
            try:
                backend = ctx.backend(token)
                ref = ModelRef.parse(model_text)
                info = await backend.client.get_model(ref, token=backend.token)
            except ReplicateError as exc:
                picker = gr.Dropdown(info=MODEL_INFO)
                return ModelForm(model_text, note=f"⚠️ {exc}"), "{}", picker, *kept
            fields = form_fields(info.input_schema, exclude=filled(info.input_schema))
            if defaults is not None:
                panel = defaults(info.input_schema)
                fields = [replace(f, default=panel.get(f.name, f.default)) for f in fields]
            picker = gr.Dropdown(info=run_time_info(ctx, backend, ref, info))
            loaded = ModelForm(model_text, tuple(fields))
            if given is None and same_form(shown, loaded):
                # The form shown already (a sign-in reloads it): its controls keep what the
                # person set, so the JSON they wrote stays; answering "{}" cleared it under them.
                return gr.skip(), gr.skip(), picker, *kept
            return *apply_preset(loaded, given), picker, *kept

        # On page load and whenever the model, the token or the preset changes (render can't
        # await); one load at a time and the last always runs, so forms land in the order of the
        # picks.
        extra = [preset] if preset is not None else []
        gr.on(
            load_triggers([model, session, *extra]),
            load_form,
            [model, session, form, *extra],
            [form, advanced, model, *extra],
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
        )

    return advanced


def example_prompts(
    ctx: AppContext,
    panel: Panel,
    model: gr.Dropdown,
    session: gr.State,
    target: gr.Textbox,
    label: str = "Examples: click one to fill the prompt",
) -> gr.Dataset:
    """Clickable example prompts that fill `target`: the selected model's own example (its
    `default_example`) first, then the panel's curated ones."""
    first = panel_examples(panel)
    examples = gr.Dataset(
        components=[target],
        samples=[[prompt] for prompt in first],
        label=label,
        type="index",
        samples_per_page=MAX_EXAMPLES,
    )

    async def for_model(model_text: str, token: str | None) -> gr.Dataset:
        try:
            ref = str(ModelRef.parse(model_text))
            backend = ctx.backend(token)
            info = await backend.client.get_model(ref, token=backend.token)
        except ReplicateError:
            info = None  # the Advanced form says what is wrong with the model
        return gr.Dataset(samples=[[prompt] for prompt in panel_examples(panel, info)])

    gr.on(
        load_triggers([model, session]),
        for_model,
        [model, session],
        examples,
        api_visibility="private",
        show_progress="hidden",
        trigger_mode="always_last",
    )
    # The prompt comes from the sample the browser showed and the person clicked (the select
    # event's value), never from an index into the server's list: that list changes when the
    # model's own example arrives, and an index read against the new list filled the wrong
    # prompt when the click landed between the server's update and the browser's.
    examples.select(
        picked_example, None, target, api_visibility="private", queue=False, show_progress="hidden"
    )
    return examples


def picked_example(event: gr.SelectData) -> Any:
    """The prompt of the example the browser showed at the click. The event's value comes from
    the visitor, so it is checked: one short text, or nothing happens."""
    sample = event.value
    prompt = sample[0] if isinstance(sample, list) and len(sample) == 1 else None
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_EXAMPLE_CHARS:
        return gr.skip()
    return prompt


def run_buttons(label: str) -> tuple[gr.Button, gr.Button]:
    """A panel's run and Stop buttons, placed after its main inputs and model picker. Their row
    sticks to the top of the screen while the form below it is scrolled (a long Advanced form),
    so they stay in reach without covering anything of the form at rest."""
    with gr.Row(elem_classes=["nl-run"]):
        run = gr.Button(label, variant="primary", scale=2, min_width=100)
        stop = gr.Button("Stop", variant="stop", scale=1, min_width=80)
    return run, stop


def control_component(control: Control, **layout: Any) -> gr.components.Component:
    """A modality's main control as a component (its label, default, bounds and choices, from
    the registry), with `layout` (scale, min_width…): the panels and Compare draw the same one."""
    number = control.default if isinstance(control.default, int | float) else None
    if control.kind == "slider":
        return SliderInput(
            control.minimum or 0,
            control.maximum or 100,
            value=number,
            step=control.step,
            label=control.label,
            **layout,
        )
    if control.kind == "number":
        whole = isinstance(control.default, int)
        return NumberInput(
            label=control.label,
            value=number,
            precision=0 if whole else None,
            minimum=control.minimum,
            maximum=control.maximum,
            **layout,
        )
    if control.kind == "dropdown":
        return gr.Dropdown(
            list(control.choices), value=control.default, label=control.label, **layout
        )
    if control.kind == "radio":
        return gr.Radio(list(control.choices), value=control.default, label=control.label, **layout)
    return gr.Textbox(value=str(control.default), label=control.label, **layout)
