"""Cold boot decided from a prediction's own times (`pipeline.is_cold_boot`): pure, and as
`run_model` reports it for a warm run that still passed through "starting"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from neurolink_ui.pipeline import (
    COLD_BOOT_SECONDS,
    RunResult,
    is_cold_boot,
    run_model,
    starting_seconds,
)
from neurolink_ui.replicate.client import ReplicateClient
from neurolink_ui.replicate.types import ModelRef, Prediction, Progress


def prediction(**times: Any) -> Prediction:
    return Prediction(id="p1", status="succeeded", **times)


def test_metrics_give_the_time_to_start() -> None:
    booted = prediction(metrics={"predict_time": 0.61, "total_time": 12.81})
    assert starting_seconds(booted) == pytest.approx(12.2) and is_cold_boot(booted) is True
    warm = prediction(metrics={"predict_time": 3.0, "total_time": 3.4})
    assert starting_seconds(warm) == pytest.approx(0.4) and is_cold_boot(warm) is False


def test_timestamps_stand_in_when_metrics_lack_the_total() -> None:
    warm = prediction(
        created_at="2026-01-01T00:00:00.000Z", started_at="2026-01-01T00:00:00.300000Z"
    )
    assert starting_seconds(warm) == pytest.approx(0.3) and is_cold_boot(warm) is False
    cold = prediction(created_at="2026-01-01T00:00:00Z", started_at="2026-01-01T00:00:05Z")
    assert is_cold_boot(cold) is True


def test_the_threshold_itself_is_a_cold_boot() -> None:
    total = 1.0 + COLD_BOOT_SECONDS
    assert is_cold_boot(prediction(metrics={"predict_time": 1.0, "total_time": total})) is True
    just_under = total - 0.01
    assert (
        is_cold_boot(prediction(metrics={"predict_time": 1.0, "total_time": just_under})) is False
    )


def test_no_times_or_broken_times_say_nothing() -> None:
    assert starting_seconds(prediction()) is None and is_cold_boot(prediction()) is None
    broken = prediction(created_at="yesterday", started_at="2026-01-01T00:00:05Z")
    assert is_cold_boot(broken) is None
    assert RunResult("a/b", prediction(), "", [], {}).cold_boot is None


def test_a_clock_going_backwards_is_no_negative_start() -> None:
    odd = prediction(created_at="2026-01-01T00:00:05Z", started_at="2026-01-01T00:00:00Z")
    assert starting_seconds(odd) == 0.0 and is_cold_boot(odd) is False


async def hello_run(simulator: Any, token: str, dest_dir: Path, cold_start: float) -> RunResult:
    """replicate/hello-world run by `run_model`, its model `cold_start` s in "starting"; every
    run passes through "starting" (asserted), whatever its boot."""
    simulator.config.cold_start = cold_start
    simulator.config.run_time = 0.05
    async with ReplicateClient(simulator.base_url) as client:
        events = [
            event
            async for event in run_model(
                client,
                ModelRef.parse("replicate/hello-world"),
                {"text": "tides"},
                token=token,
                kind="text",
                dest_dir=dest_dir,
            )
        ]
    assert any(isinstance(e, Progress) and e.status == "starting" for e in events)
    result = events[-1]
    assert isinstance(result, RunResult)
    return result


async def test_a_warm_run_that_passed_through_starting_is_not_a_cold_boot(
    simulator: Any, token: str, tmp_path: Path
) -> None:
    result = await hello_run(simulator, token, tmp_path, cold_start=0.05)
    assert result.cold_boot is False and result.starting_time is not None
    assert result.starting_time < COLD_BOOT_SECONDS


async def test_a_long_start_is_a_cold_boot(simulator: Any, token: str, tmp_path: Path) -> None:
    result = await hello_run(simulator, token, tmp_path, cold_start=COLD_BOOT_SECONDS + 0.2)
    assert result.cold_boot is True and result.starting_time is not None
    assert result.starting_time >= COLD_BOOT_SECONDS
