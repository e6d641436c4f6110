"""Video generation for any video model, driven by the fields its schema has.

Reads `prompt`; a start frame from `image`, `start_image`, `first_frame_image`, `input_image`,
Sora's `input_reference` or the first of an array (`reference_images`); an end frame from
`last_image`, `end_image`, `last_frame`, `last_frame_image`; the length from `num_frames` with
`frames_per_second`/`fps`, or `duration`/`seconds` (24 fps; Seedance's -1 lets it choose); the size
from the start frame, an `aspect_ratio` (also `portrait`/`landscape`), a `W*H` `resolution`. `output_format` `webm` gives VP9 with alpha, `webp` an animated WebP (Wan-Alpha's
transparent outputs); anything else an H.264 MP4.
"""

from __future__ import annotations

import re
from typing import Any

from .. import media
from .common import FileResolver, Generation, ModelView, OutputFile, input_image, input_seed

START_FIELDS = ("image", "start_image", "first_frame_image", "input_image", "input_reference",
                "first_frame", "reference_images")  # fmt: skip
END_FIELDS = ("last_image", "end_image", "last_frame", "last_frame_image")
VIDEO_ASPECTS = {
    "16:9": (832, 480),
    "9:16": (480, 832),
    "1:1": (480, 480),
    "landscape": (832, 480),  # Sora 2: 1280x720
    "portrait": (480, 832),  # Sora 2: 720x1280
}
_WXH = re.compile(r"(\d+)\s*[x*]\s*(\d+)")
_FIT = re.compile(r"(\d+)\*(\d+) \(fit (vertical|horizontal)\)")
DEFAULT_FPS = 24


def _video_logs(
    seed: int, prompt: str, frames: int, fps: float, width: int, height: int
) -> list[str]:
    return [
        f"Using seed: {seed}",
        f"Prompt: {prompt}",
        f"Generating {frames} frames at {width}x{height}, {fps:g} fps",
        *media.tqdm_lines(frames, 9.5, every=max(1, frames // 10)),
    ]


def _round_4n1(frames: int) -> int:
    return max(5, round((frames - 1) / 4) * 4 + 1)


def _length(input: dict[str, Any]) -> tuple[int, float]:
    """(frames, fps) the input asks for."""
    fps = float(input.get("frames_per_second") or input.get("fps") or DEFAULT_FPS)
    if input.get("num_frames"):
        return int(input["num_frames"]), fps
    duration = input.get("duration", input.get("seconds"))
    if isinstance(duration, int | float) and not isinstance(duration, bool) and duration > 0:
        return max(1, round(float(duration) * fps)), fps
    return 81, 16.0


def generate_video(model: ModelView, input: dict[str, Any], resolve: FileResolver) -> Generation:
    prompt = str(input.get("prompt") or "")
    seed = input_seed(input)
    start = input_image(input, resolve, START_FIELDS)
    end = input_image(input, resolve, END_FIELDS)
    frames, fps = _length(input)
    resolution = str(input.get("resolution") or "")
    fit, wxh = _FIT.fullmatch(resolution), _WXH.fullmatch(resolution)
    if start is not None:
        width, height = media.video_size(start.width, start.height)
    elif fit:
        width, height = media.video_size(int(fit[1]), int(fit[2]))
    elif wxh:
        width, height = media.video_size(int(wxh[1]), int(wxh[2]))
    else:
        aspect = str(input.get("aspect_ratio") or "16:9")
        width, height = media.video_size(*VIDEO_ASPECTS.get(aspect, (832, 480)))
    fmt = str(input.get("output_format") or "mp4")
    if fmt in ("webm", "webp"):
        return _alpha_video(input, prompt, seed, width, height, _round_4n1(frames), fps, fmt)
    frame_iter = media.animate_frames(prompt, seed, width, height, frames, start=start, end=end)
    data = media.encode_mp4(frame_iter, width, height, fps)
    logs = _video_logs(seed, prompt, frames, fps, width, height)
    return Generation(None, [OutputFile("output.mp4", "video/mp4", data)], True, logs)


def _alpha_video(
    input: dict[str, Any], prompt: str, seed: int, width: int, height: int, total: int,
    fps: float, fmt: str,
) -> Generation:  # fmt: skip
    rgba = list(media.with_alpha(media.animate_frames(prompt, seed, width, height, total), seed))
    if input.get("remove_first_frame") and len(rgba) > 1:
        rgba = rgba[1:]
    if input.get("remove_last_frame") and len(rgba) > 1:
        rgba = rgba[:-1]
    quality = int(input.get("output_quality") or 85)
    if fmt == "webm":
        out = OutputFile(
            "output.webm", "video/webm", media.encode_webm_alpha(rgba, width, height, fps, quality)
        )
    else:
        out = OutputFile(
            "output.webp", "image/webp", media.encode_animated_webp(rgba, fps, quality)
        )
    return Generation(None, [out], True, _video_logs(seed, prompt, len(rgba), fps, width, height))
