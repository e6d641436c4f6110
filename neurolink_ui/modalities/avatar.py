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
    as_seconds,
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
# A still face video's work is its frame count (about 7 ms a frame at 1280 px on 2 cores), and
# a visitor sets both factors (fps in Advanced, the narration's length), so each is bounded and so
# is their product. fps: the schema's maximum when it has one (never above the hard cap), else
# MAX_FACE_VIDEO_FPS — a still face gains nothing from more.
MAX_FACE_VIDEO_FPS = 30
HARD_MAX_FACE_VIDEO_FPS = 60
# Narration a face video is made for when the schema has no length cap of its own.
MAX_NARRATION_SECONDS = 60.0
MAX_FACE_VIDEO_FRAMES = 1800  # 60 s at 30 fps: about 12 s of encoding at 1280 px
# Audio files are refused above this before they are opened: 60 s of 48 kHz stereo float WAV is
# 23 MB, and speech as MP3 is about 1 MB a minute.
_MB = 1024 * 1024
MAX_NARRATION_BYTES = 32 * _MB
# When a file's header gives no duration its samples are decoded, never more than this many
# seconds' worth: past it the exact length no longer changes any decision.
MAX_AUDIO_DECODE_SECONDS = 600.0


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
    """An H.264 MP4 (yuv420p, even dimensions) showing the still for `duration_seconds`.

    Bounded whoever calls it: fps within 1..HARD_MAX_FACE_VIDEO_FPS and at most
    MAX_FACE_VIDEO_FRAMES frames, else InputProblem before anything is encoded."""
    if not duration_seconds or duration_seconds <= 0 or not math.isfinite(duration_seconds):
        raise InputProblem(f"The video length must be positive (got {duration_seconds}).")
    if isinstance(fps, bool) or not isinstance(fps, int) or not 1 <= fps <= HARD_MAX_FACE_VIDEO_FPS:
        raise InputProblem(
            f"The still video's frame rate must be a whole number from 1 to "
            f"{HARD_MAX_FACE_VIDEO_FPS} fps (got {fps}).",
            field="fps",
        )
    frame_count = max(1, round(duration_seconds * fps))
    if frame_count > MAX_FACE_VIDEO_FRAMES:
        raise InputProblem(
            f"A {duration_seconds:.1f} s still video at {fps} fps would be {frame_count:,} "
            f"frames; the limit is {MAX_FACE_VIDEO_FRAMES:,}. Use a narration of at most "
            f"{MAX_FACE_VIDEO_FRAMES / fps:.0f} s or a lower fps.",
            field="audio",
        )
    picture = open_image(image).convert("RGB")
    scale = min(1.0, MAX_VIDEO_SIDE / max(picture.size))
    width = max(2, int(picture.width * scale) // 2 * 2)
    height = max(2, int(picture.height * scale) // 2 * 2)
    if (width, height) != picture.size:
        picture = picture.resize((width, height), Image.Resampling.LANCZOS)
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
    """Seconds of audio in a file, bytes or `(sample_rate, samples)`; InputProblem if none.

    Cheap and bounded for any file: one over MAX_NARRATION_BYTES is refused from its size alone,
    the length comes from the container's header, and only a file without one is decoded — at
    most MAX_AUDIO_DECODE_SECONDS of it (a longer one reads as that long)."""
    if isinstance(audio, tuple) and len(audio) == 2 and isinstance(audio[0], int):
        rate, samples = audio
        length = len(samples) / rate if rate > 0 else 0.0
        return _positive_duration(length)
    source: Any
    if isinstance(audio, bytes | bytearray | memoryview):
        if not audio:
            raise InputProblem("The audio file is empty; upload a WAV or MP3 with speech.")
        _refuse_large_narration(len(audio))
        source = io.BytesIO(bytes(audio))
    elif isinstance(audio, str | Path):
        path = Path(audio)
        if not path.is_file():
            raise InputProblem(f"The audio file {path.name!r} was not found.", field="audio")
        _refuse_large_narration(path.stat().st_size)
        source = str(path)
    elif hasattr(audio, "read"):
        source = audio
    else:
        raise InputProblem(f"The audio must be a file (got {type(audio).__name__}).", field="audio")
    return _positive_duration(_duration_with_av(source))


def _refuse_large_narration(size: int) -> None:
    if size > MAX_NARRATION_BYTES:
        raise InputProblem(
            f"The narration file is {size / _MB:,.1f} MB; the limit is "
            f"{MAX_NARRATION_BYTES / _MB:.0f} MB. Trim it or save it as MP3 (a minute of speech "
            "is about 1 MB), then upload it again.",
            field="audio",
        )


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
            if not stream.rate:
                return 0.0
            samples, enough = 0, MAX_AUDIO_DECODE_SECONDS * stream.rate
            for frame in container.decode(stream):
                samples += frame.samples
                if samples > enough:
                    break
            return samples / stream.rate
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


def _positive_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def max_face_video_fps(schema: InputSchema) -> int:
    """The highest fps a still face video is made at for this model: the schema's maximum of
    `fps` when it has one (within the hard cap), else MAX_FACE_VIDEO_FPS."""
    spec = schema.get("fps")
    maximum = _positive_number(spec.maximum) if spec is not None else None
    if maximum is None:
        return MAX_FACE_VIDEO_FPS
    return max(1, min(HARD_MAX_FACE_VIDEO_FPS, math.floor(maximum)))


def _face_video_fps(schema: InputSchema, advanced: Mapping[str, Any]) -> tuple[int, str | None]:
    """The still video's fps (Advanced's, else the schema default, else DEFAULT_FPS) within
    1..max_face_video_fps, and a note when the Advanced value had to change."""
    ceiling = max_face_video_fps(schema)
    chosen = _positive_number(advanced.get("fps"))
    if chosen is not None:
        fps = max(1, min(ceiling, round(chosen)))
        if fps != chosen:
            return fps, (
                f"fps {advanced['fps']:g} was lowered to {fps}: a still face video is made at "
                f"{ceiling} fps at most."
                if chosen > ceiling
                else f"fps {advanced['fps']:g} became {fps} (whole frames a second)."
            )
        return fps, None
    spec = schema.get("fps")
    default = _positive_number(spec.default) if spec is not None else None
    return max(1, min(ceiling, round(default or DEFAULT_FPS))), None


def length_cap_seconds(schema: InputSchema, max_seconds: float | None = None) -> float:
    """The longest narration a face video is made for: the model's own length cap (its duration
    field's maximum or longest choice) where it has one, else MAX_NARRATION_SECONDS; never
    above `max_seconds` (a caller's cap, e.g. the owner's on a guarded Space)."""
    cap = MAX_NARRATION_SECONDS
    spec = duration_field(schema)
    if spec is not None:
        lengths = [as_seconds(c) for c in spec.choices or ()]
        longest = max((s for s in lengths if s is not None and s > 0), default=None)
        model_cap = longest if spec.choices else _positive_number(spec.maximum)
        if model_cap is not None:
            cap = min(cap, model_cap)
    given = _positive_number(max_seconds)
    return min(cap, given) if given is not None else cap


def build_avatar_input(
    schema: InputSchema,
    *,
    portrait: Any,
    audio: Any,
    advanced: Mapping[str, Any] | None = None,
    max_seconds: float | None = None,
) -> MappedInput:
    """The model input for `portrait` speaking `audio`. A face-video model's still video is
    bounded before it is encoded (see `still_to_video`): fps within `max_face_video_fps`, the
    narration within `length_cap_seconds(schema, max_seconds)`, else InputProblem."""
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
        fps, fps_note = _face_video_fps(schema, advanced)
        length_cap = length_cap_seconds(schema, max_seconds)
        frames_cap = MAX_FACE_VIDEO_FRAMES / fps
        if duration > min(length_cap, frames_cap):
            cap = math.floor(min(length_cap, frames_cap) * 10) / 10
            why = f" at {fps} fps (a lower fps allows longer)" if frames_cap < length_cap else ""
            raise InputProblem(
                f"The narration is {duration:.1f} s; this model's face video is made for "
                f"{cap:g} s of narration at most{why}. Trim the recording to {cap:g} s or less "
                "and upload it again.",
                field="audio",
            )
        input[video_spec.name] = still_to_video(portrait, duration, fps=fps)
        if fps_note:
            notes.append(fps_note)
            if schema.has("fps"):
                advanced["fps"] = fps  # the model renders at the still video's rate
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
