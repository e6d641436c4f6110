"""The light first page (ui/light.py): the config loses only what nothing reads, the API
description is unchanged, and the page and its config are sent compressed (assets are not)."""

from __future__ import annotations

import json
from typing import Any

import gradio as gr
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from neurolink_ui.ui.app import build_app
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.light import API_SCHEMA_KEYS, CompressPages, api_component_ids


@pytest.fixture(scope="module")
def demo() -> Any:
    from neurolink_ui.config import Settings

    return build_app(ctx=AppContext.create(Settings(api_token="r8_lighttoken0123456789")))


def test_the_api_description_is_unchanged(demo: Any) -> None:
    slim = demo.get_api_info(all_endpoints=True)
    full = gr.Blocks.get_config_file(demo)
    demo.config, saved = full, demo.config
    try:
        assert demo.get_api_info(all_endpoints=True) == slim
    finally:
        demo.config = saved
    assert "/image" in slim["named_endpoints"]


def test_only_components_no_endpoint_exposes_lose_their_schemas(demo: Any) -> None:
    config = demo.get_config_file()
    exposed = api_component_ids(demo.fns.values())
    full = {c["id"]: c for c in gr.Blocks.get_config_file(demo)["components"]}
    for component in config["components"]:
        had = full[component["id"]]
        if component["id"] in exposed and "api_info" in had:
            # gradio_client reads api_info of these (is it a file?)
            assert component["api_info"] == had["api_info"]
        else:
            assert not set(API_SCHEMA_KEYS) & set(component)
    slim = len(json.dumps(config["components"], default=str))
    assert slim < 0.6 * len(json.dumps(list(full.values()), default=str))


def test_the_page_and_config_are_compressed_and_assets_are_not() -> None:
    body = "x" * 5000

    async def text(request: Any) -> PlainTextResponse:
        return PlainTextResponse(body)

    paths = ["/", "/config", "/gradio_api/info", "/assets/index.js"]
    app = Starlette(
        routes=[Route(path, text) for path in paths], middleware=[Middleware(CompressPages)]
    )
    client = TestClient(app)
    for path in paths:
        response = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert response.text == body
        compressed = response.headers.get("content-encoding") == "gzip"
        assert compressed == (not path.startswith("/assets")), path


async def test_a_skipped_output_is_answered_as_gradio_would_without_a_rebuild(demo: Any) -> None:
    from gradio.state_holder import SessionState

    (fn,) = [f for f in demo.fns.values() if f.api_name == "image"]
    media = fn.outputs[0]
    for update in (
        [gr.skip(), "⚙️ **Running** · 1.0 s"],
        [gr.skip(), gr.skip()],
        [gr.update(visible=True), "status"],
    ):
        ours_state, theirs_state = SessionState(demo), SessionState(demo)
        ours = await demo.postprocess_data(fn, list(update), ours_state)
        theirs = await gr.Blocks.postprocess_data(demo, fn, list(update), theirs_state)
        assert ours == theirs
        skipped = update[0] == gr.skip()
        # No component rebuilt (nor its config) for a skip; Gradio's own path rebuilds it.
        assert (ours_state.blocks_config.blocks[media._id] is media) == skipped
        assert theirs_state.blocks_config.blocks[media._id] is not media


def test_a_module_gradio_imports_on_every_event_fails_at_once_when_absent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Gradio imports matplotlib on entering and leaving every event; where it is absent each
    failed import searched sys.path again. A module known absent fails at once; an installed one
    is left alone."""
    import importlib
    import sys

    from neurolink_ui.ui.app import ABSENT_PER_EVENT, absent_modules_fail_fast

    assert "matplotlib" in ABSENT_PER_EVENT
    missing = "nl_surely_not_installed_module"
    monkeypatch.delitem(sys.modules, missing, raising=False)
    searched: list[str] = []
    finder = importlib.machinery.PathFinder.find_spec

    def counting(name: str, *args: Any, **kwargs: Any) -> Any:
        searched.append(name)
        return finder(name, *args, **kwargs)

    assert absent_modules_fail_fast([missing, "json"]) == [missing]  # json is installed
    assert sys.modules[missing] is None and sys.modules["json"] is not None
    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", counting)
    for _ in range(3):
        with pytest.raises(ImportError):
            importlib.import_module(missing)
    assert searched == []  # no search of sys.path: refused from sys.modules
    monkeypatch.delitem(sys.modules, missing)


def test_the_page_is_sent_without_what_serves_api_callers_only(demo: Any) -> None:
    """The page's own view of the config leaves out the hidden twins of the tabs drawn on demand
    and the Compare API's inputs (the page never triggers them); every event the page keeps
    refers only to components it has; /config (gradio_client's) keeps everything."""
    config = demo.get_config_file()
    page = config["page"][""]
    kept, events = set(page["components"]), set(page["dependencies"])
    everything = {c["id"]: c for c in config["components"]}
    api_only = set(everything) - kept
    labels = {everything[i]["props"].get("label") for i in api_only}
    assert {"input_json", "cell", "Prompt", "Portrait", "Track"} <= labels
    assert not any(everything[i]["props"].get("label") == "Conversation" for i in api_only)
    by_id = {d["id"]: d for d in config["dependencies"]}
    for name in ("image", "video", "avatar", "music", "search", "run_model", "compare"):
        (served,) = [d for d in config["dependencies"] if d["api_name"] == name]
        assert served["id"] not in events  # served to API callers, not the page
    chat = next(d for d in config["dependencies"] if d["api_name"] == "chat")
    assert chat["id"] in events  # the first tab is on the page: its own event is the endpoint
    for event in events:
        dependency = by_id[event]
        used = {t[0] for t in dependency["targets"]} | set(dependency["inputs"])
        used |= set(dependency["outputs"])
        assert used - {None} <= kept | {demo._id}, dependency

    def laid_out(node: dict[str, Any]) -> set[int]:
        found = {node["id"]}
        for child in node.get("children", []):
            found |= laid_out(child)
        return found

    assert laid_out(page["layout"]) - {page["layout"]["id"]} <= kept
