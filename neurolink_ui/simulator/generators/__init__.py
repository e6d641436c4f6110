"""Generation behaviour, one generic generator per panel (see each module for the fields it reads)."""

from __future__ import annotations

from .avatar import generate_avatar
from .chat import generate_chat, generate_text
from .common import FileResolver, Generation, Generator, ModelView, OutputFile
from .image import generate_image
from .music import generate_music
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
    """The panel's generator; a plain-string Output (hello-world) answers as text."""
    if output.get("type") == "string" and output.get("format") != "uri":
        return generate_text
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
