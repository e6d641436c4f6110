"""`pipeline.run_model` against the simulator on loopback: the one path from mapped input to local
results that every panel and the CLI share (events, downloads, the recorded input, the caps, the
refusal of a media run without a file, cancel at Replicate)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from neurolink_ui.pipeline import RunResult, describe_input, run_model
from neurolink_ui.replicate.client import ReplicateClient
from neurolink_ui.replicate.errors import DownloadError, PredictionError
from neurolink_ui.replicate.types import ModelRef, PredictionEvent, Progress, TextDelta

CHAT = ModelRef.parse("meta/meta-llama-3-8b-instruct")  # streams its tokens
IMAGE = ModelRef.parse("black-forest-labs/flux-schnell")  # up to 4 image files
EDIT = ModelRef.parse("black-forest-labs/flux-kontext-pro")  # takes an input_image
HELLO = ModelRef.parse("replicate/hello-world")  # answers text, never a file
SMALL_IMAGES = {"prompt": "a red fox in snow", "megapixels": "0.25", "seed": 7}


@pytest.fixture
async def client(simulator: Any) -> AsyncIterator[ReplicateClient]:
    simulator.config.cold_start = 0.01
    simulator.config.run_time = 0.05
    async with ReplicateClient(simulator.base_url) as replicate:
        yield replicate


def files_in(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*")) if folder.exists() else []


async def collect(
    client: ReplicateClient, ref: ModelRef, model_input: dict[str, Any], **options: Any
) -> tuple[list[PredictionEvent], RunResult]:
    """Every event of one run, and its RunResult (which must come last, exactly once)."""
    events: list[PredictionEvent | RunResult] = [
        event async for event in run_model(client, ref, model_input, **options)
    ]
    results = [event for event in events if isinstance(event, RunResult)]
    assert len(results) == 1 and events[-1] is results[0]
    return [e for e in events if not isinstance(e, RunResult)], results[0]


async def images(
    client: ReplicateClient, token: str, count: int, dest_dir: Path, **options: Any
) -> RunResult:
    """The RunResult of `count` small images from IMAGE, downloaded into `dest_dir`."""
    model_input = {**SMALL_IMAGES, "num_outputs": count}
    _, result = await collect(
        client, IMAGE, model_input, token=token, kind="image", dest_dir=dest_dir, **options
    )
    return result


async def test_a_text_run_streams_its_tokens_then_one_result_of_the_same_text(
    client: ReplicateClient, token: str, tmp_path: Path
) -> None:
    events, result = await collect(
        client,
        CHAT,
        {"prompt": "Explain tides in one paragraph", "max_tokens": 64},
        token=token,
        kind="text",
        dest_dir=tmp_path,
        notes=["mapped: max_tokens"],
    )
    deltas = [event.text for event in events if isinstance(event, TextDelta)]
    progress = [event for event in events if isinstance(event, Progress)]
    assert len(deltas) > 1 and result.text == "".join(deltas) and result.text.strip()
    assert progress and progress[0].prediction_id == result.prediction.id
    assert result.prediction.status == "succeeded" and result.model == str(CHAT)
    assert result.files == [] and not files_in(tmp_path)  # a text run downloads nothing
    assert result.input == {"prompt": "Explain tides in one paragraph", "max_tokens": 64}
    assert result.notes == ["mapped: max_tokens"]


async def test_wall_time_counts_from_when_the_person_asked(
    client: ReplicateClient, token: str, tmp_path: Path
) -> None:
    asked = time.monotonic() - 1000  # the request waited in a queue before this run began
    _, result = await collect(
        client, HELLO, {"text": "x"}, token=token, kind="text", dest_dir=tmp_path, started=asked
    )
    assert result.wall_time >= 1000


async def test_an_image_run_downloads_every_file_into_the_folder_given(
    client: ReplicateClient, token: str, tmp_path: Path
) -> None:
    dest = tmp_path / "session"
    result = await images(client, token, 3, dest)
    assert len(result.files) == 3 and len(set(result.files)) == 3
    for path in result.files:
        assert path.parent == dest and path.stat().st_size > 0
        with Image.open(path) as picture:
            picture.verify()  # real image bytes, whatever name they got
    assert isinstance(result.prediction.output, list) and len(result.prediction.output) == 3
    assert result.notes == []


async def test_file_inputs_are_recorded_as_placeholders_not_their_bytes(
    client: ReplicateClient, token: str, tmp_path: Path
) -> None:
    start = tmp_path / "start.png"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(start)
    model_input = {"prompt": "make it blue", "input_image": start, "seed": 3}
    _, result = await collect(
        client, EDIT, model_input, token=token, kind="image", dest_dir=tmp_path / "out"
    )
    assert result.input == {"prompt": "make it blue", "input_image": "<file start.png>", "seed": 3}
    # The file itself is handed on by field, for the result to keep with its outputs.
    assert result.input_files == {"input_image": [start]}
    assert len(result.files) == 1
    # What was sent was the file itself (the client uploaded or inlined it), not the placeholder.
    sent = result.prediction.input.get("input_image") if result.prediction.input else None
    assert isinstance(sent, str) and sent.startswith(("data:", "http"))


async def test_a_download_budget_smaller_than_the_first_file_is_refused(
    client: ReplicateClient, token: str, tmp_path: Path
) -> None:
    with pytest.raises(DownloadError, match="download limit"):
        await images(client, token, 2, tmp_path, max_bytes=100)  # smaller than any image drawn


async def test_past_the_budget_the_rest_are_links_and_the_result_says_so(
    client: ReplicateClient, token: str, tmp_path: Path
) -> None:
    """The session's room (`max_bytes`) bounds the run: the first file that fits is kept and the
    note in the result names the rest, so nothing is silently dropped."""
    one_file = (await images(client, token, 1, tmp_path / "probe")).files[0].stat().st_size
    result = await images(
        client,
        token,
        4,
        tmp_path / "capped",
        max_bytes=one_file * 3 // 2,  # room for about one of these images, not two
        notes=["first note"],
    )
    assert 1 <= len(result.files) < 4
    assert result.notes[0] == "first note"
    assert "download limit" in result.notes[1] and "Downloaded" in result.notes[1]


async def test_a_media_run_that_returns_no_file_is_refused_once_here(
    simulator, token: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    async with ReplicateClient(simulator.base_url) as client:
        with pytest.raises(PredictionError, match="finished but returned no image file") as caught:
            async for _ in run_model(
                client, HELLO, {"text": "x"}, token=token, kind="image", dest_dir=tmp_path
            ):
                pass
        assert caught.value.prediction is not None
        assert caught.value.prediction.status == "succeeded"
        # The same output is a fine result for a text run.
        results = [
            event
            async for event in run_model(
                client, HELLO, {"text": "x"}, token=token, kind="text", dest_dir=tmp_path
            )
            if isinstance(event, RunResult)
        ]
    assert results[0].text == "hello x" and results[0].files == []
    assert results[0].model == "replicate/hello-world"


async def test_a_failed_prediction_raises_with_the_prediction_and_writes_nothing(
    simulator: Any, client: ReplicateClient, token: str, tmp_path: Path
) -> None:
    simulator.config.outcome = "failed"
    with pytest.raises(PredictionError) as caught:
        await images(client, token, 1, tmp_path)
    assert caught.value.prediction is not None and caught.value.prediction.status == "failed"
    assert not files_in(tmp_path)


async def test_closing_the_run_early_cancels_the_prediction_at_replicate(
    simulator: Any, client: ReplicateClient, token: str, tmp_path: Path
) -> None:
    """What Stop and Ctrl-C rely on: the consumer stops reading, the prediction is canceled."""
    simulator.config.run_time = 30  # still processing when the consumer goes away
    events = run_model(
        client,
        IMAGE,
        {**SMALL_IMAGES, "num_outputs": 1},
        token=token,
        kind="image",
        dest_dir=tmp_path,
    )
    prediction_id = None
    async with contextlib.aclosing(events):
        async for event in events:
            if isinstance(event, Progress) and event.prediction_id:
                prediction_id = event.prediction_id
                break
    assert prediction_id is not None
    deadline = time.monotonic() + 10
    while simulator.predictions[prediction_id].status != "canceled":
        assert time.monotonic() < deadline, simulator.predictions[prediction_id].status
        await asyncio.sleep(0.05)
    assert any(r.path == f"/v1/predictions/{prediction_id}/cancel" for r in simulator.requests)


def test_describe_input_keeps_values_and_shortens_what_only_a_file_holds() -> None:
    data_uri = "data:image/png;base64," + base64.b64encode(b"\x89PNG" * 1000).decode()
    picture = Image.new("RGB", (4, 4))
    described = describe_input(
        {
            "prompt": "a fox",
            "seed": 7,
            "ratio": 1.5,
            "flag": True,
            "none": None,
            "image": data_uri,
            "audio": b"\x00" * 2048,
            "mask": Path("/somewhere/private/mask.png"),
            "frames": [Path("a.png"), ("data:audio/wav;base64,AAAA", 3)],
            "nested": {"deeper": {"still": picture}},
        }
    )
    assert described == {
        "prompt": "a fox",
        "seed": 7,
        "ratio": 1.5,
        "flag": True,
        "none": None,
        "image": "data:image/png;base64,…",
        "audio": "<2048 bytes>",
        "mask": "<file mask.png>",  # the name only: no folder of the server in History
        "frames": ["<file a.png>", ["data:audio/wav;base64,…", 3]],
        "nested": {"deeper": {"still": "<image>"}},
    }
