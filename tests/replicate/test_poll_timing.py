"""When a model without a stream is polled (replicate/timing.py): around its recent times."""

from __future__ import annotations

import itertools

from neurolink_ui.replicate.client import DEFAULT_POLL_SCHEDULE
from neurolink_ui.replicate.timing import DENSE_STEP, ModelTimes, informed_delays
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
    assert abs(short[1] - 0.1) < 1e-9  # close, then wider
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(short[1:]))
    long = informed_delays(3.0, elapsed=0.02)
    times = [sum(long[: i + 1]) + 0.02 for i in range(len(long))]
    assert [round(t, 2) for t in times[:3]] == [0.25, 1.25, 2.25]  # sparse before
    assert round(times[3], 2) == 2.92  # then dense from just before the end
    # A prediction ending on time is seen within 0.1 s, after no more polls than the fixed
    # 0.5 s schedule would have made (0.25 s, then every 0.5 s: 7 polls to 3.0 s).
    seen = next(i for i, t in enumerate(times) if t >= 3.0)
    assert times[seen] - 3.0 <= 0.1 and seen + 1 <= 7


def poll_times(delays: list[float], elapsed: float) -> list[float]:
    return list(itertools.accumulate(delays, initial=elapsed))[1:]


def fixed_polls_until(seconds: float) -> int:
    """Polls the fixed schedule makes until it sees an end at `seconds`."""
    at, polls = 0.0, 0
    for step in itertools.chain(DEFAULT_POLL_SCHEDULE, itertools.repeat(DEFAULT_POLL_SCHEDULE[-1])):
        at, polls = at + step, polls + 1
        if at >= seconds:
            return polls
    raise AssertionError


def test_the_window_runs_from_the_expected_end_to_the_latest_but_one_cold_boot_does_not_widen_it() -> (
    None
):
    times = ModelTimes()
    assert times.window("a/b") is None
    for seconds in (2.55, 2.65, 2.85, 3.05):
        times.record("a/b", done(seconds))
    assert times.window("a/b") == (2.75, 3.05)  # the median (below the last), the latest
    times.record("a/b", done(40.0))  # a cold boot
    assert times.window("a/b") == (2.85, 5.7)  # never past twice the expected end


def test_ends_anywhere_in_a_spread_window_are_seen_soon_with_few_polls() -> None:
    """Ends spread over a second across runs, drifting later (the bench's long case): every end
    from the window's start to past its latest is seen within the widest step there, sooner
    than the fixed schedule's average of a quarter second, with no more polls than it makes."""
    expected, latest = 2.65, 3.05
    times = poll_times(informed_delays(expected, latest, elapsed=0.02), 0.02)
    dense = [t for t in times if t >= expected - 0.1]
    steps = [b - a for a, b in itertools.pairwise(dense)]
    lags = []
    for tenth in range(int(expected * 100), int((latest + 0.3) * 100)):
        end = tenth / 100
        seen = next(t for t in times if t >= end)
        lags.append(seen - end)
        assert times.index(seen) + 1 <= fixed_polls_until(end) + 1, end
    assert max(lags) <= max(steps[:4]) + 1e-9 and max(steps[:4]) < 0.25
    assert sum(lags) / len(lags) < 0.125  # the fixed 0.5 s schedule: 0.25 on average


def test_a_wide_window_is_polled_at_most_a_sparse_step_apart() -> None:
    """A model whose times spread over seconds is polled across them no closer than it needs:
    at most a sparse step apart, and no more often than the fixed schedule polls until then."""
    times = poll_times(informed_delays(20.0, 25.0, elapsed=0.02), 0.02)
    window = [t for t in times if 19.5 <= t <= 28.0]
    steps = [b - a for a, b in itertools.pairwise(window)]
    assert max(steps) <= DENSE_STEP[1] + 1e-9
    assert sum(t <= 28.0 for t in times) <= fixed_polls_until(28.0)
