"""Deterministic real media for the simulator: Pillow images, PyAV video, numpy-synthesised audio.

Everything here is a pure function of its arguments (prompt, seed, sizes, input media), so the same
input gives the same bytes. Outputs are real, decodable files: clients are tested against them.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import re
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
import soundfile
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
MAX_IMAGE_SIDE = 1024
MAX_VIDEO_SHORT_SIDE = 480

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# ---------------------------------------------------------------------------------------------
# Shared helpers


def stable_seed(*parts: object) -> int:
    """A 32-bit seed derived from the parts' text (stable across processes, unlike hash())."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def rng_for(*parts: object) -> np.random.Generator:
    return np.random.default_rng(stable_seed(*parts))


def tqdm_lines(total: int, it_per_s: float, *, every: int = 1) -> list[str]:
    """tqdm-style progress lines as Cog models print them, e.g. ' 40%|████      | 20/50 [...]'."""
    lines: list[str] = []
    steps = sorted({*range(0, total + 1, max(1, every)), total})
    for done in steps:
        frac = done / total if total else 1.0
        full = int(frac * 10)
        bar = "█" * full + ("▌" if frac * 10 - full >= 0.5 and full < 10 else "")
        bar = bar.ljust(10)
        elapsed = done / it_per_s
        remaining = (total - done) / it_per_s
        rate = f"{it_per_s:.2f}it/s" if done else "?it/s"
        lines.append(
            f"{int(frac * 100):3d}%|{bar}| {done}/{total} "
            f"[{_clock(elapsed)}<{_clock(remaining) if done else '?'}, {rate}]"
        )
    return lines


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60:02d}:{whole % 60:02d}"


@lru_cache(maxsize=32)
def load_font(size: int, bold: bool = True) -> Font:
    """DejaVu Sans if installed (fonts-dejavu-core), else PIL's built-in font."""
    path = FONT_DIR / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        return ImageFont.load_default(size)


def even(value: float) -> int:
    """Round down to an even integer >= 2 (H.264 with yuv420p needs even dimensions)."""
    return max(2, int(value) // 2 * 2)


def parse_ratio(ratio: str) -> tuple[float, float]:
    w, _, h = ratio.partition(":")
    return float(w), float(h)


def size_for_ratio(ratio: str, long_side: int, multiple: int = 16) -> tuple[int, int]:
    """Width and height for an aspect ratio like '16:9' with the longer side `long_side`."""
    rw, rh = parse_ratio(ratio)
    if rw >= rh:
        width, height = long_side, long_side * rh / rw
    else:
        width, height = long_side * rw / rh, long_side
    return _round_to(width, multiple), _round_to(height, multiple)


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def cap_size(width: int, height: int, max_side: int = MAX_IMAGE_SIDE) -> tuple[int, int]:
    """Scale (width, height) down so the long side is at most `max_side`, keeping the ratio."""
    scale = min(1.0, max_side / max(width, height))
    if scale >= 1.0:
        return width, height
    return max(8, round(width * scale)), max(8, round(height * scale))


# ---------------------------------------------------------------------------------------------
# Images


def decode_image(data: bytes, what: str = "image") -> Image.Image:
    """Decode image bytes to RGB; anything Pillow cannot read is a ValueError naming the field."""
    if not data:
        raise ValueError(f"{what}: the file is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            return img.convert("RGB")
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{what}: not a readable image ({exc})") from exc


def palette(rng: np.random.Generator, count: int = 4) -> list[tuple[int, int, int]]:
    """Harmonious colours: hues spread around a random base, fairly saturated, mid-bright."""
    base = float(rng.random())
    colours = []
    for i in range(count):
        hue = (base + i * (0.08 + 0.1 * float(rng.random()))) % 1.0
        sat = 0.45 + 0.35 * float(rng.random())
        val = 0.55 + 0.4 * float(rng.random())
        r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return colours


def draw_artwork(prompt: str, seed: int, width: int, height: int) -> Image.Image:
    """A gradient with soft shapes; colours and layout derive from a hash of prompt and seed."""
    rng = rng_for("image", prompt, seed)
    colours = palette(rng, 5)
    angle = float(rng.random()) * 2 * math.pi
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (xs / width - 0.5) * math.cos(angle) + (ys / height - 0.5) * math.sin(angle)
    t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    c0 = np.array(colours[0], np.float32)
    c1 = np.array(colours[1], np.float32)
    pixels = c0 * (1 - t[..., None]) + c1 * t[..., None]
    base = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")

    # Shapes are drawn opaque onto a copy of the gradient and faded in through a blurred alpha
    # mask: blurring an RGBA layer directly would bleed its transparent black into dark halos.
    solid = base.copy()
    solid_draw = ImageDraw.Draw(solid)
    mask = Image.new("L", (width, height), 0)
    mask_draw = ImageDraw.Draw(mask)
    scale = min(width, height)
    for i in range(int(rng.integers(5, 9))):
        colour = colours[2 + i % 3]
        cx, cy = float(rng.random()) * width, float(rng.random()) * height
        radius = scale * (0.08 + 0.25 * float(rng.random()))
        alpha = int(110 + 100 * float(rng.random()))
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        if i % 3 == 2:
            solid_draw.rounded_rectangle(box, radius=int(radius / 3), fill=colour)
            mask_draw.rounded_rectangle(box, radius=int(radius / 3), fill=alpha)
        else:
            solid_draw.ellipse(box, fill=colour)
            mask_draw.ellipse(box, fill=alpha)
    soften = ImageFilter.GaussianBlur(radius=max(1, scale // 120))
    base = Image.composite(solid.filter(soften), base, mask.filter(soften))
    return base


def draw_caption(img: Image.Image, text: str, *, max_lines: int = 5) -> Image.Image:
    """Render `text` legibly in a translucent panel along the bottom of the image."""
    width, height = img.size
    font_size = max(12, min(width, height) // 22)
    font = load_font(font_size)
    chars_per_line = max(8, int(width * 0.88 / (font_size * 0.6)))
    lines = textwrap.wrap(text.strip() or "(empty prompt)", chars_per_line)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1][: chars_per_line - 1] + "…"]
    line_height = int(font_size * 1.3)
    pad = font_size // 2
    panel_h = line_height * len(lines) + 2 * pad
    top = height - panel_h - pad
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rounded_rectangle(
        (pad, top, width - pad, height - pad), radius=pad, fill=(10, 10, 20, 150)
    )
    for i, line in enumerate(lines):
        draw.text(
            (2 * pad, top + pad + i * line_height), line, font=font, fill=(255, 255, 255, 255)
        )
    out = img.convert("RGBA")
    out.alpha_composite(overlay)
    return out.convert("RGB")


def fit_cover(img: Image.Image, width: int, height: int) -> Image.Image:
    """Scale and centre-crop `img` to exactly width x height."""
    scale = max(width / img.width, height / img.height)
    resized = img.resize(
        (max(width, round(img.width * scale)), max(height, round(img.height * scale))),
        Image.Resampling.BILINEAR,
    )
    left = (resized.width - width) // 2
    top = (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))


def blend_input(
    art: Image.Image,
    init: Image.Image,
    strength: float,
    mask: Image.Image | None = None,
) -> Image.Image:
    """img2img: keep the input image visibly; `strength` (0..1) is how much the prompt repaints.

    With a mask (white = repaint, black = keep) the generated art only replaces the white part.
    """
    init_fit = fit_cover(init, *art.size)
    if mask is not None:
        mask_l = fit_cover(mask.convert("RGB"), *art.size).convert("L")
        return Image.composite(art, init_fit, mask_l)
    keep = min(0.85, max(0.35, 1.0 - strength))
    return Image.blend(art, init_fit, keep)


IMAGE_TYPES = {
    "webp": ("image/webp", "webp"),
    "jpg": ("image/jpeg", "jpg"),
    "jpeg": ("image/jpeg", "jpg"),
    "png": ("image/png", "png"),
}


def encode_image(img: Image.Image, fmt: str, quality: int = 80) -> tuple[bytes, str, str]:
    """Encode to webp/jpg/png; returns (bytes, content type, file extension)."""
    content_type, ext = IMAGE_TYPES[fmt]
    buf = io.BytesIO()
    quality = max(1, min(100, int(quality)))
    if ext == "webp":
        img.save(buf, "WEBP", quality=quality, method=4)
    elif ext == "jpg":
        img.save(buf, "JPEG", quality=quality, optimize=False)
    else:
        img.save(buf, "PNG", compress_level=6)
    return buf.getvalue(), content_type, ext


def render_image(
    prompt: str,
    seed: int,
    width: int,
    height: int,
    *,
    init: Image.Image | None = None,
    strength: float = 0.8,
    mask: Image.Image | None = None,
) -> Image.Image:
    """Artwork, optionally blended with an input image, captioned with the prompt."""
    art = draw_artwork(prompt, seed, width, height)
    if init is not None:
        art = blend_input(art, init, strength, mask)
    return draw_caption(art, prompt)


# ---------------------------------------------------------------------------------------------
# Video


def _caption_overlay(width: int, height: int, text: str) -> tuple[np.ndarray, np.ndarray]:
    """The prompt caption as (rgb, alpha) arrays, rendered once and composited on every frame."""
    probe = Image.new("RGB", (width, height), (0, 0, 0))
    white = draw_caption(probe, text, max_lines=3)
    black = draw_caption(Image.new("RGB", (width, height), (255, 255, 255)), text, max_lines=3)
    w = np.asarray(white, np.float32)
    b = np.asarray(black, np.float32)
    # Composited over black vs over white tells colour and coverage apart: a = 1 - (b - w) / 255.
    alpha = (1.0 - (b - w) / 255.0).mean(axis=2, keepdims=True).clip(0, 1)
    rgb = np.where(alpha > 1e-3, w / np.maximum(alpha, 1e-3), 0).clip(0, 255)
    return rgb, alpha


def _composite(frame: np.ndarray, overlay: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    rgb, alpha = overlay
    return (frame * (1 - alpha) + rgb * alpha).astype(np.uint8)


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
    overlay = _caption_overlay(width, height, prompt)
    pan_x, pan_y = float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
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
        glow = np.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * glow_radius**2))
        frame = frame + 70.0 * glow[..., None]
        yield _composite(frame.clip(0, 255), overlay)


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
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.options = options
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
            grid = tuple(np.mgrid[0:height, 0:width].astype(np.float32))  # type: ignore[assignment]
        ys, xs = grid  # type: ignore[misc]
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


# ---------------------------------------------------------------------------------------------
# Audio


@dataclass(frozen=True)
class AudioClip:
    """Float32 samples shaped (channels, n) in [-1, 1]."""

    samples: np.ndarray
    sample_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / self.sample_rate


def decode_audio(
    data: bytes, what: str = "audio", *, rate: int = 44100, mono: bool = True
) -> AudioClip:
    """Decode wav/mp3/ogg/flac/m4a (anything FFmpeg reads); not audio or empty -> ValueError."""
    if not data:
        raise ValueError(f"{what}: the file is empty")
    layout = "mono" if mono else "stereo"
    chunks: list[np.ndarray] = []
    try:
        with av.open(io.BytesIO(data)) as container:
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


def decode_video_frames(
    data: bytes, what: str = "video", *, max_frames: int = 250, max_side: int = 512
) -> tuple[list[Image.Image], float]:
    """Frames (RGB, long side <= max_side) and fps of a video; a still image counts as one frame."""
    if not data:
        raise ValueError(f"{what}: the file is empty")
    images: list[Image.Image] = []
    fps = 25.0
    try:
        with av.open(io.BytesIO(data)) as container:
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


_BPM = re.compile(r"(\d{2,3}(?:\.\d+)?)\s*-?\s*bpm\b", re.IGNORECASE)


def bpm_from_prompt(prompt: str, default: float = 120.0) -> float:
    """Tempo from text like '80 BPM' or '80bpm' (kept within 40..220), else `default`."""
    match = _BPM.search(prompt)
    if not match:
        return default
    return min(220.0, max(40.0, float(match[1])))


_PROGRESSIONS = ((0, 7, 9, 5), (9, 5, 0, 7), (0, 9, 5, 7), (0, 5, 9, 7))
_MINOR_WORDS = ("sad", "dark", "minor", "melanchol", "moody", "somber", "sombre", "gloomy")
_CALM_WORDS = ("calm", "ambient", "chill", "lo-fi", "lofi", "relax", "soft", "sleep")


def _note_hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _add(track: np.ndarray, start: int, sound: np.ndarray) -> None:
    end = min(track.shape[-1], start + sound.shape[-1])
    if start < end:
        track[..., start:end] += sound[..., : end - start]


def synth_music(
    prompt: str,
    duration: float,
    *,
    sample_rate: int = 32000,
    channels: int = 1,
    seed: int = 0,
    melody: AudioClip | None = None,
    continuation: bool = False,
    normalization: str = "loudness",
) -> AudioClip:
    """Drums, bass and chord pads at the prompt's tempo; exactly `duration` seconds long.

    A melody clip is mixed in quietly (conditioning); with `continuation` it opens the track and
    the synthesis carries on after it. Never clipped: the result is normalised, then soft-limited.
    """
    n = round(duration * sample_rate)
    rng = rng_for("music", prompt, seed)
    text = prompt.lower()
    bpm = bpm_from_prompt(prompt)
    beat = 60.0 / bpm
    minor = any(w in text for w in _MINOR_WORDS)
    calm = any(w in text for w in _CALM_WORDS)
    root = 45 + int(rng.integers(0, 8))  # A2..E3
    progression = _PROGRESSIONS[int(rng.integers(0, len(_PROGRESSIONS)))]
    drums = np.zeros(n, np.float32)
    bass = np.zeros(n, np.float32)
    pads = np.zeros((2, n), np.float32)
    hats = np.zeros(n, np.float32)

    def env_decay(length_s: float, tau: float) -> tuple[np.ndarray, np.ndarray]:
        t = np.arange(int(length_s * sample_rate)) / sample_rate
        return t, np.exp(-t / tau)

    kt, kenv = env_decay(0.35, 0.09)
    kick = np.sin(2 * np.pi * (45 * kt + (120 - 45) * 0.04 * (1 - np.exp(-kt / 0.04)))) * kenv
    st, senv = env_decay(0.25, 0.06)
    snare_noise = rng.standard_normal(st.size).astype(np.float32)
    snare = (0.5 * snare_noise + 0.5 * np.sin(2 * np.pi * 185 * st)) * senv
    ht, henv = env_decay(0.08, 0.015)
    hat_noise = np.diff(rng.standard_normal(ht.size + 1)).astype(np.float32)
    hat = hat_noise * henv
    drum_gain = 0.55 if calm else 0.8

    beats = int(duration / beat) + 1
    for b in range(beats):
        pos = int(b * beat * sample_rate)
        _add(drums, pos, drum_gain * kick * (1.0 if b % 2 == 0 else 0.7))
        if b % 4 in (1, 3):
            _add(drums, pos, drum_gain * 0.45 * snare)
        _add(hats, int((b + 0.5) * beat * sample_rate), drum_gain * 0.12 * hat)

    bar = 4 * beat
    for bar_index in range(int(duration / bar) + 1):
        degree = progression[bar_index % len(progression)]
        chord_root = root + degree
        is_minor_chord = (degree in (9, 2, 4)) != minor
        third = 3 if is_minor_chord else 4
        pos = int(bar_index * bar * sample_rate)
        length = int(bar * sample_rate)
        t = np.arange(length) / sample_rate
        attack = np.minimum(1.0, t / 0.08)
        release = np.minimum(1.0, (bar - t) / 0.15).clip(0, 1)
        shape = attack * release
        for k, interval in enumerate((12, 12 + third, 19)):
            hz = _note_hz(chord_root + interval)
            for side, detune in ((0, -0.6), (1, 0.6)):
                wave = np.sin(2 * np.pi * (hz + detune) * t) + 0.25 * np.sin(4 * np.pi * hz * t)
                _add(pads[side], pos, (0.09 - 0.01 * k) * wave * shape)
        for half in (0, 2):
            bt = np.arange(int(2 * beat * sample_rate)) / sample_rate
            bass_note = np.sin(2 * np.pi * _note_hz(chord_root) * bt) * np.exp(-bt / (beat * 1.2))
            _add(bass, pos + int(half * beat * sample_rate), 0.35 * bass_note)

    mix = np.zeros((2, n), np.float32)
    mix += drums + bass
    mix += pads
    mix[0] += 0.8 * hats
    mix[1] += 1.0 * hats
    if melody is not None:
        tune = melody.samples.mean(axis=0)[:n]
        if continuation:
            fade = min(tune.size, int(0.5 * sample_rate))
            ramp = np.ones(n, np.float32)
            ramp[: tune.size] = 0.0
            ramp[tune.size - fade : tune.size] = np.linspace(0, 1, fade)
            mix *= ramp
            mix[:, : tune.size] += tune * (1 - ramp[: tune.size])
        else:
            mix[:, : tune.size] += 0.3 * tune
    fade_in, fade_out = min(n, int(0.01 * sample_rate)), min(n, int(0.5 * sample_rate))
    mix[:, :fade_in] *= np.linspace(0, 1, fade_in)
    mix[:, n - fade_out :] *= np.linspace(1, 0, fade_out)
    out = mix if channels == 2 else mix.mean(axis=0, keepdims=True)
    return AudioClip(normalize_audio(out, normalization), sample_rate)


def normalize_audio(samples: np.ndarray, strategy: str) -> np.ndarray:
    """MusicGen's normalisation strategies, followed by a soft limiter so nothing clips."""
    peak = float(np.abs(samples).max()) or 1.0
    rms = float(np.sqrt(np.mean(samples**2))) or 1.0
    if strategy == "peak":
        gain = 0.89 / peak
    elif strategy == "clip":
        gain = 0.15 / rms
    else:  # loudness / rms: about -18 dBFS RMS
        gain = 0.125 / rms
    out = samples * gain
    # tanh soft limiter above 0.8: transparent below, never reaches full scale.
    over = np.abs(out) > 0.8
    out[over] = np.sign(out[over]) * (0.8 + 0.15 * np.tanh((np.abs(out[over]) - 0.8) / 0.15))
    return out.astype(np.float32)


AUDIO_TYPES = {"wav": ("audio/wav", "wav"), "mp3": ("audio/mpeg", "mp3")}


def encode_audio(clip: AudioClip, fmt: str) -> tuple[bytes, str, str]:
    """WAV (PCM 16) or MP3 via libsndfile; returns (bytes, content type, extension)."""
    content_type, ext = AUDIO_TYPES[fmt]
    buf = io.BytesIO()
    data = clip.samples.T
    if ext == "wav":
        soundfile.write(buf, data, clip.sample_rate, format="WAV", subtype="PCM_16")
    else:
        soundfile.write(buf, data, clip.sample_rate, format="MP3", subtype="MPEG_LAYER_III")
    return buf.getvalue(), content_type, ext
