"""Image: a prompt, a shape and an optional start image, mapped onto the selected model's fields."""

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
    image_value,
    is_remote,
    merge_advanced,
    multiple_from_description,
    open_image,
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

# Names models give the image they edit or take as reference, most usual first; single fields and
# lists alike (`image_input[]`, `input_images[]`, `images[]`, `reference_images[]`).
IMAGE_FIELD_NAMES = (
    "image",
    "input_image",
    "image_input",
    "input_images",
    "images",
    "image_prompt",
    "init_image",
    "start_image",
    "reference_images",
    "reference_image",
)
# Image inputs that are not the picture to start from or edit.
NOT_START_IMAGE_WORDS = ("mask", "style", "control", "last", "end", "tail")
COUNT_FIELD_NAMES = ("num_outputs", "num_images", "number_of_images")
# The Image panel's "as the input image" choice: no ratio picked.
AUTO_RATIO = "auto"
MATCH_INPUT_IMAGE = "match_input_image"  # edit models' own "same shape as the input" choice
DEFAULT_SIDE = 1024
DEFAULT_MULTIPLE = 8  # latent diffusion works in 8-pixel blocks; descriptions may ask for 16 or 32


def inpaint_only(spec: InputField) -> bool:
    """An image input that only works with a mask (Ideogram's `image`): not a start image."""
    text = spec.description.lower()
    if re.search(r"must also (use|provide|give) a mask", text):
        return True
    return "inpaint" in text and not re.search(r"img2img|image[ -]to[ -]image", text)


def image_field(schema: InputSchema) -> InputField | None:
    """The model's start/reference image input (single or list), if usable without a mask."""
    return find_image_input(
        schema,
        IMAGE_FIELD_NAMES,
        exclude_words=NOT_START_IMAGE_WORDS,
        usable=lambda spec: not inpaint_only(spec),
    )


def panel_defaults(schema: InputSchema) -> dict[str, Any]:
    """Values this panel sends where the model's own default differs, unless the Advanced form
    sets them: PNG where the model offers it (lossless downloads). The Advanced form shows these
    as its defaults, so what it shows is what is sent."""
    fmt = schema.get("output_format")
    if fmt is not None and (fmt.choices is None or "png" in fmt.choices):
        return {"output_format": "png"}
    return {}


def filled_fields(schema: InputSchema) -> frozenset[str]:
    """The fields of this schema the Image panel's own controls fill (the Advanced form shows
    the rest): prompt, shape, seed, image count and the input image."""
    names = {"prompt", "seed"}
    ratio = schema.get("aspect_ratio")
    if ratio is not None:
        names.add("aspect_ratio")
    if ratio is None or ratio.choices is None or "custom" in ratio.choices:
        names |= {"width", "height"}  # a custom or ratio-less shape is sent as a size
    count = schema.first(*COUNT_FIELD_NAMES)
    if count is not None:
        names.add(count.name)
    target = image_field(schema)
    if target is not None:
        names.add(target.name)
    return frozenset(name for name in names if schema.has(name))


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
    target = image_field(schema) if image is not None else None

    picked = aspect_ratio if aspect_ratio and aspect_ratio != AUTO_RATIO else None
    if picked:
        _map_aspect(schema, input, picked, notes)
    elif target is not None:
        _match_input_shape(schema, input, image, notes)

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
        if target is not None:
            input[target.name] = image_value(target, image)
        elif any(inpaint_only(spec) for spec in schema.file_fields()):
            notes.append(
                "⚠️ This model takes an image only for inpainting with a mask; "
                "your input image was NOT sent (the result is text-to-image)."
            )
        else:
            notes.append(
                "⚠️ This model has no image input; your input image was NOT sent "
                "(the result is text-to-image). Pick an image-editing model to use it."
            )

    for name, value in panel_defaults(schema).items():
        if name not in advanced:
            input[name] = value

    merge_advanced(schema, input, advanced, managed=filled_fields(schema), notes=notes)
    return finish(schema, input, notes)


def _image_ratio(image: Any) -> tuple[int, int] | None:
    """Width and height of a local image; None for a URL or unreadable data."""
    if is_remote(image):
        return None
    try:
        picture = open_image(image, "input image")
    except InputProblem:
        return None
    return picture.width, picture.height


def _match_input_shape(
    schema: InputSchema, input: dict[str, Any], image: Any, notes: list[str]
) -> None:
    """No ratio picked and an image given: the output takes the input's shape — by the model's
    own `match_input_image` where it has one, else by the preset or size closest to the image."""
    ratio_field = schema.get("aspect_ratio")
    if ratio_field is not None and ratio_field.choices and MATCH_INPUT_IMAGE in ratio_field.choices:
        input["aspect_ratio"] = MATCH_INPUT_IMAGE
        return
    size = _image_ratio(image)
    if size is None:
        return
    width, height = size
    common = math.gcd(width, height)
    _map_aspect(schema, input, f"{width // common}:{height // common}", [])
    chosen = input.get("aspect_ratio")
    if chosen == "custom" or (chosen is None and "width" in input):
        chosen = f"{input['width']}×{input['height']}"
    if chosen is not None:
        notes.append(f"Shape taken from the input image ({width}×{height}): {chosen}.")


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
