"""The History tab: this session's generations, each downloadable and with the code to rerun it."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from ..snippets import curl_snippet, python_snippet
from .retention import duration_text
from .video import ANIMATED_IMAGE_SUFFIXES

_MEDIA = {"image": gr.Image, "video": gr.Video, "avatar": gr.Video, "music": gr.Audio}


def entry_snippets(entry: dict) -> tuple[str, str]:
    """The Python and curl calls that rerun this generation."""
    version = entry.get("version")
    # A community model run by name ran on a version; official models answer "hidden".
    pinned = None if not version or version == "hidden" or ":" in entry["model"] else version
    params = entry.get("params", {})
    return (
        python_snippet(entry["model"], params, pinned),
        curl_snippet(entry["model"], params, pinned),
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
    """A small view of the first output (none for a chat answer)."""
    files = entry.get("files") or []
    media = _MEDIA.get(entry["kind"])
    if not files or media is None:
        return
    if Path(files[0]).suffix.lower() in ANIMATED_IMAGE_SUFFIXES:
        media = gr.Image  # a clip returned as an animated image plays in an <img>, not a <video>
    # An audio player needs room for its controls; a picture or clip fits a small tile.
    width = 300 if media is gr.Audio else 180
    with gr.Column(scale=0, min_width=width, elem_classes=["nl-thumb"]):
        if media is gr.Image:
            gr.Image(
                files[0], show_label=False, height=120, buttons=["fullscreen"], key=f"{key}-img"
            )
        elif media is gr.Video:
            gr.Video(files[0], show_label=False, height=120, key=f"{key}-video")
        else:
            gr.Audio(files[0], show_label=False, key=f"{key}-audio")


def entry_card(entry: dict, index: int) -> None:
    """One generation as a compact card: a thumbnail and summary, details and code on demand."""
    # Keys follow the generation, not its position: a new entry shifts every index.
    key = f"h-{entry.get('prediction_id') or index}"
    with gr.Group(elem_classes=["nl-card"], key=f"{key}-card"):
        with gr.Row(equal_height=False):
            _thumbnail(entry, key)
            with gr.Column(scale=4, min_width=200):
                gr.Markdown(entry_summary(entry), padding=True, key=f"{key}-summary")
        with gr.Accordion("Details, downloads and code", open=False, key=f"{key}-details"):
            gr.Markdown(entry_details(entry), key=f"{key}-params")
            files = entry.get("files") or []
            downloads = [*files, *([entry["prompt_file"]] if entry.get("prompt_file") else [])]
            if downloads:
                gr.File(downloads, label="Download", key=f"{key}-files")
            python, curl = entry_snippets(entry)
            gr.Code(python, language="python", label="Python (httpx)", key=f"{key}-py")
            gr.Code(curl, language="shell", label="curl", key=f"{key}-curl")


def build_history_panel(generations: gr.State, output_ttl: float = 86400.0) -> None:
    gr.Markdown(
        "Everything generated in this browser session, newest first. Outputs are kept on this "
        f"server for {duration_text(output_ttl)}, then removed (Replicate deletes its copies "
        "after an hour); download what you want to keep."
    )

    @gr.render(inputs=[generations])
    def render_history(entries: list[dict] | None) -> None:
        if not entries:
            gr.Markdown("*Nothing yet: generate something in another tab.*")
            return
        for index, entry in enumerate(entries):
            entry_card(entry, index)
