"""Music: a description, lyrics, a length and a tempo, mapped onto the selected model's fields.

Lengths are seconds (`duration`) or milliseconds (ElevenLabs' `music_length_ms`); lyrics go to a
`lyrics` field where the model sings them (MiniMax Music 1.5), and are never sent as a description.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from neurolink_ui.replicate.schema import InputField, InputSchema

from .common import (
    InputProblem,
    MappedInput,
    finish,
    fit_duration,
    is_blank,
    merge_advanced,
    require_text,
    set_checked,
)

TEMPO_NAMES = ("bpm", "tempo")
PROMPT_NAMES = ("prompt", "description", "text")  # older MusicGen versions used `description`
DURATION_NAMES = ("duration", "duration_seconds", "seconds_total")
MS_DURATION_NAMES = ("music_length_ms", "duration_ms", "length_ms")  # lengths in milliseconds
LYRICS_NAMES = ("lyrics", "lyrics_prompt")
FORMAT_NAMES = ("output_format", "audio_format")
_BPM_RE = re.compile(r"\b\d{2,3}\s*(bpm|beats per minute)\b", re.IGNORECASE)
MIN_BPM, MAX_BPM = 20, 300
CHOICE_NAMES = ("model_version", "output_format")


def prompt_field(schema: InputSchema) -> InputField | None:
    spec = schema.first(*PROMPT_NAMES)
    return spec if spec is not None and spec.type == "string" else None


def lyrics_field(schema: InputSchema) -> InputField | None:
    spec = schema.first(*LYRICS_NAMES)
    return spec if spec is not None and spec.type == "string" else None


def length_field(schema: InputSchema) -> tuple[InputField, float] | None:
    """The model's length field and how many of its units a second is (1, or 1000 for ms)."""
    spec = schema.first(*DURATION_NAMES)
    if spec is not None:
        return spec, 1.0
    spec = schema.first(*MS_DURATION_NAMES)
    if spec is not None and spec.is_numeric:
        return spec, 1000.0
    return None


def format_field(schema: InputSchema) -> InputField | None:
    return schema.first(*FORMAT_NAMES)


def filled_fields(schema: InputSchema) -> frozenset[str]:
    """The fields the Music panel fills: description, lyrics, tempo, length, model version,
    format."""
    length = length_field(schema)
    specs = (
        prompt_field(schema),
        lyrics_field(schema),
        schema.first(*TEMPO_NAMES),
        length[0] if length else None,
        schema.get("model_version"),
        format_field(schema),
    )
    return frozenset(spec.name for spec in specs if spec is not None)


def _without_description(schema: InputSchema, advanced: Mapping[str, Any]) -> str | None:
    """None when the model can run without a description (its text, e.g. `lyrics`, was given in
    Advanced and nothing required is missing); else why not, naming what the model takes."""
    texts = [f for f in schema.fields if f.type == "string" and f.choices is None]
    texts.sort(key=lambda f: not f.required)  # the text it needs most first
    given = [f.name for f in texts if not is_blank(advanced.get(f.name))]
    missing = [f.name for f in schema.fields if f.required and is_blank(advanced.get(f.name))]
    if given and not missing:
        return None
    takes = ", ".join(schema.names) or "nothing"
    if not texts:
        return f"This model takes no text description (its inputs: {takes}); pick a text-to-music model."
    text = texts[0]
    where = "the Lyrics box" if text.name in LYRICS_NAMES else f"Advanced → {text.label}"
    return (
        f"This model makes music from {text.name}, not from a description (its inputs: {takes}). "
        f"Write the {text.name} in {where}, or pick a text-to-music model."
    )


def build_music_input(
    schema: InputSchema,
    *,
    prompt: str,
    duration: float | None = None,
    tempo: float | None = None,
    model_version: str | None = None,
    output_format: str | None = None,
    lyrics: str | None = None,
    advanced: Mapping[str, Any] | None = None,
) -> MappedInput:
    notes: list[str] = []
    advanced = dict(advanced or {})
    lyrics_spec = lyrics_field(schema)
    if not is_blank(lyrics):
        if lyrics_spec is None:
            notes.append(
                "This model takes no lyrics; they were not sent (it makes instrumentals "
                "or sings words of its own)."
            )
        else:
            advanced[lyrics_spec.name] = str(lyrics).strip()
    elif (
        lyrics_spec is not None
        and lyrics_spec.required
        and is_blank(advanced.get(lyrics_spec.name))
    ):
        raise InputProblem(
            "This model sings lyrics: write them in the Lyrics box (a description alone is not "
            "enough for it).",
            field="lyrics",
        )
    prompt_spec = prompt_field(schema)
    if prompt_spec is None:
        # e.g. a lyrics-to-song model: a description is not lyrics, so it is never sent as them.
        refusal = _without_description(schema, advanced)
        if refusal:
            raise InputProblem(refusal, field="prompt")
        if not is_blank(prompt):
            notes.append("This model takes no description; the prompt was not sent.")
        input: dict[str, Any] = {}
        _fit_length(schema, input, duration, notes)
        merge_advanced(schema, input, advanced, managed=filled_fields(schema), notes=notes)
        return finish(schema, input, notes)
    text = require_text(prompt, "description of the music")
    input = {}
    managed = filled_fields(schema)

    if tempo is not None:
        if not MIN_BPM <= tempo <= MAX_BPM:
            raise InputProblem(
                f"Tempo must be between {MIN_BPM} and {MAX_BPM} BPM (got {tempo:g}).", field="tempo"
            )
        tempo_spec = schema.first(*TEMPO_NAMES)
        if tempo_spec is not None:
            set_checked(schema, input, tempo_spec.name, tempo)
        elif _BPM_RE.search(text):
            notes.append(
                "The description already names a tempo, so the tempo setting was not added."
            )
        else:
            text = f"{text.rstrip().rstrip('.')}. {tempo:g} BPM"
            notes.append(f"This model has no tempo input; '{tempo:g} BPM' was added to the prompt.")
    input[prompt_spec.name] = text

    _fit_length(schema, input, duration, notes)

    for name, value in zip(CHOICE_NAMES, (model_version, output_format), strict=True):
        if not value:
            continue
        spec = format_field(schema) if name == "output_format" else schema.get(name)
        if spec is None:
            notes.append(f"This model has no '{name}' input; '{value}' was not sent.")
        elif spec.choices is not None and value not in spec.choices:
            # `mp3` is one of ElevenLabs' `mp3_standard`, `mp3_high_quality`…: the model's default
            # when it is of that kind, else the last (best) of them
            kinds = [c for c in spec.choices if str(c).startswith(f"{value}_")]
            if name == "output_format" and kinds:
                input[spec.name] = spec.default if spec.default in kinds else kinds[-1]
                continue
            allowed = ", ".join(str(c) for c in spec.choices)
            notes.append(
                f"'{value}' is not a {spec.name} of this model ({allowed}); its default was used."
            )
        else:
            input[spec.name] = value

    merge_advanced(schema, input, advanced, managed=managed, notes=notes)
    return finish(schema, input, notes)


def _fit_length(
    schema: InputSchema, input: dict[str, Any], duration: float | None, notes: list[str]
) -> None:
    """The requested seconds into the model's length field: nearest enum choice or clamped."""
    if duration is None:
        return
    found = length_field(schema)
    if found is None:
        notes.append("This model has no length input; it makes clips of its own length.")
        return
    if duration <= 0:
        raise InputProblem(f"Duration must be more than 0 seconds (got {duration:g}).")
    spec, per_second = found
    if per_second == 1.0:
        chosen, note = fit_duration(spec, duration, cover=False)
        input[spec.name] = chosen
        if note:
            notes.append(note)
        return
    wanted = round(duration * per_second)  # milliseconds
    chosen = spec.clamp(wanted)
    input[spec.name] = chosen
    if chosen != wanted:
        notes.append(
            f"This model's length must be {spec.range_text()} ms; {duration:g} s became "
            f"{float(chosen) / per_second:g} s."
        )
