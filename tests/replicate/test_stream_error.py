"""A stream's `error` event ends the run at once with its message (issue 22, item 2), as both
official clients treat it: for a chat model's token stream and a file model's log stream alike,
before any further read of the prediction. The simulator fails a prediction after N tokens or
log lines (`fail_after`) with a given message (`failure`)."""

from __future__ import annotations

from typing import Any

import pytest

from neurolink_ui.modalities.registry import get_modality
from neurolink_ui.modalities.spec import ModalityValues
from neurolink_ui.replicate.client import ReplicateClient
from neurolink_ui.replicate.errors import PredictionFailedError
from neurolink_ui.replicate.types import Progress, TextDelta
from neurolink_ui.runs import Caller, RunFailed, RunRequest, RunText, run
from neurolink_ui.simulator.config import SimulatorConfig
from neurolink_ui.ui.context import AppContext

CHAT = "meta/meta-llama-3-8b-instruct"
IMAGE = "black-forest-labs/flux-schnell"
FAILURE = "CUDA out of memory while sampling (E1234)"


def _reads(simulator: Any) -> list[Any]:
    """Reads of a prediction (`GET /v1/predictions/<id>`): polls and the final read."""
    return [
        r for r in simulator.requests if r.method == "GET" and r.path.startswith("/v1/predictions/")
    ]


def _fail(simulator: Any, after: int) -> None:
    simulator.config.update_from_json(
        {"outcome": "failed", "fail_after": after, "failure": FAILURE}
    )


async def test_a_chat_stream_error_ends_the_run_at_once(simulator: Any, token: str) -> None:
    _fail(simulator, 3)
    simulator.config.token_interval = 0.05
    events: list[Any] = []
    async with ReplicateClient(simulator.base_url, poll_schedule=(0.2,)) as client:
        with pytest.raises(PredictionFailedError) as info:
            async for event in client.events(CHAT, {"prompt": "Tell me about tides"}, token=token):
                events.append(event)
    assert FAILURE in str(info.value) and info.value.detail == FAILURE
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert 1 <= len(deltas) <= 3  # what streamed before the error
    prediction = info.value.prediction
    assert prediction.status == "failed" and prediction.error == FAILURE
    assert simulator.predictions[prediction.id].status == "failed"
    assert _reads(simulator) == []  # ended on the event: no poll, no final read
    assert not [r for r in simulator.requests if r.path.endswith("/cancel")]  # it had ended


async def test_a_file_stream_error_ends_the_run_at_once(simulator: Any, token: str) -> None:
    _fail(simulator, 1)
    simulator.config.run_time = 2.0  # the rest of the run would have taken seconds
    async with ReplicateClient(simulator.base_url, poll_schedule=(0.2,)) as client:
        events: list[Any] = []
        with pytest.raises(PredictionFailedError) as info:
            async for event in client.events(IMAGE, {"prompt": "a lighthouse"}, token=token):
                events.append(event)
    assert FAILURE in str(info.value)
    assert all(isinstance(e, Progress) for e in events)
    assert any(e.log_tail for e in events if isinstance(e, Progress))  # the one log line came
    assert _reads(simulator) == []
    assert simulator.predictions[info.value.prediction.id].status == "failed"


async def test_the_run_core_reports_the_error_with_what_was_streamed(
    ctx: AppContext, simulator: Any
) -> None:
    _fail(simulator, 4)
    chat = get_modality("chat")
    values = ModalityValues("Tell me about tides")
    request = RunRequest("chat", CHAT, "tides", lambda info: chat.map_input(info, values), "text")
    events = [event async for event in run(ctx, request, Caller())]
    failed = events[-1]
    assert isinstance(failed, RunFailed) and failed.reason == "replicate"
    assert FAILURE in failed.message and failed.title == "Prediction failed"
    texts = [e for e in events if isinstance(e, RunText)]
    assert texts and texts[-1].text  # the answer so far was shown before the failure
    assert _reads(simulator) == []


def test_the_failure_knobs_are_checked() -> None:
    config = SimulatorConfig()
    with pytest.raises(ValueError, match="fail_after"):
        config.update_from_json({"fail_after": -1})
    with pytest.raises(ValueError, match="failure"):
        config.update_from_json({"failure": ""})
    config.update_from_json({"outcome": "failed", "fail_after": 0, "failure": "boom"})
    assert (config.fail_after, config.failure) == (0, "boom")
