"""The MCP tools an agent sees: names, descriptions and input schemas, and the checks of what an
agent sends (pure: no Gradio, no MCP SDK).

Each tool is a thin view over an entry point the page already has — a modality's run, search,
a model's card, Explore's run from an input object, Compare — so its description and schema come
from the same registry entries and catalogue the panels read: enumerated choices where the model
API has them (aspect ratios, music versions and formats, the modalities), bounds from the
modality's controls, the suggested models from the catalogue. An agent's arguments are hostile:
`checked_arguments()` bounds their size and depth before anything reads them, validates them
against the tool's schema (types, choices, ranges, lengths, no unknown names) and then applies
the app's own limits (`neurolink_ui.limits`) with the messages the page gives.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..limits import (
    MAX_ADVANCED_CHARS,
    MAX_CHAT_MESSAGES,
    MAX_JSON_DEPTH,
    MAX_WHOLE_NUMBER,
    check_chat_history,
    check_number,
    check_text,
    check_values,
    json_depth_over,
)
from ..modalities.builtin import (
    IMAGE_RATIO_CHOICES,
    MUSIC_FORMATS,
    MUSIC_MODEL_VERSIONS,
    VIDEO_ASPECT_RATIOS,
)
from ..modalities.common import InputProblem
from ..modalities.registry import get_modality, modality_names

MAX_ARGUMENT_CHARS = 16 * 1024 * 1024  # a tool call's arguments as JSON (data: URLs included)
MAX_URL_CHARS = 2048  # an https address of an input file
MAX_DATA_URL_CHARS = 14 * 1024 * 1024  # a data: URL (base64 of ~10 MB)
MAX_MODEL_CHARS = 200
MAX_SEARCH_RESULTS = 20

# What every run tool says about who pays and how an agent chooses.
PAYS = (
    "Runs on Replicate with the caller's own token when the request carries one "
    "(X-Replicate-Token header: no limits here, your account pays), else on this app's token "
    "within its visitor limits, else on the free built-in simulator (synthetic outputs)."
)
RESULTS = (
    "Returns the text and files (small images inline, every file as a link), a lasting share "
    "link to the result on this app, and the model, version, predict time, cost estimate and "
    "notes. Progress notifications report status, percent and log lines while it runs; "
    "cancelling the call cancels the prediction at Replicate."
)


def _models_text(modality: str, default: str) -> str:
    suggested = [default, *(m for m in get_modality(modality).suggested_models() if m != default)]
    return (
        f"Replicate model: owner/name, owner/name:version or deployment:owner/name. Default "
        f"{default}. Suggested: {', '.join(suggested[:8])}. Any public {modality} model works "
        "(search_models finds more, describe_model shows its inputs)."
    )


def _time_text(modality: str) -> str:
    usual = get_modality(modality).usual_run
    if usual is None:
        return ""
    typical, worst = usual
    return f" Takes about {_span(typical)} (up to {_span(worst)} for slow models or a cold boot)."


def _span(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _control(modality: str, name: str) -> dict[str, Any]:
    """A modality's main control as a JSON Schema property (its bounds, choices, default)."""
    control = get_modality(modality).control(name)
    schema: dict[str, Any] = {"description": control.label}
    if isinstance(control.default, str):
        schema["type"] = "string"
    else:
        whole = control.step is None or float(control.step).is_integer()
        schema["type"] = "integer" if whole else "number"
    if control.choices:
        values = [c[1] if isinstance(c, tuple) else c for c in control.choices]
        schema["enum"] = values
    if control.minimum is not None:
        schema["minimum"] = control.minimum
    if control.maximum is not None:
        schema["maximum"] = control.maximum
    schema["default"] = control.default
    return schema


def _file(what: str, *, kind: str) -> dict[str, Any]:
    return {
        "type": "string",
        "maxLength": MAX_DATA_URL_CHARS,
        "description": (
            f"{what}: an https:// address of the {kind} file, or a data:{kind}/…;base64,… URL "
            "(at most ~10 MB; prefer an address for larger files)."
        ),
    }


def _text(description: str, limit: int, *, min_length: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": limit, "description": description}
    if min_length:
        schema["minLength"] = min_length
    return schema


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


ADVANCED = {
    "type": "object",
    "description": (
        "More of the model's own inputs by their schema names (describe_model lists them), "
        'e.g. {"guidance": 3}. The tool\'s own arguments win over these.'
    ),
}


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its MCP name, title, description and input schema."""

    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    modality: str | None = None  # the registry entry it runs (None: not a single-modality run)

    @property
    def runs(self) -> bool:
        """It runs a model (the run core), as opposed to looking something up."""
        return self.name not in ("search_models", "describe_model")


@dataclass(frozen=True)
class Limits:
    """The app's text limits (Settings.max_prompt_chars / max_chat_chars)."""

    prompt_chars: int = 20_000
    chat_chars: int = 200_000


def tool_specs(defaults: Mapping[str, str], limits: Limits) -> tuple[ToolSpec, ...]:
    """Every tool, described from the registry and catalogue. `defaults`: each modality's
    default model (the app's configured one)."""
    prompt, chat = limits.prompt_chars, limits.chat_chars
    ratios = [value for _, value in IMAGE_RATIO_CHOICES]
    return (
        ToolSpec(
            "chat",
            "Chat with a language model",
            "Send a message to a chat model on Replicate and get its answer. Pass earlier turns "
            "in `history` to continue a conversation, an optional `system_prompt`, and an "
            "`image` for models that see images." + _time_text("chat") + " " + PAYS + " " + RESULTS,
            _object(
                {
                    "message": _text("The user's message.", chat, min_length=1),
                    "system_prompt": _text("Instructions for the model (optional).", chat),
                    "history": {
                        "type": "array",
                        "maxItems": MAX_CHAT_MESSAGES,
                        "description": "Earlier turns, oldest first (optional).",
                        "items": _object(
                            {
                                "role": {"type": "string", "enum": ["user", "assistant"]},
                                "content": {"type": "string", "maxLength": chat},
                            },
                            ["role", "content"],
                        ),
                    },
                    "model": _text(_models_text("chat", defaults["chat"]), MAX_MODEL_CHARS),
                    "max_tokens": {
                        **_control("chat", "max_tokens"),
                        "description": "Most tokens in the answer; 0 keeps the model's default.",
                    },
                    "temperature": _control("chat", "temperature"),
                    "image": _file("An image for the model to see (optional)", kind="image"),
                    "advanced": ADVANCED,
                },
                ["message"],
            ),
            "chat",
        ),
        ToolSpec(
            "generate_image",
            "Generate an image",
            "Generate images from a text prompt; with `image` it edits or transforms that "
            "image (image-to-image)." + _time_text("image") + " " + PAYS + " " + RESULTS,
            _object(
                {
                    "prompt": _text("What the image shows.", prompt, min_length=1),
                    "image": _file("An input image (optional: image-to-image)", kind="image"),
                    "aspect_ratio": {
                        "type": "string",
                        "enum": ratios,
                        "default": "auto",
                        "description": (
                            "Width:height. `auto` keeps the input image's shape, or the model's "
                            "default without one."
                        ),
                    },
                    "num_outputs": _control("image", "num_outputs"),
                    "seed": {
                        "type": "integer",
                        "minimum": -1,
                        "maximum": MAX_WHOLE_NUMBER,
                        "default": -1,
                        "description": "Seed for a repeatable image; -1 picks one at random.",
                    },
                    "model": _text(_models_text("image", defaults["image"]), MAX_MODEL_CHARS),
                    "advanced": ADVANCED,
                },
                ["prompt"],
            ),
            "image",
        ),
        ToolSpec(
            "generate_video",
            "Generate a video",
            "Generate a short video clip from a text prompt, optionally starting from an image "
            "(`start_image`) and ending on another (`last_frame`) where the model takes them."
            + _time_text("video")
            + " "
            + PAYS
            + " "
            + RESULTS,
            _object(
                {
                    "prompt": _text("What happens in the clip.", prompt, min_length=1),
                    "start_image": _file("The first frame (optional)", kind="image"),
                    "last_frame": _file("The last frame (optional)", kind="image"),
                    "length": {**_control("video", "length"), "description": "Seconds of video."},
                    "aspect_ratio": {
                        "type": "string",
                        "enum": list(VIDEO_ASPECT_RATIOS),
                        "default": "16:9",
                        "description": "Width:height of the clip.",
                    },
                    "model": _text(_models_text("video", defaults["video"]), MAX_MODEL_CHARS),
                    "advanced": ADVANCED,
                },
                ["prompt"],
            ),
            "video",
        ),
        ToolSpec(
            "talking_avatar",
            "Make a talking avatar",
            "Animate a portrait so that it speaks a narration: a video of the face lip-synced "
            "to the audio." + _time_text("avatar") + " " + PAYS + " " + RESULTS,
            _object(
                {
                    "portrait": _file("A portrait: one face, facing the camera", kind="image"),
                    "narration": _file("The speech to lip-sync (wav, mp3…)", kind="audio"),
                    "model": _text(_models_text("avatar", defaults["avatar"]), MAX_MODEL_CHARS),
                    "advanced": ADVANCED,
                },
                ["portrait", "narration"],
            ),
            "avatar",
        ),
        ToolSpec(
            "generate_music",
            "Compose music",
            "Compose a piece of music from a text prompt (genre, instruments, mood), of "
            "`duration` seconds; `lyrics` for models that sing."
            + _time_text("music")
            + " "
            + PAYS
            + " "
            + RESULTS,
            _object(
                {
                    "prompt": _text("What the music sounds like.", prompt, min_length=1),
                    "duration": _control("music", "duration"),
                    "tempo": _control("music", "tempo"),
                    "model_version": {
                        "type": "string",
                        "enum": list(MUSIC_MODEL_VERSIONS),
                        "default": "stereo-large",
                        "description": "Variant, for models that have them (MusicGen).",
                    },
                    "output_format": {
                        "type": "string",
                        "enum": list(MUSIC_FORMATS),
                        "default": "mp3",
                        "description": "Audio file format, for models that offer a choice.",
                    },
                    "lyrics": _text("Words to sing, for models that sing (optional).", prompt),
                    "model": _text(_models_text("music", defaults["music"]), MAX_MODEL_CHARS),
                    "advanced": ADVANCED,
                },
                ["prompt"],
            ),
            "music",
        ),
        ToolSpec(
            "search_models",
            "Search Replicate's models",
            "Search Replicate's public models by name, task or word. Returns each model's "
            "owner/name, description, run count, whether it is official, and its page. Takes a "
            "second; nothing is run or billed.",
            _object(
                {
                    "query": _text("What to look for.", 500, min_length=1),
                    "limit": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_SEARCH_RESULTS,
                        "default": 10,
                        "description": "How many models to return.",
                    },
                },
                ["query"],
            ),
        ),
        ToolSpec(
            "describe_model",
            "Describe a model's inputs",
            "Describe one Replicate model: its description, version, which panel it fits, what "
            "it outputs, and every input it takes (type, default, choices, range, required), "
            "with its example input. Use it before run_model. Takes a second; nothing is run.",
            _object(
                {
                    "model": _text(
                        "owner/name, owner/name:version or deployment:owner/name.",
                        MAX_MODEL_CHARS,
                        min_length=3,
                    )
                },
                ["model"],
            ),
        ),
        ToolSpec(
            "run_model",
            "Run any model",
            "Run any Replicate model on an input object named as its schema names them "
            "(describe_model lists the inputs). The input is checked against the model's "
            "schema before anything runs; file inputs take https:// addresses or data: URLs. "
            "Takes as long as the model does (seconds to minutes). " + PAYS + " " + RESULTS,
            _object(
                {
                    "model": _text(
                        "owner/name, owner/name:version or deployment:owner/name.",
                        MAX_MODEL_CHARS,
                        min_length=3,
                    ),
                    "input": {
                        "type": "object",
                        "description": 'The model\'s inputs by name, e.g. {"prompt": "a fox"}.',
                    },
                },
                ["model", "input"],
            ),
            "explore",
        ),
        ToolSpec(
            "compare_models",
            "Compare models on one input",
            "Run 2 to 4 models of one kind on the same input at the same time and return each "
            "one's result side by side, with one share link for the whole comparison. `input` "
            'holds that kind\'s controls (e.g. {"prompt": …, "aspect_ratio": "1:1"} for '
            "image). Takes as long as the slowest model. " + PAYS,
            _object(
                {
                    "modality": {
                        "type": "string",
                        "enum": list(modality_names()),
                        "description": "What the models make.",
                    },
                    "models": {
                        "type": "array",
                        "minItems": 2,
                        "maxItems": 4,
                        "uniqueItems": True,
                        "items": {"type": "string", "maxLength": MAX_MODEL_CHARS},
                        "description": "2-4 model ids (owner/name).",
                    },
                    "input": {
                        "type": "object",
                        "description": (
                            "The controls every model gets: "
                            + "; ".join(
                                f"{name}: " + ", ".join(get_modality(name).control_defaults)
                                for name in modality_names()
                                if get_modality(name).controls
                            )
                            + "."
                        ),
                    },
                    "image": _file("The shared image, where the kind takes one", kind="image"),
                    "audio": _file("The shared audio (avatar: the narration)", kind="audio"),
                },
                ["modality", "models"],
            ),
        ),
    )


# ---- checking what an agent sends ---------------------------------------------------------------


def checked_arguments(spec: ToolSpec, arguments: Any, limits: Limits) -> dict[str, Any]:
    """The tool's arguments, bounded and validated, or InputProblem saying what to change."""
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise InputProblem("The tool's arguments must be an object of names to values.")
    try:
        text = json.dumps(arguments, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        raise InputProblem("The arguments hold a value that is not JSON (NaN, infinity).") from None
    if len(text) > MAX_ARGUMENT_CHARS:
        raise InputProblem(
            f"The arguments are {len(text):,} characters of JSON; the limit is "
            f"{MAX_ARGUMENT_CHARS:,}. Pass large files as https:// addresses."
        )
    if json_depth_over(text, MAX_JSON_DEPTH):
        raise InputProblem(f"The arguments are nested more than {MAX_JSON_DEPTH} levels deep.")
    error = _first_error(spec.input_schema, arguments)
    if error is not None:
        raise InputProblem(error)
    _check_limits(spec, arguments, limits)
    return arguments


def _first_error(schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    return _say(errors[0])


def _say(error: ValidationError) -> str:
    where = ".".join(str(part) for part in error.absolute_path) or "arguments"
    validator = error.validator
    value = error.instance
    if validator == "enum":
        choices = ", ".join(json.dumps(c) for c in error.validator_value)
        return f"'{where}' must be one of {choices}."
    if validator == "additionalProperties":
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        unknown = sorted(set(value) - set(error.schema.get("properties", {})))[:5]
        return f"Unknown argument(s) {', '.join(repr(str(u)[:40]) for u in unknown)}; this tool takes {allowed}."
    if validator == "required":
        return f"'{error.message.split(chr(39))[1]}' is required."
    if validator == "maxLength":
        return (
            f"'{where}' is {len(value):,} characters long; the limit is {error.validator_value:,}."
        )
    if validator == "minLength":
        return f"'{where}' must not be empty."
    if validator in ("minimum", "maximum"):
        return f"'{where}' must be {'at least' if validator == 'minimum' else 'at most'} {error.validator_value}."
    if validator in ("minItems", "maxItems"):
        bound = "at least" if validator == "minItems" else "at most"
        return f"'{where}' must hold {bound} {error.validator_value} items."
    if validator == "type":
        return f"'{where}' must be of type {error.validator_value}."
    if validator == "uniqueItems":
        return f"'{where}' lists the same item twice."
    return f"'{where}': {error.message[:200]}"


def _check_limits(spec: ToolSpec, arguments: dict[str, Any], limits: Limits) -> None:
    """The app's own limits, as the page applies them (numbers, texts, chat history, objects)."""
    for name, value in arguments.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            check_number(value, name.replace("_", " "))
    if spec.name == "chat":
        check_chat_history(arguments.get("history"), message_limit=limits.chat_chars)
    for name in ("advanced", "input"):
        value = arguments.get(name)
        if isinstance(value, dict):
            if len(json.dumps(value)) > MAX_ADVANCED_CHARS and name == "advanced":
                raise InputProblem(
                    f"'{name}' is over {MAX_ADVANCED_CHARS:,} characters of JSON; send fewer values."
                )
            check_values(value, limits.chat_chars if spec.name == "chat" else limits.prompt_chars)
            refuse_server_paths(value, name)
    lyrics = arguments.get("lyrics")
    check_text(lyrics, "lyrics", limits.prompt_chars)


def refuse_server_paths(values: Mapping[str, Any], where: str) -> None:
    """An agent names no file of this server: file inputs are addresses or data: URLs."""
    for name, value in values.items():
        if isinstance(value, str) and (value.startswith(("/", "file:", "~")) or "\\" in value[:3]):
            raise InputProblem(
                f"'{where}.{name}': server paths are not accepted; pass an https:// address or "
                "a data: URL."
            )
