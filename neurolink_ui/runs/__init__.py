"""The run core (no Gradio): one way to run a model, rendered by every entry point.

`run(host, request, caller)` yields the typed events of `runs.events`; `LiveRuns` is what Stop
names; `offload` moves slow work to worker threads. See docs/ARCHITECTURE.md, "The run core".
"""

from .core import Backend, Caller, ResultSink, RunHost, RunRequest, closing_notes, run, stop
from .events import (
    FailureReason,
    RunEnd,
    RunEvent,
    RunFailed,
    RunFinished,
    RunProgress,
    RunStarted,
    RunStopped,
    RunText,
)
from .live import LiveRuns, live_run
from .work import WorkTimeout, offload, offload_within

__all__ = [
    "Backend",
    "Caller",
    "FailureReason",
    "LiveRuns",
    "ResultSink",
    "RunEnd",
    "RunEvent",
    "RunFailed",
    "RunFinished",
    "RunHost",
    "RunProgress",
    "RunRequest",
    "RunStarted",
    "RunStopped",
    "RunText",
    "WorkTimeout",
    "closing_notes",
    "live_run",
    "offload",
    "offload_within",
    "run",
    "stop",
]
