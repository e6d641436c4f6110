"""Music: a description, a length and a tempo, mapped onto the selected model's fields."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from neurolink_ui.replicate.schema import InputSchema

from .common import InputProblem, MappedInput, finish, merge_advanced, require_text, set_checked

TEMPO_NAMES = ("bpm", "tempo")
PROMPT_NAMES = ("prompt", "description", "text")  # older MusicGen versions used `description`
DURATION_NAMES = ("duration", "duration_seconds", "seconds_total")
_BPM_RE = re.compile(r"\b\d{2,3}\s*(bpm|beats per minute)\b", re.IGNORECASE)
MIN_BPM, MAX_BPM = 20, 300


def build_music_input(
    schema: InputSchema,
    *,
    prompt: str,
    duration: float | None = None,
    tempo: float | None = None,
    model_version: str | None = None,
    output_format: str | None = None,
    advanced: Mapping[str, Any] | None = None,
) -> MappedInput:
    notes: list[str] = []
    text = require_text(prompt, "description of the music")
    prompt_spec = schema.first(*PROMPT_NAMES)
    if prompt_spec is None:
        raise InputProblem("This model takes no text description; pick a text-to-music model.")
    input: dict[str, Any] = {}
    managed: set[str] = {prompt_spec.name}

    if tempo is not None:
        if not MIN_BPM <= tempo <= MAX_BPM:
            raise InputProblem(
                f"Tempo must be between {MIN_BPM} and {MAX_BPM} BPM (got {tempo:g}).", field="tempo"
            )
        tempo_spec = schema.first(*TEMPO_NAMES)
        if tempo_spec is not None:
            set_checked(schema, input, tempo_spec.name, tempo)
            managed.add(tempo_spec.name)
        elif _BPM_RE.search(text):
            notes.append(
                "The description already names a tempo, so the tempo setting was not added."
            )
        else:
            text = f"{text.rstrip().rstrip('.')}. {tempo:g} BPM"
            notes.append(f"This model has no tempo input; '{tempo:g} BPM' was added to the prompt.")
    input[prompt_spec.name] = text

    if duration is not None:
        duration_spec = schema.first(*DURATION_NAMES)
        if duration_spec is None:
            notes.append("This model has no length input; it makes clips of its own length.")
        else:
            if duration <= 0:
                raise InputProblem(f"Duration must be more than 0 seconds (got {duration:g}).")
            bounded = duration_spec.clamp(duration)
            if bounded != duration and abs(float(bounded) - duration) >= 0.5:
                notes.append(
                    f"This model makes {bounded} s at most here; {duration:g} s was adjusted."
                )
            input[duration_spec.name] = bounded
            managed.add(duration_spec.name)

    for name, value in (("model_version", model_version), ("output_format", output_format)):
        if not value:
            continue
        spec = schema.get(name)
        if spec is None:
            notes.append(f"This model has no '{name}' input; '{value}' was not sent.")
        elif spec.choices is not None and value not in spec.choices:
            allowed = ", ".join(str(c) for c in spec.choices)
            notes.append(
                f"'{value}' is not a {name} of this model ({allowed}); its default was used."
            )
        else:
            input[name] = value
            managed.add(name)

    merge_advanced(schema, input, advanced, managed=managed, notes=notes)
    return finish(schema, input, notes)
