"""The generated "Advanced" section: one form control per model input, and back to an input dict.

No Gradio here: `FormField` says what control to build; the UI builds it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from neurolink_ui.replicate.schema import InputField, InputSchema

from .common import InputProblem

FieldKind = Literal["dropdown", "slider", "number", "checkbox", "text", "file", "json"]

_LONG_TEXT_NAMES = ("prompt", "template", "text", "lyrics", "description", "caption")
_LONG_TEXT_HINTS = re.compile(r"\b(template|paragraph|multi-?line|long|lyrics)\b", re.IGNORECASE)


@dataclass(frozen=True)
class FormField:
    name: str
    kind: FieldKind
    label: str
    info: str = ""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    multiline: bool = False
    required: bool = False
    integer: bool = False  # number/slider that must hold whole numbers (seed, steps)

    def __hash__(self) -> int:
        # Not from every field: a default may be a list (array fields' `default: []`), and
        # Gradio hashes what a session's state holds. Equal fields still hash equal.
        return hash((self.name, self.kind, self.label, self.required, self.integer))


def _step(spec: InputField) -> float | None:
    if spec.type == "integer":
        return 1
    if spec.minimum is None or spec.maximum is None or spec.maximum <= spec.minimum:
        return None
    # Two decimal places of the range's order of magnitude: 0–1 → 0.01, 0–100 → 1.
    return 10 ** math.floor(math.log10(spec.maximum - spec.minimum)) / 100


def _is_long_text(spec: InputField) -> bool:
    name = spec.name.lower()
    return any(word in name for word in _LONG_TEXT_NAMES) or bool(
        _LONG_TEXT_HINTS.search(spec.description)
    )


def form_field(spec: InputField) -> FormField:
    common: dict[str, Any] = {
        "name": spec.name,
        "label": spec.label,
        "info": spec.description,
        "default": spec.default,
        "required": spec.required,
    }
    if spec.choices is not None:
        return FormField(kind="dropdown", choices=spec.choices, **common)
    if spec.type == "boolean":
        return FormField(kind="checkbox", **{**common, "default": bool(spec.default)})
    if spec.is_numeric:
        integer = spec.type == "integer"
        # A slider always holds a value; a field with no default must be able to stay empty.
        if spec.minimum is not None and spec.maximum is not None and spec.default is not None:
            return FormField(
                kind="slider",
                minimum=spec.minimum,
                maximum=spec.maximum,
                step=_step(spec),
                integer=integer,
                **common,
            )
        return FormField(
            kind="number",
            minimum=spec.minimum,
            maximum=spec.maximum,
            step=_step(spec),
            integer=integer,
            **common,
        )
    if spec.is_file or (spec.type == "array" and spec.item_type == "file"):
        return FormField(kind="file", **common)
    if spec.type in ("array", "object"):
        return FormField(kind="json", multiline=True, **common)
    return FormField(kind="text", multiline=_is_long_text(spec), **common)


def form_fields(schema: InputSchema, exclude: Iterable[str] = ()) -> list[FormField]:
    """Controls for every input the panel's main controls don't already cover, in x-order."""
    skipped = set(exclude)
    return [form_field(spec) for spec in schema.fields if spec.name not in skipped]


def _same(value: Any, default: Any) -> bool:
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default or value == default
    if isinstance(value, int | float) and isinstance(default, int | float):
        return math.isclose(float(value), float(default), rel_tol=1e-9, abs_tol=1e-12)
    return value == default


def _number(spec: FormField, text: str) -> float | int:
    """A number typed as text (an empty-by-default number box), or a clear refusal."""
    whole = " whole" if spec.integer else ""
    try:
        number = float(text.strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or (spec.integer and not number.is_integer()):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise InputProblem(
            f"{spec.label} must be a{whole} number (got {shown!r}); leave it empty for the "
            "model's default.",
            field=spec.name,
        )
    return int(number) if spec.integer else number


def collect_advanced(
    fields: Sequence[FormField],
    values: Mapping[str, Any] | Sequence[Any],
    keep: Collection[str] = (),
) -> dict[str, Any]:
    """Only what the person changed: blanks and values equal to the model default are dropped,
    except for the fields named in `keep` (a remixed run sends what the shared run sent).

    `values` is a name → value mapping, or the controls' values in `fields` order (as a Gradio
    handler receives them)."""
    if isinstance(values, Mapping):
        pairs = [(f, values.get(f.name)) for f in fields if f.name in values]
    else:
        pairs = list(zip(fields, values, strict=False))
    changed: dict[str, Any] = {}
    for spec, value in pairs:
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # blank: the model's own default applies
        if isinstance(value, list | tuple) and not value and spec.kind == "file":
            continue
        if spec.kind == "json" and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise InputProblem(
                    f'{spec.label} must be JSON (e.g. ["a", "b"]): {exc.msg}.', field=spec.name
                ) from exc
        if spec.kind in ("number", "slider") and isinstance(value, str):
            value = _number(spec, value)
        if spec.integer and isinstance(value, float) and value.is_integer():
            value = int(value)
        if _same(value, spec.default) and spec.name not in keep:
            continue
        changed[spec.name] = value
    return changed
