"""The History tab: this session's generations, each downloadable and with the code to rerun it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from ..snippets import curl_snippet, python_snippet
from .retention import duration_text

_MEDIA = {"image": gr.Image, "video": gr.Video, "avatar": gr.Video, "music": gr.Audio}
MAX_HISTORY = 50


@dataclass
class HistoryLog:
    """This session's generations, newest first.

    One object per session (a `gr.State` default is deep-copied per session, and Gradio hands
    a State's value to events by reference), so panels running at the same time each add their
    entry to the same log and none overwrites another's. Panels never output the log itself:
    a private step after each of their events outputs `count`, whose change re-renders History.
    """

    entries: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0  # generations ever recorded in this session; numbers the next entry

    def add(self, entry: dict[str, Any]) -> int:
        """Record `entry` as the newest generation; returns the new count."""
        self.entries.insert(0, {**entry, "number": self.count})
        del self.entries[MAX_HISTORY:]
        self.count += 1
        return self.count


@dataclass(frozen=True)
class HistoryHandles:
    """What a panel wires to record a generation: the log (an input) and its counter."""

    log: gr.State
    count: gr.Number


def refresh_after(event: Any, history: HistoryHandles) -> None:
    """When a panel's event has ended, its new entry (if any) shows in History: the count
    changes, which re-renders the tab. A separate private step, so the panels' API results and
    their streamed updates carry nothing of History."""
    event.then(
        lambda log: log.count if log else 0,
        [history.log],
        [history.count],
        api_visibility="private",
        queue=False,
        show_progress="hidden",
    )


def history_state(time_to_live: float | None = None) -> HistoryHandles:
    return HistoryHandles(
        log=gr.State(HistoryLog(), time_to_live=time_to_live),
        count=gr.Number(value=0, visible="hidden", label="Generations", interactive=False),
    )


def entry_snippets(entry: dict) -> tuple[str, str]:
    """The Python and curl calls that rerun this generation."""
    version = entry.get("version")
    # A community model run by name ran on a version; official models answer "hidden".
    pinned = None if not version or version == "hidden" or ":" in entry["model"] else version
    params = entry.get("params", {})
    files = entry.get("file_fields", ())
    return (
        python_snippet(entry["model"], params, pinned, files),
        curl_snippet(entry["model"], params, pinned, files),
    )


_ICONS = {"chat": "💬", "image": "🖼️", "video": "🎬", "avatar": "🗣️", "music": "🎵"}
PREVIEW_CHARS = 160


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def entry_summary(entry: dict) -> str:
    """A card's always-visible lines: what, when, which model, how long, and the prompt's start."""
    kind = entry["kind"]
    timing = (
        f"predict {entry['predict_time']:.2f} s · " if entry.get("predict_time") is not None else ""
    )
    lines = [
        f"**{_ICONS.get(kind, '')} {kind.capitalize()}** · {entry['created']} · "
        f"`{entry['model']}` · {timing}total {entry.get('wall_time', 0):.2f} s"
    ]
    if entry.get("prompt"):
        shortened = " *(shortened: the full text is the .txt in the details)*"
        lines.append(
            _clip(entry["prompt"], PREVIEW_CHARS) + (shortened if entry.get("prompt_file") else "")
        )
    if entry.get("text") and not entry.get("files"):
        lines.append(f"→ {_clip(entry['text'], PREVIEW_CHARS)}")
    more = len(entry.get("files") or []) - 1
    if more > 0:
        lines.append(f"+{more} more in the details")
    return "\n\n".join(lines)


def entry_details(entry: dict) -> str:
    """What the card's Details show in full: the prompt, the answer, the exact input sent."""
    pinned = entry.get("version") not in (None, "", "hidden")
    version = f"Version `{entry['version']}`\n\n" if pinned else ""
    params = json.dumps(entry.get("params", {}), ensure_ascii=False, indent=1)
    if len(params) > 4000:
        params = params[:4000] + "…"
    answer = f"**Answer**\n\n{entry['text'][:2000]}\n\n" if entry.get("text") else ""
    return f"{version}{answer}**Input sent**\n```json\n{params}\n```"


def _thumbnail(entry: dict, key: str) -> None:
    """A small view of the first output: the same three players in every card, unused ones
    hidden (a chat answer shows none). Gradio's browser code reuses the component at a position
    when it re-renders the (hidden) History tab: a Gallery or Image whose place went to an Audio
    was handed the audio's value (`M(...).map is not a function`)."""
    from .video import ANIMATED_IMAGE_SUFFIXES  # here: the panels import this module

    files = entry.get("files") or []
    media = _MEDIA.get(entry["kind"]) if files else None
    if media is not None and Path(files[0]).suffix.lower() in ANIMATED_IMAGE_SUFFIXES:
        media = gr.Image  # a clip returned as an animated image plays in an <img>, not a <video>
    first = files[0] if files else None
    # An audio player needs room for its controls; a picture or clip fits a small tile.
    width = 300 if media is gr.Audio else 180
    with gr.Column(scale=0, min_width=width, elem_classes=["nl-thumb"], visible=media is not None):
        gr.Image(
            first if media is gr.Image else None,
            show_label=False,
            height=120,
            buttons=["fullscreen"],
            visible=media is gr.Image,
            key=f"{key}-img",
        )
        gr.Video(
            first if media is gr.Video else None,
            show_label=False,
            height=120,
            visible=media is gr.Video,
            key=f"{key}-video",
        )
        gr.Audio(
            first if media is gr.Audio else None,
            show_label=False,
            visible=media is gr.Audio,
            key=f"{key}-audio",
        )


def entry_card(entry: dict, index: int) -> None:
    """One generation as a compact card: a thumbnail and summary, details and code on demand."""
    # Keys follow the generation, not its position: a new entry shifts every index.
    # (Gradio keeps every key it has seen: the session's number keeps that set bounded.)
    key = f"h-{entry.get('number', index)}"
    with gr.Group(elem_classes=["nl-card"], key=f"{key}-card"):
        with gr.Row(equal_height=False):
            _thumbnail(entry, key)
            with gr.Column(scale=4, min_width=200):
                gr.Markdown(entry_summary(entry), padding=True, key=f"{key}-summary")
        with gr.Accordion("Details, downloads and code", open=False, key=f"{key}-details"):
            gr.Markdown(entry_details(entry), key=f"{key}-params")
            files = entry.get("files") or []
            downloads = [*files, *([entry["prompt_file"]] if entry.get("prompt_file") else [])]
            gr.File(
                downloads or None, label="Download", visible=bool(downloads), key=f"{key}-files"
            )
            python, curl = entry_snippets(entry)
            gr.Code(python, language="python", label="Python (httpx)", key=f"{key}-py")
            gr.Code(curl, language="shell", label="curl", key=f"{key}-curl")


def history_summary(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "*Nothing yet: generate something in another tab.*"
    return f"{len(entries)} generation{'s' if len(entries) != 1 else ''} in this session."


def build_history_panel(history: HistoryHandles, tab: gr.Tab, output_ttl: float = 86400.0) -> None:
    gr.Markdown(
        "Everything generated in this browser session, newest first. Outputs are kept on this "
        f"server for {duration_text(output_ttl)}, then removed (Replicate deletes its copies "
        "after an hour); download what you want to keep."
    )

    # Rendered when the tab opens and when a generation is recorded; not on page load, when the
    # Advanced forms render. One render at a time (see common.RENDER_ONE_AT_A_TIME).
    @gr.render(
        inputs=[history.log],
        triggers=[tab.select, history.count.change],
        concurrency_limit=1,
        concurrency_id="render",
    )
    def render_history(log: HistoryLog | None) -> None:
        entries = log.entries if log else []
        gr.Markdown(history_summary(entries))  # always first: the cards' positions never shift
        for index, entry in enumerate(entries):
            entry_card(entry, index)
