"""The app's MCP server through the real `mcp` SDK client, over Streamable HTTP (both protocol
eras) and HTTP+SSE, against one app on loopback whose default backend is its built-in simulator
(no owner token); an agent's own token goes to the test simulator.

Covers: the tool list and its schemas; image, chat and music calls and their content (inline
image, file links, a share link that opens); progress from the run's own events and cancel that
cancels the prediction at the simulator; the own-token header (used for its run, found in no log,
file or result); hostile arguments (sizes, depth, choices, a private address); off switch.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import token_id
from helpers import until_async
from mcp_client import MCP, McpApp, connect, connect_sse, get, texts
from PIL import Image

from neurolink_ui.agents import mcp_enabled
from neurolink_ui.config import Settings

pytestmark = pytest.mark.slow

OWN_TOKEN = "r8_agentowntoken0123456789abcdef"
TOOLS = {
    "chat",
    "generate_image",
    "generate_video",
    "talking_avatar",
    "generate_music",
    "search_models",
    "describe_model",
    "run_model",
    "compare_models",
}


@pytest.fixture(scope="module")
def app(simulator_session, tmp_path_factory) -> Iterator[McpApp]:  # type: ignore[no-untyped-def]
    settings = Settings(api_token=None, base_url=simulator_session.base_url, poll_cap=60)
    launched = McpApp(settings, tmp_path_factory.mktemp("outputs"))
    yield launched
    launched.close()


@pytest.fixture
def builtin(app: McpApp) -> Iterator[Any]:
    """The app's own built-in simulator (where calls without a token go), reset around a test."""
    sim = app.ctx.simulator
    assert sim is not None
    sim.reset()
    yield sim
    sim.reset()


def _png_data_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 90)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# ---- tools and schemas --------------------------------------------------------------------------


async def test_tools_and_their_schemas(app: McpApp) -> None:
    async with connect(app.mcp) as client:
        listed = await client.list_tools()
    tools = {tool.name: tool for tool in listed.tools}
    assert set(tools) == TOOLS  # no internal event (renders, Stop, History plumbing) is a tool
    for tool in tools.values():
        schema = tool.input_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert tool.description and len(tool.description) > 80, tool.name
        for name in schema.get("required", []):
            assert name in schema["properties"]
    image = tools["generate_image"].input_schema["properties"]
    assert {"auto", "1:1", "16:9"} <= set(image["aspect_ratio"]["enum"])
    assert image["num_outputs"] == {
        "description": "Images",
        "type": "integer",
        "minimum": 1,
        "maximum": 4,
        "default": 1,
    }
    assert "black-forest-labs/flux" in image["model"]["description"]  # the suggested models
    music = tools["generate_music"].input_schema["properties"]
    assert music["model_version"]["enum"] == [
        "stereo-melody-large",
        "stereo-large",
        "melody-large",
        "large",
    ]
    assert music["output_format"]["enum"] == ["mp3", "wav"]
    assert music["duration"]["maximum"] == 30
    video = tools["generate_video"].input_schema["properties"]
    assert video["aspect_ratio"]["enum"] == ["16:9", "9:16", "1:1"]
    compare = tools["compare_models"].input_schema["properties"]
    assert compare["modality"]["enum"] == ["chat", "image", "video", "avatar", "music"]
    assert compare["models"]["minItems"] == 2 and compare["models"]["maxItems"] == 4
    chat = tools["chat"].input_schema["properties"]
    assert chat["history"]["items"]["properties"]["role"]["enum"] == ["user", "assistant"]
    assert tools["talking_avatar"].input_schema["required"] == ["portrait", "narration"]
    assert tools["search_models"].annotations.read_only_hint is True
    assert tools["generate_image"].annotations.read_only_hint is False
    assert "Takes about" in tools["generate_video"].description


async def test_the_handshake_era_and_sse_list_the_same_tools(app: McpApp) -> None:
    async with connect(app.mcp, mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        legacy = {tool.name for tool in (await client.list_tools()).tools}
    async with connect_sse(app.url + "/gradio_api/mcp/sse") as client:
        sse = {tool.name for tool in (await client.list_tools()).tools}
        described = await client.call_tool(
            "describe_model", {"model": "meta/meta-llama-3-8b-instruct"}
        )
    assert legacy == sse == TOOLS
    assert not described.is_error, texts(described)
    inputs = {field["name"] for field in described.structured_content["inputs"]}
    assert {"prompt", "max_tokens"} <= inputs


# ---- runs and their content ---------------------------------------------------------------------


async def test_image_returns_inline_image_file_link_and_a_share_link_that_opens(
    app: McpApp, builtin: Any
) -> None:
    async with connect(app.mcp) as client:
        result = await client.call_tool(
            "generate_image", {"prompt": "a red fox in the snow", "aspect_ratio": "1:1"}
        )
    assert not result.is_error, texts(result)
    kinds = [block.type for block in result.content]
    assert kinds[:2] == ["image", "resource_link"] and kinds[-1] == "text"
    inline = base64.b64decode(result.content[0].data)
    assert Image.open(io.BytesIO(inline)).size[0] > 0
    data = result.structured_content
    assert data["model"] == app.ctx.settings.image_model
    assert data["version"] and data["predict_time"] is not None and data["simulated"] is True
    share = data["share_url"]
    assert share.startswith(app.url + "/?result=")
    assert f"Share link (lasting): {share}" in texts(result)
    page = await get(share)
    assert page.status_code == 200 and "Image by" in page.text  # the shared view's title
    link = result.content[1].uri
    assert link == data["files"][0]["url"]
    # The kept copy, which lasts as long as the result (not the session's, which goes sooner).
    assert f"file={app.ctx.results.files_root}/" in link
    served = await get(link)
    assert served.status_code == 200 and served.content == inline
    assert [r for r in builtin.requests if r.method == "POST" and "predictions" in r.path]


async def test_image_to_image_takes_a_data_url(app: McpApp, builtin: Any) -> None:
    async with connect(app.mcp) as client:
        result = await client.call_tool(
            "generate_image",
            {
                "prompt": "make it blue",
                "image": _png_data_url(),
                "model": "black-forest-labs/flux-kontext-pro",
            },
        )
    assert not result.is_error, texts(result)
    created = [list(builtin.predictions.values())[-1]]
    assert any(str(value).startswith("data:image/") for p in created for value in p.input.values())


async def test_chat_returns_the_answer_with_history_and_system_prompt(
    app: McpApp, builtin: Any
) -> None:
    async with connect(app.mcp, mode="legacy") as client:
        result = await client.call_tool(
            "chat",
            {
                "message": "And in French?",
                "system_prompt": "Answer briefly.",
                "history": [
                    {"role": "user", "content": "Say hello."},
                    {"role": "assistant", "content": "Hello!"},
                ],
                "max_tokens": 64,
            },
        )
    assert not result.is_error, texts(result)
    answer = result.content[0]
    assert answer.type == "text" and len(answer.text) > 10
    assert result.structured_content["text"] == answer.text
    assert result.structured_content["share_url"]
    sent = list(builtin.predictions.values())[-1].input
    assert "Say hello." in str(sent) and "Answer briefly." in str(sent)


async def test_music_returns_an_audio_link(app: McpApp, builtin: Any) -> None:
    async with connect(app.mcp) as client:
        result = await client.call_tool(
            "generate_music", {"prompt": "calm piano", "duration": 4, "output_format": "wav"}
        )
    assert not result.is_error, texts(result)
    links = [block for block in result.content if block.type == "resource_link"]
    assert len(links) == 1 and links[0].mime_type.startswith("audio/")
    audio = await get(links[0].uri)
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    assert result.structured_content["share_url"]


async def test_run_model_search_and_compare(app: McpApp, builtin: Any) -> None:
    async with connect(app.mcp) as client:
        found = await client.call_tool("search_models", {"query": "music", "limit": 3})
        ran = await client.call_tool(
            "run_model",
            {"model": "meta/musicgen", "input": {"prompt": "drums", "duration": 3}},
        )
        refused = await client.call_tool(
            "run_model", {"model": "meta/musicgen", "input": {"duration": "long"}}
        )
        compared = await client.call_tool(
            "compare_models",
            {
                "modality": "image",
                "models": ["black-forest-labs/flux-schnell", "black-forest-labs/flux-1.1-pro"],
                "input": {"prompt": "a teapot", "aspect_ratio": "1:1"},
            },
        )
    assert not found.is_error and 1 <= len(found.structured_content["models"]) <= 3
    assert not ran.is_error, texts(ran)
    assert ran.structured_content["files"][0]["mime_type"].startswith("audio/")
    assert refused.is_error and "doesn't fit the model" in texts(refused)
    assert not compared.is_error, texts(compared)
    cells = compared.structured_content["cells"]
    assert [cell["model"] for cell in cells] == [
        "black-forest-labs/flux-schnell",
        "black-forest-labs/flux-1.1-pro",
    ]
    share = compared.structured_content["share_url"]
    assert share and (await get(share)).status_code == 200


# ---- progress and cancel ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_long_run_reports_progress_and_cancel_cancels_it_at_the_simulator(
    app: McpApp, builtin: Any, mode: str
) -> None:
    builtin.config.run_time = 60.0  # processing for a minute, logging as it goes
    before = set(builtin.predictions)
    messages: list[tuple[float, float | None, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        messages.append((value, total, message))

    async with connect(app.mcp, mode=mode) as client:
        async with anyio.create_task_group() as group:

            async def call() -> None:
                await client.call_tool(
                    "generate_video",
                    {"prompt": "waves", "length": 4, "start_image": _png_data_url()},
                    progress_callback=progress,
                )

            group.start_soon(call)
            await until_async(
                lambda: any("Running" in (m or "") for _, _, m in messages),
                30,
                "a progress notification while the prediction runs",
            )
            (prediction,) = (p for key, p in builtin.predictions.items() if key not in before)
            assert prediction.status == "processing"
            group.cancel_scope.cancel()  # the agent cancels its tool call
        await until_async(
            lambda: prediction.status == "canceled", 30, "the prediction canceled at the simulator"
        )
    assert messages[0][2].startswith("sending to Replicate")
    values = [value for value, _, _ in messages]
    assert values == sorted(values) and len(set(values)) == len(values)  # always increasing
    assert all(total == 100.0 for _, total, _ in messages)
    cancels = [r for r in builtin.requests if r.path.endswith("/cancel")]
    assert cancels, "the prediction was canceled with a request to the simulator"


# ---- the agent's own token ----------------------------------------------------------------------


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot format is no token either
            self.lines.append(str(record.msg))


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


async def test_an_agents_own_token_runs_its_call_and_is_kept_nowhere(
    app: McpApp, builtin: Any, simulator: Any
) -> None:
    handler = _Everything()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        async with connect(app.mcp, headers={"X-Replicate-Token": OWN_TOKEN}) as client:
            result = await client.call_tool("generate_image", {"prompt": "a lantern"})
        async with connect(app.mcp, headers={"Authorization": f"Bearer {OWN_TOKEN}"}) as client:
            chat = await client.call_tool("chat", {"message": "hi"})
        async with connect(app.mcp, headers={"X-Replicate-Token": "r8_x y" + OWN_TOKEN}) as client:
            bad = await client.call_tool("chat", {"message": "hi"})
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    assert not result.is_error and not chat.is_error, texts(result) + texts(chat)
    # Used for its run: the test simulator (the app's configured Replicate) saw that token...
    creates = [r for r in simulator.requests if r.method == "POST" and "predictions" in r.path]
    assert len(creates) == 2 and {r.token_id for r in creates} == {token_id(OWN_TOKEN)}
    # ...and the app's default backend (the built-in simulator) saw nothing.
    assert not [r for r in builtin.requests if "predictions" in r.path]
    assert result.structured_content["simulated"] is False
    # Never logged, stored, or written into a result.
    assert handler.lines, "the logs were captured"
    assert not [line for line in handler.lines if OWN_TOKEN in line]
    for folder in (app.ctx.results.root, app.ctx.outputs_dir):
        assert not _files_holding(folder, OWN_TOKEN.encode())
    for outcome in (result, chat):
        assert OWN_TOKEN not in outcome.model_dump_json()
        page = await get(outcome.structured_content["share_url"])
        assert OWN_TOKEN not in page.text
    # A header that is no token is refused without repeating it.
    assert bad.is_error and "does not hold a Replicate API token" in texts(bad)
    assert OWN_TOKEN not in texts(bad)


# ---- hostile arguments --------------------------------------------------------------------------


async def test_hostile_arguments_are_refused_with_what_to_change(app: McpApp, builtin: Any) -> None:
    deep: Any = "x"
    for _ in range(60):
        deep = {"a": deep}
    cases = [
        ({"prompt": "x", "aspect_ratio": "7:3"}, "'aspect_ratio' must be one of"),
        ({"prompt": "x", "num_outputs": 400}, "'num_outputs' must be at most 4"),
        ({"prompt": "x", "seed": 10**30}, "must be at most"),
        ({"prompt": "x", "colour": "red"}, "Unknown argument(s) 'colour'"),
        ({"prompt": "x" * 20_001}, "the limit is 20,000"),
        ({"prompt": "x", "advanced": deep}, "nested more than 32 levels"),
        ({"prompt": "x", "advanced": {"image": "/etc/passwd"}}, "server paths are not accepted"),
        ({"prompt": "x", "image": "file:///etc/passwd"}, "https:// address or a data: URL"),
        ({"prompt": "x", "image": f"{app.url}/config"}, "could not be read"),
        ({"prompt": "x", "image": "http://169.254.169.254/latest/meta-data/"}, "could not be read"),
        ({"prompt": "x", "image": "data:image/png;base64,bm90IGFuIGltYWdl"}, "could not be read"),
        ({}, "'prompt' is required"),
    ]
    async with connect(app.mcp) as client:
        for arguments, said in cases:
            result = await client.call_tool("generate_image", arguments)
            assert result.is_error, arguments
            assert said in texts(result), (said, texts(result))
        chat = await client.call_tool(
            "chat", {"message": "x", "history": [{"role": "system", "content": "x"}]}
        )
        unknown = await client.call_tool("delete_everything", {})
    assert chat.is_error and "'history.0.role' must be one of" in texts(chat)
    assert unknown.is_error and "No tool called" in texts(unknown)
    assert not [r for r in builtin.requests if "predictions" in r.path]  # nothing ran


async def test_a_plain_visit_gets_a_page_saying_how_to_connect(app: McpApp) -> None:
    page = await get(app.mcp)
    assert page.status_code == 200
    assert f'"url": "{app.mcp}"' in page.text and "X-Replicate-Token" in page.text
    assert "generate_image" in page.text


def test_the_switch() -> None:
    owner = Settings.from_env({"REPLICATE_API_TOKEN": "r8_owner1234"})
    assert mcp_enabled(Settings.from_env({}))  # no owner token: simulator or agents' own
    assert mcp_enabled(owner)  # guarded demo mode: the page's limits
    # An owner's token that nothing limits (guarded demo mode off: only by building Settings
    # in code; from the environment an owner token is always guarded) is not offered to agents.
    assert not mcp_enabled(Settings(api_token="r8_owner1234"))
    assert not mcp_enabled(Settings.from_env({"NEUROLINK_MCP": "off"}))
    assert mcp_enabled(
        Settings.from_env({**{"REPLICATE_API_TOKEN": "r8_o1"}, "NEUROLINK_MCP": "on"})
    )
    with pytest.raises(ValueError, match="NEUROLINK_MCP"):
        Settings.from_env({"NEUROLINK_MCP": "sometimes"})


async def test_off_serves_no_mcp(simulator_session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    settings = dataclasses.replace(
        Settings(api_token=None, base_url=simulator_session.base_url), mcp="off"
    )
    launched = McpApp(settings, tmp_path / "out")
    try:
        answer = await asyncio.to_thread(httpx.post, launched.mcp, json={}, timeout=30)
        assert answer.status_code in (404, 405)
        assert MCP not in answer.text or answer.status_code != 200
    finally:
        launched.close()
