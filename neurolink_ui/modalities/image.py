"""Image: a prompt, a shape and an optional start image, mapped onto the selected model's fields."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from neurolink_ui.replicate.schema import InputField, InputSchema

from .common import (
    MappedInput,
    closest_ratio,
    find_field,
    finish,
    merge_advanced,
    multiple_from_description,
    parse_ratio,
    require_text,
    set_checked,
)

ASPECT_RATIOS: list[str] = [
    "1:1",
    "16:9",
    "9:16",
    "4:3",
    "3:4",
    "3:2",
    "2:3",
    "5:4",
    "4:5",
    "21:9",
    "9:21",
]

# Names models give their start/reference image, most specific first.
IMAGE_FIELD_NAMES = (
    "image",
    "input_image",
    "image_prompt",
    "init_image",
    "image_input",
    "start_image",
)
NOT_START_IMAGE_WORDS = ("mask", "style_reference", "control")
COUNT_FIELD_NAMES = ("num_outputs", "num_images", "number_of_images")
DEFAULT_SIDE = 1024
DEFAULT_MULTIPLE = 8  # latent diffusion works in 8-pixel blocks; descriptions may ask for 16 or 32


def inpaint_only(spec: InputField) -> bool:
    """An image input that only works with a mask (Ideogram's `image`): not a start image."""
    text = spec.description.lower()
    if re.search(r"must also (use|provide|give) a mask", text):
        return True
    return "inpaint" in text and not re.search(r"img2img|image[ -]to[ -]image", text)


def image_field(schema: InputSchema) -> InputField | None:
    """The model's start/reference image input, if it has one usable without a mask."""
    found = find_field(
        schema,
        IMAGE_FIELD_NAMES,
        fallback_words=("image",),
        exclude_words=NOT_START_IMAGE_WORDS,
    )
    return None if found is None or inpaint_only(found) else found


def size_for_ratio(
    ratio: float, width_field: InputField | None, height_field: InputField | None
) -> tuple[int, int]:
    """Width and height with the model's default area, its bounds, and its pixel multiple."""
    default_w = _int_or(width_field.default if width_field else None, DEFAULT_SIDE)
    default_h = _int_or(height_field.default if height_field else None, DEFAULT_SIDE)
    area = default_w * default_h
    width, height = math.sqrt(area * ratio), math.sqrt(area / ratio)
    multiple = max(
        multiple_from_description(width_field, DEFAULT_MULTIPLE),
        multiple_from_description(height_field, DEFAULT_MULTIPLE),
    )
    # Shrink (never stretch) to keep the ratio within the maxima, then respect the minima.
    scale = 1.0
    for side, spec in ((width, width_field), (height, height_field)):
        if spec is not None and spec.maximum is not None and side > spec.maximum:
            scale = min(scale, spec.maximum / side)
    width, height = width * scale, height * scale
    return (
        _fit(width, width_field, multiple),
        _fit(height, height_field, multiple),
    )


def _int_or(value: Any, fallback: int) -> int:
    return (
        int(value) if isinstance(value, int | float) and not isinstance(value, bool) else fallback
    )


def _fit(side: float, spec: InputField | None, multiple: int) -> int:
    low = spec.minimum if spec is not None and spec.minimum is not None else multiple
    high = spec.maximum if spec is not None and spec.maximum is not None else math.inf
    value = round(side / multiple) * multiple
    while value > high:
        value -= multiple
    while value < low:
        value += multiple
    return int(value)


def build_image_input(
    schema: InputSchema,
    *,
    prompt: str,
    aspect_ratio: str | None = None,
    seed: int | None = None,
    num_outputs: int | None = None,
    image: Any = None,
    advanced: Mapping[str, Any] | None = None,
) -> MappedInput:
    notes: list[str] = []
    input: dict[str, Any] = {"prompt": require_text(prompt, "prompt")}
    advanced = dict(advanced or {})

    if aspect_ratio:
        _map_aspect(schema, input, aspect_ratio, notes)

    if seed is not None:
        if schema.has("seed"):
            set_checked(schema, input, "seed", seed)
        else:
            notes.append("This model takes no seed; results will vary between runs.")

    if num_outputs is not None:
        count_field = schema.first(*COUNT_FIELD_NAMES)
        if count_field is not None:
            set_checked(schema, input, count_field.name, num_outputs)
        elif num_outputs != 1:
            notes.append("This model makes one image per run; the image count was not sent.")

    if image is not None:
        target = image_field(schema)
        if target is None and schema.has("mask"):
            notes.append(
                "This model takes an image only for inpainting with a mask; "
                "the start image was not sent."
            )
        elif target is None:
            notes.append("This model has no image input; the start image was not sent.")
        else:
            input[target.name] = image

    fmt = schema.get("output_format")
    if (
        fmt is not None
        and "output_format" not in advanced
        and (fmt.choices is None or "png" in fmt.choices)
    ):
        input["output_format"] = "png"  # lossless downloads

    managed = {"prompt", "aspect_ratio", "width", "height", "seed", *COUNT_FIELD_NAMES}
    merge_advanced(schema, input, advanced, managed=managed, notes=notes)
    return finish(schema, input, notes)


def _map_aspect(schema: InputSchema, input: dict[str, Any], wanted: str, notes: list[str]) -> None:
    target = parse_ratio(wanted)
    if target is None:
        notes.append(f"'{wanted}' is not an aspect ratio like 16:9; the model's default was used.")
        return
    ratio_field = schema.get("aspect_ratio")
    width_field, height_field = schema.get("width"), schema.get("height")
    has_size = width_field is not None and height_field is not None
    if ratio_field is not None:
        choices = ratio_field.choices
        if choices is None or wanted in choices:
            input["aspect_ratio"] = wanted
            return
        if "custom" in choices and has_size:
            input["aspect_ratio"] = "custom"
            input["width"], input["height"] = size_for_ratio(target, width_field, height_field)
            notes.append(
                f"{wanted} is not a preset of this model; sent as a custom "
                f"{input['width']}×{input['height']} size."
            )
            return
        nearest = closest_ratio(target, choices)
        if nearest is not None:
            input["aspect_ratio"] = nearest
            notes.append(
                f"This model has no {wanted}; used the closest ratio it offers, {nearest}."
            )
            return
    if has_size:
        input["width"], input["height"] = size_for_ratio(target, width_field, height_field)
        return
    notes.append("This model has no aspect-ratio or size input; its default shape was used.")
