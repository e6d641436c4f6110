"""The command line's contract: its commands and flags (the guide's camelCase with kebab-case
aliases), the output modes and which flags belong to which, and the exit codes."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from ..modalities.registry import get_modality, modality_names
from ..modalities.spec import Modality

# "text" is the chat modality (the guide's name for it); every other registered modality is a
# mode of its own name, so a new modality is a new mode without an edit here.
OutputMode = str
TEXT_MODE = "text"


def output_modes() -> tuple[OutputMode, ...]:
    return (TEXT_MODE, *(name for name in modality_names() if name != "chat"))


def modality_of(mode: OutputMode) -> Modality:
    return get_modality("chat" if mode == TEXT_MODE else mode)


EXIT_OK = 0
EXIT_ERROR = 1  # Replicate or input errors
EXIT_USAGE = 2  # argparse's own code for usage errors
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C

# Provider names the guide accepts; an alias means "Replicate, with the modality's default model".
VIDEO_PROVIDERS = ("replicate",)
AVATAR_PROVIDERS = ("replicate", "musetalk")
MUSIC_PROVIDERS = ("replicate", "musicgen")
PROVIDERS = ("replicate",)

# Flags that only mean something in one mode: (argparse dest, shown flag, mode).
MODE_FLAGS: tuple[tuple[str, str, OutputMode], ...] = (
    ("image_output", "--imageOutput", "image"),
    ("video_provider", "--videoProvider", "video"),
    ("video_output", "--videoOutput", "video"),
    ("video_length", "--videoLength", "video"),
    ("video_aspect_ratio", "--videoAspectRatio", "video"),
    ("avatar_provider", "--avatarProvider", "avatar"),
    ("avatar_image", "--avatarImage", "avatar"),
    ("avatar_audio", "--avatarAudio", "avatar"),
    ("avatar_output", "--avatarOutput", "avatar"),
    ("music_provider", "--musicProvider", "music"),
    ("music_tempo", "--musicTempo", "music"),
    ("music_duration", "--musicDuration", "music"),
    ("music_output", "--musicOutput", "music"),
)


class UsageError(Exception):
    """Flags that do not make a valid command; reported the argparse way (exit 2)."""


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2026-12-31: {text!r}") from None


def _flag(group: argparse._ActionsContainer, camel: str, kebab: str, **kwargs: Any) -> None:
    """The guide's camelCase flag with its kebab-case spelling as an alias."""
    names = [camel] if camel == kebab else [camel, kebab]
    if "metavar" not in kwargs and kwargs.get("type") in (Path, float):
        kwargs["metavar"] = "PATH" if kwargs["type"] is Path else "N"
    group.add_argument(*names, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m neurolink_ui",
        description="NeuroLink UI: a playground for Replicate's hosted models.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the web app (same as `python app.py`)")
    serve.add_argument(
        "--host", default=None, help="bind address (default: $GRADIO_SERVER_NAME or 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)"
    )
    serve.add_argument("--share", action="store_true", help="also open a public gradio.live link")

    simulator = commands.add_parser(
        "simulator",
        help="start the local Replicate-compatible server",
        description="A local Replicate-compatible API server with simulated models. Point "
        "REPLICATE_BASE_URL at the URL it prints. Other options go to the simulator as they are "
        "(see `python -m neurolink_ui.simulator --help`).",
    )
    simulator.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    simulator.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")

    models = commands.add_parser(
        "models",
        help="check the catalogued models against the live API",
        description="`models check`: fetch every catalogued model's live schema and latest "
        "version and print what changed against the recorded one, then the entries whose newest "
        "evidence is over six months old (or says no date). Exit 1 when something changed (or "
        "is gone), 0 when nothing did; old evidence is listed, not an error. Reads "
        "REPLICATE_API_TOKEN and REPLICATE_BASE_URL (not needed with --evidence-only).",
    )
    models.add_argument("action", choices=["check"], help="what to do (only `check`)")
    models.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="OWNER/NAME",
        help="check only this catalogued model (repeatable)",
    )
    models.add_argument(
        "--evidence-only",
        action="store_true",
        help="only list old or undated evidence (no token, nothing fetched)",
    )
    models.add_argument(
        "--today",
        type=_iso_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="the day evidence age is measured from (default: today)",
    )
    models.set_defaults(usage_error=models.error)

    generate = commands.add_parser(
        "generate",
        help="run one model: " + ", ".join(output_modes()),
        description="Generate with a Replicate model, as in NeuroLink's Replicate provider guide. "
        "Text goes to stdout; files are written where the output flags say and their paths "
        "printed on stdout; progress goes to stderr. Reads REPLICATE_API_TOKEN and "
        "REPLICATE_BASE_URL. Ctrl-C cancels the prediction at Replicate.",
    )
    generate.set_defaults(usage_error=generate.error)  # errors show generate's own usage
    generate.add_argument("prompt", nargs="?", help="the prompt (optional for avatar)")
    generate.add_argument("--provider", choices=PROVIDERS, default="replicate")
    generate.add_argument(
        "--model",
        help="owner/name, owner/name:version or deployment:owner/name (a deployment of the "
        "token's account); default: the mode's default model",
    )
    _flag(
        generate,
        "--outputMode",
        "--output-mode",
        dest="output_mode",
        choices=output_modes(),
        default=None,
        help=f"{', '.join(output_modes())} (text by default); --imageOutput implies image",
    )
    _flag(
        generate,
        "--outputFile",
        "--output-file",
        dest="output_file",
        type=Path,
        help="where a file output goes, in any mode that makes one (its mode's own flag wins)",
    )
    _flag(generate, "--stream", "--stream", action="store_true", help="print text as it arrives")
    _flag(generate, "--image", "--image", type=Path, help="start image (video, image-to-image)")

    image = generate.add_argument_group("image")
    _flag(
        image,
        "--imageOutput",
        "--image-output",
        dest="image_output",
        type=Path,
        help="image file to write (default ./output.<ext>); more images: NAME-2.ext, …",
    )

    video = generate.add_argument_group("video")
    _flag(
        video, "--videoProvider", "--video-provider", dest="video_provider", choices=VIDEO_PROVIDERS
    )
    _flag(
        video,
        "--videoOutput",
        "--video-output",
        dest="video_output",
        type=Path,
        help="video file to write (default ./output.<ext>)",
    )
    _flag(
        video,
        "--videoLength",
        "--video-length",
        dest="video_length",
        type=float,
        help="length in seconds",
    )
    _flag(
        video,
        "--videoAspectRatio",
        "--video-aspect-ratio",
        dest="video_aspect_ratio",
        metavar="RATIO",
        help="e.g. 16:9",
    )

    avatar = generate.add_argument_group("avatar")
    _flag(
        avatar,
        "--avatarProvider",
        "--avatar-provider",
        dest="avatar_provider",
        choices=AVATAR_PROVIDERS,
    )
    _flag(
        avatar,
        "--avatarImage",
        "--avatar-image",
        dest="avatar_image",
        type=Path,
        help="portrait photo of a face",
    )
    _flag(
        avatar,
        "--avatarAudio",
        "--avatar-audio",
        dest="avatar_audio",
        type=Path,
        help="speech the avatar says (WAV, MP3, …)",
    )
    _flag(
        avatar,
        "--avatarOutput",
        "--avatar-output",
        dest="avatar_output",
        type=Path,
        help="video file to write (default ./avatar.<ext>)",
    )

    music = generate.add_argument_group("music")
    _flag(
        music, "--musicProvider", "--music-provider", dest="music_provider", choices=MUSIC_PROVIDERS
    )
    _flag(music, "--musicTempo", "--music-tempo", dest="music_tempo", type=float, help="BPM")
    _flag(
        music,
        "--musicDuration",
        "--music-duration",
        dest="music_duration",
        type=float,
        help="seconds",
    )
    _flag(
        music,
        "--musicOutput",
        "--music-output",
        dest="music_output",
        type=Path,
        help="audio file to write (default ./track.<ext>); .mp3/.wav ask the model for that format",
    )
    return parser
