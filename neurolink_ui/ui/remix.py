"""Remix: what each tab fills from a kept result (its model, prompt, controls, input files and
Advanced preset), by the model inputs each component sets."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import gradio as gr

from ..modalities.generic import file_category
from ..results import StoredResult
from .forms import AdvancedPreset


class Remixable(Protocol):
    """What Remix fills: a tab (`panel`, its tab id), its components and their values for a
    kept result of its kind. RemixTarget for the five panels; the Compare tab has its own."""

    @property
    def panel(self) -> str: ...

    @property
    def components(self) -> list[gr.components.Component]: ...

    def values(self, result: StoredResult) -> list[Any]: ...


@dataclass(frozen=True)
class RemixTarget:
    """What Remix fills in one panel: its model picker, prompt box, main controls and file
    inputs, each by the model inputs it sets (the first of those names the stored input has
    gives its value; a file input takes the kept file of its kind), and its Advanced form's
    preset (`advanced_form`'s `preset` State): the form loaded for the model takes the stored
    input's other values its controls can hold."""

    panel: str
    model: gr.components.Component
    prompt: gr.components.Component | None = None
    controls: Mapping[tuple[str, ...], gr.components.Component] = field(default_factory=dict)
    preset: gr.State | None = None
    files: Mapping[tuple[str, ...], gr.components.Component] = field(default_factory=dict)

    @property
    def components(self) -> list[gr.components.Component]:
        return [
            self.model,
            *([self.prompt] if self.prompt else []),
            *self.controls.values(),
            *self.files.values(),
            *([self.preset] if self.preset else []),
        ]

    def values(self, result: StoredResult) -> list[Any]:
        """The components' new values: the result's model, prompt, controls it had a value
        for (the others keep theirs), its kept input files, and the Advanced preset."""
        kept = {name: str(paths[0]) for name, paths in result.input_files.items() if paths}
        preset = AdvancedPreset(
            result.model, json.dumps(result.input, default=str), json.dumps(kept)
        )
        return [
            result.model,
            *([result.prompt] if self.prompt else []),
            *(_stored_value(result.input, names, c) for names, c in self.controls.items()),
            *(kept_input_file(result, names, c) or gr.skip() for names, c in self.files.items()),
            *([preset] if self.preset else []),
        ]


_CATEGORY_OF = ((gr.Image, "image"), (gr.Audio, "audio"), (gr.Video, "video"))


def kept_input_file(
    result: StoredResult, names: Sequence[str], component: gr.components.Component
) -> str | None:
    """The kept file of the first of `names` the result's input had, when it is of the kind
    `component` shows (by its bytes: an avatar's portrait made into a video does not go back
    into an image input); None if it has none."""
    wanted = next((kind for cls, kind in _CATEGORY_OF if isinstance(component, cls)), None)
    for name in names:
        for path in result.input_files.get(name, ()):
            if path.is_file() and (wanted is None or file_category(path) == wanted):
                return str(path)
    return None


def _stored_value(
    stored: dict[str, Any], names: Sequence[str], component: gr.components.Component
) -> Any:
    """The first of `names` the stored input has a value for that `component` can take (a
    model's own choice such as `match_input_image` is not one of the panel's ratios: the
    control keeps its value, which maps to it again)."""
    for name in names:
        value = stored.get(name)
        if _fits(value) and _offered(component, value):
            return value
    return gr.skip()


def _offered(component: gr.components.Component, value: Any) -> bool:
    if not isinstance(component, gr.Dropdown) or component.allow_custom_value:
        return True
    return any(choice[1] == value for choice in component.choices)


def _fits(value: Any) -> bool:
    """A stored value a control can take (not a file's placeholder: files go by `files`)."""
    return isinstance(value, bool | int | float) or (
        isinstance(value, str) and not value.startswith("<")
    )
