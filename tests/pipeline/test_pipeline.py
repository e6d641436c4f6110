"""`pipeline.run_model` against the simulator: the one place a media run without a file is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurolink_ui.pipeline import RunResult, run_model
from neurolink_ui.replicate.client import ReplicateClient
from neurolink_ui.replicate.errors import PredictionError
from neurolink_ui.replicate.types import ModelRef


async def test_a_media_run_that_returns_no_file_is_refused_once_here(
    simulator, token: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    hello = ModelRef.parse("replicate/hello-world")  # answers text, never a file
    async with ReplicateClient(simulator.base_url) as client:
        with pytest.raises(PredictionError, match="finished but returned no image file") as caught:
            async for _ in run_model(
                client, hello, {"text": "x"}, token=token, kind="image", dest_dir=tmp_path
            ):
                pass
        assert caught.value.prediction is not None
        assert caught.value.prediction.status == "succeeded"
        # The same output is a fine result for a text run.
        results = [
            event
            async for event in run_model(
                client, hello, {"text": "x"}, token=token, kind="text", dest_dir=tmp_path
            )
            if isinstance(event, RunResult)
        ]
    assert results[0].text == "hello x" and results[0].files == []
    assert results[0].model == "replicate/hello-world"
