"""The MCP server of a guarded app (the owner's token, guarded demo mode): every tool call goes
through the page's admission, allow-list and cost clamps; visitors are told apart as the page
tells them (the address behind NEUROLINK_PROXY_HOPS); a refusal is a tool error naming the limit
and when it resets; an agent's own token is not limited by the owner's quotas."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from conftest import TOKEN, token_id
from helpers import until_async
from mcp_client import McpApp, connect, texts

from neurolink_ui.config import Settings
from neurolink_ui.quota.settings import OwnerCaps, QuotaSettings

pytestmark = pytest.mark.slow

OWN_TOKEN = "r8_agentguardtoken0123456789"
SCHNELL = "black-forest-labs/flux-schnell"  # takes num_outputs


def _creates(sim: Any) -> list[Any]:
    return [r for r in sim.requests if r.method == "POST" and r.path.endswith("/predictions")]


@pytest.fixture(scope="module")
def app(simulator_session, tmp_path_factory) -> Iterator[McpApp]:  # type: ignore[no-untyped-def]
    defaults = Settings.from_env({"REPLICATE_API_TOKEN": TOKEN}).quota
    quota = QuotaSettings(
        enabled=True,
        allowed=defaults.allowed,  # the panels' suggestions
        runs_per_day=2,
        concurrent=2,
        max_seconds=300,
        caps=OwnerCaps(images=2),
        proxy_hops=1,  # one trusted proxy: the client is the last X-Forwarded-For entry
        state_db=tmp_path_factory.mktemp("state") / "state.db",
    )
    settings = dataclasses.replace(
        Settings(api_token=TOKEN, base_url=simulator_session.base_url, poll_cap=60), quota=quota
    )
    launched = McpApp(settings, tmp_path_factory.mktemp("outputs"))
    yield launched
    launched.close()


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.77, {address}"}


async def test_a_guarded_app_refuses_past_the_limit_with_the_message(
    app: McpApp, simulator: Any
) -> None:
    async with connect(app.mcp, headers=_from("203.0.113.5")) as client:
        first = await client.call_tool(
            "generate_image", {"prompt": "a", "num_outputs": 4, "model": SCHNELL}
        )
        second = await client.call_tool("generate_music", {"prompt": "b", "duration": 2})
        third = await client.call_tool("generate_image", {"prompt": "c"})
    assert not first.is_error and not second.is_error, texts(first) + texts(second)
    # The cost clamp: 4 images asked, the owner allows 2 a run (said in the run's notes).
    sent = _creates(simulator)
    assert len(sent) == 2
    assert len(first.structured_content["files"]) == 2
    assert any(
        "num_outputs" in note or "images" in note for note in first.structured_content["notes"]
    )
    refusal = texts(third)
    assert third.is_error
    assert refusal.startswith("Limit reached (runs per day). You have used your 2 runs"), refusal
    assert "resets at midnight UTC (in " in refusal
    assert "X-Replicate-Token" in refusal  # the agent's way on, not the page's buttons
    assert "Your Replicate token”" not in refusal
    assert len(_creates(simulator)) == 2  # nothing more reached Replicate

    # Another address behind the proxy is another visitor, with its own count.
    async with connect(app.mcp, headers=_from("203.0.113.6")) as client:
        other = await client.call_tool("generate_image", {"prompt": "d"})
    assert not other.is_error, texts(other)

    # The agent's own token: its account pays, the owner's quotas do not apply.
    own = {**_from("203.0.113.5"), "X-Replicate-Token": OWN_TOKEN}
    async with connect(app.mcp, headers=own) as client:
        mine = await client.call_tool(
            "generate_image", {"prompt": "e", "num_outputs": 4, "model": SCHNELL}
        )
    assert not mine.is_error, texts(mine)
    last = _creates(simulator)[-1]
    assert last.token_id == token_id(OWN_TOKEN)
    assert len(mine.structured_content["files"]) == 4  # no owner cap on its own token


async def test_the_allow_list_applies_to_run_model_and_the_panels(
    app: McpApp, simulator: Any
) -> None:
    async with connect(app.mcp, headers=_from("203.0.113.9"), mode="legacy") as client:
        refused = await client.call_tool(
            "run_model", {"model": "acme/not-allowed", "input": {"prompt": "x"}}
        )
        image = await client.call_tool("generate_image", {"prompt": "x", "model": "meta/musicgen"})
    assert refused.is_error and "cannot run on this Space's token" in texts(refused)
    assert image.is_error and "cannot run on this Space's token" in texts(image)
    assert not _creates(simulator)


async def test_calls_at_once_are_bounded_per_visitor(app: McpApp, simulator: Any) -> None:
    share = app.ctx.fair.share
    assert share.agent_calls == 8  # NEUROLINK_MCP_CALLS_PER_ADDRESS's default
    app.ctx.fair.share = dataclasses.replace(share, agent_calls=1)
    simulator.config.run_time = 30.0
    try:
        async with connect(app.mcp, headers=_from("203.0.113.20")) as client:
            async with anyio.create_task_group() as group:
                group.start_soon(client.call_tool, "generate_music", {"prompt": "long"})
                await until_async(lambda: bool(_creates(simulator)), 30, "the first run")
                second = await client.call_tool("generate_music", {"prompt": "again"})
                group.cancel_scope.cancel()
        async with connect(app.mcp, headers=_from("203.0.113.21")) as client:
            other = await client.call_tool("search_models", {"query": "flux"})
    finally:
        app.ctx.fair.share = share
    assert second.is_error
    assert "already has 1 tool calls running" in texts(second)
    assert not other.is_error  # another visitor is not held up
