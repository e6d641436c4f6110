"""Pure parts of the Replicate client: no network, no simulator."""

from __future__ import annotations

import base64
import json
import traceback
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from helpers import FIXTURES

from neurolink_ui.replicate import (
    AuthenticationError,
    InsufficientCreditError,
    InvalidInputError,
    InvalidModelRefError,
    ModelNotFoundError,
    ModelRef,
    Prediction,
    PredictionAbortedError,
    PredictionCanceledError,
    PredictionFailedError,
    RateLimitError,
    ReplicateClient,
    RetryPolicy,
    UpstreamError,
    error_from_response,
    log_tail,
    normalize_output,
    parse_percent,
    parse_resets_in,
    parse_retry_after,
    prediction_error,
)
from neurolink_ui.replicate.files import DATA_URL_LIMIT, guess_content_type, prepare_input
from neurolink_ui.replicate.outputs import accepts, sniff_type
from neurolink_ui.replicate.retry import should_retry_error, should_retry_status

SAMPLES = FIXTURES / "replicate-samples"
SECRET = "r8_UNITsecrettokendonotleak42"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


# ---- model references ----------------------------------------------------------------------


def test_ref_forms() -> None:
    assert ModelRef.parse("meta/meta-llama-3-8b-instruct") == ModelRef(
        "meta", "meta-llama-3-8b-instruct"
    )
    pinned = ModelRef.parse("stability-ai/sdxl:39ed52f2a78e")
    assert (pinned.slug, pinned.version) == ("stability-ai/sdxl", "39ed52f2a78e")


@pytest.mark.parametrize("bad", ["", "sdxl", "a/b/c", "owner/name:", "/name", "o/n:ver sion"])
def test_malformed_ref_raises_with_both_forms(bad: str) -> None:
    with pytest.raises(InvalidModelRefError) as info:
        ModelRef.parse(bad)
    assert "owner/name" in str(info.value) and "owner/name:version" in str(info.value)


async def test_malformed_ref_fails_before_any_request() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500)

    async with ReplicateClient("http://127.0.0.1:9", transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(InvalidModelRefError):
            await c.run("not a ref", {"prompt": "x"}, token=SECRET)
        with pytest.raises(InvalidModelRefError):
            await c.create_prediction("nope", {}, token=SECRET)
    assert calls == []


# ---- retries -------------------------------------------------------------------------------


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2025, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(30.0)
    past = format_datetime(datetime(2024, 1, 1, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(past, now=now.timestamp()) == 0.0


def test_resets_in_detail() -> None:
    assert parse_resets_in("Request was throttled. Your rate limit resets in ~30s.") == 30.0
    assert parse_resets_in("resets in ~2.5s") == 2.5
    assert parse_resets_in("Request was throttled.") is None


def test_backoff_full_jitter_bounds() -> None:
    policy = RetryPolicy(max_retries=5, base_delay=0.5, max_delay=4.0, max_retry_after=2.0)
    assert policy.backoff(0, rand=lambda: 1.0) == 0.5
    assert policy.backoff(2, rand=lambda: 1.0) == 2.0
    assert policy.backoff(10, rand=lambda: 1.0) == 4.0  # capped
    assert policy.backoff(3, rand=lambda: 0.0) == 0.0
    for attempt in range(8):
        assert 0.0 <= policy.backoff(attempt) <= 4.0
    assert policy.delay(0, retry_after=30.0) == 2.0  # a Retry-After is bounded
    assert policy.delay(0, retry_after=1.0) == 1.0


def test_retry_rules_never_repeat_a_create_that_may_have_run() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/v1/predictions")
    assert should_retry_status("create", 429)
    assert not should_retry_status("create", 500)
    assert not should_retry_status("create", 503)
    assert should_retry_status("read", 502) and should_retry_status("read", 429)
    assert not should_retry_status("read", 404)
    assert should_retry_error("create", httpx.ConnectError("refused", request=request))
    assert not should_retry_error("create", httpx.ReadTimeout("slow", request=request))
    assert not should_retry_error("create", httpx.RemoteProtocolError("gone", request=request))
    assert should_retry_error("read", httpx.ReadTimeout("slow", request=request))


# ---- progress ------------------------------------------------------------------------------


def test_percent_from_sample_logs() -> None:
    assert parse_percent(sample("05_get_succeeded_image_urls.json")["logs"]) == 100.0
    assert parse_percent(sample("04_get_processing_with_logs.json")["logs"]) == 0.0
    partial = sample("05_get_succeeded_image_urls.json")["logs"].split(" 44%")[0]
    assert parse_percent(partial) == 40.0
    assert parse_percent(" 40%|████      | 20/50 [00:01<00:01, 17.15it/s]") == 40.0
    assert parse_percent("no progress here") is None
    assert parse_percent("") is None


def test_log_tail_last_five_lines() -> None:
    logs = sample("12_webhook_2025_video_succeeded_version_hidden.json")["logs"]
    assert log_tail(logs) == (
        "Still generating...",
        "Generated video in 184.2sec",
        "Retrieving video...",
        "Downloading 1176164 bytes",
        "Downloaded 1.12MB in 2.43sec",
    )
    assert log_tail("a\r b\n\n") == ("a", " b")


# ---- outputs -------------------------------------------------------------------------------


def test_normalize_llm_tokens_sample_07() -> None:
    out = normalize_output(sample("07_sync_wait_official_llm_tokens.json")["output"])
    assert out.text == "\n\nFuzzy, gentle beasts\nSoftly grazing, quiet eyes\nLlama's gentle charm"
    assert out.file_urls == []


def test_normalize_image_urls_sample_05_and_data_uri_08() -> None:
    out = normalize_output(sample("05_get_succeeded_image_urls.json")["output"])
    assert out.text is None and out.file_urls[0].endswith("/out-0.png")
    data = normalize_output(sample("08_sync_wait_image_data_uri_TRUNCATED.json")["output"])
    assert data.text is None and data.file_urls[0].startswith("data:image/png;base64,")


def test_normalize_single_url_sample_12_and_plain_text() -> None:
    out = normalize_output(sample("12_webhook_2025_video_succeeded_version_hidden.json")["output"])
    assert out.file_urls == [
        "https://replicate.delivery/xezq/ufCdYu2z4JQUbabg6wwH5Dd3dTeQhdKJ0ydMGiPefPJWcOUTB/tmpuumvokey.mp4"
    ]
    assert normalize_output("a caption").text == "a caption"
    assert normalize_output(None).text is None and normalize_output(None).file_urls == []
    assert normalize_output([]).text == ""


def test_normalize_nested_json_keeps_data_and_collects_urls() -> None:
    output = {
        "video": "https://example.com/v.mp4",
        "frames": ["https://example.com/a.png", {"thumb": "data:image/png;base64,AA=="}],
        "score": 0.5,
    }
    out = normalize_output(output)
    assert out.data == output and out.text is None
    assert out.file_urls == [
        "https://example.com/v.mp4",
        "https://example.com/a.png",
        "data:image/png;base64,AA==",
    ]
    assert normalize_output(["https://example.com/a.png", ""]).file_urls == [
        "https://example.com/a.png"
    ]
    assert normalize_output(42).data == 42 and normalize_output(42).file_urls == []


def test_sniffing_real_types() -> None:
    assert sniff_type(b"\x89PNG\r\n\x1a\n....").extension == ".png"
    assert sniff_type(b"\xff\xd8\xff\xe0").extension == ".jpg"
    assert sniff_type(b"RIFF\0\0\0\0WEBPVP8 ").extension == ".webp"
    assert sniff_type(b"RIFF\0\0\0\0WAVEfmt ").extension == ".wav"
    assert sniff_type(b"\0\0\0\x18ftypisom").extension == ".mp4"
    assert sniff_type(b"\0\0\0\x18ftypM4A ").extension == ".m4a"
    assert sniff_type(b"ID3\x04").extension == ".mp3"
    assert sniff_type(b"OggS").extension == ".ogg"
    assert sniff_type(b"fLaC").extension == ".flac"
    assert sniff_type(b"\x1a\x45\xdf\xa3").extension == ".webm"
    assert sniff_type(b"<html>") is None
    assert not accepts("image", sniff_type(b"<html>"))
    assert not accepts("image", sniff_type(b"\0\0\0\x18ftypisom"))
    assert accepts("video", sniff_type(b"\0\0\0\x18ftypisom"))
    assert accepts("audio", sniff_type(b"ID3\x04"))
    assert accepts("file", None)


# ---- file inputs ---------------------------------------------------------------------------


async def test_data_url_threshold_and_recursion(tmp_path: Path) -> None:
    uploads: list[tuple[int, str, str]] = []

    async def upload(data: bytes, filename: str, content_type: str) -> str:
        uploads.append((len(data), filename, content_type))
        return f"https://api.replicate.com/v1/files/{len(uploads)}"

    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    small = tmp_path / "small.png"
    small.write_bytes(png)
    at_limit = b"\xff\xd8\xff" + b"\0" * (DATA_URL_LIMIT - 3)
    over = b"\xff\xd8\xff" + b"\0" * (DATA_URL_LIMIT - 2)
    prepared = await prepare_input(
        {"image": small, "exact": at_limit, "big": over, "prompt": "keep me", "list": [png, "s"]},
        upload,
    )
    assert prepared["image"] == "data:image/png;base64," + base64.b64encode(png).decode()
    assert prepared["exact"].startswith("data:image/jpeg;base64,")
    assert prepared["big"] == "https://api.replicate.com/v1/files/1"
    assert uploads == [(DATA_URL_LIMIT + 1, "upload", "image/jpeg")]
    assert prepared["prompt"] == "keep me"
    assert prepared["list"][0].startswith("data:image/png;base64,") and prepared["list"][1] == "s"


async def test_pil_image_and_file_object_inputs(tmp_path: Path) -> None:
    from PIL import Image

    async def upload(data: bytes, filename: str, content_type: str) -> str:
        raise AssertionError("small files are inlined")

    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with text.open("rb") as handle:
        prepared = await prepare_input({"img": Image.new("RGB", (4, 4)), "doc": handle}, upload)
    assert prepared["img"].startswith("data:image/png;base64,")
    assert base64.b64decode(prepared["img"].split(",", 1)[1]).startswith(b"\x89PNG")
    assert prepared["doc"] == "data:text/plain;base64," + base64.b64encode(b"hello").decode()
    assert guess_content_type(b"\0\0", "song.mp3") == "audio/mpeg"
    assert guess_content_type(b"\0\0") == "application/octet-stream"


# ---- errors --------------------------------------------------------------------------------


def test_error_mapping_from_problem_bodies() -> None:
    e401 = error_from_response(401, sample("09_error_401_unauthenticated.json"))
    assert isinstance(e401, AuthenticationError) and e401.status == 401
    assert "api-tokens" in str(e401) and "REPLICATE_API_TOKEN" in str(e401)
    e404 = error_from_response(404, sample("10_error_404_problem_json.json"), model="acme/nope")
    assert isinstance(e404, ModelNotFoundError)
    assert "owner/name:version" in str(e404) and "community models need a version" in str(e404)
    e402 = error_from_response(402, {"title": "Insufficient credit", "detail": "x"})
    assert isinstance(e402, InsufficientCreditError) and "account/billing" in str(e402)
    e422 = error_from_response(
        422,
        {
            "title": "Input validation failed",
            "detail": "- input: prompt is required",
            "invalid_fields": [
                {"type": "required", "field": "input", "description": "prompt is required"},
                {"type": "number_lte", "field": "steps", "description": "must be <= 50"},
            ],
        },
    )
    assert isinstance(e422, InvalidInputError) and len(e422.invalid_fields) == 2
    assert "- steps: must be <= 50" in str(e422) and "prompt is required" in str(e422)
    e429 = error_from_response(429, {"detail": "resets in ~30s"}, retry_after=30.0)
    assert isinstance(e429, RateLimitError) and e429.retry_after == 30.0 and "30 s" in str(e429)
    e503 = error_from_response(503, "Service Unavailable")
    assert isinstance(e503, UpstreamError) and "upstream" in str(e503)


def test_prediction_errors_carry_error_and_logs() -> None:
    failed = Prediction.from_json(
        {"id": "p1", "status": "failed", "error": "CUDA out of memory", "logs": "a\nb\nboom\n"}
    )
    error = prediction_error(failed)
    assert isinstance(error, PredictionFailedError)
    assert "CUDA out of memory" in str(error) and "boom" in str(error)
    assert isinstance(prediction_error(Prediction("p2", "canceled")), PredictionCanceledError)
    aborted = prediction_error(Prediction("p3", "aborted"))
    assert isinstance(aborted, PredictionAbortedError) and "not billed" in str(aborted)


def _handler(status: int, body: object, headers: dict[str, str] | None = None):
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handle


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"title": "Unauthenticated", "detail": "You did not pass a valid token"}),
        (402, {"title": "Insufficient credit", "detail": "no money"}),
        (404, {"detail": "not found"}),
        (422, {"title": "Input validation failed", "invalid_fields": []}),
        (429, {"detail": "resets in ~1s"}),
        (500, {"detail": "boom"}),
    ],
)
async def test_token_never_in_errors(status: int, body: object) -> None:
    transport = httpx.MockTransport(_handler(status, body))
    async with ReplicateClient(
        "http://127.0.0.1:9", transport=transport, max_retries=1, retry_base_delay=0.001,
        max_retry_after=0.01,
    ) as client:  # fmt: skip
        with pytest.raises(Exception) as info:
            await client.create_prediction("acme/model", {"prompt": "x"}, token=SECRET)
        error = info.value
    rendered = "".join(traceback.format_exception(error)) + repr(error) + str(error)
    assert SECRET not in rendered
    assert SECRET not in repr(client)


async def test_token_never_in_connection_errors_and_bad_tokens() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused {request.headers}", request=request)

    async with ReplicateClient(
        "http://127.0.0.1:9", transport=httpx.MockTransport(refuse), max_retries=1,
        retry_base_delay=0.001,
    ) as client:  # fmt: skip
        with pytest.raises(UpstreamError) as info:
            await client.get_account(token=SECRET)
        assert "could not reach http://127.0.0.1:9" in str(info.value).lower()
        rendered = "".join(traceback.format_exception(info.value))
        assert SECRET not in rendered and info.value.__cause__ is None
        with pytest.raises(AuthenticationError) as bad:
            await client.get_account(token=SECRET + "\nX-Evil: 1")
        assert SECRET not in "".join(traceback.format_exception(bad.value))
        with pytest.raises(AuthenticationError):
            await client.get_account(token="  ")


async def test_create_retried_only_when_the_request_never_left() -> None:
    calls: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(calls) == 2:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(201, json={"id": "p", "status": "starting"})

    async with ReplicateClient(
        "http://127.0.0.1:9", transport=httpx.MockTransport(flaky), retry_base_delay=0.001
    ) as client:
        with pytest.raises(UpstreamError) as info:
            await client.create_prediction("acme/model:abc", {"prompt": "x"}, token=SECRET)
    assert calls == ["/v1/predictions", "/v1/predictions"]  # connect error retried, timeout not
    assert "may have been created" in str(info.value)


async def test_from_settings() -> None:
    from neurolink_ui.config import Settings

    settings = Settings(api_token=SECRET, base_url="http://127.0.0.1:9", poll_cap=12.0)
    async with ReplicateClient.from_settings(settings) as client:
        assert (client.base_url, client.poll_cap) == ("http://127.0.0.1:9", 12.0)
        assert SECRET not in repr(client) and SECRET not in repr(vars(client))


async def test_download_caps_from_settings() -> None:
    from neurolink_ui.config import Settings

    settings = Settings.from_env(
        {"NEUROLINK_MAX_FILES_PER_PREDICTION": "4", "NEUROLINK_MAX_MB_PER_PREDICTION": "1.5"}
    )
    async with ReplicateClient.from_settings(settings, base_url="http://127.0.0.1:9") as client:
        assert (client._downloader.max_files, client._downloader.max_bytes) == (4, 1572864)
    with pytest.raises(ValueError, match="number of MB"):
        Settings.from_env({"NEUROLINK_MAX_MB_PER_PREDICTION": "lots"})
