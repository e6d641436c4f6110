"""Running one `generate` command: map, run through `pipeline.run_model`, save; on Replicate with
the configured token or on the built-in simulator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from ..config import BUILTIN_SIMULATOR_TOKEN, DEFAULT_BASE_URL, Settings
from ..modalities.common import InputProblem
from ..pipeline import RunResult, run_model
from ..replicate.client import ReplicateClient
from ..replicate.errors import ReplicateError
from ..replicate.types import ModelRef, Progress, TextDelta
from .console import Console, settings_from_env
from .files import save_outputs
from .parser import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, OutputMode, UsageError
from .request import GenerateRequest, check_input_files, map_input, request_from_args

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
NO_TOKEN_HELP = (
    "REPLICATE_API_TOKEN is not set (REPLICATE_BASE_URL is). Create a token at "
    "https://replicate.com/account/api-tokens and run `export REPLICATE_API_TOKEN=r8_...`. "
    "A local simulator (`python -m neurolink_ui simulator --port 5055`) takes any token, e.g. "
    "REPLICATE_API_TOKEN=r8_local; with neither variable set, `generate` runs on the built-in one."
)


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
    from ..simulator.runner import Simulator

    with Simulator() as sim:
        console.note(
            f"no REPLICATE_API_TOKEN: running on the built-in simulator at {sim.base_url} — "
            "synthetic output, not a real model's. Set REPLICATE_API_TOKEN to use Replicate."
        )
        yield dataclasses.replace(settings, base_url=sim.base_url), BUILTIN_SIMULATOR_TOKEN


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
