"""Explore's pure parts: search results as JSON and HTML cards, the model card, examples and the
input JSON a form change leaves. No Gradio: `ui/explore.py` wires them to the page and the API."""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...modalities.common import InputProblem
from ...modalities.forms import FormField
from ...modalities.generic import (
    OutputPlan,
    PanelName,
    fit_example,
    fitting_panel,
    output_plan,
    run_form,
)
from ...modalities.registry import get_modality
from ...replicate import discovery
from ...replicate.client import ReplicateClient
from ...replicate.errors import ReplicateError
from ...replicate.schema import InputSchema, ModelInfo
from ...replicate.types import ModelExample
from ..forms import collect_form
from ..inert import as_text
from ..readme import safe_image

MAX_QUERY_CHARS = discovery.MAX_QUERY_CHARS
MAX_COVER_BYTES = 2 * 1024 * 1024  # a card's picture is 72 px: a big one is not worth it


def panel_label(panel: PanelName) -> str:
    """The tab a model opens in, as its tab reads (the registry's icon and title)."""
    modality = get_modality(panel)
    return f"{modality.icon} {modality.title}"


# ---- search and collections ------------------------------------------------------------------


def summary_json(model: discovery.ModelSummary) -> dict[str, Any]:
    """One result as the page's cards and API callers get it (plain JSON)."""
    return {
        "model": str(model.ref),
        "description": model.description,
        "run_count": model.run_count,
        "is_official": model.is_official,
        "cover_image_url": model.cover_image_url,
        "url": model.url,
        "tags": list(model.tags),
        "score": model.score,
    }


def checked_query(query: Any) -> str:
    """The search text, or a clear refusal (empty, too long, not text)."""
    if not isinstance(query, str) or not query.strip():
        raise InputProblem("Type something to search for: a model name, a task or a word.")
    if len(query) > MAX_QUERY_CHARS:
        raise InputProblem(
            f"The search is {len(query):,} characters long; keep it under {MAX_QUERY_CHARS} "
            "(a few words work best)."
        )
    return query.strip()


def _runs(count: int | None) -> str:
    if count is None:
        return ""
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M runs"
    if count >= 1_000:
        return f"{count / 1_000:.1f}k runs"
    return f"{count} runs"


async def local_covers(
    client: ReplicateClient, results: list[dict[str, Any]], folder: Path
) -> None:
    """Covers the page may not load itself (not https: the API's own origin, such as the
    simulator's) fetched by the server through the client's guarded download (its URL policy,
    the image size cap, sniffed bytes) into the session's folder, to be served from the app's
    own origin as `cover_file`. A cover that fails is simply not shown."""

    async def fetch(result: dict[str, Any]) -> None:
        try:
            files = await client.download_outputs(
                result["cover_image_url"], folder / "covers", kind="image", max_files=1,
                max_bytes=MAX_COVER_BYTES,
            )  # fmt: skip
        except ReplicateError:
            return
        if files:
            result["cover_file"] = str(files[0])

    wanted = [
        r for r in results if r.get("cover_image_url") and not safe_image(r["cover_image_url"])
    ]
    await asyncio.gather(*(fetch(result) for result in wanted))


def card_html(result: Mapping[str, Any]) -> str:
    """One result card; every text escaped, the cover only when it is https or a file this app
    serves (no other URL ever reaches the page)."""
    cover = str(result.get("cover_image_url") or "")
    local = str(result.get("cover_file") or "")
    source = cover if cover and safe_image(cover) else f"/gradio_api/file={local}" if local else ""
    image = (
        f'<img class="nl-cover" src="{html.escape(source)}" alt="" loading="lazy" '
        'referrerpolicy="no-referrer">'
        if source
        else '<div class="nl-cover nl-cover-none">🧩</div>'
    )
    badge = '<span class="nl-badge">official</span>' if result.get("is_official") else ""
    description = str(result.get("description") or "")
    if len(description) > 220:
        description = description[:219] + "…"
    runs = _runs(result.get("run_count"))
    return (
        f'<div class="nl-result">{image}<div class="nl-result-text">'
        f"<b>{html.escape(str(result.get('model', '')))}</b> {badge}"
        f"<div>{html.escape(description)}</div>"
        f'<div class="nl-runs">{html.escape(runs)}</div></div></div>'
    )


# ---- the model card ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCard:
    """What the page shows of one model before running it."""

    ref: str
    description: str
    version_id: str | None
    is_official: bool
    panel: PanelName | None
    plan: OutputPlan
    form: list[FormField]
    form_note: str
    example_input: dict[str, Any]
    example_note: str

    def markdown(self) -> str:
        kind = {"files": "files", "text": "text", "json": "JSON"}[self.plan]
        official = " · official" if self.is_official else ""
        version = f"`{self.version_id[:12]}…`" if self.version_id else "*(hidden: official model)*"
        lines = [
            f"### {self.ref}{official}",
            _escape_md(self.description) or "*No description.*",
            f"Version {version} · returns {kind} · {len(self.form)} inputs in the form",
        ]
        if self.panel:
            lines.append(f"Fits the **{panel_label(self.panel)}** panel.")
        return "\n\n".join(lines)

    def api_json(self) -> dict[str, Any]:
        return {
            "model": self.ref,
            "description": self.description,
            "version": self.version_id,
            "is_official": self.is_official,
            "panel": self.panel,
            "output": self.plan,
            "fields": [spec.name for spec in self.form],
            "form_note": self.form_note,
            "example_input": self.example_input,
            "example_note": self.example_note,
        }


def _escape_md(text: str) -> str:
    """A description as plain text in Markdown: every Markdown and HTML character escaped (a
    backslash too, so `\\[x](y)` cannot undo the bracket's escape): no links, images or HTML."""
    return as_text(text)


def model_card(info: ModelInfo) -> ModelCard:
    form = run_form(info.input_schema)
    example = fit_example(info.input_schema, info.example_input)
    return ModelCard(
        ref=info.ref,
        description=info.description,
        version_id=info.version_id,
        is_official=info.is_official,
        panel=fitting_panel(info.input_schema, info.output_schema, info.description),
        plan=output_plan(info.output_schema),
        form=list(form.fields),
        form_note=form.note,
        example_input=example.input,
        example_note=example.note,
    )


def example_label(index: int, example: ModelExample) -> str:
    """How an example is listed: its number and the start of its first text value (files and
    URLs are named by their field)."""
    words: list[str] = []
    for name, value in example.input.items():
        if isinstance(value, str) and value.startswith(("data:", "http://", "https://")):
            words.append(f"[{name}]")
        elif isinstance(value, str) and value.strip():
            words.append(" ".join(value.split()))
            break
    text = " ".join(words)
    return f"Example {index + 1}: {text[:80]}{'…' if len(text) > 80 else ''}"


def merged_input(current: str, fields: list[FormField], values: list[Any]) -> str:
    """The input JSON after a form change: the form's fields as they now stand (blank or the
    model's default: left out), every other key kept (what was set in the JSON box)."""
    try:
        kept = json.loads(current) if current else {}
    except json.JSONDecodeError:
        kept = {}
    if not isinstance(kept, dict):
        kept = {}
    names = {spec.name for spec in fields}
    merged = {k: v for k, v in kept.items() if k not in names}
    merged.update(collect_form(fields, values))
    return json.dumps(merged, default=str)


PROMPT_KEYS = ("prompt", "text", "message", "query")


def typed_prompt(model_input: Mapping[str, Any]) -> str | None:
    """The input's prompt: its first text value of those a prompt goes by (None: none)."""
    for key in PROMPT_KEYS:
        value = model_input.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def history_prompt(model_input: Mapping[str, Any]) -> str:
    """What History shows as a run's prompt: the first text value, else the input as JSON."""
    prompt = typed_prompt(model_input)
    return prompt if prompt is not None else json.dumps(model_input, default=str)[:1000]


REMIXED_NOTE = "The shared run's input is filled in: press Run to run it again."


def _is_file_placeholder(value: Any) -> bool:
    """A recorded file (`<file x.png>`, a shortened `data:` URL): not a value to send again."""
    if isinstance(value, list):
        return any(_is_file_placeholder(item) for item in value)
    return isinstance(value, str) and (
        value.startswith("<file ") or (value.startswith("data:") and value.endswith(",…"))
    )


def remixed_input(schema: InputSchema, stored: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """A shared Explore run's input for the model as it is now, and a note: the values its schema
    still takes; files (recorded as placeholders) and values it refuses are named, not sent."""
    files = [str(name) for name, value in stored.items() if _is_file_placeholder(value)]
    fitted = fit_example(schema, {k: v for k, v in stored.items() if k not in files})
    notes = [REMIXED_NOTE]
    if files:
        named = ", ".join(f"`{name}`" for name in files[:8])
        notes.append(f"Files are not carried over: give {named} again (a URL or an upload).")
    if fitted.problems:
        notes.append(
            "⚠️ The model's inputs have changed since; loaded what fits. "
            + "; ".join(fitted.problems[:8])
            + "."
        )
    return fitted.input, "\n\n".join(notes)
