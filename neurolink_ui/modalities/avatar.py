"""Avatar: a portrait and a voice track, mapped onto a talking-head model's fields.

Still-image models (SadTalker) take the portrait directly. MuseTalk-style models lip-sync an
existing *video*, so the portrait becomes a still H.264 video as long as the audio.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from PIL import Image

from neurolink_ui.replicate.schema import InputField, InputSchema

from .common import (
    InputProblem,
    MappedInput,
    find_field,
    find_image_input,
    finish,
    fit_duration,
    image_value,
    is_remote,
    merge_advanced,
    open_image,
)

PORTRAIT_IMAGE_NAMES = (
    "source_image",
    "image",
    "face",
    "portrait",
    "input_image",
    "face_image",
    "image_input",
    "images",
    "reference_images",
)
# File inputs beside the face that are not it: masks, blink/pose reference clips, backgrounds.
NOT_PORTRAIT_WORDS = ("mask", "ref", "eyeblink", "pose", "background", "bg", "last", "end")
FACE_VIDEO_NAMES = ("video_input", "face_video", "input_video", "video", "face")
AUDIO_NAMES = ("driven_audio", "audio_input", "audio", "input_audio", "audio_file", "speech")
DURATION_NAMES = ("duration", "duration_seconds", "seconds", "length")
DEFAULT_FPS = 25
MAX_VIDEO_SIDE = 1280  # larger stills only slow the upload; the face is what matters


def audio_field(schema: InputSchema) -> InputField | None:
    return find_field(schema, AUDIO_NAMES, fallback_words=("audio", "speech", "voice"))


def portrait_image_field(schema: InputSchema) -> InputField | None:
    """The still-image input for the face (single or list), decided from the schema."""
    return find_image_input(schema, PORTRAIT_IMAGE_NAMES, exclude_words=NOT_PORTRAIT_WORDS)


def portrait_field(schema: InputSchema) -> InputField | None:
    """The field the face goes into, image or video."""
    return _face_video_field(schema) or portrait_image_field(schema)


def _face_video_field(schema: InputSchema) -> InputField | None:
    return find_field(schema, (), fallback_words=("video",))


def needs_face_video(schema: InputSchema) -> bool:
    """True when the model lip-syncs a video (e.g. MuseTalk's `video_input`), not a still."""
    return _face_video_field(schema) is not None and portrait_image_field(schema) is None


def duration_field(schema: InputSchema) -> InputField | None:
    """A length the model renders to (an enum such as {5, 10}, or bounded seconds)."""
    spec = schema.first(*DURATION_NAMES)
    return spec if spec is not None and (spec.is_numeric or spec.choices) else None


def filled_fields(schema: InputSchema) -> frozenset[str]:
    """The fields the Avatar panel fills: the face, the voice, and a length fitted to it."""
    specs = (portrait_field(schema), audio_field(schema), duration_field(schema))
    return frozenset(spec.name for spec in specs if spec is not None)


def still_to_video(image: Any, duration_seconds: float, fps: int = DEFAULT_FPS) -> bytes:
    """An H.264 MP4 (yuv420p, even dimensions) showing the still for `duration_seconds`."""
    if not duration_seconds or duration_seconds <= 0 or not math.isfinite(duration_seconds):
        raise InputProblem(f"The video length must be positive (got {duration_seconds}).")
    picture = open_image(image).convert("RGB")
    scale = min(1.0, MAX_VIDEO_SIDE / max(picture.size))
    width = max(2, int(picture.width * scale) // 2 * 2)
    height = max(2, int(picture.height * scale) // 2 * 2)
    if (width, height) != picture.size:
        picture = picture.resize((width, height), Image.Resampling.LANCZOS)
    frame_count = max(1, round(duration_seconds * fps))
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"preset": "veryfast", "crf": "20", "tune": "stillimage"}
        frame = av.VideoFrame.from_image(picture).reformat(format="yuv420p")
        for index in range(frame_count):
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def audio_duration(audio: Any) -> float:
    """Seconds of audio in a file, bytes or `(sample_rate, samples)`; InputProblem if none."""
    if isinstance(audio, tuple) and len(audio) == 2 and isinstance(audio[0], int):
        rate, samples = audio
        length = len(samples) / rate if rate > 0 else 0.0
        return _positive_duration(length)
    source: Any
    if isinstance(audio, bytes | bytearray | memoryview):
        if not audio:
            raise InputProblem("The audio file is empty; upload a WAV or MP3 with speech.")
        source = io.BytesIO(bytes(audio))
    elif isinstance(audio, str | Path):
        path = Path(audio)
        if not path.is_file():
            raise InputProblem(f"The audio file {path.name!r} was not found.", field="audio")
        source = str(path)
    elif hasattr(audio, "read"):
        source = audio
    else:
        raise InputProblem(f"The audio must be a file (got {type(audio).__name__}).", field="audio")
    return _positive_duration(_duration_with_av(source))


def _duration_with_av(source: Any) -> float:
    try:
        with av.open(source, mode="r") as container:
            if not container.streams.audio:
                raise InputProblem(
                    "That file has no audio track; upload a WAV or MP3 with speech.", field="audio"
                )
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / av.time_base
            samples = sum(frame.samples for frame in container.decode(stream))
            return samples / stream.rate if stream.rate else 0.0
    except InputProblem:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputProblem(
            "The audio could not be read; upload a WAV, MP3, M4A or OGG file.", field="audio"
        ) from exc


def _positive_duration(seconds: float) -> float:
    if not seconds or seconds <= 0 or not math.isfinite(seconds):
        raise InputProblem(
            "The audio is empty (0 seconds); upload a recording with speech.", field="audio"
        )
    return float(seconds)


def _model_fps(schema: InputSchema, advanced: Mapping[str, Any]) -> int:
    chosen = advanced.get("fps")
    if isinstance(chosen, int | float) and not isinstance(chosen, bool) and chosen > 0:
        return int(chosen)
    spec = schema.get("fps")
    if spec is not None and isinstance(spec.default, int | float) and spec.default > 0:
        return int(spec.default)
    return DEFAULT_FPS


def build_avatar_input(
    schema: InputSchema,
    *,
    portrait: Any,
    audio: Any,
    advanced: Mapping[str, Any] | None = None,
) -> MappedInput:
    advanced = dict(advanced or {})
    notes: list[str] = []
    made_from: dict[str, list[Path]] = {}
    if portrait is None:
        raise InputProblem("Add a portrait photo of a face first.", field="portrait")
    if audio is None:
        raise InputProblem("Add the audio the avatar should speak first.", field="audio")
    voice_spec = audio_field(schema)
    if voice_spec is None:
        raise InputProblem("This model has no audio input; pick an avatar model that takes speech.")

    duration = None if is_remote(audio) else audio_duration(audio)
    input: dict[str, Any] = {}
    video_spec = _face_video_field(schema)
    still_spec = portrait_image_field(schema)
    is_video = _looks_like_video(portrait)
    if still_spec is not None and (not is_video or video_spec is None):
        if not is_remote(portrait) and not is_video:
            open_image(portrait)  # refuse a broken image before paying for a prediction
        input[still_spec.name] = image_value(still_spec, portrait)
    elif video_spec is not None and is_video:
        input[video_spec.name] = portrait
    elif video_spec is not None:
        if duration is None:
            raise InputProblem(
                "This model lip-syncs a video; give the audio as a local file so the portrait "
                "can be turned into a video of the same length.",
                field="audio",
            )
        fps = _model_fps(schema, advanced)
        input[video_spec.name] = still_to_video(portrait, duration, fps=fps)
        if isinstance(portrait, Path):
            made_from[video_spec.name] = [portrait]
        notes.append(
            f"This model animates a video, so the portrait was made into a {duration:.1f} s "
            f"still video at {fps} fps."
        )
    else:
        raise InputProblem(
            "This model has no face image or video input; pick an avatar model "
            f"(it takes: {', '.join(schema.names) or 'nothing'})."
        )
    input[voice_spec.name] = audio

    length_spec = duration_field(schema)
    if length_spec is not None and duration is not None and length_spec.name not in advanced:
        chosen, note = fit_duration(length_spec, duration, cover=True)
        input[length_spec.name] = chosen
        if note:
            notes.append(f"{note.rstrip('.')} (the narration is {duration:.1f} s).")

    merge_advanced(schema, input, advanced, managed=filled_fields(schema), notes=notes)
    return replace(finish(schema, input, notes), made_from=made_from)


def _looks_like_video(value: Any) -> bool:
    return isinstance(value, str | Path) and Path(str(value)).suffix.lower() in {
        ".mp4",
        ".mov",
        ".webm",
        ".mkv",
        ".avi",
    }
