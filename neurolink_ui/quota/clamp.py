"""Cost caps for owner-paid runs: outputs, length, frames, resolution and tokens, from the schema.

A field counts by its schema name (the names the modalities already map), never by model. A value
the run would use — the one sent, else the model's default — above the owner's cap or the schema's
range is lowered, and a note says what changed. No Gradio here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..modalities.chat import TOKEN_LIMIT_FIELDS
from ..modalities.image import COUNT_FIELD_NAMES
from ..modalities.music import DURATION_NAMES
from ..modalities.video import frames_per_second
from ..replicate.schema import InputField, InputSchema
from .settings import OwnerCaps

TOKEN_FIELDS = tuple(
    dict.fromkeys((*TOKEN_LIMIT_FIELDS, "max_completion_tokens", "max_output_tokens"))
)
LENGTH_FIELDS = (*DURATION_NAMES, "seconds", "length")
FRAME_FIELDS = ("num_frames", "frames", "video_length")
RESOLUTION_FIELDS = ("width", "height")
SECONDS_CAP_BY_PANEL = {
    "video": "video_seconds",
    "avatar": "video_seconds",
    "music": "music_seconds",
}


@dataclass(frozen=True)
class Clamped:
    input: dict[str, Any]
    notes: list[str]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip().rstrip("s"))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _lowered(spec: InputField, value: float, cap: float | None) -> Any:
    """The value to send instead, or None when `value` is within the cap and the schema."""
    if spec.choices:
        numeric = [(n, c) for c in spec.choices if (n := _number(c)) is not None]
        if not numeric:
            return None
        limit = value if cap is None else min(value, cap)
        fitting = [pair for pair in numeric if pair[0] <= limit]
        chosen = max(fitting)[1] if fitting else min(numeric)[1]
        return None if _number(chosen) == value else chosen
    high = spec.maximum if cap is None else min(cap, spec.maximum or cap)
    if high is None or value <= high:
        return None
    lowered = max(high, spec.minimum) if spec.minimum is not None else high
    if spec.type == "integer":
        lowered = math.floor(lowered)
    return int(lowered) if float(lowered).is_integer() else lowered


def clamp_costs(
    schema: InputSchema, model_input: dict[str, Any], caps: OwnerCaps, panel: str
) -> Clamped:
    """`model_input` with its cost-driving values within `caps` and the schema's ranges."""
    caps_by_field: dict[str, float | None] = {}
    for name in COUNT_FIELD_NAMES:
        caps_by_field[name] = caps.images or None
    for name in TOKEN_FIELDS:
        caps_by_field[name] = caps.tokens or None
    for name in RESOLUTION_FIELDS:
        caps_by_field[name] = None  # the schema's range only
    seconds_cap_name = SECONDS_CAP_BY_PANEL.get(panel)
    seconds_cap: float | None = getattr(caps, seconds_cap_name) if seconds_cap_name else None
    if seconds_cap:
        for name in LENGTH_FIELDS:
            caps_by_field[name] = seconds_cap
        fps = frames_per_second(schema, model_input)
        for name in FRAME_FIELDS:
            caps_by_field[name] = math.floor(seconds_cap * fps)

    result = dict(model_input)
    changes: list[str] = []
    for name, cap in caps_by_field.items():
        spec = schema.get(name)
        if spec is None or not (spec.is_numeric or spec.choices):
            continue
        sent = name in result
        value = _number(result[name] if sent else spec.default)
        if value is None:
            continue
        lowered = _lowered(spec, value, cap)
        if lowered is None:
            continue
        result[name] = lowered
        was = f"{value:g}" if sent else f"its default {value:g}"
        changes.append(f"{name} {was} → {lowered}")
    notes = [f"Limited on this Space's token: {', '.join(changes)}."] if changes else []
    return Clamped(result, notes)
