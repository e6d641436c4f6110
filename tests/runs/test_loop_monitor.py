"""Nothing slow runs on the event loop: every entry point of the launched app, watched by the loop
monitor (tests/loop_monitor.py) with the server's loop in asyncio debug mode.

A run of each panel (the avatar's portrait encoded into MuseTalk's face video included), a
Compare, an Explore model card, a History render and two agents' tool calls over MCP; then the two inputs that used to freeze every
visitor — `{"fps": 100000}` and a 50 MB narration on MuseTalk — while another visitor loads the
page.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile
from conftest import TOKEN
from gradio_client import handle_file
from helpers import draw_history
from launched import LaunchedApp
from loop_monitor import LoopMonitor, loop_monitor
from PIL import Image

from neurolink_ui.config import Settings

pytestmark = pytest.mark.slow
AVATAR = "douwantech/musetalk"


@pytest.fixture(scope="module")
def app(simulator_session, tmp_path_factory) -> Iterator[LaunchedApp]:  # type: ignore[no-untyped-def]
    previous = os.environ.get("PYTHONASYNCIODEBUG")
    os.environ["PYTHONASYNCIODEBUG"] = "1"  # the server loop is made in debug mode
    try:
        settings = Settings(
            api_token=TOKEN, base_url=simulator_session.base_url, poll_cap=60, mcp="on"
        )
        launched = LaunchedApp(settings, tmp_path_factory.mktemp("outputs"))
    finally:
        if previous is None:
            os.environ.pop("PYTHONASYNCIODEBUG", None)
        else:
            os.environ["PYTHONASYNCIODEBUG"] = previous
    yield launched
    launched.close()


@pytest.fixture
def monitor(simulator) -> Iterator[LoopMonitor]:  # type: ignore[no-untyped-def]
    with loop_monitor() as watched:
        yield watched
    blocking = watched.blocking
    assert not blocking, "the event loop was blocked:\n" + "\n".join(map(str, blocking))


@pytest.fixture
def portrait(tmp_path: Path) -> Path:
    path = tmp_path / "portrait.png"
    Image.new("RGB", (720, 900), (200, 170, 150)).save(path)
    return path


def _narration(path: Path, seconds: float) -> Path:
    t = np.linspace(0, seconds, int(16000 * seconds), endpoint=False)
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    return path


def test_every_entry_point_keeps_the_loop_free(
    app: LaunchedApp, monitor: LoopMonitor, portrait: Path, tmp_path: Path
) -> None:
    client = app.client()
    try:
        *_, status = client.predict("a lighthouse", api_name="/image")
        assert "Done" in status
        _, _, status = client.predict("Explain tides", api_name="/chat")
        assert "Done" in status
        *_, status = client.predict("waves at dusk", handle_file(str(portrait)), api_name="/video")
        assert "Done" in status
        narration = _narration(tmp_path / "narration.wav", 2.0)
        *_, status = client.predict(
            handle_file(str(portrait)), handle_file(str(narration)), AVATAR, api_name="/avatar"
        )
        assert "Done" in status
        *_, status = client.predict("calm piano", api_name="/music")
        assert "Done" in status
        compared, _ = client.predict(
            "image",
            ["black-forest-labs/flux-schnell", "bytedance/seedream-4"],
            '{"prompt": "a fox"}',
            api_name="/compare",
        )
        assert [cell["status"] for cell in compared["cells"]] == ["succeeded", "succeeded"]
        card = client.predict("nightmareai/real-esrgan", api_name="/model_card")
        assert card["model"] == "nightmareai/real-esrgan"
        drawn = draw_history(app.url, client.session_hash)  # its cards, not the placeholder
        assert "generations in this browser" in drawn
    finally:
        client.close()


def test_agents_tool_calls_keep_the_loop_free(app: LaunchedApp, monitor: LoopMonitor) -> None:
    """The MCP entry point too: an image (its small picture read and encoded inline) and a chat,
    each a run of the core, with the loop watched throughout."""
    import asyncio

    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def calls() -> list[Any]:
        address = app.url.rstrip("/") + "/gradio_api/mcp/"
        async with Client(streamable_http_client(address)) as agent:  # type: ignore[arg-type]
            return [
                await agent.call_tool("generate_image", {"prompt": "a lighthouse"}),
                await agent.call_tool("chat", {"message": "Explain tides"}),
            ]

    image, answer = asyncio.run(calls())
    assert not image.is_error and any(block.type == "image" for block in image.content)
    assert not answer.is_error and any(block.type == "text" for block in answer.content)


def test_a_huge_fps_never_makes_another_visitor_wait(
    app: LaunchedApp, monitor: LoopMonitor, portrait: Path, tmp_path: Path
) -> None:
    """The face video is bounded (fps lowered with a note) and encoded off the loop: another
    visitor's page loads while it is made."""
    # Long enough that the face video (fps × seconds frames) is still being made when the other
    # visitor asks for the page: 300 frames.
    narration = _narration(tmp_path / "long.wav", 10.0)
    visitor, other = app.client(), app.client()
    try:
        job = visitor.submit(
            handle_file(str(portrait)),
            handle_file(str(narration)),
            AVATAR,
            '{"fps": 100000}',
            api_name="/avatar",
        )
        with httpx.Client(timeout=30, trust_env=False) as http:
            assert http.get(f"{app.url.rstrip('/')}/config").status_code == 200
        assert not job.done()  # the page answered while the face video was being made
        *_, status = job.result(timeout=120)
        assert "Done" in status and "fps 100000 was lowered to 30" in status
        other.predict("a lighthouse", api_name="/image")  # and the app keeps serving
    finally:
        visitor.close()
        other.close()


def test_a_50_mb_narration_is_refused_with_a_clear_message(
    app: LaunchedApp, monitor: LoopMonitor, portrait: Path, tmp_path: Path
) -> None:
    huge = tmp_path / f"{uuid.uuid4().hex[:6]}.wav"
    _narration(huge, 1.0)
    with huge.open("ab") as grown:  # 50 MB of samples past a short header's data
        grown.truncate(50 * 2**20)
    client = app.client()
    try:
        with pytest.raises(Exception, match=r"narration file is 50\.0 MB; the limit is 32 MB"):
            client.predict(
                handle_file(str(portrait)), handle_file(str(huge)), AVATAR, api_name="/avatar"
            )
        *_, status = client.predict("a lighthouse", api_name="/image")
        assert "Done" in status
    finally:
        client.close()
