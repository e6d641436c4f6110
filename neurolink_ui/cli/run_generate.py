"""Running one `generate` command: the run core's events rendered on a terminal, outputs saved; on
Replicate with the configured token or on the built-in simulator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import BUILTIN_SIMULATOR_TOKEN, DEFAULT_BASE_URL, Settings
from ..costs import cost_text
from ..deadlines import known_run_time, run_time_note
from ..modalities.common import InputProblem
from ..quota.guard import QuotaGuard
from ..replicate.client import ReplicateClient
from ..replicate.errors import PredictionCanceledError, ReplicateError
from ..runs import (
    Backend,
    Caller,
    RunFailed,
    RunFinished,
    RunProgress,
    RunRequest,
    RunStarted,
    RunStopped,
    RunText,
    run,
)
from .console import Console, settings_from_env
from .files import save_outputs
from .parser import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    OutputMode,
    UsageError,
    modality_of,
)
from .request import GenerateRequest, check_input_files, map_input, request_from_args

NO_TOKEN_HELP = (
    "REPLICATE_API_TOKEN is not set (REPLICATE_BASE_URL is). Create a token at "
    "https://replicate.com/account/api-tokens and run `export REPLICATE_API_TOKEN=r8_...`. "
    "A local simulator (`python -m neurolink_ui simulator --port 5055`) takes any token, e.g. "
    "REPLICATE_API_TOKEN=r8_local; with neither variable set, `generate` runs on the built-in one."
)


def default_stem(mode: OutputMode) -> str:
    """Where a file goes when no output flag names it: <stem><extension of what came back>."""
    noun = modality_of(mode).noun
    return {"avatar": "avatar", "image": "output", "video": "output"}.get(mode, noun)


@dataclass
class ScratchRoom:
    """The command line's outputs: one scratch folder, no session cap (the client's caps hold)."""

    folder: Path

    def session_dir(self, session_hash: str | None) -> Path:
        return self.folder

    def room(self, session_hash: str | None) -> int:
        return sys.maxsize

    def refuse_when_full(self, session_hash: str | None) -> None:
        return None

    def room_note(self, room: int) -> str:
        return ""

    def refused_download(self, room: int, url: str) -> InputProblem:
        return InputProblem(f"The output at {url} did not fit.")


@dataclass
class CommandLineHost:
    """The run core's host for one command: the configured client and token, no quota."""

    settings: Settings
    client: ReplicateClient
    token: str
    outputs: ScratchRoom
    quota: QuotaGuard | None = None

    def backend(self, session_token: str | None) -> Backend:
        return Backend(self.client, self.token)


async def generate(
    request: GenerateRequest, settings: Settings, token: str, console: Console
) -> None:
    """Render one run of the core: progress and notes on stderr, text on stdout, files saved;
    a failure raises ReplicateError / InputProblem with its message."""
    started = time.monotonic()
    mode = request.mode
    async with ReplicateClient.from_settings(settings) as client:
        with tempfile.TemporaryDirectory(
            prefix="neurolink-", ignore_cleanup_errors=True
        ) as scratch:
            host = CommandLineHost(settings, client, token, ScratchRoom(Path(scratch)))
            run_request = RunRequest(
                mode,
                request.model,
                request.prompt or "",
                functools.partial(map_input, request),
                modality_of(mode).output,
                started=started,
            )
            finished: RunFinished | None = None
            async with contextlib.aclosing(run(host, run_request, Caller())) as events:
                async for event in events:
                    if isinstance(event, RunStarted):
                        # Before it runs: that it typically takes minutes (as the panels say).
                        known = known_run_time(event.model, modality_of(mode).name)
                        for message in (run_time_note(known), *event.notes):
                            if message:
                                console.note(message)
                    elif isinstance(event, RunProgress):
                        console.progress(event.progress)
                    elif isinstance(event, RunText):
                        if request.stream:
                            console.text(event.delta)
                    elif isinstance(event, RunFinished):
                        finished = event
                    elif isinstance(event, RunStopped):
                        raise PredictionCanceledError(f"{request.model} was canceled.")
                    elif isinstance(event, RunFailed):
                        if event.reason == "input":
                            raise InputProblem(event.message)
                        raise ReplicateError(event.message)
            console.clear()
            if finished is None:  # the core ends with one of the three; guard the contract
                raise ReplicateError(f"{request.model} ended without a result.")
            result = finished.result
            if modality_of(mode).output == "text":
                if not request.stream:  # streamed text is on stdout already
                    console.text(result.text)
                if not result.text.endswith("\n"):
                    console.text("\n")
            else:  # the core refused a media run without a file
                saved = save_outputs(result.files, request.output, default_stem(mode), console)
                for path in saved:
                    console.text(f"{path}\n")
        predict = result.predict_time
        timing = f"predict {predict:.1f}s, " if predict is not None else ""
        if finished.cost is not None:
            timing += f"{cost_text(finished.cost, finished.simulated)}, "
        console.note(
            f"done with {result.model} ({timing}total {time.monotonic() - started:.1f}s)",
            prefix="",
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
