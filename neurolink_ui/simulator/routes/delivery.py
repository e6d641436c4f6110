"""Delivery: output files at `/delivery/<token>/<name>` on the simulator's own origin.

Served in chunks with their `Content-Type`; the config can delay them (`output_delay`), make them
404 (`missing_outputs`) or pad them (`output_padding`, inside a trailing MP4 `free` box) so big
outputs exist without memory.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncGenerator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .common import not_found, sim_state

DELIVERY_CHUNK = 64 * 1024


def mp4_free_box_header(padding: int) -> bytes:
    """Header of a trailing `free` box whose total size (header included) is `padding` bytes.

    Uses the 64-bit `largesize` form when the box does not fit a 32-bit size.
    """
    if padding <= 0xFFFFFFFF:
        return struct.pack(">I4s", padding, b"free")
    return struct.pack(">I4sQ", 1, b"free", padding)


def effective_padding(content_type: str, name: str, padding: int) -> int:
    """MP4 padding must hold at least a box header (8 bytes, 16 for largesize)."""
    if padding and is_mp4(content_type, name):
        return max(padding, 8 if padding <= 0xFFFFFFFF else 16)
    return padding


def is_mp4(content_type: str, name: str) -> bool:
    return content_type == "video/mp4" or name.lower().endswith(".mp4")


async def deliver(request: Request) -> Response:
    state = sim_state(request)
    item = state.deliveries.get(request.path_params["token"])
    config = state.config
    if config.output_delay:
        await asyncio.sleep(config.output_delay)
    if item is None or item.file.name != request.path_params["name"] or config.missing_outputs:
        raise not_found("Not found.")
    output = item.file
    padding = effective_padding(output.content_type, output.name, config.output_padding)
    trailer = (
        mp4_free_box_header(padding)
        if padding and is_mp4(output.content_type, output.name)
        else b""
    )
    if request.method == "HEAD":  # headers only: never generate the (maybe huge) body
        return Response(
            media_type=output.content_type,
            headers={"Content-Length": str(len(output.data) + padding)},
        )
    return StreamingResponse(
        _delivery_chunks(output.data, trailer, padding),
        media_type=output.content_type,
        headers={
            "Content-Length": str(len(output.data) + padding),
            "Cache-Control": "public, max-age=3600",
        },
    )


async def _delivery_chunks(
    data: bytes, trailer: bytes, padding: int
) -> AsyncGenerator[bytes, None]:
    for offset in range(0, len(data), DELIVERY_CHUNK):
        yield data[offset : offset + DELIVERY_CHUNK]
    if not padding:
        return
    if trailer:
        yield trailer
    remaining = padding - len(trailer)
    zeros = bytes(DELIVERY_CHUNK)
    while remaining > 0:
        size = min(DELIVERY_CHUNK, remaining)
        yield zeros if size == DELIVERY_CHUNK else bytes(size)
        remaining -= size


routes = [Route("/delivery/{token}/{name:path}", deliver, methods=["GET", "HEAD"])]
