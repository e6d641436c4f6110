"""One run of a model from mapped input to local results: the path every panel and the CLI share.

It follows the prediction's events (the client prepares file inputs) and downloads its file outputs, so callers
only map a person's values to a model input before and render the result after. No Gradio here.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .replicate.client import ReplicateClient
from .replicate.errors import PredictionError
from .replicate.outputs import RunOutput, normalize_output
from .replicate.schema import ModelInfo
from .replicate.types import Completed, ModelRef, Prediction, PredictionEvent, TextDelta

# Replicate says nothing of boots, only when a prediction was created and when it started. Nearly
# every prediction passes through "starting", so that status alone says nothing; but a warm model
# starts within a second or so, while a cold boot takes from several seconds to minutes.
COLD_BOOT_SECONDS = 2.0


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        first = datetime.fromisoformat(start.replace("Z", "+00:00"))
        last = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max((last - first).total_seconds(), 0.0)


def starting_seconds(prediction: Prediction) -> float | None:
    """Seconds the prediction spent before running (queue and boot): Replicate's metrics
    `total_time - predict_time`, else `started_at - created_at`; None when it does not say."""
    total, predict = prediction.metrics.get("total_time"), prediction.predict_time
    if isinstance(total, int | float) and predict is not None:
        return max(float(total) - predict, 0.0)
    return _seconds_between(prediction.created_at, prediction.started_at)


def is_cold_boot(prediction: Prediction) -> bool | None:
    """Whether the prediction waited for a cold boot, from its own times (None: unknown)."""
    starting = starting_seconds(prediction)
    return None if starting is None else starting >= COLD_BOOT_SECONDS


@dataclass(frozen=True)
class ProgressPhase:
    """What a run's progress says, in words every view shares (the page's status, an agent's
    progress notifications): the phase's name, what Replicate is doing, and the percent."""

    name: str  # "Starting", "Cold boot", "Waiting for Replicate", "Running", else the status
    doing: str  # what Replicate is doing ("" when the name says it)
    percent: float | None


def progress_phase(status: str, elapsed: float, percent: float | None) -> ProgressPhase:
    """The phase of a run from its status and time: one rule for a cold boot (a start longer
    than COLD_BOOT_SECONDS), so no view calls a 0.05 s start a cold boot."""
    if status == "starting" and elapsed < COLD_BOOT_SECONDS:
        # Nearly every prediction passes through "starting"; a warm start is over in a moment.
        return ProgressPhase("Starting", "Replicate is starting the prediction…", None)
    if status == "starting":
        return ProgressPhase("Cold boot", "Replicate is starting the model…", None)
    if status == "waiting":
        return ProgressPhase("Waiting for Replicate", "the model is starting or running…", None)
    if status == "processing":
        return ProgressPhase("Running", "", percent)
    return ProgressPhase(status.capitalize(), "", None)


@dataclass
class RunResult:
    """What a finished run left behind: text, local files, and what was sent."""

    model: str
    prediction: Prediction
    text: str
    files: list[Path]
    input: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    wall_time: float = 0.0
    # The local files the input was given, by field (what `input` shows as `<file name>`):
    # kept with the result, so a share shows them and a Remix starts from them again.
    input_files: dict[str, list[Path]] = field(default_factory=dict)

    @property
    def predict_time(self) -> float | None:
        return self.prediction.predict_time

    @property
    def starting_time(self) -> float | None:
        return starting_seconds(self.prediction)

    @property
    def cold_boot(self) -> bool | None:
        return is_cold_boot(self.prediction)


def describe_input(value: Any) -> Any:
    """The input as a person would want it recorded: file values become short placeholders."""
    if isinstance(value, dict):
        return {k: describe_input(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [describe_input(v) for v in value]
    if isinstance(value, str) and value.startswith("data:"):
        return value.split(",", 1)[0] + ",…"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Path):
        return f"<file {value.name}>"
    if value.__class__.__module__.startswith("PIL."):
        return "<image>"
    return value


def input_file_paths(model_input: dict[str, Any]) -> dict[str, list[Path]]:
    """The local files of an input, by field: a path, or a list of paths (the ones a person
    gave; URLs and inline data are not files of ours)."""
    found: dict[str, list[Path]] = {}
    for name, value in model_input.items():
        items = value if isinstance(value, list | tuple) else [value]
        paths = [item for item in items if isinstance(item, Path) and item.is_file()]
        if paths:
            found[name] = paths
    return found


async def run_model(
    client: ReplicateClient,
    ref: ModelRef,
    model_input: dict[str, Any],
    *,
    token: str,
    kind: RunOutput,
    dest_dir: Path,
    notes: list[str] | None = None,
    started: float | None = None,
    max_bytes: int | None = None,
    made_from: dict[str, list[Path]] | None = None,
    info: ModelInfo | None = None,
    deadline: float | None = None,
) -> AsyncGenerator[PredictionEvent | RunResult, None]:
    """Yield the prediction's Progress and TextDelta events, then one RunResult.

    Cancelling the consumer cancels the prediction at Replicate (the client guarantees it).
    `started` (time.monotonic()) is when the person asked, for the result's wall time. A media
    run (`kind` not "text") that succeeds without a file raises PredictionError here, once for
    every caller.
    `max_bytes`: download at most this much (the session's room), else the client's cap.
    `made_from`: fields made from a person's file (MappedInput.made_from), recorded as that file.
    `info`: the model, when the caller has it already (it is not fetched again).
    `deadline`: the prediction's `Cancel-After` and wait, in seconds (`neurolink_ui.deadlines`);
    None: the client's poll cap.
    """
    started = time.monotonic() if started is None else started
    streamed: list[str] = []
    finished: Prediction | None = None
    events = client.events(ref, model_input, token=token, info=info, deadline=deadline)
    async for event in events:
        if isinstance(event, Completed):
            finished = event.prediction
        else:
            if isinstance(event, TextDelta):
                streamed.append(event.text)
            yield event
    if finished is None:  # the client always ends with Completed or raises; guard the contract
        raise RuntimeError("the prediction ended without a result")

    normalized = normalize_output(finished.output)
    text = "".join(streamed) or (normalized.text or "")
    files: list[Path] = []
    result_notes = list(notes or [])
    if kind != "text" and normalized.file_urls:
        downloaded = await client.download_outputs(
            finished.output, dest_dir, kind=kind, max_bytes=max_bytes
        )
        files = list(downloaded)
        if downloaded.note:  # a per-prediction cap was reached: the rest are links
            result_notes.append(downloaded.note)
    if kind != "text" and not files:
        raise PredictionError(
            f"{ref} finished but returned no {kind} file (output: {str(finished.output)[:200]!r}).",
            prediction=finished,
        )
    yield RunResult(
        model=str(ref),
        prediction=finished,
        text=text,
        files=files,
        input=describe_input(model_input),
        notes=result_notes,
        wall_time=time.monotonic() - started,
        input_files={**input_file_paths(model_input), **(made_from or {})},
    )
