"""A finished run as MCP content: its text, its files (small images inline, every file as a
link), a lasting share link, and the run's model, version, times, cost and notes — as text an
agent reads and as structured content a program reads. No Gradio.
"""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import mcp_types as types

from ..costs import CostEstimate, cost_text

INLINE_IMAGE_BYTES = 768 * 1024  # an image at most this big is also sent inline (base64)
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
MAX_TEXT_CHARS = 200_000  # a model's text as an agent receives it (the share link has it all)


def file_url(base: str, path: Path) -> str:
    """Where the app serves a kept (or session) file: Gradio's file route, by absolute path."""
    return f"{base}/gradio_api/file={quote(str(path))}"


def mime_of(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


@dataclass
class RunReport:
    """What one finished run tells an agent (a tool's result before it becomes MCP content)."""

    model: str
    version: str | None = None
    text: str = ""
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    predict_time: float | None = None
    total_time: float | None = None
    prediction_id: str = ""
    share_url: str | None = None
    share_note: str = ""  # why there is no share link, when there is none
    cost: CostEstimate | None = None
    simulated: bool = False
    label: str = ""  # a compare cell's label ("Model A")

    def summary(self) -> str:
        name = f"{self.label} · {self.model}" if self.label else self.model
        parts = [f"✅ {name}"]
        if self.version:
            parts.append(f"version {self.version[:12]}")
        if self.predict_time is not None:
            parts.append(f"predict time {self.predict_time:.2f} s")
        if self.total_time is not None:
            parts.append(f"total {self.total_time:.2f} s")
        if self.cost is not None:
            parts.append(cost_text(self.cost, self.simulated))
        if self.simulated:
            parts.append("simulator (synthetic output)")
        lines = [" · ".join(parts)]
        if self.share_url:
            lines.append(f"Share link (lasting): {self.share_url}")
        elif self.share_note:
            lines.append(self.share_note)
        lines.extend(f"Note: {note}" for note in self.notes)
        return "\n".join(lines)

    def structured(self, base: str) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "prediction_id": self.prediction_id or None,
            "predict_time": self.predict_time,
            "total_time": self.total_time,
            "text": self.text[:MAX_TEXT_CHARS] if self.text else None,
            "files": [
                {
                    "url": file_url(base, path),
                    "name": path.name,
                    "mime_type": mime_of(path),
                    "size": _size(path),
                }
                for path in self.files
            ],
            "share_url": self.share_url,
            "cost_usd": self.cost.usd if self.cost is not None else None,
            "cost_basis": self.cost.basis if self.cost is not None else None,
            "simulated": self.simulated,
            "notes": list(self.notes),
        }


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def file_blocks(base: str, files: list[Path]) -> list[types.ContentBlock]:
    """Each file as a link; a small image also inline."""
    blocks: list[types.ContentBlock] = []
    for path in files:
        mime = mime_of(path)
        size = _size(path)
        if mime in INLINE_TYPES and size is not None and size <= INLINE_IMAGE_BYTES:
            try:
                data = base64.b64encode(path.read_bytes()).decode("ascii")
            except OSError:
                data = ""
            if data:
                blocks.append(types.ImageContent(data=data, mime_type=mime))
        blocks.append(
            types.ResourceLink(
                uri=file_url(base, path),
                name=path.name,
                mime_type=mime,
                size=size,
                description="Output file (kept with the shared result)",
            )
        )
    return blocks


def run_result(base: str, report: RunReport) -> types.CallToolResult:
    """A finished run as the tool's result."""
    content: list[types.ContentBlock] = []
    if report.text:
        text = report.text
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS] + "\n… (cut here; the share link has the whole text)"
        content.append(types.TextContent(text=text))
    content.extend(file_blocks(base, report.files))
    content.append(types.TextContent(text=report.summary()))
    return types.CallToolResult(content=content, structured_content=report.structured(base))


def compare_result(
    base: str, reports: list[RunReport], failures: list[str], share: str | None, note: str
) -> types.CallToolResult:
    """A compare's cells, each as a run's result would be, then the whole board's share link."""
    content: list[types.ContentBlock] = []
    for report in reports:
        if report.text:
            content.append(
                types.TextContent(text=f"{report.label} · {report.model}:\n{report.text}")
            )
        content.extend(file_blocks(base, report.files))
        content.append(types.TextContent(text=report.summary()))
    content.extend(types.TextContent(text=line) for line in failures)
    content.append(
        types.TextContent(
            text=f"Share link for the whole comparison (lasting): {share}" if share else note
        )
    )
    return types.CallToolResult(
        content=content,
        structured_content={
            "cells": [report.structured(base) for report in reports],
            "failures": failures,
            "share_url": share,
        },
        is_error=not reports,
    )


def error_result(message: str, title: str = "") -> types.CallToolResult:
    """A refusal or failure an agent reads: what happened, and what to do."""
    text = f"{title}: {message}" if title and not message.startswith(title) else message
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)
