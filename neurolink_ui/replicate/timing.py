"""How long a model's predictions take, as this process has seen them: when to poll (issue 21).

A model without a stream is noticed finished only by polling; on a fixed 0.5 s schedule that is
a quarter of a second late on average. A model's recent predictions (the API's own created →
completed times of those that succeeded) say when the next one will likely end: poll sparsely
before that, then densely around it. The first prediction of a model keeps the fixed schedule.
Replicate has no long-poll on GET (`Prefer: wait` is for creates only), so the schedule is what
there is to tune; the number of polls stays within the fixed schedule's (see `informed_delays`).
"""

from __future__ import annotations

import statistics
from collections import deque
from datetime import datetime

from .types import Prediction

KEEP = 5  # recent predictions per model
LONG = 1.5  # s: from this expected time on, a sparse poll or more comes before the dense ones
SPARSE = 1.0  # s between polls long before the expected end (status and logs still flow)
# s between polls from just before the expected end: close at first, wider as it is overdue
# (an end much later than the recent ones is as likely anywhere); then the fixed schedule.
DENSE = (0.1, 0.1, 0.1, 0.15, 0.2, 0.25)
DENSE_POLLS = len(DENSE) + 1


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

    def longest(self, model: str) -> float | None:
        """The longest of the model's recent successful predictions (None before the first):
        a deadline is never shorter than what this model was just seen to need."""
        seen = self._seen.get(model)
        return max(seen) if seen else None


def informed_delays(expected: float, elapsed: float) -> list[float]:
    """The waits between polls, from `elapsed` (seconds since the create), for a prediction
    expected to take `expected` seconds: every SPARSE s from 0.25 s until 0.6 s before the
    expected end (only for LONG ones), then DENSE_POLLS polls, DENSE apart, from just before it
    (just after it for short ones, where the fixed schedule's polls are few). The fixed
    schedule follows when these run out."""
    times: list[float] = []
    if expected >= LONG:
        at = 0.25
        while at <= expected - 0.6:
            times.append(at)
            at += SPARSE
        start = expected - 0.08
    else:
        start = expected + 0.02
    times.append(start)
    for step in DENSE:
        times.append(times[-1] + step)
    delays: list[float] = []
    previous = elapsed
    for at in times:
        if at > previous:
            delays.append(at - previous)
            previous = at
    return delays
