"""Image-to-image models with no prompt (upscalers, restorers): the input image, transformed.

Read from the schema, never the model name: the first file input that holds an image, a scale
factor from `scale`/`upscale`/`upscale_factor`/`outscale` (else the field's schema default, else
2), `output_format` when the schema has one. The output is the input resized by that factor with
Lanczos and sharpened (a real, larger image), capped at MAX_UPSCALE_SIDE on its long side.
"""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageFilter

from .. import media
from .common import FileResolver, Generation, ModelView, OutputFile, resolve_image, single_output

SCALE_FIELDS = ("scale", "upscale", "upscale_factor", "outscale")
MAX_UPSCALE_SIDE = 2048  # bounded work and memory on a shared machine


def _image_field(model: ModelView, input: dict[str, Any]) -> str | None:
    """The first file input given a value, in schema order, preferring names that say image."""
    given = [f for f in model.fields if f.is_file and input.get(f.name) not in (None, "", [])]
    named = [f for f in given if "image" in f.name or f.name in ("img", "input")]
    chosen = (named or given)[:1]
    return chosen[0].name if chosen else None


def _scale(model: ModelView, input: dict[str, Any]) -> float:
    for name in SCALE_FIELDS:
        spec = model.field_spec(name)
        value = input.get(name, spec.default if spec is not None and spec.has_default else None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value <= 0:
                raise ValueError(f"{name} must be greater than 0 (got {value})")
            return float(value)
    return 2.0


def transform_image(model: ModelView, input: dict[str, Any], resolve: FileResolver) -> Generation:
    name = _image_field(model, input)
    if name is None:
        raise ValueError("this model transforms an image: give it one in its image input")
    value = input[name]
    source = resolve_image(resolve, str(value[0] if isinstance(value, list) else value), name)
    scale = _scale(model, input)
    width = max(1, round(source.width * scale))
    height = max(1, round(source.height * scale))
    capped = media.cap_size(width, height, MAX_UPSCALE_SIDE)
    out = source.convert("RGB").resize(capped, Image.Resampling.LANCZOS)
    out = out.filter(ImageFilter.UnsharpMask(radius=2, percent=60, threshold=2))
    fmt = str(input.get("output_format") or "png")
    data, content_type, ext = media.encode_image(out, fmt if fmt in media.IMAGE_TYPES else "png")
    logs = [
        f"input {source.width}x{source.height}, scale {scale:g}",
        *(["capped at the simulator's maximum size"] if capped != (width, height) else []),
        *media.tqdm_lines(8, 3.2),
        f"output {capped[0]}x{capped[1]}",
    ]
    single = single_output(model)
    return Generation(None, [OutputFile(f"output.{ext}", content_type, data)], single, logs)
