"""Shared helpers of the simulated media: seeds, progress lines, fonts, sizes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import ImageFont

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
    width: float
    height: float
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
