"""The launched app against the simulator, driven through its public API with gradio_client."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from conftest import OTHER_TOKEN, TOKEN
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status
from helpers import until
from launched import LaunchedApp
from PIL import Image

from neurolink_ui.config import Settings

pytestmark = pytest.mark.slow  # launches the whole app


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


@pytest.fixture(scope="module")
def app_url(simulator_session, tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings = Settings(api_token=TOKEN, base_url=simulator_session.base_url, poll_cap=60)
    app = LaunchedApp(settings, tmp_path_factory.mktemp("outputs"))
    yield app.url
    app.close()


@pytest.fixture
def client(app_url: str, simulator) -> Iterator[Client]:  # type: ignore[no-untyped-def]
    c = Client(app_url, verbose=False, analytics_enabled=False)
    yield c
    c.close()


@pytest.fixture
def portrait(tmp_path: Path) -> Path:
    path = tmp_path / "portrait.png"
    img = Image.new("RGB", (256, 320), (200, 170, 150))
    img.save(path)
    return path


@pytest.fixture
def narration(tmp_path: Path) -> Path:
    path = tmp_path / "narration.wav"
    t = np.linspace(0, 1.5, int(16000 * 1.5), endpoint=False)
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    return path


def _new_predictions(sim, before: set[str]) -> list:  # type: ignore[no-untyped-def]
    """Predictions created since `before` was taken (the simulator keeps old ones)."""
    return [state for pid, state in sim.predictions.items() if pid not in before]


def _creates(sim) -> list:  # type: ignore[no-untyped-def]
    return [r for r in sim.requests if r.method == "POST" and r.path.endswith("/predictions")]


def test_chat_streams_an_answer_with_model_and_time(client: Client, simulator) -> None:  # type: ignore[no-untyped-def]
    job = client.submit("Tell me about llamas", api_name="/chat")
    partials = [update[0] for update in job]
    history, message_box, status, *_ = job.outputs()[-1]
    assert history[0]["role"] == "user"
    answer = history[-1]["content"]
    text = answer if isinstance(answer, str) else str(answer)
    assert "llamas" in text.lower()
    assert "⏱" in text and "meta/meta-llama-3-70b-instruct" in text
    assert message_box == ""
    assert "Done" in status
    # Streaming: the answer grew over several updates before the end.
    assert len({str(p[-1]["content"]) for p in partials if len(p) > 1}) > 2


def test_chat_r1_shows_thinking_separately(client: Client) -> None:
    history, *_ = client.predict(
        "Count the r's in strawberry", model="deepseek-ai/deepseek-r1", api_name="/chat"
    )
    thinking = [m for m in history if (m.get("metadata") or {}).get("title") == "Thinking"]
    assert thinking, history
    assert "<think>" not in str(history[-1]["content"])


def test_image_returns_decodable_images(client: Client, simulator) -> None:  # type: ignore[no-untyped-def]
    gallery, status, *_ = client.predict(
        "A red panda reading a map",
        model="black-forest-labs/flux-schnell",
        aspect_ratio="16:9",
        num_outputs=2,
        api_name="/image",
    )
    assert len(gallery) == 2
    for item in gallery:
        with Image.open(item["image"]) as img:
            img.load()
            assert img.width > img.height
    assert "Done" in status


def test_image_to_image_sends_the_input_image(client: Client, portrait: Path, simulator) -> None:  # type: ignore[no-untyped-def]
    before = set(simulator.predictions)
    client.predict(
        "oil painting",
        model="stability-ai/stable-diffusion-3.5-large",
        input_image=handle_file(str(portrait)),
        api_name="/image",
    )
    (state,) = _new_predictions(simulator, before)
    assert str(state.input["image"]).startswith(("data:image/png", "http://127.0.0.1"))


def test_video_from_start_frame_is_playable_mp4(client: Client, portrait: Path) -> None:
    video, *_ = client.predict(
        "smooth zoom out",
        handle_file(str(portrait)),
        model="wan-video/wan-2.2-i2v-fast",
        length=2,
        api_name="/video",
    )
    path = video["video"]["path"] if isinstance(video, dict) else video
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
    assert stream.codec_context.name == "h264" and frames > 10


def test_avatar_video_carries_the_narration(
    client: Client, portrait: Path, narration: Path
) -> None:
    video, *_ = client.predict(
        handle_file(str(portrait)), handle_file(str(narration)), api_name="/avatar"
    )
    path = video["video"]["path"] if isinstance(video, dict) else video
    with av.open(path) as container:
        assert container.streams.video and container.streams.audio
        duration = float(container.duration) / av.time_base
    assert abs(duration - 1.5) < 0.3


def test_music_has_requested_duration(client: Client) -> None:
    audio, *_ = client.predict(
        "Lo-fi beat", duration=3, tempo=80, output_format="wav", api_name="/music"
    )
    data, rate = soundfile.read(audio if isinstance(audio, str) else audio["path"])
    assert abs(len(data) / rate - 3) < 0.05
    assert float(np.sqrt(np.mean(np.square(data)))) > 0.01


STOP_CALLS = {
    "chat": lambda portrait, narration: ("a long story", {}),
    "image": lambda portrait, narration: ("a slow cathedral", {}),
    "video": lambda portrait, narration: ("pan", {"start_image": handle_file(str(portrait))}),
    "avatar": lambda portrait, narration: (
        handle_file(str(portrait)),
        {"audio": handle_file(str(narration))},
    ),
    "music": lambda portrait, narration: ("slow jazz", {}),
}


# What a client sees of a run under way (its progress and streamed updates).
RUNNING = {Status.PROCESSING, Status.ITERATING, Status.PROGRESS, Status.LOG}


@pytest.mark.parametrize("panel", list(STOP_CALLS))
def test_stop_on_every_panel_cancels_the_prediction_at_replicate(
    client: Client, simulator, portrait: Path, narration: Path, panel: str
) -> None:  # type: ignore[no-untyped-def]
    # Long enough that only a cancel can end it.
    simulator.config.run_time = 30
    simulator.config.first_token_delay = 30
    first, kwargs = STOP_CALLS[panel](portrait, narration)
    before = set(simulator.predictions)
    job = client.submit(first, api_name=f"/{panel}", **kwargs)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        started = [p for p in _new_predictions(simulator, before) if p.status == "processing"]
        if started:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the prediction never started processing")
    # The visitor sees it running (the app's progress reached the client) before pressing Stop.
    until(lambda: job.status().code in RUNNING, 20, "the client never saw the run going")
    stopped = time.time()
    job.cancel()
    cancel = None
    while time.time() < stopped + 3 and cancel is None:
        cancel = next(
            (r for r in simulator.requests if r.path.endswith("/cancel") and r.time >= stopped),
            None,
        )
        time.sleep(0.02)
    assert cancel is not None, "no cancel reached the simulator"
    assert cancel.time - stopped < 1.0
    (state,) = _new_predictions(simulator, before)
    assert state.status == "canceled"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x", "model": "nobody/no-such-model"}, "not found"),
        ({"prompt": "x", "model": "not a model"}, "owner/name"),
        (
            {
                "prompt": "x",
                "model": "black-forest-labs/flux-schnell",
                "advanced": '{"num_inference_steps": 99}',
            },
            "num_inference_steps",
        ),
    ],
)
def test_bad_input_gets_a_clear_message_and_app_keeps_serving(
    client: Client, kwargs: dict, needle: str
) -> None:
    with pytest.raises(AppError) as info:
        client.predict(api_name="/image", **kwargs)
    assert needle in str(info.value).lower() or needle in str(info.value)
    gallery, *_ = client.predict(
        "still serving", model="black-forest-labs/flux-schnell", api_name="/image"
    )
    assert gallery


def test_corrupt_image_and_bad_audio_are_refused(
    client: Client, tmp_path: Path, portrait: Path
) -> None:
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    with pytest.raises(AppError, match=r"(?i)image"):
        client.predict("x", handle_file(str(corrupt)), api_name="/video")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_bytes(b"just some text, not audio" * 50)
    for bad in (empty, text):
        with pytest.raises(AppError, match=r"(?i)audio"):
            client.predict(handle_file(str(portrait)), handle_file(str(bad)), api_name="/avatar")


def test_two_sessions_use_their_own_tokens(app_url: str, simulator) -> None:  # type: ignore[no-untyped-def]
    first = Client(app_url, verbose=False, analytics_enabled=False)
    second = Client(app_url, verbose=False, analytics_enabled=False)
    try:
        outputs = first.predict("r8_sessiontokenaaaa", False, api_name="/sign_in")
        assert "r8_sessiontokenaaaa" not in str(outputs)  # the token never goes back
        assert any("Signed in as" in str(o) for o in outputs)
        second.predict("r8_sessiontokenbbbb", False, api_name="/sign_in")
        simulator.requests.clear()
        first.predict("from a", model="black-forest-labs/flux-schnell", api_name="/image")
        second.predict("from b", model="black-forest-labs/flux-schnell", api_name="/image")
        creates = _creates(simulator)
        assert [r.token_id for r in creates] == [
            _token_id("r8_sessiontokenaaaa"),
            _token_id("r8_sessiontokenbbbb"),
        ]
        assert _token_id(TOKEN) not in {r.token_id for r in creates}
        assert _token_id(OTHER_TOKEN) not in {r.token_id for r in creates}
    finally:
        first.close()
        second.close()


def test_twenty_image_requests_run_at_the_same_time(app_url: str, simulator) -> None:  # type: ignore[no-untyped-def]
    # Long enough that all twenty are submitted while the first still runs, even on a busy machine.
    simulator.config.run_time = 4
    before = set(simulator.predictions)
    c = Client(app_url, verbose=False, analytics_enabled=False)
    try:
        jobs = [
            c.submit(f"parallel {i}", model="black-forest-labs/flux-schnell", api_name="/image")
            for i in range(20)
        ]
        results = [job.result(timeout=60) for job in jobs]
    finally:
        c.close()
    assert all(r[0] for r in results)
    spans = [(s.started_at, s.completed_at) for s in _new_predictions(simulator, before)]
    assert len(spans) == 20
    # Every prediction was running at one moment: the app queued none of them behind another.
    latest_start = max(start for start, _ in spans)
    earliest_end = min(end for _, end in spans)
    assert latest_start < earliest_end


def test_page_config_never_contains_the_token(app_url: str) -> None:
    import httpx

    body = httpx.get(app_url.rstrip("/") + "/config", timeout=10).text
    assert TOKEN not in body


def test_oversized_upload_is_refused_with_the_limit(
    client: Client, app_url: str, tmp_path: Path
) -> None:
    import httpx

    big = tmp_path / "huge.png"
    with big.open("wb") as out:
        out.truncate(51 * 1024 * 1024)
    # gradio_client checks the app's limit before sending anything…
    with pytest.raises(ValueError, match="maximum file size of 52428800 bytes"):
        client.predict("x", handle_file(str(big)), api_name="/video")
    # …and the server enforces it for any other client.
    with big.open("rb") as body:
        response = httpx.post(
            app_url.rstrip("/") + "/gradio_api/upload",
            files={"files": ("huge.png", body, "image/png")},
            timeout=60,
        )
    assert response.status_code == 413
    assert response.text == "File size exceeded maximum allowed size of 52428800 bytes."


def test_out_of_range_main_control_is_explained(client: Client) -> None:
    with pytest.raises(AppError, match=r"Images must be at most 4 \(got 9\)"):
        client.predict(
            "x", model="black-forest-labs/flux-schnell", num_outputs=9, api_name="/image"
        )


def test_stop_cancels_only_the_visitors_own_prediction(app_url: str, simulator) -> None:  # type: ignore[no-untyped-def]
    # Two visitors on the owner's token, the same input one second apart; the first presses Stop.
    simulator.config.run_time = 4
    before = set(simulator.predictions)
    first = Client(app_url, verbose=False, analytics_enabled=False)
    second = Client(app_url, verbose=False, analytics_enabled=False)
    same = {"model": "black-forest-labs/flux-schnell", "api_name": "/image"}

    def made() -> list:  # type: ignore[type-arg]
        return sorted(_new_predictions(simulator, before), key=lambda p: p.created_at)

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 20
        while len(made()) < count:
            assert time.monotonic() < deadline, "the prediction was never created"
            time.sleep(0.02)

    try:
        stopped_job = first.submit("twin lighthouses", **same)
        wait_for(1)
        until(lambda: made()[0].status == "processing", 20, "the first run never started")
        kept_job = second.submit("twin lighthouses", **same)
        wait_for(2)
        stopped_job.cancel()
        gallery, status, *_ = kept_job.result(timeout=60)
    finally:
        first.close()
        second.close()
    stopped, kept = made()
    assert stopped.input == kept.input
    deadline = time.monotonic() + 5
    while stopped.status != "canceled" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (stopped.status, kept.status) == ("canceled", "succeeded")
    cancels = [r.path for r in simulator.requests if r.path.endswith("/cancel")]
    assert cancels == [f"/v1/predictions/{stopped.id}/cancel"]
    assert len(gallery) == 1 and "Done" in status
    with Image.open(gallery[0]["image"]) as image:
        image.load()


def test_video_panel_shows_webm_alpha_in_the_video_and_webp_in_the_image_output(
    client: Client,
) -> None:
    webm_video, webm_image, status = client.predict(
        "a glowing jellyfish", model="atonamy/wan-alpha", length=1, api_name="/video"
    )
    path = webm_video["video"]["path"] if isinstance(webm_video, dict) else webm_video
    assert path.endswith(".webm") and webm_image is None
    with av.open(path) as container:
        assert container.streams.video[0].codec_context.name in ("vp9", "libvpx-vp9")
    webp_video, webp_image, status = client.predict(
        "a glowing jellyfish",
        model="atonamy/wan-alpha",
        length=1,
        advanced='{"output_format": "webp"}',
        api_name="/video",
    )
    assert webp_video is None
    with Image.open(webp_image) as animated:
        assert animated.format == "WEBP" and getattr(animated, "n_frames", 1) > 1
    assert "Done" in status


def test_image_auto_ratio_takes_the_input_images_shape(
    client: Client, portrait: Path, simulator
) -> None:  # type: ignore[no-untyped-def]
    before = set(simulator.predictions)
    _, status = client.predict(
        "oil painting",
        model="stability-ai/stable-diffusion-3.5-large",
        input_image=handle_file(str(portrait)),  # 256×320 = 4:5
        api_name="/image",
    )
    (state,) = _new_predictions(simulator, before)
    assert state.input["aspect_ratio"] == "4:5"
    assert "Shape taken from the input image" in status


def test_chat_image_to_a_text_only_model_is_refused_not_dropped(
    client: Client, portrait: Path, simulator
) -> None:  # type: ignore[no-untyped-def]
    before = set(simulator.predictions)
    with pytest.raises(AppError, match="has no image input"):
        client.predict(
            "What is in this picture?",
            model="meta/meta-llama-3-70b-instruct",
            image=handle_file(str(portrait)),
            api_name="/chat",
        )
    assert _new_predictions(simulator, before) == []


def test_chat_reasoning_model_gets_at_least_its_default_token_budget(
    client: Client, simulator
) -> None:  # type: ignore[no-untyped-def]
    from neurolink_ui.replicate.schema import InputSchema
    from neurolink_ui.simulator.catalog import get_model

    r1 = get_model("deepseek-ai", "deepseek-r1")
    assert r1 is not None
    limit = InputSchema.from_openapi(r1.openapi_schema()).get("max_tokens")
    assert limit is not None and limit.default > 512
    before = set(simulator.predictions)
    _, _, status, *_ = client.predict(
        "Count the r's in strawberry",
        model="deepseek-ai/deepseek-r1",
        max_tokens=512,
        api_name="/chat",
    )
    (state,) = _new_predictions(simulator, before)
    assert state.input["max_tokens"] == limit.default  # 512 would cut the reasoning off
    assert "raised from 512" in status
    before = set(simulator.predictions)
    client.predict("Hi", model="deepseek-ai/deepseek-r1", api_name="/chat")  # panel default: 0
    (state,) = _new_predictions(simulator, before)
    assert "max_tokens" not in state.input  # the model's own default applies


# One value of the wrong JSON kind for each kind a parameter can take (issue 20, item 7).
WRONG_VALUE = {
    "string": 12345,
    "number": "abc",
    "integer": 1.5,
    "boolean": "yes",
    "object": "not-a-file",
    "array": "hello",
}


def _kind(parameter: dict) -> str | None:  # type: ignore[type-arg]
    schema = parameter["type"]
    declared = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(declared, str):
        return declared
    if parameter["python_type"]["type"].startswith("list"):
        return "array"
    return "object" if "properties" in schema else None


def test_every_endpoint_answers_a_wrong_type_with_its_own_message(app_url: str, simulator) -> None:  # type: ignore[no-untyped-def]
    """Every parameter of every public endpoint, sent a value of the wrong kind over Gradio's
    HTTP API: each call fails at once with a message naming the parameter, nothing runs at
    Replicate, and the app keeps serving."""
    import json

    import httpx

    info = httpx.get(f"{app_url}gradio_api/info", timeout=30).json()["named_endpoints"]
    before = set(simulator.predictions)
    tried = 0
    with httpx.Client(base_url=f"{app_url}gradio_api", timeout=60) as http:
        for endpoint, spec in info.items():
            parameters = spec["parameters"]
            for index, parameter in enumerate(parameters):
                kind = _kind(parameter)
                if kind not in WRONG_VALUE:
                    continue
                data = [
                    p["parameter_default"] if p["parameter_has_default"] else None
                    for p in parameters
                ]
                data[index] = WRONG_VALUE[kind]
                event = http.post(f"/call{endpoint}", json={"data": data}).json()["event_id"]
                answer = http.get(f"/call{endpoint}/{event}").text
                assert "event: error" in answer, (endpoint, parameter["parameter_name"], answer)
                error = json.loads(answer.strip().splitlines()[-1].removeprefix("data: "))
                name = parameter["parameter_name"]
                assert error["error"] and f"“{name}” takes" in error["error"], (endpoint, answer)
                tried += 1
    assert tried >= 30  # every panel's, Compare's and Explore's parameters
    assert set(simulator.predictions) == before  # nothing ran
    client = Client(app_url, verbose=False, analytics_enabled=False)
    try:
        gallery, *_ = client.predict(
            "still serving", model="black-forest-labs/flux-schnell", api_name="/image"
        )
    finally:
        client.close()
    assert gallery
