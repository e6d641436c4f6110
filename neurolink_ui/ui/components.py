"""Components with the behaviour the panels need: clear errors for bad uploads, cheap updates."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import gradio as gr
from gradio.components.chatbot import ChatbotDataMessages
from PIL import Image, UnidentifiedImageError

from ..limits import check_chat_history, check_number
from ..modalities.common import InputProblem, refuse_oversized, too_many_pixels
from .common import Refused, refuse


class ImageInput(gr.Image):
    """`gr.Image` whose unreadable or oversized uploads are refused with a clear message (handed
    to the handler as a `Refused`, said in the panel's status) instead of a generic failure;
    the size is read from the header, so nothing big is decoded to refuse it."""

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
            return refused(str(exc), title="Image too large")
        except Image.DecompressionBombError:
            return refused(str(too_many_pixels(what, "image")), title="Image too large")
        except (
            UnidentifiedImageError,
            OSError,
            ValueError,
            SyntaxError,
        ):
            return refused(
                f"{self.label or 'Image'}: {name} is not an image we can read. "
                "Upload a PNG, JPEG or WebP file.",
                title="Invalid image",
            )


def refused(message: str, title: str = "Invalid input") -> Refused:
    """A component's refusal of a value (the handler that refuses it logs one line)."""
    return Refused(message, title)


def _shown(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) and not value.is_integer() else f"{value:,.0f}"


def number_problem(
    value: Any,
    label: str,
    minimum: float | None = None,
    maximum: float | None = None,
    whole: bool = False,
) -> str | None:
    """What is wrong with a number a control sent (None: nothing): not finite or unbounded, not
    whole where it must be, outside the control's range. Said with the control's own label."""
    if value is None:
        return None
    try:
        check_number(value, label.lower())
    except InputProblem as exc:
        return str(exc)
    if whole and isinstance(value, float) and not value.is_integer():
        return f"{label} must be a whole number (got {value:g})."
    if minimum is not None and value < minimum:
        return f"{label} must be at least {_shown(minimum)} (got {_shown(value)})."
    if maximum is not None and value > maximum:
        return f"{label} must be at most {_shown(maximum)} (got {_shown(value)})."
    return None


class NumberInput(gr.Number):
    """`gr.Number` whose bad values (NaN, infinities, numbers of unbounded size, a fraction where
    a whole number is needed, outside its range) are refused with a clear message, handed to the
    handler as a `Refused`: Gradio's own check would raise before the handler (a toast, an Error
    badge over the outputs) or round 12.7 to 13 without a word."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        if payload is None:
            return None
        label = str(self.label or "The number")
        problem = number_problem(
            payload, label, self.minimum, self.maximum, whole=self.precision == 0
        )
        if problem is not None:
            return refused(problem)
        return super().preprocess(payload)


class SliderInput(gr.Slider):
    """`gr.Slider` whose out-of-range values (an API caller's: the page keeps a slider within
    its range) are refused as NumberInput's are, not raised before the handler."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        label = str(self.label or "The value")
        problem = number_problem(payload, label, self.minimum, self.maximum)
        if problem is not None:
            return refused(problem)
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


ALT_CHARS = 150  # a screen reader reads the whole alt text at each picture: the gist, not a page


def described(paths: Iterable[Path | str], prompt: Any, fallback: str) -> list[tuple[str, str]]:
    """A gallery's pictures, each with its alt text: what the prompt asked for (issue 23, item
    8), or `fallback` without one. Gradio gives a grid picture its caption as alt text; the
    panels' galleries show it to screen readers only (`nl-alt` in app.CSS), the prompt being
    on screen already."""
    text = " ".join(prompt.split()) if isinstance(prompt, str) else ""
    text = text or fallback
    if len(text) > ALT_CHARS:
        text = text[: ALT_CHARS - 1] + "…"
    return [(str(path), text) for path in paths]
