"""Audio: clips, decoding, and the talking head that moves its mouth with the audio."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence

import av
import numpy as np
from PIL import Image, ImageDraw

from .common import AudioClip, even
from .video import encode_mp4

# ---------------------------------------------------------------------------------------------
# Audio


def decode_audio(
    data: bytes, what: str = "audio", *, rate: int = 44100, mono: bool = True
) -> AudioClip:
    """Decode wav/mp3/ogg/flac/m4a (anything FFmpeg reads); not audio or empty -> ValueError."""
    if not data:
        raise ValueError(f"{what}: the file is empty")
    layout = "mono" if mono else "stereo"
    chunks: list[np.ndarray] = []
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise ValueError(f"{what}: the file has no audio stream")
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            for frame in container.decode(audio=0):
                chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray() for out in resampler.resample(None))
    except av.FFmpegError as exc:
        raise ValueError(f"{what}: not a readable audio file ({exc})") from exc
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((1 if mono else 2, 0))
    if samples.shape[1] == 0:
        raise ValueError(f"{what}: the audio has zero length")
    return AudioClip(samples.astype(np.float32), rate)


def amplitude_envelope(clip: AudioClip, fps: float, frames: int) -> np.ndarray:
    """Per-video-frame loudness (RMS over the frame's window), scaled so the loudest frame is 1."""
    mono = clip.samples.mean(axis=0)
    hop = clip.sample_rate / fps
    env = np.zeros(frames, np.float32)
    for i in range(frames):
        window = mono[int(i * hop) : int((i + 1) * hop)]
        if window.size:
            env[i] = float(np.sqrt(np.mean(window**2)))
    peak = float(env.max())
    return env / peak if peak > 1e-6 else env


def render_talking_head(
    sources: Sequence[Image.Image], audio: AudioClip, fps: float, *, max_side: int = 512
) -> bytes:
    """MP4 of the audio's duration: source frames (looped) with a mouth that opens with the
    audio's loudness and a matching brightness pulse, the input audio muxed in as AAC."""
    first = sources[0]
    scale = min(1.0, max_side / max(first.size))
    width, height = even(first.width * scale), even(first.height * scale)
    frames = max(1, math.ceil(audio.duration * fps - 1e-6))
    env = amplitude_envelope(audio, fps, frames)
    fitted = [
        src.convert("RGB").resize((width, height), Image.Resampling.BILINEAR) for src in sources
    ]

    def frame_iter() -> Iterator[np.ndarray]:
        mouth_w = width * 0.16
        cx, cy = width / 2, height * 0.7
        for i in range(frames):
            level = float(env[i])
            img = fitted[i % len(fitted)].copy()
            draw = ImageDraw.Draw(img)
            open_h = height * (0.008 + 0.07 * level)
            draw.ellipse(
                (cx - mouth_w / 2, cy - open_h / 2, cx + mouth_w / 2, cy + open_h / 2),
                fill=(90, 20, 30),
                outline=(200, 90, 100),
                width=max(2, width // 160),
            )
            arr = np.asarray(img, np.float32) * (0.9 + 0.2 * level)
            yield arr.clip(0, 255).astype(np.uint8)

    return encode_mp4(frame_iter(), width, height, fps, audio)
