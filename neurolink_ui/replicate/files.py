"""File inputs: bytes, paths, PIL images and file objects become URLs a model accepts.

Small files (≤ 256 KB, Replicate's guidance for one-off inputs) go inline as a data: URL; larger
ones are uploaded with POST /v1/files and passed by their `urls.get`.
"""

from __future__ import annotations

import base64
import io
import mimetypes
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .outputs import sniff_type

DATA_URL_LIMIT = 256 * 1024

Uploader = Callable[[bytes, str, str], Awaitable[str]]  # (data, filename, content_type) → url


@dataclass(frozen=True)
class FileValue:
    data: bytes
    filename: str
    content_type: str


def guess_content_type(data: bytes, filename: str | None = None) -> str:
    """The MIME type from the magic bytes, else from the file name, else octet-stream."""
    sniffed = sniff_type(data[:64])
    if sniffed is not None:
        return sniffed.mime
    if filename:
        guessed, _ = mimetypes.guess_type(filename)
        if guessed:
            return guessed
    return "application/octet-stream"


def to_data_url(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def _is_pil_image(value: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        return False
    return isinstance(value, Image.Image)


def as_file_value(value: Any) -> FileValue | None:
    """The file behind an input value, or None for values that are not files (strings too)."""
    if isinstance(value, str):
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return FileValue(data, "upload", guess_content_type(data))
    if isinstance(value, os.PathLike):
        path = Path(os.fspath(value))
        data = path.read_bytes()
        return FileValue(data, path.name, guess_content_type(data, path.name))
    if _is_pil_image(value):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return FileValue(buffer.getvalue(), "image.png", "image/png")
    read = getattr(value, "read", None)
    if callable(read):
        content = read()
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        name = Path(str(getattr(value, "name", "") or "upload")).name
        return FileValue(data, name, guess_content_type(data, name))
    return None


async def prepare_value(value: Any, upload: Uploader, limit: int = DATA_URL_LIMIT) -> Any:
    file = as_file_value(value)
    if file is not None:
        if len(file.data) <= limit:
            return to_data_url(file.data, file.content_type)
        return await upload(file.data, file.filename, file.content_type)
    if isinstance(value, list | tuple):
        return [await prepare_value(item, upload, limit) for item in value]
    return value


async def prepare_input(
    input: dict[str, Any], upload: Uploader, limit: int = DATA_URL_LIMIT
) -> dict[str, Any]:
    """A copy of `input` with every file value turned into a data: URL or an uploaded URL."""
    return {key: await prepare_value(value, upload, limit) for key, value in input.items()}
