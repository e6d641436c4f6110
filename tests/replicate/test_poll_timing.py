"""When a model without a stream is polled (replicate/timing.py): around its recent times."""

from __future__ import annotations

import itertools

from neurolink_ui.replicate.timing import DENSE_POLLS, ModelTimes, informed_delays
from neurolink_ui.replicate.types import Prediction


def done(seconds: float, status: str = "succeeded") -> Prediction:
    return Prediction(
        "p",
        status,
        created_at="2026-12-06T05:00:00.000000Z",
        completed_at=f"2026-12-06T05:00:{seconds:09.6f}Z",
    )


def test_expected_is_the_last_time_unless_it_was_a_long_outlier() -> None:
    times = ModelTimes()
    assert times.expected("a/b") is None
    times.record("a/b", done(3.0))
    times.record("a/b", done(2.0, "failed"))  # ended early: ignored
    assert times.expected("a/b") == 3.0
    times.record("a/b", done(40.0))  # a cold boot
    assert times.expected("a/b") == 21.5  # the median, not the cold boot's 40 s
    times.record("a/b", done(3.2))
    assert times.expected("a/b") == 3.2


def test_polls_gather_around_the_expected_end() -> None:
    short = informed_delays(0.55, elapsed=0.01)
    assert abs(short[0] - 0.56) < 1e-9  # first poll just after the expected end
    assert len(short) == DENSE_POLLS and abs(short[1] - 0.1) < 1e-9  # close, then wider
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(short[1:]))
    long = informed_delays(3.0, elapsed=0.02)
    times = [sum(long[: i + 1]) + 0.02 for i in range(len(long))]
    assert [round(t, 2) for t in times[:3]] == [0.25, 1.25, 2.25]  # sparse before
    assert round(times[3], 2) == 2.92  # then dense from just before the end
    # A prediction ending on time is seen within 0.1 s, after no more polls than the fixed
    # 0.5 s schedule would have made (0.25 s, then every 0.5 s: 7 polls to 3.0 s).
    seen = next(i for i, t in enumerate(times) if t >= 3.0)
    assert times[seen] - 3.0 <= 0.1 and seen + 1 <= 7
