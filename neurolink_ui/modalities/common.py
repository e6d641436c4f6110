"""What every modality shares: the mapped input, the input problem, and schema-driven helpers."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from neurolink_ui.replicate.schema import InputField, InputSchema


@dataclass
class MappedInput:
    """A model input built for one schema, with notes on what was adapted or ignored."""

    input: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    # A field's value made from a person's file (a portrait made into a still video): that file,
    # which is what a kept result keeps and a Remix puts back.
    made_from: dict[str, list[Path]] = field(default_factory=dict)


class InputProblem(ValueError):
    """The person's input cannot be sent as it is; the message says what to change."""

    def __init__(
        self, message: str, *, field: str | None = None, title: str = "Invalid input"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.title = title  # the toast's heading, where one is shown (ui.common.user_errors)


def is_remote(value: Any) -> bool:
    """A URL the model fetches itself: nothing local to check or encode."""
    return isinstance(value, str) and value.startswith(("http://", "https://", "data:"))


# Input images are refused above this from their header, before decoding (a 420 KB PNG can
# hold 12000 × 12000 pixels: 432 MB decoded). Pillow itself refuses to open anything over twice
# this (DecompressionBombError), so no path decodes more, whoever calls it.
MAX_INPUT_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS


def refuse_oversized(picture: Image.Image, what: str, field: str) -> None:
    """InputProblem when an (opened, not decoded) image has more than MAX_INPUT_PIXELS."""
    pixels = picture.width * picture.height
    if pixels > MAX_INPUT_PIXELS:
        raise InputProblem(
            f"The {what} is {picture.width} × {picture.height} pixels "
            f"({pixels / 1e6:,.0f} megapixels); the limit is {MAX_INPUT_PIXELS / 1e6:.0f} "
            "megapixels. Scale it down and upload it again.",
            field=field,
        )


def _unreadable(what: str, field: str) -> InputProblem:
    return InputProblem(
        f"The {what} could not be read as an image; upload a PNG, JPEG or WebP file.",
        field=field,
    )


def too_many_pixels(what: str, field: str) -> InputProblem:
    return InputProblem(
        f"The {what} has more pixels than Pillow will decode; the limit is "
        f"{MAX_INPUT_PIXELS / 1e6:.0f} megapixels. Scale it down and upload it again.",
        field=field,
    )


def read_image_header(
    image: str | Path, what: str = "image", field: str | None = None
) -> Image.Image:
    """An image file opened lazily (its header only, nothing decoded), refused when it isn't an
    image or is larger than MAX_INPUT_PIXELS."""
    field = field or what
    try:
        picture = Image.open(Path(image))
    except Image.DecompressionBombError:
        raise too_many_pixels(what, field) from None
    except (UnidentifiedImageError, OSError, ValueError, TypeError) as exc:
        raise _unreadable(what, field) from exc
    refuse_oversized(picture, what, field)
    return picture


def open_image(image: Any, what: str = "portrait", field: str | None = None) -> Image.Image:
    """The image a person gave (path, bytes, PIL image or array), loaded; InputProblem if it
    isn't one or is too large, so a broken upload is refused before a prediction is paid for
    (and before a huge one is decoded)."""
    field = field or what
    try:
        if isinstance(image, Image.Image):
            picture = image
        elif isinstance(image, bytes | bytearray | memoryview):
            picture = Image.open(io.BytesIO(bytes(image)))
        elif isinstance(image, str | Path):
            picture = read_image_header(image, what, field)
        elif isinstance(image, np.ndarray):
            picture = Image.fromarray(image)
        else:
            raise InputProblem(
                f"The {what} must be an image file (got {type(image).__name__}).", field=field
            )
        refuse_oversized(picture, what, field)
        picture.load()
    except InputProblem:
        raise
    except Image.DecompressionBombError:
        raise too_many_pixels(what, field) from None
    except (UnidentifiedImageError, OSError, ValueError, TypeError) as exc:
        raise _unreadable(what, field) from exc
    if picture.width < 2 or picture.height < 2:
        raise InputProblem(f"The {what} is too small to use.", field=field)
    return picture


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def require_text(value: str | None, what: str) -> str:
    if is_blank(value):
        raise InputProblem(f"Enter a {what} first.", field="prompt")
    return str(value).strip()


def find_field(
    schema: InputSchema,
    names: Iterable[str],
    *,
    fallback_words: Iterable[str] = (),
    exclude_words: Iterable[str] = (),
    files_only: bool = True,
) -> InputField | None:
    """The model's own field for an idea: the first of `names` it has, else the first file field
    whose name contains one of `fallback_words` (and none of `exclude_words`)."""
    for name in names:
        found = schema.get(name)
        if found is not None and (found.is_file or not files_only):
            return found
    excluded = tuple(exclude_words)
    for candidate in schema.fields:
        if files_only and not candidate.is_file:
            continue
        if any(word in candidate.name for word in excluded):
            continue
        if any(word in candidate.name for word in fallback_words):
            return candidate
    return None


def set_checked(schema: InputSchema, input: dict[str, Any], name: str, value: Any) -> None:
    """Set an explicit value the person chose, refusing one the model would reject."""
    spec = schema.get(name)
    if spec is None:
        raise InputProblem(f"This model has no '{name}' input.", field=name)
    coerced = schema.coerce({name: value}).get(name, value)
    problem = schema.check(name, coerced)
    if problem:
        raise InputProblem(_sentence(problem), field=name)
    input[name] = coerced


def merge_advanced(
    schema: InputSchema,
    input: dict[str, Any],
    advanced: Mapping[str, Any] | None,
    *,
    managed: Iterable[str] = (),
    notes: list[str],
) -> dict[str, Any]:
    """Copy the Advanced section's values in; fields the panel sets keep the panel's value."""
    managed_names = set(managed)
    for name, value in (advanced or {}).items():
        if value is None:
            continue
        if not schema.has(name):
            known = ", ".join(schema.names) or "(none)"
            raise InputProblem(
                f"'{name}' is not an input of this model (it takes: {known}).", field=name
            )
        if name in managed_names and name in input:
            if input[name] != value:
                notes.append(
                    f"{name} comes from the main controls; the Advanced value was ignored."
                )
            continue
        input[name] = value
    return input


def finish(schema: InputSchema, input: dict[str, Any], notes: list[str]) -> MappedInput:
    """Coerce, then refuse anything the model would answer 422 to."""
    coerced = schema.coerce(input)
    problems = schema.validate(coerced)
    if problems:
        first_field = next((name for name in schema.names if name in problems[0]), None)
        raise InputProblem("; ".join(_sentence(p) for p in problems), field=first_field)
    return MappedInput(coerced, notes)


def _sentence(problem: str) -> str:
    # Field names stay as the model spells them (`top_p`), so no capitalising.
    return problem if problem.endswith(".") else problem + "."


# ---- ratios ----------------------------------------------------------------------------------

_RATIO_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[:x*×]\s*(\d+(?:\.\d+)?)")
# Shapes some models name instead of a ratio (Sora 2: portrait 720×1280, landscape 1280×720).
NAMED_RATIOS = {"portrait": 9 / 16, "landscape": 16 / 9, "square": 1.0}


def parse_ratio(text: Any) -> float | None:
    """`16:9` → 1.777…; `832*480` or `1024x768` → width / height; `portrait` → 9:16, `landscape`
    → 16:9, `square` → 1:1; anything else → None."""
    if not isinstance(text, str):
        return None
    named = NAMED_RATIOS.get(text.strip().lower())
    if named is not None:
        return named
    match = _RATIO_RE.match(text)
    if not match:
        return None
    width, height = float(match[1]), float(match[2])
    if width <= 0 or height <= 0:
        return None
    return width / height


def parse_size(text: Any) -> tuple[int, int] | None:
    if not isinstance(text, str):
        return None
    match = _RATIO_RE.match(text)
    if not match or ":" in text:
        return None
    return int(float(match[1])), int(float(match[2]))


def closest_ratio(target: float, options: Iterable[Any]) -> Any | None:
    """The option whose ratio is nearest `target` on a log scale (2:1 and 1:2 equally far)."""
    best, best_distance = None, math.inf
    for option in options:
        ratio = parse_ratio(option)
        if ratio is None:
            continue
        distance = abs(math.log(ratio / target))
        if distance < best_distance - 1e-9:
            best, best_distance = option, distance
    return best


def multiple_from_description(spec: InputField | None, fallback: int) -> int:
    """`… must be a multiple of 32` in a field description wins over the fallback."""
    if spec is None:
        return fallback
    match = re.search(r"multiples?\s+of\s+(\d+)", spec.description, re.IGNORECASE)
    return int(match[1]) if match else fallback


# ---- image inputs ----------------------------------------------------------------------------

# Words that say a field holds a picture; a field whose name has one is an image input candidate.
IMAGE_WORDS = ("image", "photo", "picture", "frame", "portrait", "face")
# Words in a file field's name that say it holds something else (`face_video`, `input_audio`).
NOT_IMAGE_WORDS = frozenset({"video", "videos", "audio", "voice", "speech", "song", "music"})


def takes_files(spec: InputField) -> bool:
    """A single file (`format: uri`) or a list of them: the schema's own sign of a file input."""
    return spec.is_file or (spec.type == "array" and spec.item_type == "file")


def _name_words(name: str) -> set[str]:
    return set(name.lower().replace("-", "_").split("_"))


def deprecated(spec: InputField) -> bool:
    """A field its own description retires ("Deprecated: Use start_image instead")."""
    return bool(re.match(r"\s*\(?deprecated\b", spec.description, re.IGNORECASE))


def find_image_input(
    schema: InputSchema,
    names: Sequence[str],
    *,
    exclude_words: Iterable[str] = (),
    usable: Callable[[InputField], bool] = lambda spec: True,
) -> InputField | None:
    """`_find_image_input`, preferring fields the schema does not call deprecated (Kling 2.5's
    old `image` beside its `start_image`)."""
    current = _find_image_input(
        schema,
        names,
        exclude_words=exclude_words,
        usable=lambda spec: usable(spec) and not deprecated(spec),
    )
    return current or _find_image_input(schema, names, exclude_words=exclude_words, usable=usable)


def _find_image_input(
    schema: InputSchema,
    names: Sequence[str],
    *,
    exclude_words: Iterable[str] = (),
    usable: Callable[[InputField], bool] = lambda spec: True,
) -> InputField | None:
    """The field a person's image goes into, single or list, decided from the schema alone.

    Candidates are file fields and lists of files (`format: uri`) that `usable` accepts, never one
    whose name has a word of another medium (`video`, `audio`, …). In this order:
    1. the first of `names` the schema has (the names models use for this role; Sora's first
       frame is `input_reference`, so a listed name wins over the excluded words);
    then, among fields whose name has no excluded word (`mask`, `last`, `reference`, …):
    2. the first, in x-order, whose name has an image word (`image`, `frame`, `face`, …);
    3. the first whose description speaks of an image or photo.
    A field typed as plain text never counts, whatever its name: a local image could not be sent
    to it (the person is told the model has no image input instead).
    """
    excluded = NOT_IMAGE_WORDS | set(exclude_words)

    def allowed(spec: InputField) -> bool:
        return not (_name_words(spec.name) & excluded) and usable(spec)

    for name in names:  # a name the role lists is that role's, whatever words it holds
        found = schema.get(name)
        if (
            found is not None
            and takes_files(found)
            and not (_name_words(name) & NOT_IMAGE_WORDS)
            and usable(found)
        ):
            return found
    files = [spec for spec in schema.fields if takes_files(spec) and allowed(spec)]
    for spec in files:
        if any(word in spec.name.lower() for word in IMAGE_WORDS):
            return spec
    for spec in files:
        if re.search(r"\b(image|photo|picture)s?\b", spec.description, re.IGNORECASE):
            return spec
    return None


def image_value(spec: InputField, image: Any) -> Any:
    """The image as this field takes it: itself, or a one-item list for a list field."""
    return [image] if spec.type == "array" else image


# ---- lengths ---------------------------------------------------------------------------------


def as_seconds(value: Any) -> float | None:
    """An enum's duration choice as seconds: `5`, `5.0`, `"5"` or `"5s"`; None if not a length."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*s?\s*", str(value))
    return float(match[1]) if match else None


def fit_duration(spec: InputField, seconds: float, *, cover: bool) -> tuple[Any, str | None]:
    """The value of a duration field for `seconds`, and a note when it is not exactly that.

    Enum durations: with `cover` (a narration must not be cut) the shortest choice that is at
    least `seconds`, else the longest; without it the nearest, a tie going to the longer. Bounded
    numbers are clamped (whole seconds for integer fields, rounded up with `cover`)."""
    if spec.choices:
        options = [(as_seconds(c), c) for c in spec.choices]
        lengths = sorted((s, c) for s, c in options if s is not None)
        if lengths:
            if cover:
                covering = [pair for pair in lengths if pair[0] >= seconds - 1e-9]
                length, chosen = covering[0] if covering else lengths[-1]
            else:
                length, chosen = min(lengths, key=lambda pair: (abs(pair[0] - seconds), -pair[0]))
            if abs(length - seconds) < 1e-9:
                return chosen, None
            offered = ", ".join(f"{s:g}" for s, _ in lengths)
            why = (
                f"{seconds:.1f} s would be cut at {length:g} s"
                if cover and length < seconds
                else f"{seconds:g} s became {length:g} s"
            )
            return chosen, f"This model makes {offered} s only; {why}."
    value = math.ceil(seconds - 1e-9) if cover and spec.type == "integer" else seconds
    bounded = spec.clamp(value)
    if abs(float(bounded) - seconds) < 0.5 and not (cover and float(bounded) < seconds):
        return bounded, None  # rounding to whole seconds is no news
    if spec.in_range(value):
        return bounded, f"This model takes whole seconds; {seconds:g} s became {bounded:g} s."
    return bounded, (
        f"This model's length must be {spec.range_text()} s; {seconds:g} s became {bounded:g} s."
    )
