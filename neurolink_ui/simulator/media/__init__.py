"""Deterministic real media for the simulator: Pillow images, PyAV video, numpy-synthesised audio.

Everything here is a pure function of its arguments (prompt, seed, sizes, input media), so the same
input gives the same bytes. Outputs are real, decodable files: clients are tested against them.
"""

from __future__ import annotations

from .audio import (
    amplitude_envelope,
    decode_audio,
    render_talking_head,
)
from .common import (
    FONT_DIR,
    MAX_IMAGE_SIDE,
    MAX_VIDEO_SHORT_SIDE,
    AudioClip,
    Font,
    cap_size,
    even,
    load_font,
    parse_ratio,
    rng_for,
    size_for_ratio,
    stable_seed,
    tqdm_lines,
)
from .images import (
    IMAGE_TYPES,
    blend_input,
    decode_image,
    draw_artwork,
    draw_caption,
    encode_image,
    fit_cover,
    palette,
    render_image,
)
from .music import (
    AUDIO_TYPES,
    bpm_from_prompt,
    encode_audio,
    normalize_audio,
    synth_music,
)
from .video import (
    animate_frames,
    decode_video_frames,
    encode_animated_webp,
    encode_mp4,
    encode_webm_alpha,
    video_size,
    with_alpha,
)

__all__ = [
    "AUDIO_TYPES",
    "FONT_DIR",
    "IMAGE_TYPES",
    "MAX_IMAGE_SIDE",
    "MAX_VIDEO_SHORT_SIDE",
    "AudioClip",
    "Font",
    "amplitude_envelope",
    "animate_frames",
    "blend_input",
    "bpm_from_prompt",
    "cap_size",
    "decode_audio",
    "decode_image",
    "decode_video_frames",
    "draw_artwork",
    "draw_caption",
    "encode_animated_webp",
    "encode_audio",
    "encode_image",
    "encode_mp4",
    "encode_webm_alpha",
    "even",
    "fit_cover",
    "load_font",
    "normalize_audio",
    "palette",
    "parse_ratio",
    "render_image",
    "render_talking_head",
    "rng_for",
    "size_for_ratio",
    "stable_seed",
    "synth_music",
    "tqdm_lines",
    "video_size",
    "with_alpha",
]
