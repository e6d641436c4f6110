"""`python -m neurolink_ui serve|simulator|generate`: the web app, the local simulator, and the
command line of NeuroLink's Replicate provider guide (`generate`), flag for flag.

`generate` maps its flags with the same schema-driven modality functions as the panels and runs the
prediction through `pipeline.run_model`, so the CLI and the UI share one path to Replicate. Results
go to stdout (the text, or the paths of the files written), everything else to stderr.
`models check` compares the catalogue's recorded schemas with the live API (`catalog.drift`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from PIL import Image

from .config import BUILTIN_SIMULATOR_TOKEN, DEFAULT_BASE_URL, Settings
from .modalities.avatar import build_avatar_input
from .modalities.chat import build_chat_input
from .modalities.common import InputProblem, MappedInput
from .modalities.image import build_image_input
from .modalities.music import build_music_input
from .modalities.video import build_video_input
from .model_choices import IMAGE_MODELS
from .pipeline import RunResult, run_model
from .replicate.client import ReplicateClient
from .replicate.errors import ReplicateError
from .replicate.schema import InputSchema
from .replicate.types import ModelRef, Progress, TextDelta

OutputMode = Literal["text", "image", "video", "avatar", "music"]
OUTPUT_MODES: tuple[OutputMode, ...] = ("text", "image", "video", "avatar", "music")

EXIT_OK = 0
EXIT_ERROR = 1  # Replicate or input errors
EXIT_USAGE = 2  # argparse's own code for usage errors
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C

# Provider names the guide accepts; an alias means "Replicate, with the modality's default model".
VIDEO_PROVIDERS = ("replicate",)
AVATAR_PROVIDERS = ("replicate", "musetalk")
MUSIC_PROVIDERS = ("replicate", "musicgen")
PROVIDERS = ("replicate",)

# Where a file goes when its output flag is omitted: <stem><extension of what the model returned>.
DEFAULT_STEMS: dict[OutputMode, str] = {
    "image": "output",
    "video": "output",
    "avatar": "avatar",
    "music": "track",
}
# The download kind (size cap and content check) of each file-producing mode.
OUTPUT_KINDS: dict[OutputMode, Literal["text", "image", "video", "audio"]] = {
    "text": "text",
    "image": "image",
    "video": "video",
    "avatar": "video",
    "music": "audio",
}
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
NO_TOKEN_HELP = (
    "REPLICATE_API_TOKEN is not set (REPLICATE_BASE_URL is). Create a token at "
    "https://replicate.com/account/api-tokens and run `export REPLICATE_API_TOKEN=r8_...`. "
    "A local simulator (`python -m neurolink_ui simulator --port 5055`) takes any token, e.g. "
    "REPLICATE_API_TOKEN=r8_local; with neither variable set, `generate` runs on the built-in one."
)


class UsageError(Exception):
    """Flags that do not make a valid command; reported the argparse way (exit 2)."""


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


# ---- the parser --------------------------------------------------------------------------------


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
        "version and print what changed against the recorded one. Exit 1 when something "
        "changed (or is gone), 0 when nothing did. Reads REPLICATE_API_TOKEN and "
        "REPLICATE_BASE_URL.",
    )
    models.add_argument("action", choices=["check"], help="what to do (only `check`)")
    models.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="OWNER/NAME",
        help="check only this catalogued model (repeatable)",
    )
    models.set_defaults(usage_error=models.error)

    generate = commands.add_parser(
        "generate",
        help="run one model: text, image, video, avatar or music",
        description="Generate with a Replicate model, as in NeuroLink's Replicate provider guide. "
        "Text goes to stdout; files are written where the output flags say and their paths "
        "printed on stdout; progress goes to stderr. Reads REPLICATE_API_TOKEN and "
        "REPLICATE_BASE_URL. Ctrl-C cancels the prediction at Replicate.",
    )
    generate.set_defaults(usage_error=generate.error)  # errors show generate's own usage
    generate.add_argument("prompt", nargs="?", help="the prompt (optional for avatar)")
    generate.add_argument("--provider", choices=PROVIDERS, default="replicate")
    generate.add_argument(
        "--model", help="owner/name or owner/name:version (default: the mode's default model)"
    )
    _flag(
        generate,
        "--outputMode",
        "--output-mode",
        dest="output_mode",
        choices=OUTPUT_MODES,
        default=None,
        help="text (default), image, video, avatar or music; --imageOutput implies image",
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


# ---- checking a generate command ---------------------------------------------------------------


def decide_mode(args: argparse.Namespace) -> OutputMode:
    """--outputMode wins; else --imageOutput or an image model in --model means image (the guide's
    image example has no --outputMode); else text."""
    if args.output_mode:
        return args.output_mode
    if args.image_output is not None:
        return "image"
    if args.model and _slug(args.model) in {_slug(m) for m in IMAGE_MODELS}:
        return "image"
    return "text"


def _slug(model: str) -> str:
    return model.strip().split(":", 1)[0].lower()


def default_model(mode: OutputMode, settings: Settings) -> str:
    return {
        "text": settings.chat_model,
        "image": settings.image_model,
        "video": settings.video_model,
        "avatar": settings.avatar_model,
        "music": settings.music_model,
    }[mode]


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

    output = {
        "image": args.image_output,
        "video": args.video_output,
        "avatar": args.avatar_output,
        "music": args.music_output,
    }.get(mode)
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


def map_input(request: GenerateRequest, schema: InputSchema) -> MappedInput:
    """The request as this model's input, by the same modality functions the panels use."""
    wanted = requested_format(request.output)
    chosen_format = format_choice(schema, wanted)
    advanced = {"output_format": chosen_format} if chosen_format else None
    if request.mode == "text":
        return build_chat_input(
            schema, system_prompt=None, history=None, message=request.prompt or ""
        )
    if request.mode == "image":
        return build_image_input(
            schema, prompt=request.prompt or "", image=request.image, advanced=advanced
        )
    if request.mode == "video":
        return build_video_input(
            schema,
            prompt=request.prompt,
            start_image=request.image,
            length_seconds=request.video_length,
            aspect_ratio=request.video_aspect_ratio,
            advanced=advanced,
        )
    if request.mode == "avatar":
        mapped = build_avatar_input(
            schema, portrait=request.avatar_image, audio=request.avatar_audio
        )
        if request.prompt:
            mapped.notes.append("An avatar speaks the audio it is given; the prompt was not used.")
        return mapped
    return build_music_input(
        schema,
        prompt=request.prompt or "",
        duration=request.music_duration,
        tempo=request.music_tempo,
        output_format=wanted,
    )


# ---- where output files go ---------------------------------------------------------------------


def _same_format(a: str, b: str) -> bool:
    aliases = {".jpeg": ".jpg", ".tif": ".tiff"}
    return aliases.get(a.lower(), a.lower()) == aliases.get(b.lower(), b.lower())


def output_paths(
    downloaded: Sequence[Path], requested: Path | None, default_stem: str
) -> list[Path]:
    """`panda.png` for the first file, `panda-2.png`, `panda-3.png` … for more; with no path
    requested, `<default_stem><extension of the file>` in the working directory."""
    paths: list[Path] = []
    for index, source in enumerate(downloaded):
        if requested is None:
            base = Path(f"{default_stem}{source.suffix}")
        elif not requested.suffix:
            base = requested.with_name(requested.name + source.suffix)
        else:
            base = requested
        paths.append(
            base if index == 0 else base.with_name(f"{base.stem}-{index + 1}{base.suffix}")
        )
    return paths


# Formats a still image is converted to without loss (Pillow), and the still formats it reads.
LOSSLESS_TARGETS = frozenset({".png", ".tiff"})
STILL_IMAGE_SOURCES = frozenset({".png", ".jpg", ".webp", ".gif", ".tiff", ".bmp"})


def _is_still_image(path: Path) -> bool:
    try:
        with Image.open(path) as picture:
            return not getattr(picture, "is_animated", False)
    except (OSError, ValueError):
        return False


def place_output(source: Path, target: Path) -> tuple[Path, str | None]:
    """Where a downloaded file goes and what to tell the person. The bytes always sit under an
    extension that names them: a still image asked for as PNG/TIFF is converted losslessly;
    anything else whose container differs from the name asked for (WebM bytes for `out.mp4`) is
    written under its own extension instead (`out.webm`)."""
    if not target.suffix or _same_format(source.suffix, target.suffix):
        return target, None
    wanted = target.suffix.lower()
    if (
        wanted in LOSSLESS_TARGETS
        and source.suffix.lower() in STILL_IMAGE_SOURCES
        and _is_still_image(source)
    ):
        return target, (
            f"the model returned {source.suffix[1:].upper()}; converted losslessly to "
            f"{wanted[1:].upper()} for {target}"
        )
    actual = target.with_suffix(source.suffix)
    return actual, (
        f"the model returned {source.suffix[1:].upper()}, not {wanted[1:].upper()}; written to "
        f"{actual} (not {target}) so the name matches the bytes"
    )


def save_outputs(
    downloaded: Sequence[Path], requested: Path | None, default_stem: str, console: Console
) -> list[Path]:
    saved: list[Path] = []
    for source, wanted in zip(
        downloaded, output_paths(downloaded, requested, default_stem), strict=True
    ):
        target, note = place_output(source, wanted)
        if note:
            console.note(note)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if _same_format(source.suffix, target.suffix):
                # A copy, not a move: the new file gets the umask's permissions, not the 0600 of
                # the private download directory.
                shutil.copyfile(source, target)
            else:
                with Image.open(source) as picture:
                    picture.save(target)
        except OSError as exc:
            raise InputProblem(f"could not write {target}: {exc.strerror or exc}") from None
        saved.append(target)
    return saved


# ---- the terminal ------------------------------------------------------------------------------

PLAIN_PROGRESS_EVERY = 5.0  # seconds between unchanged progress lines when stderr is not a TTY


def describe_progress(event: Progress) -> str:
    status = "starting (cold boot)" if event.cold_boot else event.status
    percent = f" {event.percent:.0f}%" if event.percent is not None else ""
    line = f"{status}{percent} · {event.elapsed:.1f}s"
    if event.log_tail:
        line += f" · {event.log_tail[-1].strip()}"
    return line


@dataclass
class Console:
    """stdout for results; stderr for progress (one redrawn line on a TTY, plain lines when not),
    notes and errors."""

    out: TextIO
    err: TextIO
    live: bool
    _shown: int = 0
    _last_key: tuple[str, int | None] | None = None
    _last_time: float = 0.0
    _announced: set[str] = field(default_factory=set)
    _text_started: bool = False

    @classmethod
    def for_process(cls) -> Console:
        return cls(sys.stdout, sys.stderr, live=sys.stderr.isatty())

    def progress(self, event: Progress) -> None:
        if event.prediction_id and event.prediction_id not in self._announced:
            self._announced.add(event.prediction_id)
            self.note(f"prediction {event.prediction_id}", prefix="")
        line = describe_progress(event)
        if self.live:
            if self._text_started:
                return  # the streamed text owns the terminal now
            width = max(20, shutil.get_terminal_size().columns - 1)
            line = line[:width]
            self.err.write("\r" + line + " " * max(0, self._shown - len(line)))
            self.err.flush()
            self._shown = len(line)
            return
        bucket = None if event.percent is None else int(event.percent // 10)
        key = (event.status, bucket)
        now = time.monotonic()
        if key != self._last_key or now - self._last_time >= PLAIN_PROGRESS_EVERY:
            self._last_key, self._last_time = key, now
            print(line, file=self.err, flush=True)

    def text(self, piece: str) -> None:
        if not self._text_started:
            self.clear()
            self._text_started = True
        self.out.write(piece)
        self.out.flush()

    def clear(self) -> None:
        if self.live and self._shown:
            self.err.write("\r" + " " * self._shown + "\r")
            self.err.flush()
            self._shown = 0

    def note(self, message: str, prefix: str = "note: ") -> None:
        self.clear()
        print(f"{prefix}{message}", file=self.err, flush=True)

    def error(self, message: str) -> None:
        self.note(message, prefix="error: ")


# ---- running -----------------------------------------------------------------------------------


async def generate(
    request: GenerateRequest, settings: Settings, token: str, console: Console
) -> None:
    """Map, run and save one generation; errors propagate as ReplicateError / InputProblem."""
    started = time.monotonic()
    async with ReplicateClient.from_settings(settings) as client:
        ref = ModelRef.parse(request.model)  # once per run
        info = await client.get_model(ref, token=token)
        mapped = map_input(request, info.input_schema)
        for message in mapped.notes:
            console.note(message)
        kind = OUTPUT_KINDS[request.mode]
        result: RunResult | None = None
        with tempfile.TemporaryDirectory(
            prefix="neurolink-", ignore_cleanup_errors=True
        ) as scratch:
            events = run_model(
                client, ref, mapped.input, token=token, kind=kind, dest_dir=Path(scratch)
            )
            async with contextlib.aclosing(events):
                async for event in events:
                    if isinstance(event, Progress):
                        console.progress(event)
                    elif isinstance(event, TextDelta):
                        if request.stream:
                            console.text(event.text)
                    elif isinstance(event, RunResult):
                        result = event
            console.clear()
            if result is None:  # run_model ends with a RunResult or raises
                raise ReplicateError(f"{ref} ended without a result.")
            if request.mode == "text":
                if not request.stream:  # streamed text is on stdout already
                    console.text(result.text)
                if not result.text.endswith("\n"):
                    console.text("\n")
            else:  # run_model refused a media run without a file
                saved = save_outputs(
                    result.files, request.output, DEFAULT_STEMS[request.mode], console
                )
                for path in saved:
                    console.text(f"{path}\n")
        predict = result.predict_time
        timing = f"predict {predict:.1f}s, " if predict is not None else ""
        console.note(
            f"done with {ref} ({timing}total {time.monotonic() - started:.1f}s)", prefix=""
        )


@contextlib.contextmanager
def backend_for(settings: Settings, console: Console) -> Iterator[tuple[Settings, str]]:
    """Replicate with the configured token; with neither a token nor an API of one's own, the
    built-in simulator on loopback, as the app does, and stderr says the output is synthetic."""
    if settings.api_token:
        yield settings, settings.api_token
        return
    from .simulator.runner import Simulator

    with Simulator() as sim:
        console.note(
            f"no REPLICATE_API_TOKEN: running on the built-in simulator at {sim.base_url} — "
            "synthetic output, not a real model's. Set REPLICATE_API_TOKEN to use Replicate."
        )
        yield dataclasses.replace(settings, base_url=sim.base_url), BUILTIN_SIMULATOR_TOKEN


def settings_from_env(console: Console) -> Settings | None:
    """The settings, or None after saying which environment variable is wrong."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        console.error(str(exc))
        return None


def run_generate(args: argparse.Namespace, usage_error: Callable[[str], Any]) -> int:
    console = Console.for_process()
    settings = settings_from_env(console)
    if settings is None:
        return EXIT_ERROR
    try:
        request = request_from_args(args, settings)
    except UsageError as exc:
        usage_error(str(exc))  # exits 2
        return EXIT_USAGE
    try:
        check_input_files(request)
    except InputProblem as exc:
        console.error(exc.message)
        return EXIT_ERROR
    if not settings.api_token and settings.base_url != DEFAULT_BASE_URL:
        console.error(NO_TOKEN_HELP)  # an API of their own, but no token for it
        return EXIT_ERROR
    try:
        with backend_for(settings, console) as (settings, token):
            asyncio.run(generate(request, settings, token, console))
    except KeyboardInterrupt:
        # asyncio.run cancelled the task: the client cancelled the prediction at Replicate first.
        console.error("interrupted; the running prediction was canceled at Replicate.")
        return EXIT_INTERRUPTED
    except (ReplicateError, InputProblem) as exc:
        console.error(str(exc))
        return EXIT_ERROR
    except BrokenPipeError:
        # stdout was closed (`| head`); the prediction was canceled as the run unwound.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    return EXIT_OK


def run_serve(args: argparse.Namespace) -> int:
    from .ui.app import (  # Gradio only for this command
        build_app,
        launch_options,
        startup_message,
        stop_cleanly_on_sigterm,
    )

    host = args.host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = args.port if args.port is not None else int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    demo = build_app()
    print(startup_message(demo.neurolink_context, host, port), flush=True)
    stop_cleanly_on_sigterm(demo)
    demo.launch(
        server_name=host,
        server_port=port,
        share=args.share,
        **launch_options(demo.neurolink_context),
    )
    return EXIT_OK


def run_simulator(args: argparse.Namespace, passthrough: list[str]) -> int:
    from .simulator.__main__ import main as simulator_main

    return simulator_main(["--host", args.host, "--port", str(args.port), *passthrough])


def run_models_check(args: argparse.Namespace, usage_error: Callable[[str], Any]) -> int:
    from .catalog import catalog_model, load_catalog
    from .catalog.drift import check_models, report_lines

    unknown = [ref for ref in args.model if catalog_model(ref) is None]
    if unknown:
        usage_error(f"not in the catalogue: {', '.join(unknown)}")  # exits 2
    entries = [catalog_model(ref) for ref in args.model] if args.model else list(load_catalog())
    console = Console.for_process()
    settings = settings_from_env(console)
    if settings is None:
        return EXIT_ERROR
    if not settings.api_token:
        usage_error("models check needs a Replicate token: set REPLICATE_API_TOKEN")

    async def check() -> tuple[list[str], bool]:
        async with ReplicateClient.from_settings(settings) as client:
            found = await check_models(client, [e for e in entries if e], settings.api_token or "")
        return report_lines(found), any(r.changed or r.error for r in found)

    lines, changed = asyncio.run(check())
    console.text("".join(f"{line}\n" for line in lines))
    return EXIT_ERROR if changed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "simulator":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "serve":
        try:
            return run_serve(args)
        except ValueError as exc:  # a bad setting in the environment
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_ERROR
    if args.command == "simulator":
        return run_simulator(args, extra)
    if args.command == "models":
        return run_models_check(args, args.usage_error)
    return run_generate(args, args.usage_error)
