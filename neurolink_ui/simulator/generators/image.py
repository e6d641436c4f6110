"""Image generation for any image model, driven by the fields its schema has.

Reads `prompt`; the size from `aspect_ratio` (incl. `custom` with `width`/`height` and
`match_input_image`), `megapixels`, a `WxH` `resolution`, or `width`/`height`; an input image from a
single field (`image`, `input_image`, `image_prompt`) or the first item of an array field
(`image_input`, `input_images`, `images`, `reference_images`); `mask`; the count from
`num_outputs`/`num_images`/`number_of_images`; `output_format`, `output_quality`,
`prompt_strength`, `num_inference_steps`. One URI or a list, as the Output schema says.
"""

from __future__ import annotations

import re
from typing import Any

from PIL import Image

from .. import media
from .common import (
    FileResolver,
    Generation,
    ModelView,
    OutputFile,
    first_present,
    input_image,
    input_seed,
    single_output,
)

IMAGE_FIELDS = ("image", "input_image", "image_prompt", "image_input", "input_images", "images",
                "reference_images")  # fmt: skip
COUNT_FIELDS = ("num_outputs", "num_images", "number_of_images")
_WXH = re.compile(r"(\d+)\s*[x*]\s*(\d+)")
_RATIO = re.compile(r"\d+(\.\d+)?:\d+(\.\d+)?")


def _image_logs(seed: int, prompt: str, steps: int, mode: str) -> list[str]:
    return [
        f"Using seed: {seed}",
        f"Prompt: {prompt}",
        mode + " mode",
        *media.tqdm_lines(steps, 17.15, every=max(1, steps // 12)),
    ]


def _size(model: ModelView, input: dict[str, Any], init: Image.Image | None) -> tuple[int, int]:
    ratio = str(input.get("aspect_ratio") or "")
    resolution = _WXH.fullmatch(str(input.get("resolution") or ""))
    if resolution:
        return int(resolution[1]), int(resolution[2])
    if init is not None and (
        ratio in ("", "match_input_image") or model.field_spec("prompt_strength")
    ):
        # img2img takes the input image's shape
        width, height = media.cap_size(init.width, init.height)
        return max(16, width // 16 * 16), max(16, height // 16 * 16)
    if ratio == "custom" or (not _RATIO.fullmatch(ratio) and input.get("width")):
        width = int(input.get("width") or 1024) // 32 * 32
        height = int(input.get("height") or 1024) // 32 * 32
        return max(32, width), max(32, height)
    long_side = 512 if str(input.get("megapixels")) == "0.25" else 1024
    return media.size_for_ratio(ratio if _RATIO.fullmatch(ratio) else "1:1", long_side)


def generate_image(model: ModelView, input: dict[str, Any], resolve: FileResolver) -> Generation:
    prompt = str(input.get("prompt") or "")
    seed = input_seed(input)
    init = input_image(input, resolve, IMAGE_FIELDS)
    mask = input_image(input, resolve, ("mask",)) if init is not None else None
    strength = float(input.get("prompt_strength") or (0.55 if input.get("image_prompt") else 0.5))
    width, height = media.cap_size(*_size(model, input, init))
    count_field = first_present(input, COUNT_FIELDS)
    single = single_output(model)
    count = 1 if single or count_field is None else max(1, int(input[count_field]))
    fmt = str(input.get("output_format") or "png")
    quality = int(input.get("output_quality") or 90)
    files: list[OutputFile] = []
    for i in range(count):
        img = media.render_image(
            prompt, seed + i, width, height, init=init, strength=strength, mask=mask
        )
        data, content_type, ext = media.encode_image(img, fmt, quality)
        files.append(
            OutputFile(f"output.{ext}" if single else f"out-{i}.{ext}", content_type, data)
        )
    steps = int(input.get("num_inference_steps") or 28)
    mode = "img2img" if init is not None else "txt2img"
    return Generation(None, files, single, _image_logs(seed, prompt, steps, mode))
