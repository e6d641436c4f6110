"""The real `mcp` SDK client against an app launched on loopback (shared by tests/mcp/)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
from helpers import free_port
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from neurolink_ui.config import Settings
from neurolink_ui.ui.app import build_app, launch_options
from neurolink_ui.ui.context import AppContext

MCP = "/gradio_api/mcp/"


class McpApp:
    """`build_app()` + `launch(**launch_options())` as app.py serves it, with its MCP address."""

    def __init__(self, settings: Settings, outputs: Path) -> None:
        self.ctx = AppContext.create(settings, outputs_dir=outputs)
        self.demo = build_app(ctx=self.ctx)
        _, url, _ = self.demo.launch(
            prevent_thread_lock=True,
            quiet=True,
            server_name="127.0.0.1",
            server_port=free_port(),
            _frontend=False,
            **launch_options(self.ctx),
        )
        self.url = url.rstrip("/")
        self.mcp = self.url + MCP

    def close(self) -> None:
        self.demo.close()


@contextlib.asynccontextmanager
async def connect(
    url: str, headers: dict[str, str] | None = None, mode: str = "auto"
) -> AsyncIterator[Client]:
    """An agent's connection over Streamable HTTP (`mode`: "auto" negotiates the newest
    protocol, "legacy" the initialize handshake most clients in the field speak)."""
    http = httpx2.AsyncClient(headers=headers or {}, timeout=httpx2.Timeout(30, read=300))
    async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:  # type: ignore[arg-type]
        yield client


@contextlib.asynccontextmanager
async def connect_sse(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[Client]:
    """An agent's connection over the older HTTP+SSE transport."""
    async with Client(sse_client(url, headers=headers), mode="legacy") as client:  # type: ignore[arg-type]
        yield client


def texts(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


async def get(url: str) -> httpx.Response:
    """A plain HTTP GET (a share link, a file link), off the test's event loop."""
    return await asyncio.to_thread(httpx.get, url, timeout=30)
