"""Components with the behaviour the panels need: clear errors for bad uploads, cheap updates."""

from __future__ import annotations

import copy
import functools
from typing import Any, ClassVar

import gradio as gr
from gradio.components.chatbot import ChatbotDataMessages
from PIL import Image, UnidentifiedImageError

from ..limits import check_chat_history, check_number
from ..modalities.common import InputProblem, refuse_oversized, too_many_pixels
from .common import refuse


class ImageInput(gr.Image):
    """`gr.Image` whose unreadable or oversized uploads become a clear error instead of a generic
    failure; the size is read from the header, so nothing big is decoded to refuse it."""

    is_template = True  # rendered by the frontend as a plain Image

    def preprocess(self, payload: Any) -> Any:
        name = getattr(payload, "orig_name", None) or "the file"
        what = f"{self.label or 'image'} ({name})"
        try:
            if payload is not None and getattr(payload, "path", None):
                with Image.open(payload.path) as header:  # lazy: reads the size, decodes nothing
                    refuse_oversized(header, what, "image")
            return super().preprocess(payload)
        except InputProblem as exc:
            raise refuse(str(exc), title="Image too large") from None
        except Image.DecompressionBombError:
            raise refuse(str(too_many_pixels(what, "image")), title="Image too large") from None
        except (
            UnidentifiedImageError,
            OSError,
            ValueError,
            SyntaxError,
        ):
            raise refuse(
                f"{self.label or 'Image'}: {name} is not an image we can read. "
                "Upload a PNG, JPEG or WebP file.",
                title="Invalid image",
            ) from None


class NumberInput(gr.Number):
    """`gr.Number` that refuses NaN, infinities and numbers of unbounded size with a clear
    message (Gradio's own rounding would fail on them with a generic error)."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        try:
            check_number(payload, str(self.label or "number").lower())
        except InputProblem as exc:
            raise refuse(str(exc)) from None
        return super().preprocess(payload)


class _CheckedMessages(ChatbotDataMessages):
    """The Chatbot's data model, checked for shape and size before pydantic reads it (a wrong
    shape would otherwise surface as a generic error, a huge one would be copied around)."""

    message_limit: ClassVar[int] = 200_000

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            check_chat_history(obj, message_limit=cls.message_limit)
        except InputProblem as exc:
            raise refuse(str(exc)) from None
        return super().model_validate(obj, *args, **kwargs)


@functools.cache
def _checked_messages(message_limit: int) -> type[ChatbotDataMessages]:
    # Named as Gradio's own model, so the API docs describe the history exactly as before.
    return type(
        "ChatbotDataMessages",
        (_CheckedMessages,),
        {"message_limit": message_limit, "__module__": __name__},
    )


class ChatHistoryInput(gr.Chatbot):
    """`gr.Chatbot` whose incoming history is checked (shape, messages, characters) first.
    Build it with `chat_history_input()`: Gradio reads a component's config from its
    `__init__` signature, so this class keeps gr.Chatbot's own."""

    is_template = True


def chat_history_input(message_limit: int, **kwargs: Any) -> ChatHistoryInput:
    """A chat history component whose messages may hold up to `message_limit` characters."""
    chatbot = ChatHistoryInput(**kwargs)
    chatbot.data_model = _checked_messages(message_limit)
    return chatbot


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
