"""The run core's typed events: what every entry point renders (panels, Chat, Compare, Explore,
the API, the command line). No Gradio.

A run yields `RunStarted` once it is admitted and mapped, then `RunProgress` and `RunText` while
it runs, and ends with exactly one of `RunFinished`, `RunStopped` or `RunFailed` (cancellation of
the consumer — a closed tab, Gradio's `cancels=` — propagates instead, after the client has
canceled the prediction at Replicate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..costs import CostEstimate
from ..pipeline import RunResult
from ..replicate.schema import ModelInfo
from ..replicate.types import Prediction, Progress
from ..results import NewResult

# Why a run failed, so that a renderer never has to read the message to know:
# - "input": the person's input (or the model reference) was refused before anything ran;
# - "quota": guarded demo mode refused the run on the owner's token (the message says when);
# - "budget": the output did not fit the session's disk room (the prediction itself succeeded);
# - "replicate": Replicate (or the download of its output) failed;
# - "busy": preparing the input took longer than its bound (a worker thread's time limit);
# - "token": the caller signed in with their own token and the server no longer holds it
#   (nothing ran: it would otherwise have gone to the owner's token).
FailureReason = Literal["input", "quota", "budget", "replicate", "busy", "token"]


@dataclass(frozen=True)
class RunStarted:
    """Admitted and mapped: the prediction is about to be created."""

    model: str
    notes: tuple[str, ...]  # what the mapping and the cost caps changed
    on_replicate: bool  # runs go to Replicate itself (its prediction pages exist)


@dataclass(frozen=True)
class RunProgress:
    """Where the prediction is. `show`: worth a page update (something new, and no Stop
    pressed); the command line shows every one."""

    progress: Progress
    show: bool
    on_replicate: bool = False


@dataclass(frozen=True)
class RunText:
    """Streamed text: `text` is everything so far (accumulated once, here), `delta` the new
    part. `show`: the pacer's word that a page update is due (at most ~10 a second)."""

    text: str
    delta: str
    elapsed: float
    show: bool


@dataclass(frozen=True)
class RunFinished:
    """The run's outputs are downloaded, its notes final, its record kept (`kept_id`: the
    result's id in the results store, None when it was not kept)."""

    result: RunResult
    record: NewResult
    kept_id: str | None
    on_replicate: bool
    info: ModelInfo  # the model as it ran (its output schema says how to show the result)
    cost: CostEstimate | None = None  # what the run cost, estimated from its own metrics
    session_cost: str = ""  # the session's running total, as a person reads it

    @property
    def simulated(self) -> bool:
        return self.record.simulated


@dataclass(frozen=True)
class RunStopped:
    """The prediction ended canceled (Stop). `prediction` is None when none was created."""

    prediction: Prediction | None
    on_replicate: bool


@dataclass(frozen=True)
class RunFailed:
    """The run could not finish; `message` is for a person, `reason` for code."""

    reason: FailureReason
    message: str
    title: str = "Invalid input"

    @property
    def stays(self) -> bool:
        """A refusal a person must read (a quota limit): shown until dismissed, not faded."""
        return self.reason in ("quota", "token")


RunEnd = RunFinished | RunStopped | RunFailed
RunEvent = RunStarted | RunProgress | RunText | RunFinished | RunStopped | RunFailed
