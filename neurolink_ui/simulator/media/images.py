"""Images: decoding inputs, drawing prompt artwork, blending an input image in, encoding."""

from __future__ import annotations

import colorsys
import io
import math
import textwrap

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .common import load_font, rng_for

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
