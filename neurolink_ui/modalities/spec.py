"""What a modality is (its registry entry's types). No Gradio.

A modality declares here, once, how it is named and shown, what it outputs, its main controls and
suggested models, and how a person's values become a model's input; `registry` keeps the entries.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..replicate.outputs import RunOutput
from ..replicate.schema import InputSchema, ModelInfo
from .common import InputProblem, MappedInput

ControlKind = Literal["text", "slider", "dropdown", "radio", "number"]


@dataclass(frozen=True)
class Control:
    """One main control of a modality (Compare shows it; the API's input JSON takes its name).
    The type of `default` is the type a value must have."""

    name: str
    label: str
    default: str | float
    kind: ControlKind = "text"
    choices: tuple[Any, ...] = ()  # values, or (label, value) pairs
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None


@dataclass(frozen=True)
class ModalityValues:
    """What a person gave a modality, before any model is known."""

    prompt: str = ""
    controls: Mapping[str, Any] = field(default_factory=dict)
    image: Path | None = None
    audio: Path | None = None
    advanced: Mapping[str, Any] = field(default_factory=dict)
    # Further images by role, beside the main one (the Video panel's `last_frame`).
    more_images: Mapping[str, Path] = field(default_factory=dict)


# How a modality maps a person's values onto one model's schema (raising InputProblem).
InputMapper = Callable[[ModelInfo, ModalityValues], MappedInput]


@dataclass(frozen=True)
class Modality:
    """A modality, declared once: how it is named and shown, what it outputs, its main controls
    and the models it suggests, and how a person's values become a model's input."""

    name: str  # the panel's tab id, the API name, History's kind
    title: str  # the tab's and the shared view's title
    icon: str
    output: RunOutput  # what its runs download
    map_input: InputMapper
    filled_fields: Callable[[InputSchema], frozenset[str]]  # what its panel fills (not Advanced)
    suggested_models: Callable[[], list[str]]  # the catalogue's confirmed ones, default first
    controls: tuple[Control, ...] = ()
    image_role: str | None = None  # what an image upload is to it (None: it takes none)
    audio_role: str | None = None  # what an audio upload is to it (None: it takes none)
    needs_prompt: bool = True
    noun: str = "result"  # what one run makes, for messages ("image", "video", "track")
    panel_module: str | None = None  # the UI module whose `build_panel` draws its tab
    # (typical, worst) seconds of one run of its models, created → completed: the deadline of a
    # model the catalogue has no `run_time` for (`neurolink_ui.deadlines`); None: none known.
    usual_run: tuple[float, float] | None = None

    @property
    def control_defaults(self) -> dict[str, str | float]:
        return {control.name: control.default for control in self.controls}

    def control(self, name: str) -> Control:
        """The main control called `name` (its label, default, bounds and choices)."""
        found = next((control for control in self.controls if control.name == name), None)
        if found is None:
            raise LookupError(f"{self.name} has no control {name!r}")
        return found

    def check_uploads(
        self, image: str | Path | None, audio: str | Path | None, where: str = "panel"
    ) -> None:
        """Uploads this modality cannot take, refused with how to go on."""
        if image and self.image_role is None:
            raise InputProblem(f"The {self.name} {where} takes no image; leave the image empty.")
        if audio and self.audio_role is None:
            raise InputProblem(f"The {self.name} {where} takes no audio; leave the audio empty.")

    def build_panel(self) -> Callable[..., Any]:
        """The UI's panel builder for this modality (imported when the page is built)."""
        if self.panel_module is None:
            raise LookupError(f"{self.name} has no panel")
        builder: Callable[..., Any] = importlib.import_module(self.panel_module).build_panel
        return builder


@dataclass(frozen=True)
class ResultKind:
    """How a kind of kept result is named where it is shown (History, the shared view)."""

    name: str
    title: str
    icon: str
