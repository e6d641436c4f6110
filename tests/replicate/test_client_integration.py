"""ReplicateClient against the local simulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from neurolink_ui.replicate import (
    AuthenticationError,
    BlockedAddressError,
    Completed,
    DownloadError,
    InsufficientCreditError,
    InvalidInputError,
    ModelNotFoundError,
    PredictionAbortedError,
    PredictionFailedError,
    PredictionTimeoutError,
    Progress,
    RateLimitError,
    ReplicateClient,
    TextDelta,
    UpstreamError,
    normalize_output,
    sniff_type,
)
from neurolink_ui.simulator.config import Fault

CHAT = "meta/meta-llama-3-8b-instruct"
IMAGE = "black-forest-labs/flux-schnell"
MUSIC = "meta/musicgen"  # a community model: runs on its latest version
TEXT = "replicate/hello-world"


@pytest.fixture
async def client(simulator: Any) -> AsyncIterator[ReplicateClient]:
    async with ReplicateClient(
        simulator.base_url, poll_cap=20, max_retries=3,
        retry_base_delay=0.01, max_retry_after=0.05, poll_schedule=(0.1, 0.2),
    ) as c:  # fmt: skip
        yield c


def leftovers(directory: Path) -> list[Path]:
    return list(directory.iterdir())


def requests_to(simulator: Any, method: str, prefix: str) -> list[Any]:
    return [r for r in simulator.requests if r.method == method and r.path.startswith(prefix)]


def predictions_with(simulator: Any, prompt: str) -> list[Any]:
    """The simulator keeps predictions across tests: find this test's by its prompt."""
    return [p for p in simulator.predictions.values() if p.input.get("prompt") == prompt]


def png_bytes(size: int = 8, noise: bool = False) -> bytes:
    if noise:  # incompressible: a PNG well over the data-URL limit
        bands = [Image.effect_noise((size, size), 100) for _ in range(3)]
        image = Image.merge("RGB", bands)
    else:
        image = Image.new("RGB", (size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# ---- errors --------------------------------------------------------------------------------


async def test_error_statuses(client: ReplicateClient, simulator: Any, token: str) -> None:
    with pytest.raises(AuthenticationError) as e401:
        await client.get_account(token="r8_invalidabc")
    assert "api-tokens" in str(e401.value)
    with pytest.raises(InsufficientCreditError) as e402:
        await client.create_prediction(CHAT, {"prompt": "x"}, token="r8_nocreditabc")
    assert "billing" in str(e402.value)
    with pytest.raises(ModelNotFoundError) as e404:
        await client.run("acme/no-such-model", {"prompt": "x"}, token=token)
    assert "community models need a version" in str(e404.value)
    with pytest.raises(InvalidInputError) as e422:
        await client.create_prediction(IMAGE, {"num_outputs": 99}, token=token)
    assert e422.value.invalid_fields and "prompt" in str(e422.value)
    simulator.config.faults = [Fault(method="GET", path="/v1/account", count=9, status=429)]
    with pytest.raises(RateLimitError):
        await client.get_account(token=token)
    simulator.config.faults = [Fault(method="GET", path="/v1/account", count=9, status=502)]
    with pytest.raises(UpstreamError) as e5xx:
        await client.get_account(token=token)
    assert e5xx.value.status == 502
    assert len(requests_to(simulator, "GET", "/v1/account")) == 1 + 4 + 4  # 401, then 2×(1+3)


async def test_unreachable_base_url_is_a_clear_error(token: str) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with ReplicateClient(f"http://127.0.0.1:{port}", retry_base_delay=0.01) as c:
        with pytest.raises(UpstreamError) as info:
            await c.get_account(token=token)
    assert f"Could not reach http://127.0.0.1:{port}" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_failed_and_aborted_predictions(client: ReplicateClient, simulator: Any, token: str):
    simulator.config.outcome = "failed"
    with pytest.raises(PredictionFailedError) as failed:
        await client.run(IMAGE, {"prompt": "x"}, token=token)
    assert failed.value.prediction.error and failed.value.prediction.error in str(failed.value)
    simulator.config.outcome = "aborted"
    with pytest.raises(PredictionAbortedError):
        await client.run(IMAGE, {"prompt": "x"}, token=token)


# ---- retries -------------------------------------------------------------------------------


async def test_read_retries_on_5xx_then_succeeds(client: ReplicateClient, simulator: Any, token):
    simulator.config.faults = [Fault(method="GET", path="/v1/account", count=2, status=503)]
    account = await client.get_account(token=token)
    assert account.username.startswith("sim-")
    assert [r.status for r in requests_to(simulator, "GET", "/v1/account")] == [503, 503, 200]


async def test_create_never_retried_on_5xx(client: ReplicateClient, simulator: Any, token):
    simulator.config.faults = [Fault(method="POST", path="/v1/models/*", status=500)]
    with pytest.raises(UpstreamError):
        await client.create_prediction(IMAGE, {"prompt": "x"}, token=token)
    assert len(requests_to(simulator, "POST", "/v1/models/")) == 1


async def test_create_retried_on_429_honouring_retry_after(simulator: Any, token: str) -> None:
    simulator.config.faults = [
        Fault(method="POST", path="/v1/models/*", status=429, retry_after="1")
    ]
    async with ReplicateClient(simulator.base_url, retry_base_delay=0.01, max_retry_after=0.4) as c:
        prediction = await c.create_prediction(IMAGE, {"prompt": "x"}, token=token)
    creates = requests_to(simulator, "POST", "/v1/models/")
    assert [r.status for r in creates] == [429, 201] and prediction.id
    gap = creates[1].time - creates[0].time
    assert 0.35 <= gap < 1.0  # waited for Retry-After, bounded by max_retry_after


async def test_429_without_retry_after_uses_resets_in_detail(simulator: Any, token: str) -> None:
    simulator.config.faults = [
        Fault(method="GET", path="/v1/account", status=429, detail="resets in ~1s.")
    ]
    async with ReplicateClient(simulator.base_url, retry_base_delay=0.01, max_retry_after=0.3) as c:
        await c.get_account(token=token)
    calls = requests_to(simulator, "GET", "/v1/account")
    assert [r.status for r in calls] == [429, 200]
    assert calls[1].time - calls[0].time >= 0.25


# ---- waiting, polling, the cap --------------------------------------------------------------


async def test_a_finished_prediction_costs_create_stream_one_read_plus_files(
    client: ReplicateClient, simulator: Any, token: str, tmp_path: Path
) -> None:
    await client.get_model(IMAGE, token=token)  # schema cached (the panel loaded it earlier)
    simulator.reset()
    prediction = await client.run(IMAGE, {"prompt": "a cat", "num_outputs": 2}, token=token)
    paths = await client.download_outputs(prediction.output, tmp_path, kind="image")
    assert len(paths) == 2 and all(sniff_type(p.read_bytes()[:16]) for p in paths)
    kinds = [(r.method, r.path.split("/")[2] if r.path.startswith("/v1/") else "delivery")
             for r in simulator.requests]  # fmt: skip
    assert kinds == [
        ("POST", "models"), ("GET", "streams"), ("GET", "predictions"),
        ("GET", "delivery"), ("GET", "delivery"),
    ]  # fmt: skip
    create = simulator.requests[0]
    assert "prefer" not in create.headers and create.headers["cancel-after"] == "20s"


async def test_file_model_follows_the_stream_to_done(simulator: Any, token: str) -> None:
    simulator.config.cold_start = 1.6
    events: list[Any] = []
    async with ReplicateClient(simulator.base_url, poll_schedule=(5.0,)) as c:
        async for event in c.events(IMAGE, {"prompt": "x"}, token=token):
            events.append(event)
    assert isinstance(events[-1], Completed) and events[-1].prediction.status == "succeeded"
    # The file model's stream said `done`; one read of the final state, no polling schedule.
    assert requests_to(simulator, "GET", "/v1/streams/")
    assert len(requests_to(simulator, "GET", "/v1/predictions/")) == 1
    assert "starting" in {e.status for e in events if isinstance(e, Progress)}
    assert not any(isinstance(e, TextDelta) for e in events)  # file URLs are not text


async def test_polls_when_the_stream_is_unavailable(simulator: Any, token: str) -> None:
    simulator.config.cold_start = 1.6
    simulator.config.faults = [Fault(method="GET", path="/v1/streams/*", count=99, status=503)]
    events: list[Any] = []
    async with ReplicateClient(simulator.base_url, poll_schedule=(0.2,)) as c:
        async for event in c.events(IMAGE, {"prompt": "x"}, token=token):
            events.append(event)
    assert isinstance(events[-1], Completed) and events[-1].prediction.status == "succeeded"
    polls = requests_to(simulator, "GET", "/v1/predictions/")
    assert len(polls) >= 2
    statuses = {e.status for e in events if isinstance(e, Progress)}
    assert "starting" in statuses
    assert all(isinstance(e, Progress) for e in events[:-1])


async def test_poll_cap_cancels_and_times_out(simulator: Any, token: str) -> None:
    simulator.config.cold_start = 30
    async with ReplicateClient(simulator.base_url, poll_cap=1.5, poll_schedule=(0.2,)) as c:
        started = time.monotonic()
        with pytest.raises(PredictionTimeoutError) as info:
            await c.run(IMAGE, {"prompt": "x"}, token=token)
        assert time.monotonic() - started < 3.5
    prediction = info.value.prediction
    assert "1.5 s" in str(info.value) and prediction.web_url in str(info.value)
    assert simulator.predictions[prediction.id].status == "canceled"
    assert requests_to(simulator, "POST", f"/v1/predictions/{prediction.id}/cancel")
    assert requests_to(simulator, "POST", "/v1/models/")[0].headers["cancel-after"] == "5s"


async def _cancel_when(task: asyncio.Task[Any], ready: Any, within: float = 5.0) -> float:
    deadline = time.monotonic() + within
    while not ready():
        assert time.monotonic() < deadline, "the run never reached the phase to cancel in"
        await asyncio.sleep(0.02)
    cancelled_at = time.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return cancelled_at


async def test_cancel_while_following_the_stream_reaches_replicate_within_1s(
    simulator: Any, token: str
) -> None:
    simulator.config.cold_start = 30
    async with ReplicateClient(simulator.base_url) as c:
        task = asyncio.create_task(c.run(IMAGE, {"prompt": "stream phase"}, token=token))
        at = await _cancel_when(task, lambda: requests_to(simulator, "GET", "/v1/streams/"))
    cancels = [r for r in simulator.requests if r.path.endswith("/cancel")]
    assert len(cancels) == 1 and cancels[0].time - at < 1.0
    (prediction,) = predictions_with(simulator, "stream phase")
    assert prediction.status == "canceled"


async def test_cancel_while_polling_reaches_replicate_within_1s(simulator: Any, token: str):
    simulator.config.cold_start = 30
    simulator.config.faults = [Fault(method="GET", path="/v1/streams/*", count=99, status=503)]
    async with ReplicateClient(simulator.base_url, poll_schedule=(0.3,)) as c:
        task = asyncio.create_task(c.run(IMAGE, {"prompt": "poll phase"}, token=token))
        at = await _cancel_when(task, lambda: requests_to(simulator, "GET", "/v1/predictions/"))
    cancels = [r for r in simulator.requests if r.path.endswith("/cancel")]
    assert len(cancels) == 1 and cancels[0].time - at < 1.0
    (prediction,) = predictions_with(simulator, "poll phase")
    assert prediction.status == "canceled"


async def test_closing_the_generator_cancels(simulator: Any, token: str) -> None:
    simulator.config.cold_start = 30
    async with ReplicateClient(simulator.base_url, poll_schedule=(0.2,)) as c:
        events = c.events(IMAGE, {"prompt": "closed tab"}, token=token)
        async for event in events:
            if isinstance(event, Progress) and event.prediction_id:
                break
        await events.aclose()
    (prediction,) = predictions_with(simulator, "closed tab")
    assert prediction.status == "canceled"


# ---- streaming -----------------------------------------------------------------------------


async def collect(client: ReplicateClient, ref: str, input: dict, token: str) -> list[Any]:
    return [event async for event in client.events(ref, input, token=token)]


async def test_streaming_text_in_order(client: ReplicateClient, simulator: Any, token: str):
    events = await collect(client, CHAT, {"prompt": "tell me about llamas"}, token)
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    final = events[-1].prediction
    assert len(deltas) > 3 and "".join(deltas) == normalize_output(final.output).text
    create = requests_to(simulator, "POST", "/v1/models/")[0]
    assert "prefer" not in create.headers  # streams: no held create
    assert requests_to(simulator, "GET", "/v1/streams/")


async def test_dropped_stream_falls_back_without_loss_or_repeat(
    client: ReplicateClient, simulator: Any, token: str
) -> None:
    simulator.config.drop_stream_after = 3
    events = await collect(client, CHAT, {"prompt": "a long answer please"}, token)
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    final_text = normalize_output(events[-1].prediction.output).text
    assert len(deltas) == 4  # three streamed tokens, then the rest in one synthetic chunk
    assert "".join(deltas) == final_text and final_text.startswith("".join(deltas[:3]))


async def test_non_streaming_text_model_gives_one_chunk(client: ReplicateClient, token: str):
    events = await collect(client, TEXT, {"text": "ada"}, token)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["hello ada"]


# ---- inputs --------------------------------------------------------------------------------


async def test_small_input_inline_large_input_uploaded(
    client: ReplicateClient, simulator: Any, token: str
) -> None:
    small, large = png_bytes(8), png_bytes(400, noise=True)
    assert len(small) <= 256 * 1024 < len(large)
    prepared = await client.prepare_input({"a": small, "b": large, "p": "text"}, token=token)
    assert prepared["a"].startswith("data:image/png;base64,") and prepared["p"] == "text"
    uploads = requests_to(simulator, "POST", "/v1/files")
    assert len(uploads) == 1 and uploads[0].status == 201
    assert prepared["b"].startswith(simulator.base_url + "/v1/files/")
    prediction = await client.run(
        "black-forest-labs/flux-1.1-pro", {"prompt": "x", "image_prompt": large}, token=token
    )
    assert prediction.input["image_prompt"].startswith(simulator.base_url + "/v1/files/")


# ---- outputs and downloads -----------------------------------------------------------------


async def test_output_shapes_and_downloads(
    client: ReplicateClient, simulator: Any, token: str, tmp_path: Path
) -> None:
    music = await client.run(MUSIC, {"prompt": "drums", "duration": 2}, token=token)
    assert isinstance(music.output, str)
    assert requests_to(simulator, "POST", "/v1/predictions")  # community: by version
    (audio,) = await client.download_outputs(music.output, tmp_path, kind="audio")
    assert audio.suffix in (".wav", ".mp3") and audio.stat().st_size > 1000
    images = await client.run(IMAGE, {"prompt": "x", "num_outputs": 2}, token=token)
    assert isinstance(images.output, list) and len(normalize_output(images.output).file_urls) == 2
    text = await client.run(TEXT, {"text": "bo"}, token=token)
    assert normalize_output(text.output).text == "hello bo"
    with pytest.raises(DownloadError) as mismatch:
        await client.download_outputs(music.output, tmp_path / "v", kind="video")
    assert music.output in str(mismatch.value)
    data_uri = "data:image/png;base64," + __import__("base64").b64encode(png_bytes()).decode()
    (inline,) = await client.download_outputs({"nested": [data_uri]}, tmp_path / "d", "image")
    assert inline.suffix == ".png" and inline.read_bytes() == png_bytes()


async def test_download_size_cap_while_streaming(
    simulator: Any, token: str, tmp_path: Path
) -> None:
    async with ReplicateClient(simulator.base_url, size_caps={"image": 64 * 1024}) as c:
        prediction = await c.run(IMAGE, {"prompt": "x"}, token=token)
        simulator.config.output_padding = 200_000
        with pytest.raises(DownloadError) as info:
            await c.download_outputs(prediction.output, tmp_path, kind="image")
    assert "limit" in str(info.value) and prediction.output[0] in str(info.value)
    assert leftovers(tmp_path) == []  # no partial file left behind


async def test_missing_output_is_a_download_error(client, simulator: Any, token, tmp_path: Path):
    prediction = await client.run(IMAGE, {"prompt": "x"}, token=token)
    simulator.config.missing_outputs = True
    with pytest.raises(DownloadError) as info:
        await client.download_outputs(prediction.output, tmp_path, kind="image")
    assert info.value.status == 404 and prediction.output[0] in str(info.value)


async def test_guard_refuses_other_loopback_port(client, simulator: Any, tmp_path: Path) -> None:
    connected: list[bool] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.append(True)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        for url in (f"http://127.0.0.1:{port}/out.png", f"https://127.0.0.1:{port}/out.png"):
            with pytest.raises(BlockedAddressError) as info:
                await client.download_outputs([url], tmp_path, kind="image")
            assert url in str(info.value)
        await asyncio.sleep(0.1)
    finally:
        server.close()
        await server.wait_closed()
    assert connected == []


# ---- model info ----------------------------------------------------------------------------


async def test_model_cache_per_token(client, simulator: Any, token: str, other_token: str):
    first = await client.get_model(CHAT, token=token)
    assert first.is_official and first.streams
    await client.get_model(CHAT, token=token)
    await client.get_model(CHAT, token=other_token)
    calls = requests_to(simulator, "GET", f"/v1/models/{CHAT}")
    assert len(calls) == 2 and calls[0].token_id != calls[1].token_id
    community = await client.get_model(MUSIC, token=token)
    assert not community.is_official and community.version_id
    pinned = await client.get_model(f"{MUSIC}:{community.version_id}", token=token)
    assert pinned.version_id == community.version_id
    assert requests_to(simulator, "GET", f"/v1/models/{MUSIC}/versions/")


async def test_two_tokens_share_one_pool(client, simulator: Any, token: str, other_token: str):
    first, second = await asyncio.gather(
        client.run(TEXT, {"text": "one"}, token=token),
        client.run(TEXT, {"text": "two"}, token=other_token),
    )
    assert (first.output, second.output) == ("hello one", "hello two")
    owners = {r.token_id for r in requests_to(simulator, "POST", "/v1/predictions")}
    assert len(owners) == 2
    accounts = await asyncio.gather(
        client.get_account(token=token), client.get_account(token=other_token)
    )
    assert accounts[0].username != accounts[1].username


async def test_token_absent_from_logs(simulator: Any, token: str, caplog: Any) -> None:
    caplog.set_level("DEBUG", logger="neurolink_ui.replicate")
    simulator.config.faults = [Fault(method="GET", path="/v1/predictions/*", status=503)]
    simulator.config.cold_start = 1.2
    async with ReplicateClient(
        simulator.base_url, retry_base_delay=0.01, poll_schedule=(0.1,)
    ) as c:
        await c.run(IMAGE, {"prompt": "logged"}, token=token)
    assert "retrying GET /v1/predictions/" in caplog.text
    assert token not in caplog.text


async def test_cancel_while_streaming(simulator: Any, token: str) -> None:
    simulator.config.token_interval = 0.5
    async with ReplicateClient(simulator.base_url) as c:
        seen: list[str] = []

        async def consume() -> None:
            async for event in c.events(CHAT, {"prompt": "stream then stop"}, token=token):
                if isinstance(event, TextDelta):
                    seen.append(event.text)

        task = asyncio.create_task(consume())
        at = await _cancel_when(task, lambda: bool(seen))
    cancels = [r for r in simulator.requests if r.path.endswith("/cancel")]
    assert len(cancels) == 1 and cancels[0].time - at < 1.0
    (prediction,) = predictions_with(simulator, "stream then stop")
    assert prediction.status == "canceled"
