"""Video: animated frames, H.264 MP4 (with audio), VP9-alpha WebM, animated WebP, frame decoding."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Iterator
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from .common import MAX_VIDEO_SHORT_SIDE, AudioClip, even, rng_for
from .images import draw_artwork, draw_caption, fit_cover

# ---------------------------------------------------------------------------------------------
# Video


class _CaptionOverlay:
    """The prompt caption, rendered once and composited on every frame: only over the rows it
    covers, premultiplied, so a frame pays for the caption's band rather than the whole picture."""

    def __init__(self, width: int, height: int, text: str) -> None:
        probe = Image.new("RGB", (width, height), (0, 0, 0))
        white = draw_caption(probe, text, max_lines=3)
        black = draw_caption(Image.new("RGB", (width, height), (255, 255, 255)), text, max_lines=3)
        w = np.asarray(white, np.float32)
        b = np.asarray(black, np.float32)
        # Composited over black vs over white tells colour and coverage apart: a = 1 - (b - w) / 255.
        alpha = (1.0 - (b - w) / 255.0).mean(axis=2, keepdims=True).clip(0, 1)
        rgb = np.where(alpha > 1e-3, w / np.maximum(alpha, 1e-3), 0).clip(0, 255)
        rows = np.flatnonzero(alpha[:, :, 0].max(axis=1) > 0)
        self.top, self.bottom = (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 0)
        band = slice(self.top, self.bottom)
        self.kept = (1.0 - alpha[band]).astype(np.float32)  # how much of the frame shows through
        self.added = (rgb[band] * alpha[band]).astype(np.float32)  # the caption, premultiplied

    def over(self, frame: np.ndarray) -> np.ndarray:
        """`frame` (float, 0–255) with the caption on it, as 8-bit RGB."""
        band = slice(self.top, self.bottom)
        frame[band] = frame[band] * self.kept + self.added
        return frame.astype(np.uint8)


def animate_frames(
    prompt: str,
    seed: int,
    width: int,
    height: int,
    frames: int,
    *,
    start: Image.Image | None = None,
    end: Image.Image | None = None,
) -> Iterator[np.ndarray]:
    """RGB frames: a slow zoom/pan over the start image (or over drawn artwork for text-only),
    a drifting light for visible motion, a crossfade to `end` if given, and the prompt caption."""
    rng = rng_for("video", prompt, seed)
    margin = 1.18
    big_w, big_h = round(width * margin), round(height * margin)
    if start is not None:
        canvas = fit_cover(start, big_w, big_h)
    else:
        canvas = draw_artwork(prompt, seed, big_w, big_h)
    end_canvas = fit_cover(end, width, height) if end is not None else None
    overlay = _CaptionOverlay(width, height, prompt)
    pan_x, pan_y = float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))
    ys = np.arange(height, dtype=np.float32)
    xs = np.arange(width, dtype=np.float32)
    glow_radius = min(width, height) * 0.22
    for i in range(frames):
        t = i / max(1, frames - 1)
        zoom = 1.0 + 0.15 * t  # window shrinks from the whole canvas to 1/1.15 of it
        win_w, win_h = big_w / zoom, big_h / zoom
        cx = big_w / 2 + pan_x * (big_w - win_w) / 2 * t
        cy = big_h / 2 + pan_y * (big_h - win_h) / 2 * t
        box = (cx - win_w / 2, cy - win_h / 2, cx + win_w / 2, cy + win_h / 2)
        frame_img = canvas.resize((width, height), Image.Resampling.BILINEAR, box=box)
        frame = np.asarray(frame_img, np.float32)
        if end_canvas is not None:
            frame = frame * (1 - t) + np.asarray(end_canvas, np.float32) * t
        gx = width * (0.15 + 0.7 * t)
        gy = height * (0.35 + 0.15 * math.sin(2 * math.pi * t))
        # exp(-(dx² + dy²)/2r²) = exp(-dx²/2r²)·exp(-dy²/2r²): two short vectors, one outer product.
        spread = 2 * glow_radius**2
        glow_x = 70.0 * np.exp(-((xs - gx) ** 2) / spread)
        glow_y = np.exp(-((ys - gy) ** 2) / spread)
        frame = frame + np.outer(glow_y, glow_x)[..., None]
        np.clip(frame, 0, 255, out=frame)
        yield overlay.over(frame)


def _audio_layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


def _add_video_stream(
    container: av.container.OutputContainer,
    codec: str,
    fps: float,
    width: int,
    height: int,
    pix_fmt: str,
    options: dict[str, str],
) -> av.VideoStream:
    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
    assert isinstance(stream, av.VideoStream)  # a video codec gives a video stream
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.options = dict[str, object](options)
    return stream


def _mux_frames(
    container: av.container.OutputContainer,
    stream: av.VideoStream,
    frames: Iterable[np.ndarray],
    frame_format: str,
) -> None:
    """Encode every frame (arrays in `frame_format`, e.g. rgb24) and flush the encoder."""
    for arr in frames:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=frame_format)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def encode_mp4(
    frames: Iterable[np.ndarray],
    width: int,
    height: int,
    fps: float,
    audio: AudioClip | None = None,
) -> bytes:
    """H.264 (yuv420p) MP4, with the audio muxed in as AAC when given."""
    if width % 2 or height % 2:
        raise ValueError(f"H.264 yuv420p needs even dimensions, got {width}x{height}")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        video = _add_video_stream(
            container, "libx264", fps, width, height, "yuv420p", {"preset": "veryfast", "crf": "26"}
        )
        # Every stream must exist before the first packet is muxed (that writes the header).
        audio_stream = None
        if audio is not None:
            layout = _audio_layout(audio.channels)
            audio_stream = container.add_stream("aac", rate=audio.sample_rate, layout=layout)
        _mux_frames(container, video, frames, "rgb24")
        if audio is not None and audio_stream is not None:
            _encode_audio(container, audio_stream, audio)
    return buf.getvalue()


def _encode_audio(
    container: av.container.OutputContainer, stream: av.AudioStream, clip: AudioClip
) -> None:
    layout = _audio_layout(clip.channels)
    chunk = 1024
    samples = np.ascontiguousarray(clip.samples.astype(np.float32))
    for start in range(0, samples.shape[1], chunk):
        part = np.ascontiguousarray(samples[:, start : start + chunk])
        frame = av.AudioFrame.from_ndarray(part, format="fltp", layout=layout)
        frame.sample_rate = clip.sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, clip.sample_rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def encode_webm_alpha(
    frames: Iterable[np.ndarray], width: int, height: int, fps: float, quality: int = 85
) -> bytes:
    """VP9 WebM with an alpha channel (yuva420p) from RGBA frames, as wan-alpha delivers."""
    buf = io.BytesIO()
    options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "crf": str(round(15 + (100 - max(1, min(100, quality))) * 0.45)),
        "b:v": "0",
        "row-mt": "1",
        "auto-alt-ref": "0",
    }
    with av.open(buf, mode="w", format="webm") as container:
        stream = _add_video_stream(container, "libvpx-vp9", fps, width, height, "yuva420p", options)
        _mux_frames(container, stream, frames, "rgba")
    return buf.getvalue()


def encode_animated_webp(frames: Iterable[np.ndarray], fps: float, quality: int) -> bytes:
    images = [Image.fromarray(arr, "RGBA" if arr.shape[2] == 4 else "RGB") for arr in frames]
    if not images:
        raise ValueError("no frames to encode")
    buf = io.BytesIO()
    images[0].save(
        buf,
        "WEBP",
        save_all=True,
        append_images=images[1:],
        duration=round(1000 / fps),
        loop=0,
        quality=max(1, min(100, quality)),
        method=0,
    )
    return buf.getvalue()


def with_alpha(frames: Iterable[np.ndarray], seed: int) -> Iterator[np.ndarray]:
    """Add a transparent background: an opaque soft blob drifts, the caption panel stays."""
    rng = np.random.default_rng(seed)
    phase = float(rng.random()) * 2 * math.pi
    grid: tuple[np.ndarray, np.ndarray] | None = None
    for i, rgb in enumerate(frames):
        height, width = rgb.shape[:2]
        if grid is None:
            grid = tuple(np.mgrid[0:height, 0:width].astype(np.float32))
        ys, xs = grid
        cx = width * (0.5 + 0.2 * math.sin(phase + i / 12))
        cy = height * 0.42
        rx, ry = width * 0.3, height * 0.32
        dist = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2
        alpha = np.clip((1.3 - dist) / 0.3, 0, 1)
        caption_rows = slice(int(height * 0.7), height)
        alpha[caption_rows] = np.maximum(alpha[caption_rows], 0.9)
        yield np.dstack([rgb, (alpha * 255).astype(np.uint8)])


def video_size(width: int, height: int, max_short: int = MAX_VIDEO_SHORT_SIDE) -> tuple[int, int]:
    """Even dimensions, the short side at most `max_short` (keeps the simulator fast)."""
    scale = min(1.0, max_short / min(width, height))
    return even(width * scale), even(height * scale)


def decode_video_frames(
    data: bytes, what: str = "video", *, max_frames: int = 250, max_side: int = 512
) -> tuple[list[Image.Image], float]:
    """Frames (RGB, long side <= max_side) and fps of a video; a still image counts as one frame."""
    if not data:
        raise ValueError(f"{what}: the file is empty")
    images: list[Image.Image] = []
    fps = 25.0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise ValueError(f"{what}: the file has no video stream")
            stream = container.streams.video[0]
            if stream.average_rate:
                fps = float(stream.average_rate)
            for frame in container.decode(video=0):
                img = frame.to_image()
                img.thumbnail((max_side, max_side))
                images.append(img)
                if len(images) >= max_frames:
                    break
    except av.FFmpegError as exc:
        raise ValueError(f"{what}: not a readable video ({exc})") from exc
    if not images:
        raise ValueError(f"{what}: the video has no frames")
    return images, fps
