"""`/compare` and `/compare_stop` through gradio_client, against the launched app and the simulator
over real HTTP: concurrent cells, a failing cell, Stop on one streaming cell, limits, the quota."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TOKEN
from gradio_client import Client
from gradio_client.exceptions import AppError
from launched import LaunchedApp
from PIL import Image

from neurolink_ui.config import Settings
from neurolink_ui.quota.guard import QuotaGuard
from neurolink_ui.quota.settings import OwnerCaps, QuotaSettings
from neurolink_ui.simulator.config import Fault

pytestmark = pytest.mark.slow  # launches the whole app

IMAGE_MODELS = ["black-forest-labs/flux-schnell", "google/nano-banana", "bytedance/seedream-4"]
CHAT_MODELS = ["meta/meta-llama-3-8b-instruct", "meta/meta-llama-3-70b-instruct"]


@pytest.fixture(scope="module")
def app(simulator_session, tmp_path_factory) -> Iterator[LaunchedApp]:  # type: ignore[no-untyped-def]
    settings = Settings(api_token=TOKEN, base_url=simulator_session.base_url, poll_cap=60)
    launched = LaunchedApp(settings, tmp_path_factory.mktemp("outputs"))
    yield launched
    launched.close()


@pytest.fixture
def client(app: LaunchedApp, simulator) -> Iterator[Client]:  # type: ignore[no-untyped-def]
    c = app.client()
    yield c
    c.close()


def _predictions(sim, before: set[str]) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The simulator's predictions created since `before`, by model."""
    return {s.model.slug: s for pid, s in sim.predictions.items() if pid not in before}


def test_three_image_models_one_failing_cell(client: Client, simulator) -> None:  # type: ignore[no-untyped-def]
    """nano-banana's create is refused by the API (422, over HTTP): its cell shows the error, the
    other two cells still run, at the same time, and return decodable images."""
    simulator.config.faults = [
        Fault(
            method="POST",
            path="/v1/models/google/nano-banana/predictions",
            status=422,
            detail="The prompt was flagged as sensitive (E005).",
        )
    ]
    simulator.config.run_time = 1.0
    before = set(simulator.predictions)
    result, files = client.predict(
        "image",
        IMAGE_MODELS,
        json.dumps({"prompt": "A red fox in snow", "aspect_ratio": "16:9"}),
        None,
        None,
        api_name="/compare",
    )
    cells = {cell["model"]: cell for cell in result["cells"]}
    assert [cell["model"] for cell in result["cells"]] == IMAGE_MODELS  # API order is kept
    failed = cells["google/nano-banana"]
    assert failed["status"] == "failed" and failed["files"] == []
    assert "flagged as sensitive (E005)" in failed["error"]
    by_name = {Path(path).name: Path(path) for path in files}
    assert len(by_name) == len(files) == 2
    for model in ("black-forest-labs/flux-schnell", "bytedance/seedream-4"):
        cell = cells[model]
        assert cell["status"] == "succeeded" and cell["error"] is None, cell
        assert cell["predict_time"] > 0 and cell["total_time"] >= cell["predict_time"]
        assert cell["cold_boot"] is False and cell["prediction_id"]
        (name,) = cell["files"]
        with Image.open(by_name[name]) as image:
            image.load()
            assert image.width > image.height  # each mapped 16:9 from its own schema
    # The two good cells ran at the same time: each was created before the other finished.
    ran = _predictions(simulator, before)
    assert set(ran) == {"black-forest-labs/flux-schnell", "bytedance/seedream-4"}
    first, second = ran.values()
    assert first.created_at < second.completed_at and second.created_at < first.completed_at


def test_two_model_chat_compare_stop_one_cell_the_other_finishes(client: Client, simulator) -> None:  # type: ignore[no-untyped-def]
    """Both cells stream; `/compare_stop` on cell 0 cancels only its prediction at Replicate."""
    simulator.config.token_interval = 0.12
    before = set(simulator.predictions)
    job = client.submit(
        "chat",
        CHAT_MODELS,
        json.dumps({"prompt": "Tell me about llamas and alpacas"}),
        None,
        None,
        api_name="/compare",
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        outputs = job.outputs()
        if outputs and all(cell["text"] for cell in outputs[-1][0]["cells"]):
            break  # both cells are streaming side by side
        time.sleep(0.05)
    else:
        pytest.fail(f"the cells did not both stream: {job.outputs()[-1:]}")
    assert "Stopped" in client.predict(0, api_name="/compare_stop")
    result, files = job.result(timeout=90)
    first, second = result["cells"]
    assert first["model"] == CHAT_MODELS[0] and first["status"] == "canceled"
    assert second["status"] == "succeeded" and files == []
    assert len(second["text"]) > len(first["text"]) > 0  # the stopped cell kept what it had
    states = _predictions(simulator, before)
    assert states[CHAT_MODELS[0]].status == "canceled"
    assert states[CHAT_MODELS[1]].status == "succeeded"
    # Several updates streamed before the end (paced, not one per token).
    texts = {out[0]["cells"][1]["text"] for out in job.outputs()}
    assert len(texts) > 2


@pytest.mark.parametrize(
    ("modality", "models", "values", "said"),
    [
        ("image", IMAGE_MODELS[:1], {"prompt": "x"}, "2 to 4 models; 1 were given"),
        ("image", [f"o/m{i}" for i in range(5)], {"prompt": "x"}, "2 to 4 models; 5 were given"),
        ("image", ["o/a", "not a model"], {"prompt": "x"}, "is not a model reference"),
        ("image", IMAGE_MODELS[:2], {"prompt": "x", "steps": 4}, "not steps"),
        ("image", IMAGE_MODELS[:2], {"prompt": "x" * 20_001}, "the limit is 20,000 characters"),
        ("image", IMAGE_MODELS[:2], {"prompt": "x", "seed": 10**30}, "too large"),
        ("hologram", IMAGE_MODELS[:2], {"prompt": "x"}, "Unknown modality 'hologram'"),
        ("avatar", ["o/a", "o/b"], {}, "Add a portrait image first"),
    ],
)
def test_hostile_requests_get_a_clear_message_and_nothing_runs(  # type: ignore[no-untyped-def]
    client: Client, simulator, modality: str, models: list[str], values: dict, said: str
) -> None:
    with pytest.raises(AppError, match=said):
        client.predict(modality, models, json.dumps(values), None, None, api_name="/compare")
    assert not [r for r in simulator.requests if r.method == "POST"]  # refused before any run


def test_deep_json_and_a_bad_cell_are_refused_and_the_app_keeps_serving(  # type: ignore[no-untyped-def]
    client: Client, simulator
) -> None:
    deep = '{"prompt": ' + "[" * 5000 + "]" * 5000 + "}"
    with pytest.raises(AppError, match="nested more than"):
        client.predict("chat", CHAT_MODELS, deep, None, None, api_name="/compare")
    with pytest.raises(AppError, match="Cell must be a number from 0 to 3"):
        client.predict(7, api_name="/compare_stop")
    result, _ = client.predict(
        "chat", CHAT_MODELS, '{"prompt": "hi"}', None, None, api_name="/compare"
    )
    assert [cell["status"] for cell in result["cells"]] == ["succeeded", "succeeded"]


def test_guarded_demo_mode_counts_each_cell_as_a_run(app: LaunchedApp, simulator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Three runs a day: a 2-model compare takes two; in the next, one cell runs, one is refused."""
    ctx = app.ctx
    defaults = Settings.from_env({"REPLICATE_API_TOKEN": TOKEN}).quota
    quota = QuotaSettings(
        enabled=True,
        allowed=defaults.allowed,
        caps=OwnerCaps(),
        state_db=tmp_path / "state.db",
        runs_per_day=3,
    )
    ctx.quota = QuotaGuard.open(quota)
    try:
        c = app.client()
        first, _ = c.predict(
            "image", IMAGE_MODELS[:2], '{"prompt": "a fox"}', None, None, api_name="/compare"
        )
        assert [cell["status"] for cell in first["cells"]] == ["succeeded", "succeeded"]
        second, files = c.predict(
            "image", IMAGE_MODELS[:2], '{"prompt": "a fox"}', None, None, api_name="/compare"
        )
        statuses = sorted(cell["status"] for cell in second["cells"])
        assert statuses == ["refused", "succeeded"], second
        (refused,) = [cell for cell in second["cells"] if cell["status"] == "refused"]
        assert "limit" in refused["error"].lower() and len(files) == 1
        creates = [r for r in simulator.requests if r.method == "POST"]
        assert len(creates) == 3  # the refused cell sent nothing
        c.close()
    finally:
        ctx.quota.close()
        ctx.quota = None


def test_cold_boots_are_named_from_the_predictions_own_times(client: Client, simulator) -> None:  # type: ignore[no-untyped-def]
    simulator.config.cold_start = 2.2  # seconds in `starting`, as a booting model spends them
    result, _ = client.predict(
        "chat", CHAT_MODELS, '{"prompt": "hello"}', None, None, api_name="/compare"
    )
    for cell in result["cells"]:
        assert cell["status"] == "succeeded" and cell["cold_boot"] is True, cell
        assert cell["starting_time"] >= 2.2 and cell["total_time"] > cell["predict_time"]
