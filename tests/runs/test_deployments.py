"""Deployments wherever a model can be named (issue 22, item 3): `deployment:owner/name` in a
panel's picker, Chat, Explore, a Compare cell and the command line's `--model`, each run through
the run core against the simulator's deployments with the schema of the model version the
deployment's release runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import TOKEN

from neurolink_ui.cli import main
from neurolink_ui.comparison import cell_key, parse_models, parse_plan
from neurolink_ui.quota.settings import AllowList
from neurolink_ui.replicate.errors import InvalidModelRefError, ModelNotFoundError
from neurolink_ui.replicate.types import ModelRef
from neurolink_ui.runs import Caller, LiveRuns, live_run
from neurolink_ui.snippets import request_for
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.history_log import HistoryLog
from neurolink_ui.ui.panels.chat import make_chat_handler
from neurolink_ui.ui.panels.compare_cells import cell_status, run_cell
from neurolink_ui.ui.panels.explore import ExploreHandlers
from neurolink_ui.ui.panels.image import make_image_handler
from neurolink_ui.ui.panels.music import make_music_handler

IMAGE = "deployment:acme/image-generator"  # a configured one: playground-v2.5
IMAGE_MODEL = "playgroundai/playground-v2.5-1024px-aesthetic"
CHAT_MODEL = "meta/meta-llama-3-8b-instruct"
LIMITS = {"text_limit": 4000, "chat_limit": 4000}


def _creates(simulator: Any) -> list[Any]:
    return [r for r in simulator.requests if r.method == "POST" and r.path.endswith("/predictions")]


def _chat_deployment(simulator: Any) -> str:
    """A team's chat deployment: Llama 3 8B as a community model (a deployment runs a version)."""
    simulator.config.model_overrides = {CHAT_MODEL: {"official": False}}
    simulator.config.deployments = {
        **simulator.config.deployments,
        "team/assistant": {"model": CHAT_MODEL},
    }
    return "deployment:team/assistant"


# ---- naming one ---------------------------------------------------------------------------------


def test_a_deployment_is_named_with_its_prefix() -> None:
    ref = ModelRef.parse(" deployment:acme/image-generator ")
    assert ref.deployment and ref.slug == "acme/image-generator" and ref.version is None
    assert str(ref) == IMAGE and ModelRef.parse(str(ref)) == ref
    assert not ModelRef.parse("acme/image-generator").deployment  # a model: another namespace
    with pytest.raises(InvalidModelRefError) as info:
        ModelRef.parse("deployment:acme/image-generator:abc123")  # its release pins the version
    assert "deployment:owner/name" in str(info.value)
    with pytest.raises(InvalidModelRefError):
        ModelRef.parse("deployment:acme")
    assert parse_models([IMAGE, IMAGE_MODEL]) == (IMAGE, IMAGE_MODEL)


def test_the_snippet_and_the_allow_list_know_deployments() -> None:
    url, body = request_for(IMAGE, {"prompt": "x"}, version_id="ab" * 32)
    assert url == "https://api.replicate.com/v1/deployments/acme/image-generator/predictions"
    assert body == {"input": {"prompt": "x"}}  # no version: the release has one
    allowed = AllowList.parse("deployment:acme/*,image:black-forest-labs/*")
    assert allowed.allows("image", IMAGE) and allowed.allows("chat", "deployment:acme/x")
    assert not allowed.allows("image", "acme/image-generator")  # the model namespace is apart
    assert not AllowList.parse("acme/*").allows("image", IMAGE)


# ---- the client ---------------------------------------------------------------------------------


async def test_the_schema_is_the_one_of_the_version_its_release_runs(
    ctx: AppContext, simulator: Any
) -> None:
    backend = ctx.backend(None)
    info = await backend.client.get_model(IMAGE, token=backend.token)
    model = await backend.client.get_model(IMAGE_MODEL, token=backend.token)
    assert info.deployment is not None and info.deployment.model == IMAGE_MODEL
    assert info.ref == IMAGE and info.version_id == model.version_id
    assert info.input_schema.names == model.input_schema.names
    assert info.run_version(ModelRef.parse(IMAGE)) is None  # run by its own route
    paths = [r.path for r in simulator.requests]
    assert "/v1/deployments/acme/image-generator" in paths
    assert f"/v1/models/{IMAGE_MODEL}/versions/{model.version_id}" in paths
    with pytest.raises(ModelNotFoundError, match="Deployment 'acme/nothing' was not found"):
        await backend.client.get_model("deployment:acme/nothing", token=backend.token)


# ---- every entry point ----------------------------------------------------------------------------


async def test_the_image_panel_runs_a_deployment(ctx: AppContext, simulator: Any) -> None:
    log = HistoryLog()
    updates = [
        u async for u in make_image_handler(ctx)("a lighthouse", IMAGE, "1:1", generations=log)
    ]
    gallery, status = updates[-1][0], updates[-1][-1]
    assert gallery and "Done" in status
    assert f"Ran {IMAGE_MODEL} version" in status and "(release 1)" in status
    (create,) = _creates(simulator)
    assert create.path == "/v1/deployments/acme/image-generator/predictions"
    prediction = max(simulator.predictions.values(), key=lambda p: p.seq)  # this test's
    assert prediction.deployment == "acme/image-generator"
    assert (
        prediction.model.slug == IMAGE_MODEL and prediction.version == prediction.model.version_id
    )
    entry = log.entries[0]
    assert entry.model == IMAGE  # History reruns (and Remix fills) the deployment itself


async def test_chat_streams_through_a_deployment(ctx: AppContext, simulator: Any) -> None:
    model = _chat_deployment(simulator)
    updates = [
        u async for u in make_chat_handler(ctx)("Explain tides", [], model=model, generations=None)
    ]
    chatbot, _, status = updates[-1]
    assert "Explain tides" in str(chatbot[-1]) and "Done" in status
    assert [c.path for c in _creates(simulator)] == ["/v1/deployments/team/assistant/predictions"]
    assert any(r.path.startswith("/v1/streams/") for r in simulator.requests)


async def test_explore_opens_and_runs_a_deployment(ctx: AppContext, simulator: Any) -> None:
    handlers = ExploreHandlers(ctx)
    card, info, _, readme = await handlers.model_card(IMAGE)
    assert info.deployment is not None and info.deployment.model == IMAGE_MODEL
    assert card.ref == IMAGE and card.panel == "image"
    assert card.description.startswith("Deployment acme/image-generator of " + IMAGE_MODEL)
    assert readme  # the README of the model it runs
    readmes = [r.path for r in simulator.requests if r.path.endswith("/readme")]
    assert readmes == [f"/v1/models/{IMAGE_MODEL}/readme"]
    updates = [u async for u in handlers.run(IMAGE, '{"prompt": "a lighthouse"}')]
    assert "Done" in updates[-1][-1]
    assert [c.path for c in _creates(simulator)] == [
        "/v1/deployments/acme/image-generator/predictions"
    ]


async def test_a_compare_cell_runs_a_deployment(ctx: AppContext, simulator: Any) -> None:
    plan = parse_plan(
        "image", [IMAGE, IMAGE_MODEL], {"prompt": "a lighthouse"}, None, None, **LIMITS
    )
    live = LiveRuns()
    with live_run(live, cell_key(0)):
        views = [view async for view in run_cell(ctx, plan, 0, Caller(live=live))]
    assert views[-1].state == "done" and views[-1].files, cell_status(views[-1], hidden=False)
    assert [c.path for c in _creates(simulator)] == [
        "/v1/deployments/acme/image-generator/predictions"
    ]


async def test_a_deployment_created_through_the_api_runs_in_its_panel(
    ctx: AppContext, simulator: Any
) -> None:
    musicgen = await ctx.client.get_model("meta/musicgen", token=TOKEN)
    async with httpx.AsyncClient(
        base_url=simulator.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as api:
        answer = await api.post(
            "/v1/deployments",
            json={
                "name": "jingles",
                "model": "meta/musicgen",
                "version": musicgen.version_id,
                "hardware": "gpu-t4",
                "min_instances": 0,
                "max_instances": 1,
            },
        )
    created = answer.json()
    model = f"deployment:{created['owner']}/jingles"
    updates = [u async for u in make_music_handler(ctx)("a short jingle", model=model, duration=2)]
    assert "Done" in updates[-1][-1]
    assert _creates(simulator)[-1].path == f"/v1/deployments/{created['owner']}/jingles/predictions"


async def test_an_unknown_deployment_is_refused_with_how_to_name_one(
    ctx: AppContext, simulator: Any
) -> None:
    with pytest.raises(Exception) as info:
        async for _ in make_image_handler(ctx)("x", "deployment:acme/nothing", "1:1"):
            pass
    assert "Deployment 'acme/nothing' was not found" in str(info.value)
    assert _creates(simulator) == []


# ---- the command line -------------------------------------------------------------------------


def test_the_command_line_runs_a_deployment(
    simulator: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REPLICATE_BASE_URL", simulator.base_url)
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "generate",
            "A red panda",
            "--outputMode",
            "image",
            "--model",
            IMAGE,
            "--imageOutput",
            "panda.png",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip() == "panda.png" and (tmp_path / "panda.png").stat().st_size > 0
    assert f"done with {IMAGE}" in err
    assert [c.path for c in _creates(simulator)] == [
        "/v1/deployments/acme/image-generator/predictions"
    ]
    code = main(
        ["generate", "A red panda", "--outputMode", "image", "--model", "deployment:acme/nothing"]
    )
    assert code == 1 and "Deployment 'acme/nothing' was not found" in capsys.readouterr().err
