"""Video: prompt, optional start image, length and shape, mapped onto the selected model's fields.

Models disagree on everything here: the start image's name, whether length is frames or seconds,
and whether shape is an aspect ratio, a `W*H` size or a `480p` tier. Each is read from the schema.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from neurolink_ui.replicate.schema import InputField, InputSchema

from .common import (
    InputProblem,
    MappedInput,
    closest_ratio,
    find_field,
    finish,
    is_blank,
    merge_advanced,
    parse_ratio,
    parse_size,
)

START_IMAGE_NAMES = (
    "image",
    "first_frame_image",
    "first_frame",
    "start_image",
    "input_image",
    "init_image",
    "image_url",
)
NOT_START_WORDS = ("last", "end", "tail", "mask", "reference")
FPS_NAMES = ("fps", "frames_per_second", "frame_rate")
DEFAULT_FPS = 16.0


def start_image_field(schema: InputSchema) -> InputField | None:
    return find_field(
        schema,
        START_IMAGE_NAMES,
        fallback_words=("image", "frame"),
        exclude_words=NOT_START_WORDS,
    )


def takes_start_image(schema: InputSchema) -> bool:
    return start_image_field(schema) is not None


def needs_start_image(schema: InputSchema) -> bool:
    spec = start_image_field(schema)
    return spec is not None and spec.required


def frames_per_second(schema: InputSchema, advanced: Mapping[str, Any] | None = None) -> float:
    """The fps the model will render at: the person's Advanced choice, else the model default."""
    for name in FPS_NAMES:
        chosen = (advanced or {}).get(name)
        if isinstance(chosen, int | float) and not isinstance(chosen, bool) and chosen > 0:
            return float(chosen)
    spec = schema.first(*FPS_NAMES)
    if spec is not None and isinstance(spec.default, int | float) and spec.default > 0:
        return float(spec.default)
    return DEFAULT_FPS


def _wants_4n_plus_1(spec: InputField) -> bool:
    """Wan-family models generate 4n+1 frames; their descriptions or bounds say so."""
    if re.search(r"4\s*\*?\s*[nk]\s*\+\s*1", spec.description):
        return True
    values = [v for v in (spec.default, spec.minimum) if isinstance(v, int | float)]
    return bool(values) and all(int(v) % 4 == 1 for v in values)


def frames_for_seconds(spec: InputField, seconds: float, fps: float) -> int:
    frames = max(1, round(seconds * fps))
    if _wants_4n_plus_1(spec):
        frames = 4 * round((frames - 1) / 4) + 1
    low = math.ceil(spec.minimum) if spec.minimum is not None else 1
    high = math.floor(spec.maximum) if spec.maximum is not None else frames
    if _wants_4n_plus_1(spec):
        low = low + (1 - low) % 4  # the smallest 4n+1 ≥ low
        high = high - (high - 1) % 4  # the largest 4n+1 ≤ high
    return min(max(frames, low), high)


def build_video_input(
    schema: InputSchema,
    *,
    prompt: str | None,
    start_image: Any = None,
    length_seconds: float | None = None,
    aspect_ratio: str | None = None,
    advanced: Mapping[str, Any] | None = None,
) -> MappedInput:
    notes: list[str] = []
    input: dict[str, Any] = {}
    advanced = dict(advanced or {})

    prompt_field = schema.get("prompt")
    if not is_blank(prompt):
        if prompt_field is None:
            notes.append("This model takes no prompt; only the image drives the video.")
        else:
            input["prompt"] = str(prompt).strip()
    elif prompt_field is not None and prompt_field.required:
        raise InputProblem("Enter a prompt describing the video first.", field="prompt")

    image_spec = start_image_field(schema)
    if start_image is not None:
        if image_spec is None:
            notes.append("This model makes video from text only; the start image was not sent.")
        else:
            input[image_spec.name] = start_image
    elif image_spec is not None and image_spec.required:
        raise InputProblem(
            "This model animates a still image: add a start image "
            f"(it goes to '{image_spec.name}').",
            field=image_spec.name,
        )

    managed: set[str] = {"prompt"} | ({image_spec.name} if image_spec else set())
    if length_seconds is not None:
        managed |= _map_length(schema, input, float(length_seconds), advanced, notes)
    if aspect_ratio:
        managed |= _map_shape(schema, input, aspect_ratio, start_image is not None, notes)

    merge_advanced(schema, input, advanced, managed=managed, notes=notes)
    return finish(schema, input, notes)


def _map_length(
    schema: InputSchema,
    input: dict[str, Any],
    seconds: float,
    advanced: Mapping[str, Any],
    notes: list[str],
) -> set[str]:
    if seconds <= 0:
        raise InputProblem(f"Video length must be more than 0 seconds (got {seconds:g}).")
    frames_spec = schema.first("num_frames", "frames", "video_length")
    duration_spec = schema.first("duration", "duration_seconds", "seconds", "length")
    if frames_spec is not None and frames_spec.is_numeric:
        fps = frames_per_second(schema, advanced)
        frames = frames_for_seconds(frames_spec, seconds, fps)
        input[frames_spec.name] = frames
        actual = frames / fps
        if abs(actual - seconds) > max(0.25, 0.05 * seconds):  # rounding to 4n+1 is no news
            notes.append(
                f"{seconds:g} s is {round(seconds * fps)} frames at {fps:g} fps; this model makes "
                f"{frames} frames ({actual:.1f} s)."
            )
        return {frames_spec.name}
    if duration_spec is not None and duration_spec.is_numeric:
        if duration_spec.choices:
            chosen = min(duration_spec.choices, key=lambda c: abs(float(c) - seconds))
        else:
            chosen = duration_spec.clamp(seconds)
            if duration_spec.type == "integer":
                chosen = duration_spec.clamp(round(seconds))
        input[duration_spec.name] = chosen
        if abs(float(chosen) - seconds) > 1e-9:
            notes.append(f"This model makes {chosen} s videos here; {seconds:g} s was adjusted.")
        return {duration_spec.name}
    if duration_spec is not None and duration_spec.choices:
        # e.g. durations offered as strings "5" / "10"
        numeric = [c for c in duration_spec.choices if _as_float(c) is not None]
        if numeric:
            chosen = min(numeric, key=lambda c: abs(float(_as_float(c) or 0) - seconds))
            input[duration_spec.name] = chosen
            if _as_float(chosen) != seconds:
                notes.append(f"This model offers {chosen} s; {seconds:g} s was adjusted.")
            return {duration_spec.name}
    notes.append("This model has no length input; it makes videos of its own fixed length.")
    return set()


def _as_float(value: Any) -> float | None:
    try:
        return float(str(value).rstrip("s"))
    except ValueError:
        return None


def _map_shape(
    schema: InputSchema,
    input: dict[str, Any],
    wanted: str,
    has_image: bool,
    notes: list[str],
) -> set[str]:
    target = parse_ratio(wanted)
    if target is None:
        notes.append(f"'{wanted}' is not an aspect ratio like 16:9; the model's default was used.")
        return set()
    ratio_spec = schema.get("aspect_ratio")
    if ratio_spec is not None:
        if ratio_spec.choices is None or wanted in ratio_spec.choices:
            input["aspect_ratio"] = wanted
            return {"aspect_ratio"}
        nearest = closest_ratio(target, ratio_spec.choices)
        if nearest is not None:
            input["aspect_ratio"] = nearest
            notes.append(
                f"This model has no {wanted}; used the closest ratio it offers, {nearest}."
            )
            return {"aspect_ratio"}
    resolution = schema.get("resolution") or schema.get("size")
    if resolution is not None and resolution.choices:
        sized = [c for c in resolution.choices if parse_size(c) is not None]
        if sized:
            chosen = _closest_size(target, sized, resolution.default)
            input[resolution.name] = chosen
            if abs(math.log((parse_ratio(chosen) or target) / target)) > 0.02:
                notes.append(f"This model has no {wanted} frame; used the closest size, {chosen}.")
            return {resolution.name}
    if has_image:
        notes.append("This model takes the frame shape from the start image.")
    else:
        notes.append("This model has no aspect-ratio input; its default frame shape was used.")
    return set()


def _closest_size(target: float, sizes: list[Any], default: Any) -> Any:
    """Nearest ratio, treating ratios within ~5% as equal; among those, the size closest in area
    to the model's default (so 9:16 on a 832*480 model is 480*832, not 720*1280)."""
    default_size = parse_size(default)
    default_area = default_size[0] * default_size[1] if default_size else None

    def ratio_distance(option: Any) -> float:
        width, height = parse_size(option) or (1, 1)
        return abs(math.log((width / height) / target))

    def area_distance(option: Any) -> float:
        width, height = parse_size(option) or (1, 1)
        return abs(math.log(width * height / default_area)) if default_area else 0.0

    best = min(ratio_distance(option) for option in sizes)
    near = [option for option in sizes if ratio_distance(option) <= best + 0.05]
    return min(near, key=lambda option: (area_distance(option), ratio_distance(option)))
