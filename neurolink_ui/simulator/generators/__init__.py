"""Generation behaviour, one generic generator per panel (see each module for the fields it reads)."""

from __future__ import annotations

from .avatar import generate_avatar
from .chat import generate_chat, generate_text
from .common import FileResolver, Generation, Generator, ModelView, OutputFile
from .image import generate_image
from .music import generate_music
from .structured import generate_json
from .transform import transform_image
from .video import generate_video

__all__ = [
    "FileResolver",
    "Generation",
    "Generator",
    "ModelView",
    "OutputFile",
    "generator_for",
]


def generator_for(panel: str, output: dict[str, object]) -> Generator:
    """The panel's generator; a plain-string Output (hello-world) answers as text. A model of
    no panel is decided by its Output: files (an image in, transformed) or JSON."""
    if output.get("type") == "string" and output.get("format") != "uri":
        return generate_text
    if panel == "other":
        items = output.get("items")
        item = items if isinstance(items, dict) else output
        return transform_image if item.get("format") == "uri" else generate_json
    generators: dict[str, Generator] = {
        "chat": generate_chat,
        "image": generate_image,
        "video": generate_video,
        "avatar": generate_avatar,
        "music": generate_music,
    }
    if panel not in generators:
        raise ValueError(f"no generator for panel {panel!r}")
    return generators[panel]
