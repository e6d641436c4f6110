"""Video: prompt, optional start and last frames, length and shape, mapped onto the selected
model's fields.

Models disagree on everything here: the start image's name, whether length is frames or seconds,
and whether shape is an aspect ratio (`16:9`, or Sora's `portrait`/`landscape`), a `W*H` size or a
`480p` tier. Each is read from the schema, and so are the rules between fields a schema can only
state in words ("10 seconds is only available for 768p resolution").
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
    find_image_input,
    finish,
    fit_duration,
    image_value,
    is_blank,
    is_remote,
    merge_advanced,
    open_image,
    parse_ratio,
    parse_size,
    takes_files,
)

START_IMAGE_NAMES = (
    "image",
    "first_frame_image",
    "start_image",
    "first_frame",
    "input_image",
    "init_image",
    "image_url",
    "image_input",
    "images",
    "input_reference",  # Sora 2: "An optional image to use as the first frame of the video"
)
# The frame a video ends on (Hailuo 02, Seedance 2.0: `last_frame_image`; Wan 2.2: `last_image`;
# Kling 2.1: `end_image`; Veo 3.1: `last_frame`).
LAST_FRAME_NAMES = (
    "last_frame_image",
    "last_image",
    "end_image",
    "last_frame",
    "end_frame",
    "tail_image",
)
LAST_FRAME_WORDS = frozenset({"last", "end", "tail", "final"})
# Image inputs that are not the first frame: end frames, masks, subject references.
NOT_START_WORDS = ("last", "end", "tail", "mask", "reference", "subject", "style")
REFERENCE_NAMES = ("reference_images", "reference_image")
FPS_NAMES = ("fps", "frames_per_second", "frame_rate")
FRAME_COUNT_NAMES = ("num_frames", "frames", "video_length")
DURATION_NAMES = ("duration", "duration_seconds", "seconds", "length")
DEFAULT_FPS = 16.0


def start_image_field(schema: InputSchema) -> InputField | None:
    """The first-frame input (single or list), decided from the schema."""
    return find_image_input(schema, START_IMAGE_NAMES, exclude_words=NOT_START_WORDS)


def reference_image_field(schema: InputSchema) -> InputField | None:
    """A subject-reference input, used for the image only when the model has no first frame."""
    return find_image_input(schema, REFERENCE_NAMES, exclude_words=("last", "end", "mask"))


def image_target(schema: InputSchema) -> InputField | None:
    return start_image_field(schema) or reference_image_field(schema)


def last_frame_field(schema: InputSchema) -> InputField | None:
    """The input for the frame the video ends on, if the model has one: a listed name, else a
    file field named for an end (`last`, `end`, `tail`) and a frame or image."""
    for name in LAST_FRAME_NAMES:
        spec = schema.get(name)
        if spec is not None and takes_files(spec):
            return spec
    for spec in schema.fields:
        words = set(spec.name.lower().split("_"))
        if takes_files(spec) and words & LAST_FRAME_WORDS and words & {"frame", "image"}:
            return spec
    return None


def takes_last_frame(schema: InputSchema) -> bool:
    return last_frame_field(schema) is not None


def takes_start_image(schema: InputSchema) -> bool:
    return start_image_field(schema) is not None


def needs_start_image(schema: InputSchema) -> bool:
    spec = start_image_field(schema)
    return spec is not None and spec.required


def length_field(schema: InputSchema) -> InputField | None:
    """The numeric frame count, else the duration (numbers or text like "5"), if any."""
    frames = schema.first(*FRAME_COUNT_NAMES)
    if frames is not None and frames.is_numeric:
        return frames
    duration = schema.first(*DURATION_NAMES)
    if duration is not None and (duration.is_numeric or duration.choices):
        return duration
    return None


def shape_field(schema: InputSchema) -> InputField | None:
    """`aspect_ratio`, else a `resolution`/`size` enum of W*H sizes."""
    ratio = schema.get("aspect_ratio")
    if ratio is not None:
        return ratio
    resolution = schema.get("resolution") or schema.get("size")
    if resolution is not None and any(parse_size(c) for c in resolution.choices or ()):
        return resolution
    return None


def filled_fields(schema: InputSchema) -> frozenset[str]:
    """The fields the Video panel fills: prompt, start and last frames, length and frame shape."""
    names = {"prompt"}
    specs = (
        image_target(schema),
        last_frame_field(schema),
        length_field(schema),
        shape_field(schema),
    )
    for spec in specs:
        if spec is not None:
            names.add(spec.name)
    return frozenset(name for name in names if schema.has(name))


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
    last_frame: Any = None,
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
        target = image_spec or reference_image_field(schema)
        if target is None:
            notes.append("⚠️ This model makes video from text only; your start image was NOT sent.")
        else:
            input[target.name] = image_value(target, start_image)
            if image_spec is None:
                notes.append(
                    f"This model takes no first frame; the image went to '{target.name}' as "
                    "a subject reference."
                )
    elif image_spec is not None and image_spec.required:
        raise InputProblem(
            "This model animates a still image: add a start image "
            f"(it goes to '{image_spec.name}').",
            field=image_spec.name,
        )

    if last_frame is not None:
        _map_last_frame(schema, input, last_frame, start_image is not None, notes)
    if length_seconds is not None:
        _map_length(schema, input, float(length_seconds), advanced, notes)
    if aspect_ratio:
        shape = _shape_of_start_image(schema, image_spec, start_image, aspect_ratio, notes)
        _map_shape(schema, input, shape, start_image is not None, notes)

    merge_advanced(schema, input, advanced, managed=filled_fields(schema), notes=notes)
    _fit_resolution_to_length(schema, input, advanced, notes)
    return finish(schema, input, notes)


def _map_last_frame(
    schema: InputSchema, input: dict[str, Any], last_frame: Any, has_start: bool, notes: list[str]
) -> None:
    spec = last_frame_field(schema)
    if spec is None:
        notes.append("⚠️ This model takes no last frame; your last frame was NOT sent.")
        return
    if not is_remote(last_frame):
        open_image(last_frame, "last frame", spec.name)  # refused before a prediction is paid
    input[spec.name] = image_value(spec, last_frame)
    if not has_start and re.search(r"only works if a first frame", spec.description, re.I):
        notes.append(
            "This model uses a last frame only together with a start frame; add a start frame "
            "or it may be ignored."
        )


# "10 seconds is only available for 768p resolution." (Hailuo 02 and 2.3's duration field)
_ONLY_AT = re.compile(
    r"(\d+(?:\.\d+)?)[\s-]*(?:seconds?|s)\b[^.]*?\bonly (?:available|supported|possible) "
    r"(?:for|at|with|in) (?:the )?([\w.]+)",
    re.IGNORECASE,
)


def _fit_resolution_to_length(
    schema: InputSchema,
    input: dict[str, Any],
    advanced: Mapping[str, Any],
    notes: list[str],
) -> None:
    """A length the schema says is offered only at one resolution gets that resolution: a
    Hailuo 02 10 s clip is 768p (its default 1080p makes 6 s only, and would fail at Replicate).
    A resolution the person chose in Advanced that cannot make that length is refused."""
    length, resolution = length_field(schema), schema.get("resolution")
    if length is None or resolution is None or not resolution.choices:
        return
    seconds = input.get(length.name, length.default if length.has_default else None)
    current = input.get(resolution.name, resolution.default if resolution.has_default else None)
    for text in (length.description, resolution.description):
        for match in _ONLY_AT.finditer(text):
            only_seconds, only_at = float(match[1]), match[2]
            if only_at not in resolution.choices or not isinstance(seconds, int | float):
                continue
            if abs(float(seconds) - only_seconds) > 1e-9 or current == only_at:
                continue
            if resolution.name in advanced:
                raise InputProblem(
                    f"This model makes {only_seconds:g} s videos only at {only_at}, not at "
                    f"{current}: pick {only_at} in Advanced → resolution, or a shorter length.",
                    field=resolution.name,
                )
            input[resolution.name] = only_at
            notes.append(
                f"{only_seconds:g} s videos are {only_at} on this model (its {current} makes "
                f"shorter clips only), so {only_at} was sent."
            )
            return


def _shape_of_start_image(
    schema: InputSchema,
    image_spec: InputField | None,
    start_image: Any,
    wanted: str,
    notes: list[str],
) -> str:
    """The shape to ask for: the panel's, unless the model says its start image must have the
    video's own aspect ratio (Sora 2), when the choice nearest the image's shape is used."""
    ratio_spec = schema.get("aspect_ratio")
    if (
        start_image is None
        or image_spec is None
        or ratio_spec is None
        or not ratio_spec.choices
        or is_remote(start_image)
        or not re.search(r"same aspect ratio as the video", image_spec.description, re.I)
    ):
        return wanted
    try:
        picture = open_image(start_image, "start frame", image_spec.name)
    except InputProblem:
        return wanted
    nearest = closest_ratio(picture.width / picture.height, ratio_spec.choices)
    panel = (
        closest_ratio(parse_ratio(wanted) or 0.0, ratio_spec.choices)
        if parse_ratio(wanted)
        else None
    )
    if nearest is None or nearest == panel:
        return wanted
    notes.append(
        f"This model needs the start frame's shape ({picture.width}×{picture.height}) to be the "
        f"video's, so {nearest} was used instead of {wanted}."
    )
    return str(nearest)


def _map_length(
    schema: InputSchema,
    input: dict[str, Any],
    seconds: float,
    advanced: Mapping[str, Any],
    notes: list[str],
) -> None:
    if seconds <= 0:
        raise InputProblem(f"Video length must be more than 0 seconds (got {seconds:g}).")
    spec = length_field(schema)
    if spec is None:
        notes.append("This model has no length input; it makes videos of its own fixed length.")
    elif spec.name in FRAME_COUNT_NAMES:
        fps = frames_per_second(schema, advanced)
        frames = frames_for_seconds(spec, seconds, fps)
        input[spec.name] = frames
        actual = frames / fps
        if abs(actual - seconds) > max(0.25, 0.05 * seconds):  # rounding to 4n+1 is no news
            notes.append(
                f"{seconds:g} s is {round(seconds * fps)} frames at {fps:g} fps; this model makes "
                f"{frames} frames ({actual:.1f} s)."
            )
    else:
        chosen, note = fit_duration(spec, seconds, cover=False)
        input[spec.name] = chosen
        if note:
            notes.append(note)


def _map_shape(
    schema: InputSchema,
    input: dict[str, Any],
    wanted: str,
    has_image: bool,
    notes: list[str],
) -> None:
    target = parse_ratio(wanted)
    if target is None:
        notes.append(f"'{wanted}' is not an aspect ratio like 16:9; the model's default was used.")
        return
    ratio_spec = schema.get("aspect_ratio")
    if ratio_spec is not None:
        if ratio_spec.choices is None or wanted in ratio_spec.choices:
            input["aspect_ratio"] = wanted
            return
        nearest = closest_ratio(target, ratio_spec.choices)
        if nearest is not None:
            input["aspect_ratio"] = nearest
            notes.append(
                f"This model has no {wanted}; used the closest ratio it offers, {nearest}."
            )
            return
    resolution = schema.get("resolution") or schema.get("size")
    if resolution is not None and resolution.choices:
        sized = [c for c in resolution.choices if parse_size(c) is not None]
        if sized:
            chosen = _closest_size(target, sized, resolution.default)
            input[resolution.name] = chosen
            if abs(math.log((parse_ratio(chosen) or target) / target)) > 0.02:
                notes.append(f"This model has no {wanted} frame; used the closest size, {chosen}.")
            return
    if has_image:
        notes.append("This model takes the frame shape from the start image.")
    else:
        notes.append("This model has no aspect-ratio input; its default frame shape was used.")


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
