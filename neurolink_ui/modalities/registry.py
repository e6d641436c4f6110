"""The modality registry: every modality, declared once. No Gradio.

History, the shared view, Compare, Explore's "Open in the X panel", the API and the command line
read an entry here instead of keeping their own tables; a new modality is a new entry plus its own
modules, not twenty edits. The five built-in ones are `builtin.BUILTIN`; more come from the
modules named in NEUROLINK_MODALITIES (comma-separated), each of which calls `register()` when
imported (its panel module is named in its entry). Kinds of result that are not modalities (a
Compare, an Explore run) have display facts only.
"""

from __future__ import annotations

import importlib
import os

from .builtin import BUILTIN
from .common import InputProblem
from .spec import Modality, ResultKind

PLUGINS_ENV = "NEUROLINK_MODALITIES"

_MODALITIES: dict[str, Modality] = {modality.name: modality for modality in BUILTIN}
_OTHER_KINDS: dict[str, ResultKind] = {
    "explore": ResultKind("explore", "Explore", "🧭"),
    "compare": ResultKind("compare", "Comparison", "🆚"),
}
_plugins: set[str] = set()  # the NEUROLINK_MODALITIES modules imported so far


def register(modality: Modality) -> Modality:
    """Add a modality (its name must be new); returns it, so a module can keep it."""
    if modality.name in _MODALITIES or modality.name in _OTHER_KINDS:
        raise ValueError(f"a modality named {modality.name!r} is registered already")
    _MODALITIES[modality.name] = modality
    return modality


def _loaded() -> dict[str, Modality]:
    """The registry, with each module NEUROLINK_MODALITIES names imported once (it registers)."""
    for name in (part.strip() for part in os.environ.get(PLUGINS_ENV, "").split(",")):
        if name and name not in _plugins:
            _plugins.add(name)
            importlib.import_module(name)
    return _MODALITIES


def modalities() -> tuple[Modality, ...]:
    """Every modality, in the order their tabs show."""
    return tuple(_loaded().values())


def modality_names() -> tuple[str, ...]:
    return tuple(_loaded())


def get_modality(name: str) -> Modality:
    """The modality called `name`, or InputProblem naming the ones there are."""
    found = _loaded().get(name)
    if found is None:
        shown = str(name)[:40]
        raise InputProblem(f"Unknown modality {shown!r}: use one of {', '.join(_loaded())}.")
    return found


def find_modality(name: str) -> Modality | None:
    return _loaded().get(name)


def result_kind(name: str) -> ResultKind:
    """How a kept result of kind `name` is shown (a modality, Explore, a Compare, or unknown)."""
    found = _loaded().get(name)
    if found is not None:
        return ResultKind(found.name, found.title, found.icon)
    return _OTHER_KINDS.get(name) or ResultKind(name, name.capitalize() or "Result", "")
