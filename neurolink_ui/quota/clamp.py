"""Cost caps for owner-paid runs: every count, length, frame, resolution, token and input-size
field a model's schema has, whichever entry point runs it (the run core calls this once).

A field is known by its schema name (the names the modalities already map, and the usual
spellings) and by its description ("Maximum number of images to generate", "Duration … in
seconds"), never by model. A value the run would use — the one sent, else the model's default —
above the owner's cap or the schema's range is lowered; a token field with no value and no default
(the model would have no ceiling) gets the cap; text past the input-characters cap is refused.
A note says what changed. No Gradio here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from ..modalities.chat import TOKEN_LIMIT_FIELDS
from ..modalities.common import InputProblem
from ..modalities.image import COUNT_FIELD_NAMES
from ..modalities.music import DURATION_NAMES
from ..modalities.video import frames_per_second
from ..replicate.schema import InputField, InputSchema
from .settings import OwnerCaps

TOKEN_FIELDS = tuple(
    dict.fromkeys((*TOKEN_LIMIT_FIELDS, "max_completion_tokens", "max_output_tokens"))
)
COUNT_FIELDS = (
    *COUNT_FIELD_NAMES,
    "max_images",
    "num_samples",
    "num_videos",
    "num_generations",
    "number_of_outputs",
    "batch_size",
    "n",
)
LENGTH_FIELDS = (*DURATION_NAMES, "seconds", "length", "duration_sec", "audio_length")
FRAME_FIELDS = ("num_frames", "frames", "video_length", "frame_count")
RESOLUTION_FIELDS = ("width", "height")  # pixels, numbers
RESOLUTION_CHOICE_FIELDS = ("size", "resolution", "image_size", "output_resolution", "quality")
SECONDS_CAP_BY_PANEL = {
    "video": "video_seconds",
    "avatar": "video_seconds",
    "music": "music_seconds",
}

Driver = Literal["count", "tokens", "seconds", "frames", "side", "side_choice"]

_COUNT_WORDS = re.compile(
    r"\b(number|count|how many) of (images|outputs|samples|videos|generations|variations|"
    r"pictures|results)\b",
    re.I,
)
_TOKEN_WORDS = re.compile(r"\b(max(imum)?|limit)\b[^.]*\btokens\b", re.I)
_SECONDS_WORDS = re.compile(
    r"\b(duration|length|long)\b[^.]*\bsec(ond)?s?\b|\bsec(ond)?s?\b[^.]*\b(duration|long)\b", re.I
)
_FRAME_WORDS = re.compile(r"\bnumber of (video )?frames\b", re.I)
_VIDEO_WORDS = re.compile(r"\b(video|frames?|fps|clip)\b", re.I)
_AUDIO_WORDS = re.compile(r"\b(audio|music|song|sound|track|speech)\b", re.I)
_MINIMUM_WORDS = re.compile(r"^\W*(the\s+)?min(imum)?\b", re.I)
_SIDE_CHOICE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(k|p|px)?\s*$", re.I)


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


def _side(value: Any) -> float | None:
    """The longest side in pixels a resolution choice stands for: 4K → 4096, 1080p → 1920,
    2048 → 2048; None for a choice that names none ("custom", "match_input_image")."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    found = _SIDE_CHOICE.match(str(value))
    if found is None:
        return None
    number, unit = float(found.group(1)), (found.group(2) or "").lower()
    if unit == "k":
        return number * 1024
    if unit == "p":
        return math.ceil(number * 16 / 9)
    return number


def driver(spec: InputField) -> Driver | None:
    """What cost this field drives, by its name and then by its description."""
    name, about = spec.name.lower(), f"{spec.title} {spec.description}"
    if spec.choices and (
        name in RESOLUTION_CHOICE_FIELDS or (re.search(r"\bresolution\b", about, re.I))
    ):
        if any(_side(c) is not None for c in spec.choices) and not spec.is_numeric:
            return "side_choice"
    if not (spec.is_numeric or spec.choices):
        return None
    if name in TOKEN_FIELDS or name.endswith("_tokens") or _TOKEN_WORDS.search(about):
        return "tokens"
    if name in COUNT_FIELDS or _COUNT_WORDS.search(about):
        return "count"
    if name in FRAME_FIELDS or _FRAME_WORDS.search(about):
        return "frames"
    if name in LENGTH_FIELDS or _SECONDS_WORDS.search(about):
        return "seconds"
    if name in RESOLUTION_FIELDS or name in RESOLUTION_CHOICE_FIELDS[:4]:
        return "side"
    return None


def is_minimum(spec: InputField) -> bool:
    """A floor rather than a ceiling (`min_tokens`: "The minimum number of tokens the model should
    generate"): lowered when above the cap like any cost driver, but never given the cap as a value
    — that would make the model write at least that much, on the owner's bill."""
    name = spec.name.lower()
    if name.startswith("max"):
        return False
    return name.startswith("min") or bool(
        _MINIMUM_WORDS.match(spec.title) or _MINIMUM_WORDS.match(spec.description)
    )


def _seconds_cap(schema: InputSchema, caps: OwnerCaps, panel: str) -> float:
    """The seconds cap of the panel; for Explore (or any other entry point) the one the model's
    inputs point to — frames or video words: video; audio words: music; else the smaller."""
    named = SECONDS_CAP_BY_PANEL.get(panel)
    if named is not None:
        return float(getattr(caps, named))
    text = " ".join(f"{f.name} {f.description}" for f in schema)
    if _VIDEO_WORDS.search(text):
        return caps.video_seconds
    if _AUDIO_WORDS.search(text):
        return caps.music_seconds
    both = [c for c in (caps.video_seconds, caps.music_seconds) if c]
    return min(both) if both else 0.0


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


def _lowered_choice(spec: InputField, value: Any, cap: float) -> Any:
    """A resolution choice within `cap` pixels: the largest that fits, else the smallest."""
    side = _side(value)
    if side is None or side <= cap or not spec.choices:
        return None
    sized = [(s, c) for c in spec.choices if (s := _side(c)) is not None]
    fitting = [pair for pair in sized if pair[0] <= cap]
    return max(fitting)[1] if fitting else min(sized)[1]


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if not value.startswith("data:"):  # a file as a data: URL is not text a model reads
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def input_chars(schema: InputSchema, model_input: dict[str, Any]) -> int:
    """Characters of text the model reads (file inputs and their URLs aside)."""
    total = 0
    for name, value in model_input.items():
        spec = schema.get(name)
        if spec is not None and (spec.is_file or spec.format == "uri" or spec.item_type == "file"):
            continue
        total += sum(len(text) for text in _texts(value))
    return total


def clamp_costs(
    schema: InputSchema, model_input: dict[str, Any], caps: OwnerCaps, panel: str
) -> Clamped:
    """`model_input` with its cost-driving values within `caps` and the schema's ranges;
    InputProblem when its text is longer than `caps.input_chars`."""
    if caps.input_chars:
        chars = input_chars(schema, model_input)
        if chars > caps.input_chars:
            raise InputProblem(
                f"The input has {chars:,} characters of text; runs on this Space's token take at "
                f"most {caps.input_chars:,}. Shorten it, or use your own Replicate token."
            )
    seconds_cap = _seconds_cap(schema, caps, panel)
    fps = frames_per_second(schema, model_input)
    cap_of: dict[Driver, float | None] = {
        "count": caps.images or None,
        "tokens": caps.tokens or None,
        "seconds": seconds_cap or None,
        "frames": math.floor(seconds_cap * fps) if seconds_cap else None,
        "side": caps.side or None,
        "side_choice": caps.side or None,
    }
    result = dict(model_input)
    changes: list[str] = []
    for spec in schema:
        kind = driver(spec)
        if kind is None:
            continue
        name, cap = spec.name, cap_of[kind]
        sent = name in result and result[name] is not None
        if kind == "side_choice":
            current = result[name] if sent else spec.default
            if cap is None:
                continue
            chosen = _lowered_choice(spec, current, cap)
            if chosen is not None:
                result[name] = chosen
                was = f"{current}" if sent else f"its default {current}"
                changes.append(f"{name} {was} → {chosen}")
            continue
        value = _number(result[name] if sent else spec.default)
        if kind == "tokens" and cap is not None and (value is None or value <= 0):
            if is_minimum(spec):
                continue  # no floor is the cheapest there is
            # No ceiling at all (no value, no default, or 0 for "the model's maximum").
            ceiling = _lowered(spec, math.inf, cap)
            result[name] = ceiling if ceiling is not None else int(cap)
            changes.append(f"{name} none → {result[name]}")
            continue
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
