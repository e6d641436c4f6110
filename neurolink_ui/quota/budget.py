"""A run's worst-case cost, for the guarded demo's dollar budget (`NEUROLINK_DAILY_BUDGET_USD`).

The worst case is the model's price applied to the most the run's input allows (`RunBounds`): the
number of images it asks for, the seconds of video or audio (or frames at the frame rate), the
megapixels, its text in (one token per UTF-8 byte at most: no tokenizer makes more) and its token
limit out, and for hardware-billed models the run's deadline (`Cancel-After`) × the hardware's
price per second. It is computed on the input as the cost clamp left it, so the caps bound it too.
No Gradio here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..catalog.prices import Hardware, Rate
from ..costs import CostEstimate, RunUsage, estimate_cost
from ..modalities.video import frames_per_second
from ..replicate.schema import InputSchema
from .clamp import _number, _side, _texts, driver


@dataclass(frozen=True)
class RunBounds:
    """The most one run can make or use (None: its input does not bound it)."""

    images: int = 1
    megapixels: float | None = None  # of each image
    output_seconds: float | None = None
    input_tokens: int = 0
    output_tokens: int | None = None
    seconds: float | None = None  # the longest it may run (its deadline)
    input: Mapping[str, Any] = field(default_factory=dict)


def _value(spec: Any, model_input: Mapping[str, Any]) -> Any:
    value = model_input.get(spec.name)
    return spec.default if value is None else value


def text_bytes(schema: InputSchema, model_input: Mapping[str, Any]) -> int:
    """UTF-8 bytes of the text a model reads (files and their URLs aside)."""
    total = 0
    for name, value in model_input.items():
        spec = schema.get(name)
        if spec is not None and (spec.is_file or spec.format == "uri" or spec.item_type == "file"):
            continue
        total += sum(len(text.encode("utf-8")) for text in _texts(value))
    return total


def _megapixels(schema: InputSchema, model_input: Mapping[str, Any]) -> float | None:
    """Megapixels of one image as the input asks: a `megapixels` choice, `width` × `height`, or
    a resolution choice ("1K", "1080p") as its square; None when the input says nothing."""
    spec = schema.get("megapixels")
    if spec is not None:
        chosen = _number(_value(spec, model_input))
        if chosen is not None and chosen > 0:
            return chosen
    width, height = schema.get("width"), schema.get("height")
    if width is not None and height is not None:
        w, h = _number(_value(width, model_input)), _number(_value(height, model_input))
        if w and h:
            return w * h / 1_000_000
    for spec in schema:
        if driver(spec) == "side_choice":
            side = _side(_value(spec, model_input))
            if side:
                return side * side / 1_000_000
    return None


def run_bounds(
    schema: InputSchema, model_input: Mapping[str, Any], seconds: float | None = None
) -> RunBounds:
    """What the input allows at most, read from the fields the cost clamp knows (by name and by
    description): counts of images, token limits, seconds, frames."""
    images: int | None = None
    output_tokens: int | None = None
    output_seconds: float | None = None
    fps = frames_per_second(schema, dict(model_input))
    for spec in schema:
        kind = driver(spec)
        if kind is None:
            continue
        number = _number(_value(spec, model_input))
        if number is None or number < 0:
            continue
        if kind == "count":
            images = max(images or 0, math.ceil(number))
        elif kind == "tokens" and number > 0:
            output_tokens = max(output_tokens or 0, math.ceil(number))
        elif kind == "seconds":
            output_seconds = max(output_seconds or 0.0, number)
        elif kind == "frames" and fps:
            output_seconds = max(output_seconds or 0.0, number / fps)
    return RunBounds(
        images=max(images if images is not None else 1, 1),
        megapixels=_megapixels(schema, model_input),
        output_seconds=output_seconds,
        input_tokens=text_bytes(schema, model_input),
        output_tokens=output_tokens,
        seconds=seconds,
        input=dict(model_input),
    )


def worst_case(
    rate: Rate, bounds: RunBounds, hardware: Mapping[str, Hardware] | None = None
) -> CostEstimate:
    """The cost of the largest run `bounds` allow, at `rate` (unknown when a bound it needs is
    missing: a per-second price without a length, a token price without a token limit)."""
    usage = RunUsage(
        images=bounds.images,
        megapixels=None if bounds.megapixels is None else bounds.megapixels * bounds.images,
        output_seconds=bounds.output_seconds,
        input_tokens=bounds.input_tokens,
        output_tokens=bounds.output_tokens,
        predict_time=bounds.seconds,
        input=bounds.input,
    )
    found = estimate_cost(rate, usage, hardware)
    if found.usd is None:
        return found
    return CostEstimate(found.usd, f"at most {found.basis}")
