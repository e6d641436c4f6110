"""Talking-head generation for any avatar model, driven by the fields its schema has.

Reads a face from a video field (`video_input`, `video`) or a portrait image field (`image`,
`source_image`, `input_image`, `face_image`); speech from `audio`, `audio_input`, `driven_audio`,
`audio_file`; `duration` (seconds kept, e.g. an enum {5, 10}); `resolution` (`480p`/`720p`);
`fps`. Returns one MP4 whose mouth follows the audio.
"""

from __future__ import annotations

from typing import Any

from .. import media
from .common import (
    FileResolver,
    Generation,
    ModelView,
    OutputFile,
    fetch,
    first_present,
    input_image,
    resolve_audio,
)

VIDEO_FIELDS = ("video_input", "video")
IMAGE_FIELDS = ("image", "source_image", "input_image", "face_image")
AUDIO_FIELDS = ("audio", "audio_input", "driven_audio", "audio_file")
DEFAULT_FPS = 25


def generate_avatar(model: ModelView, input: dict[str, Any], resolve: FileResolver) -> Generation:
    audio_field = first_present(input, AUDIO_FIELDS)
    if audio_field is None:
        raise ValueError(f"an audio input is required ({', '.join(AUDIO_FIELDS)})")
    audio = resolve_audio(resolve, str(input[audio_field]), audio_field)
    fps = int(input.get("fps") or DEFAULT_FPS)
    if fps <= 0:
        raise ValueError("fps must be positive")
    video_field = first_present(input, VIDEO_FIELDS)
    if video_field is not None:
        data = fetch(resolve, str(input[video_field]), video_field)
        sources, _ = media.decode_video_frames(data, video_field)
    else:
        portrait = input_image(input, resolve, IMAGE_FIELDS)
        if portrait is None:
            raise ValueError(f"a face image or video is required ({', '.join(IMAGE_FIELDS)})")
        resolution = str(input.get("resolution") or "")
        if resolution.endswith("p") and resolution[:-1].isdigit():
            scale = min(1.0, int(resolution[:-1]) / min(portrait.size))
            size = (round(portrait.width * scale), round(portrait.height * scale))
            portrait = portrait.resize(size)
        sources = [portrait]
    limit = input.get("duration")
    if isinstance(limit, int | float) and limit > 0:
        keep = min(audio.samples.shape[1], round(float(limit) * audio.sample_rate))
        audio = media.AudioClip(audio.samples[:, :keep], audio.sample_rate)
    data = media.render_talking_head(sources, audio, fps)
    frames = max(1, round(audio.duration * fps))
    logs = [
        f"Audio: {audio.duration:.2f}s at {audio.sample_rate} Hz",
        f"Rendering {frames} frames at {fps:g} fps",
        *media.tqdm_lines(frames, 30.0, every=max(1, frames // 10)),
    ]
    return Generation(None, [OutputFile("output.mp4", "video/mp4", data)], True, logs)
