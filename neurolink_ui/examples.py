"""Examples a newcomer can try in one click: the model's own, then each panel's curated ones.

No Gradio here. A model's `default_example` (from `GET /v1/models/{owner}/{name}`) is what its page
on replicate.com runs; only its text prompt is offered, never its file URLs (the app does not
fetch what an API hands back just to fill a form).
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw

from .replicate.schema import ModelInfo

Panel = Literal["chat", "image", "video", "music"]
MAX_EXAMPLES = 4
MAX_EXAMPLE_CHARS = 300  # a model's own prompt longer than this is a template, not an example

CURATED: dict[Panel, tuple[str, ...]] = {
    "chat": (
        "Explain how a rainbow forms, in three sentences.",
        "Write a haiku about a cat watching rain.",
        "What should I pack for a weekend hike in autumn?",
    ),
    "image": (
        "A red panda reading a map in a lantern-lit library",
        "Isometric cutaway of a cosy treehouse at dusk, soft light",
        "A watercolour lighthouse on a cliff, stormy sea",
    ),
    "video": (
        "Waves rolling onto a beach at sunset, slow camera pan",
        "A paper boat drifting down a rainy street",
        "Time-lapse of clouds over a mountain lake",
    ),
    "music": (
        "Lo-fi hip-hop beat with vinyl crackle and soft piano",
        "Upbeat synth-pop with a driving bassline",
        "Calm acoustic guitar by a campfire",
    ),
}


def model_prompt(example_input: dict[str, Any]) -> str | None:
    """The text prompt of a model's own example, when it has a short, plain one."""
    prompt = example_input.get("prompt")
    if not isinstance(prompt, str):
        return None
    prompt = prompt.strip()
    if not prompt or len(prompt) > MAX_EXAMPLE_CHARS or prompt.startswith(("<", "http")):
        return None  # empty, a chat template, or a file
    return prompt


def panel_examples(panel: Panel, info: ModelInfo | None = None) -> list[str]:
    """Up to MAX_EXAMPLES prompts: the selected model's own example first, then the curated."""
    own = model_prompt(info.example_input) if info is not None else None
    prompts = [own, *CURATED[panel]] if own else list(CURATED[panel])
    return list(dict.fromkeys(prompts))[:MAX_EXAMPLES]


def write_avatar_example(folder: Path) -> tuple[Path, Path]:
    """A drawn portrait and three seconds of a varying tone, so the Avatar panel can be tried
    without uploads. Made once per app start; no model's example files are downloaded."""
    folder.mkdir(parents=True, exist_ok=True)
    portrait = folder / "example-portrait.png"
    narration = folder / "example-narration.wav"
    face = Image.new("RGB", (384, 480), (196, 214, 236))
    draw = ImageDraw.Draw(face)
    draw.ellipse((92, 80, 292, 340), fill=(236, 200, 170))  # face
    draw.ellipse((140, 170, 166, 196), fill=(45, 45, 60))  # eyes
    draw.ellipse((218, 170, 244, 196), fill=(45, 45, 60))
    draw.arc((150, 230, 234, 290), 20, 160, fill=(160, 70, 70), width=6)  # smile
    draw.rectangle((112, 340, 272, 480), fill=(90, 110, 170))  # shoulders
    face.save(portrait)
    rate = 16_000
    t = np.arange(3 * rate) / rate
    voice = 0.3 * np.sin(2 * np.pi * (170 + 30 * np.sin(2 * np.pi * 0.7 * t)) * t)
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 3.5 * t)
    samples = (voice * syllables * 32767).astype("<i2")
    with wave.open(str(narration), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return portrait, narration
