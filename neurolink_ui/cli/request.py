"""A `generate` command checked into a `GenerateRequest`, and mapped onto the model's schema by the
same modality functions the panels use."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..config import Settings
from ..modalities.common import InputProblem, MappedInput
from ..modalities.spec import ModalityValues
from ..replicate.schema import InputSchema, ModelInfo
from .parser import MODE_FLAGS, TEXT_MODE, OutputMode, UsageError, modality_of


@dataclass(frozen=True)
class GenerateRequest:
    """One `generate` command, checked and with its mode decided."""

    mode: OutputMode
    prompt: str | None
    model: str
    output: Path | None  # the requested output file, None for text or the default name
    stream: bool = False
    image: Path | None = None  # start frame (video) or start image (image)
    video_length: float | None = None
    video_aspect_ratio: str | None = None
    avatar_image: Path | None = None
    avatar_audio: Path | None = None
    music_tempo: float | None = None
    music_duration: float | None = None


def decide_mode(args: argparse.Namespace) -> OutputMode:
    """--outputMode wins; else --imageOutput or an image model in --model means image (the guide's
    image example has no --outputMode); else text."""
    if args.output_mode:
        return args.output_mode
    if args.image_output is not None:
        return "image"
    if args.model and _slug(args.model) in {
        _slug(m) for m in modality_of("image").suggested_models()
    }:
        return "image"
    return "text"


def _slug(model: str) -> str:
    return model.strip().split(":", 1)[0].lower()


def default_model(mode: OutputMode, settings: Settings) -> str:
    configured = {
        TEXT_MODE: settings.chat_model,
        "image": settings.image_model,
        "video": settings.video_model,
        "avatar": settings.avatar_model,
        "music": settings.music_model,
    }.get(mode)
    return configured or modality_of(mode).suggested_models()[0]


def request_from_args(args: argparse.Namespace, settings: Settings) -> GenerateRequest:
    """The checked request; UsageError for flags that do not fit together."""
    mode = decide_mode(args)
    for dest, flag, flag_mode in MODE_FLAGS:
        if getattr(args, dest) is not None and flag_mode != mode:
            raise UsageError(f"{flag} applies to --outputMode {flag_mode}, not {mode}")
    if args.image is not None and mode not in ("image", "video"):
        raise UsageError(f"--image is a start image for video or image mode, not {mode}")
    if args.stream and mode != "text":
        raise UsageError(f"--stream applies to text output, not {mode}")

    prompt = (args.prompt or "").strip() or None
    if mode == "avatar":
        missing = [
            flag
            for flag, value in (
                ("--avatarImage", args.avatar_image),
                ("--avatarAudio", args.avatar_audio),
            )
            if value is None
        ]
        if missing:
            raise UsageError(
                f"avatar mode needs {' and '.join(missing)} (a portrait photo and the speech audio)"
            )
    elif mode == "video":
        if prompt is None and args.image is None:
            raise UsageError("video mode needs a prompt, a start frame (--image), or both")
    elif prompt is None:
        raise UsageError(f'{mode} mode needs a prompt, e.g. generate "A red panda" ...')
    if args.output_file is not None and mode == TEXT_MODE:
        raise UsageError("--outputFile is where a file goes; text mode prints to stdout")

    own_flag = {
        "image": args.image_output,
        "video": args.video_output,
        "avatar": args.avatar_output,
        "music": args.music_output,
    }.get(mode)
    output = own_flag if own_flag is not None else args.output_file
    return GenerateRequest(
        mode=mode,
        prompt=prompt,
        model=args.model.strip() if args.model else default_model(mode, settings),
        output=output,
        stream=args.stream,
        image=args.image,
        video_length=args.video_length,
        video_aspect_ratio=args.video_aspect_ratio,
        avatar_image=args.avatar_image,
        avatar_audio=args.avatar_audio,
        music_tempo=args.music_tempo,
        music_duration=args.music_duration,
    )


def check_input_files(request: GenerateRequest) -> None:
    """Refuse missing or unreadable input files before anything is sent (or paid for)."""
    for flag, path in (
        ("--image", request.image),
        ("--avatarImage", request.avatar_image),
        ("--avatarAudio", request.avatar_audio),
    ):
        if path is not None and not path.is_file():
            raise InputProblem(f"{flag} {path}: no such file.")
    if request.image is not None:
        try:
            with Image.open(request.image) as picture:
                picture.verify()
        except (OSError, SyntaxError, ValueError):
            raise InputProblem(
                f"--image {request.image}: not a readable image; use a PNG, JPEG or WebP file."
            ) from None


# ---- mapping a request onto the model's schema -------------------------------------------------


def requested_format(path: Path | None) -> str | None:
    """`panda.png` → `png`: the format the output file's name asks for."""
    if path is None or not path.suffix:
        return None
    extension = path.suffix.lower().lstrip(".")
    return {"jpeg": "jpg"}.get(extension, extension)


def format_choice(schema: InputSchema, wanted: str | None) -> str | None:
    """The model's own `output_format` choice for the wanted format, if it offers one."""
    spec = schema.get("output_format")
    if wanted is None or spec is None or not spec.choices:
        return None
    for choice in spec.choices:
        if str(choice).lower() in (wanted, "jpeg" if wanted == "jpg" else wanted):
            return str(choice)
    return None


def map_input(request: GenerateRequest, info: ModelInfo) -> MappedInput:
    """The request as this model's input, by its modality's registered mapping (the panels')."""
    wanted = requested_format(request.output)
    chosen_format = format_choice(info.input_schema, wanted)
    controls = {
        "length": request.video_length,
        "aspect_ratio": request.video_aspect_ratio,
        "tempo": request.music_tempo,
        "duration": request.music_duration,
        "output_format": wanted,
    }
    modality = modality_of(request.mode)
    # The format goes as the modality's own control where it has one, else as the model's field.
    own_control = "output_format" in modality.control_defaults
    values = ModalityValues(
        prompt=request.prompt or "",
        controls={name: value for name, value in controls.items() if value is not None},
        image=request.avatar_image or request.image,
        audio=request.avatar_audio,
        advanced={"output_format": chosen_format} if chosen_format and not own_control else {},
    )
    return modality.map_input(info, values)
