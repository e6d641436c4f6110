"""An agent's session with the playground's MCP server: list the tools, make an image, open
the share link it returns.

    python scripts/mcp_demo.py                      # starts the app on the built-in simulator
    python scripts/mcp_demo.py --url http://127.0.0.1:7860/gradio_api/mcp/
    REPLICATE_API_TOKEN=r8_… python scripts/mcp_demo.py --url … --own-token   # your token pays

It uses the `mcp` Python SDK's client over Streamable HTTP, as Claude Desktop, Cursor or an
smolagents agent would; with no --url it launches the app in this process on a free loopback port
with no token, so every run goes to the free built-in simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def launch() -> tuple[Any, str]:
    """The app on the built-in simulator, on a free loopback port (no token: nothing is billed)."""
    os.environ.pop("REPLICATE_API_TOKEN", None)
    from neurolink_ui.config import Settings
    from neurolink_ui.ui.app import build_app, launch_options

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = build_app(Settings.from_env())
    _, url, _ = demo.launch(
        prevent_thread_lock=True,
        quiet=True,
        server_name="127.0.0.1",
        server_port=port,
        _frontend=False,
        **launch_options(demo.neurolink_context),
    )
    return demo, url.rstrip("/") + "/gradio_api/mcp/"


async def session(url: str, headers: dict[str, str], prompt: str) -> int:
    started = time.monotonic()
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=600))
    async with Client(streamable_http_client(url, http_client=http)) as client:
        print(f"connected to {url} (protocol {client.protocol_version})")
        listed = await client.list_tools()
        print(f"{len(listed.tools)} tools:")
        for tool in listed.tools:
            required = tool.input_schema.get("required", [])
            print(f"  {tool.name:16} {tool.title or ''} (required: {', '.join(required)})")

        async def progress(value: float, total: float | None, message: str | None) -> None:
            line = (message or "").splitlines()[0] if message else ""
            print(f"  progress {value:5.1f}/{total or 0:.0f}  {line}")

        print(f"\ncalling generate_image: {prompt!r}")
        result = await client.call_tool(
            "generate_image",
            {"prompt": prompt, "aspect_ratio": "1:1"},
            progress_callback=progress,
        )
        if result.is_error:
            print("tool error:", " ".join(getattr(c, "text", "") for c in result.content))
            return 1
        for block in result.content:
            if block.type == "text":
                print("text:", block.text.replace("\n", "\n      "))
            elif block.type == "image":
                print(f"image: inline {block.mime_type}, {len(block.data) * 3 // 4:,} bytes")
            elif block.type == "resource_link":
                print(f"file: {block.uri} ({block.mime_type}, {block.size:,} bytes)")
        data = result.structured_content or {}
        share = data.get("share_url")
        print(
            f"\nmodel {data.get('model')} · version {str(data.get('version'))[:12]} · "
            f"predict {data.get('predict_time')} s"
        )
        if not share:
            print("no share link:", data)
            return 1
        page = await asyncio.to_thread(httpx.get, share, timeout=30, follow_redirects=True)
        print(
            f"share link {share} → HTTP {page.status_code}, {len(page.content):,} bytes, "
            f"title: {_title(page.text)!r}"
        )
        first = data["files"][0]["url"]
        image = await asyncio.to_thread(httpx.get, first, timeout=30)
        print(
            f"image file → HTTP {image.status_code}, {image.headers.get('content-type')}, "
            f"{len(image.content):,} bytes"
        )
        print(f"done in {time.monotonic() - started:.1f} s")
        return 0 if page.status_code == 200 and image.status_code == 200 else 1


def _title(html: str) -> str:
    start = html.find("<title>")
    end = html.find("</title>", start)
    return html[start + 7 : end] if start >= 0 and end > start else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="the app's MCP address (default: launch the app here)")
    parser.add_argument(
        "--own-token", action="store_true", help="send REPLICATE_API_TOKEN as X-Replicate-Token"
    )
    parser.add_argument("--prompt", default="a lighthouse on a cliff at dusk, watercolour")
    args = parser.parse_args()
    headers: dict[str, str] = {}
    if args.own_token:
        headers["X-Replicate-Token"] = os.environ["REPLICATE_API_TOKEN"]
    demo = None
    url = args.url
    if url is None:
        demo, url = launch()
    try:
        return asyncio.run(session(url, headers, args.prompt))
    finally:
        if demo is not None:
            demo.close()


if __name__ == "__main__":
    raise SystemExit(main())
