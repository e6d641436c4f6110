"""Components with the behaviour the panels need: clear errors for bad uploads, cheap updates."""

from __future__ import annotations

import copy
from typing import Any

import gradio as gr
from PIL import UnidentifiedImageError


class ImageInput(gr.Image):
    """`gr.Image` whose unreadable uploads become a clear error instead of a generic failure."""

    is_template = True  # rendered by the frontend as a plain Image

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            name = getattr(payload, "orig_name", None) or "the file"
            raise gr.Error(
                f"{self.label or 'Image'}: {name} is not an image we can read. "
                "Upload a PNG, JPEG or WebP file.",
                title="Invalid image",
            ) from None


_API_INFO: dict[type, dict[str, Any]] = {}


def _api_info_per_class(self: gr.components.Component) -> dict[str, Any]:
    """Gradio rebuilds an output's config at every update a generator yields, including a
    pydantic JSON schema (`api_info`) cached only per instance: under load a third of the app's
    CPU (BENCHMARKS.md). For media components that schema depends on the class alone."""
    cls = type(self)
    if cls not in _API_INFO:
        _API_INFO[cls] = gr.components.Component.api_info(self)
    return copy.deepcopy(_API_INFO[cls])


# `is_template`: the frontend renders each as its Gradio base (the name comes from `__base__`).
class GalleryOutput(gr.Gallery):
    is_template = True
    api_info = _api_info_per_class


class VideoOutput(gr.Video):
    is_template = True
    api_info = _api_info_per_class


class ImageOutput(gr.Image):
    is_template = True
    api_info = _api_info_per_class


class AudioOutput(gr.Audio):
    is_template = True
    api_info = _api_info_per_class
