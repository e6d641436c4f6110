"""How long a model's predictions take, as this process has seen them: when to poll (issue 21).

A model without a stream is noticed finished only by polling; on a fixed 0.5 s schedule that is
a quarter of a second late on average. A model's recent predictions (the API's own created →
completed times of those that succeeded) say when the next one will likely end: poll sparsely
before that, then across the window of their recent ends, closely where they agree and wider
where they spread. The first prediction of a model keeps the fixed schedule.
Replicate has no long-poll on GET (`Prefer: wait` is for creates only), so the schedule is what
there is to tune; the polls stay about as many as the fixed schedule's (see `informed_delays`).
"""

from __future__ import annotations

import statistics
from collections import deque
from datetime import datetime

from .types import Prediction

KEEP = 5  # recent predictions per model
LONG = 1.5  # s: from this expected time on, a sparse poll or more comes before the dense ones
SPARSE = 1.0  # s between polls long before the expected end (status and logs still flow)
SPARSE_LATER_FROM, SPARSE_LATER = 10.0, 2.0  # s: then every 2 s (the fixed schedule is as sparse)
# The dense polls cover the window of recent ends, and past its latest by half the window's
# width, at least DRIFT (ends drift later: a model slowing under load), in WINDOW_POLLS steps
# within DENSE_STEP: close where the ends agree, wider where they spread.
WINDOW_POLLS = 4
DENSE_STEP = (0.1, 1.0)  # s: the closest and the widest step within the window
DRIFT = 0.3
# s between polls past the window: wider as it is overdue (an end much later than the recent
# ones is as likely anywhere); then the fixed schedule.
OVERDUE = (0.15, 0.2, 0.25)


def _seconds(prediction: Prediction) -> float | None:
    if not prediction.created_at or not prediction.completed_at:
        return None
    try:
        created = datetime.fromisoformat(prediction.created_at.replace("Z", "+00:00"))
        completed = datetime.fromisoformat(prediction.completed_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    seconds = (completed - created).total_seconds()
    return seconds if 0 < seconds < 86_400 else None


class ModelTimes:
    """The created → completed seconds of each model's last KEEP successful predictions."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[float]] = {}

    def record(self, model: str, prediction: Prediction) -> None:
        if prediction.status != "succeeded":
            return  # a failed or canceled one ended early: it says nothing of the next
        seconds = _seconds(prediction)
        if seconds is not None:
            self._seen.setdefault(model, deque(maxlen=KEEP)).append(seconds)

    def expected(self, model: str) -> float | None:
        """The smaller of the last time and the recent median: a cold boot's long time does
        not push the next (warm) prediction's dense polls late. None before the first."""
        seen = self._seen.get(model)
        if not seen:
            return None
        return min(seen[-1], statistics.median(seen))

    def window(self, model: str) -> tuple[float, float] | None:
        """When the next prediction will likely end: from `expected` to the latest recent time,
        but never past twice `expected` (one cold boot does not widen it). None before the
        first."""
        expected = self.expected(model)
        if expected is None:
            return None
        return expected, min(max(self._seen[model]), 2 * expected)

    def longest(self, model: str) -> float | None:
        """The longest of the model's recent successful predictions (None before the first):
        a deadline is never shorter than what this model was just seen to need."""
        seen = self._seen.get(model)
        return max(seen) if seen else None


def informed_delays(expected: float, latest: float | None = None, *, elapsed: float) -> list[float]:
    """The waits between polls, from `elapsed` (seconds since the create), for a prediction
    expected to end between `expected` and `latest` seconds (both `expected` when omitted):
    every SPARSE s (SPARSE_LATER later) from 0.25 s until 0.6 s before the expected end (only
    for LONG ones), then polls from just before it (just after it for short ones, where the
    fixed schedule's polls are few) to past `latest`, WINDOW_POLLS steps within DENSE_STEP,
    then OVERDUE. The fixed schedule follows when these run out."""
    latest = expected if latest is None else max(latest, expected)  # ModelTimes.window bounds it
    times: list[float] = []
    if expected >= LONG:
        at = 0.25
        while at <= expected - 0.6:
            times.append(at)
            at += SPARSE_LATER if at >= SPARSE_LATER_FROM else SPARSE
        start = expected - 0.08
    else:
        start = expected + 0.02
    end = latest + max(DRIFT, (latest - expected) / 2)
    closest, widest = DENSE_STEP
    step = min(max((end - start) / WINDOW_POLLS, closest), widest)
    at = start
    while at <= end + 1e-9:
        times.append(at)
        at += step
    for overdue in OVERDUE:  # never closer than the window's own polls
        times.append(times[-1] + max(overdue, step))
    delays: list[float] = []
    previous = elapsed
    for at in times:
        if at > previous:
            delays.append(at - previous)
            previous = at
    return delays
