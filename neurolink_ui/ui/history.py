"""The History tab: this session's generations, each downloadable and with the code to rerun it."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from ..modalities.generic import file_category
from ..results import NewResult, ResultStore, StoredResult, new_history_id, valid_history_id
from ..results.store import PROMPT_FILE_CHARS
from ..snippets import curl_snippet, python_snippet
from .retention import duration_text

_MEDIA = {"image": gr.Image, "video": gr.Video, "avatar": gr.Video, "music": gr.Audio}
_BY_CATEGORY = {"image": gr.Image, "video": gr.Video, "audio": gr.Audio}
MAX_HISTORY = 50
log = logging.getLogger("neurolink_ui.ui")


@dataclass
class HistoryLog:
    """This browser's generations, newest first, kept in the app's ResultStore.

    One object per session (a `gr.State` default is deep-copied per session — the store is
    shared, never copied — and Gradio hands a State's value to events by reference), so panels
    running at the same time each add their entry and none overwrites another's. Panels never
    output the log itself: a private step after each of their events outputs `count`, whose
    change re-renders History.

    `history_id` is the browser's History id (BrowserState, checked at page load); a session
    without one (an API client) gets a fresh one at its first generation. Without a store
    (handlers called directly), entries stay in `entries` for the session's life.
    """

    store: ResultStore | None = None
    history_id: str | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0  # changes at every add, delete and clear: History re-renders
    last_kept: str | None = None  # the id of the result the latest add kept (None: not kept)

    def add(self, entry: dict[str, Any]) -> int:
        """Record `entry` as the newest generation; returns the new count."""
        kept = None
        if self.store is not None:
            if self.history_id is None:
                self.history_id = new_history_id()
            try:
                kept = self.store.add(self.history_id, new_result(entry))
            except (OSError, ValueError, sqlite3.Error):
                # The outputs are still in the session's folder: shown from there for now.
                log.exception("could not keep a result; it stays in this session only")
        if kept is None:
            self.entries.insert(0, {**entry, "number": self.count})
            del self.entries[MAX_HISTORY:]
        self.last_kept = kept.id if kept is not None else None
        self.count += 1
        return self.count

    def shown(self) -> list[dict[str, Any]]:
        """What History shows: the kept results, then this session's unkept ones."""
        kept: list[dict[str, Any]] = []
        if self.store is not None and self.history_id is not None:
            kept = [stored_entry(r) for r in self.store.list(self.history_id, MAX_HISTORY)]
        return sorted([*kept, *self.entries], key=lambda e: e.get("created_at", 0.0), reverse=True)[
            :MAX_HISTORY
        ]

    def delete(self, result_id: str) -> bool:
        removed = False
        if self.store is not None and self.history_id is not None:
            removed = self.store.delete(self.history_id, result_id)
        self.count += 1
        return removed

    def clear(self) -> int:
        removed = len(self.entries)
        self.entries.clear()
        if self.store is not None and self.history_id is not None:
            removed += self.store.clear(self.history_id)
        self.count += 1
        return removed

    def share(self, result_id: str) -> str | None:
        if self.store is None or self.history_id is None:
            return None
        return self.store.share(self.history_id, result_id)


def new_result(entry: dict[str, Any]) -> NewResult:
    """A recorded entry (see common.history_entry) as the store keeps it: the full prompt and
    input, the files themselves."""
    return NewResult(
        kind=str(entry["kind"]),
        model=str(entry["model"]),
        version=entry.get("version"),
        prompt=str(entry.get("full_prompt", entry.get("prompt") or "")),
        input=dict(entry.get("input", entry.get("params") or {})),
        file_fields=tuple(entry.get("file_fields") or ()),
        files=tuple(Path(f) for f in entry.get("files") or ()),
        input_files=tuple(
            (str(name), Path(path))
            for name, paths in (entry.get("input_files") or {}).items()
            for path in paths
        ),
        file_labels=tuple(str(label) for label in entry.get("file_labels") or ()),
        text=str(entry.get("text") or ""),
        notes=tuple(str(n) for n in entry.get("notes") or ()),
        predict_time=entry.get("predict_time"),
        wall_time=float(entry.get("wall_time") or 0.0),
        cold_boot=entry.get("cold_boot"),
        prediction_id=str(entry.get("prediction_id") or ""),
    )


def stored_entry(result: StoredResult) -> dict[str, Any]:
    """A kept result as the cards show it: long texts shortened for display (the full prompt
    is a download, the snippets use the full input)."""
    long_prompt = len(result.prompt) > PROMPT_FILE_CHARS
    return {
        "id": result.id,
        "kind": result.kind,
        "prompt": result.prompt,
        "prompt_file": str(result.prompt_file) if long_prompt and result.prompt_file else None,
        "model": result.model,
        "version": result.version,
        "params": result.input,
        "file_fields": result.file_fields,
        "predict_time": result.predict_time,
        "wall_time": result.wall_time,
        "cold_boot": result.cold_boot,
        "files": [str(p) for p in result.files],
        "input_files": {
            name: [str(p) for p in paths] for name, paths in result.input_files.items()
        },
        "text": result.text,
        "prediction_id": result.prediction_id,
        "created": time.strftime("%Y-%m-%d %H:%M", time.gmtime(result.created_at)) + " UTC",
        "created_at": result.created_at,
        "share_id": result.share_id,
    }


@dataclass(frozen=True)
class HistoryHandles:
    """What a panel wires to record a generation: the log (an input) and its counter; the
    browser's History id, which the page load hands to the log (`open_history`)."""

    log: gr.State
    count: gr.Number
    browser_id: gr.BrowserState


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


HISTORY_STORAGE_KEY = "neurolink-history-id"
# BrowserState encrypts with a secret that is public anyway (GET /config); a fixed one lets the
# id be read back after a restart (a random one changes with every process).
HISTORY_SECRET = "neurolink-history-id-v1"


def history_state(
    time_to_live: float | None = None, store: ResultStore | None = None
) -> HistoryHandles:
    return HistoryHandles(
        log=gr.State(HistoryLog(store=store), time_to_live=time_to_live),
        count=gr.Number(value=0, visible="hidden", label="Generations", interactive=False),
        browser_id=gr.BrowserState("", storage_key=HISTORY_STORAGE_KEY, secret=HISTORY_SECRET),
    )


def open_history(stored: object, log: HistoryLog | None) -> str:
    """At page load: this browser's History id (a new one when it has none or sent a bad one:
    it is checked, never trusted), handed to the session's log. History shows its entries when
    the tab opens (not now: the Advanced forms render at page load)."""
    history_id = valid_history_id(stored) or new_history_id()
    if log is not None:
        log.history_id = history_id
    return history_id


def bind_history(demo: gr.Blocks, history: HistoryHandles) -> None:
    demo.load(
        open_history,
        [history.browser_id, history.log],
        [history.browser_id],
        api_visibility="private",
        show_progress="hidden",
        queue=False,
    )


def app_url(request: gr.Request | None) -> str:
    """The page's public address (behind a proxy too), as Gradio works it out for its files;
    empty when unknown (a share link is then relative)."""
    raw = getattr(request, "request", None) if request is not None else None
    if raw is None:
        return ""
    from gradio import route_utils

    try:
        # The route the event came by (queue/join, run/predict…), which the origin is before.
        path = str(raw.url.path)
        route = path[path.find("/gradio_api/") :] if "/gradio_api/" in path else path
        root_path = getattr(getattr(raw, "app", None), "root_path", None)
        return route_utils.get_root_url(request=raw, route_path=route, root_path=root_path)
    except (ValueError, AttributeError):
        return ""


def share_url(base: str, share_id: str) -> str:
    return f"{base}/?result={share_id}"


def entry_snippets(entry: dict) -> tuple[str, str]:
    """The Python and curl calls that rerun this generation."""
    if entry.get("kind") == "compare":  # several models: each cell's own entry has its code
        said = "# A comparison: each model's own History entry has the code that reruns it."
        return said, said
    version = entry.get("version")
    # A community model run by name ran on a version; official models answer "hidden".
    pinned = None if not version or version == "hidden" or ":" in entry["model"] else version
    params = entry.get("params", {})
    files = entry.get("file_fields", ())
    return (
        python_snippet(entry["model"], params, pinned, files),
        curl_snippet(entry["model"], params, pinned, files),
    )


_ICONS = {
    "chat": "💬",
    "image": "🖼️",
    "video": "🎬",
    "avatar": "🗣️",
    "music": "🎵",
    "explore": "🧭",
    "compare": "🆚",
}
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
        + (" · cold boot" if entry.get("cold_boot") else "")
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
    if media is None and files:  # a run from Explore: its first file says what it is
        media = _BY_CATEGORY.get(file_category(Path(files[0])) or "")
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


def entry_card(
    entry: dict, index: int, history: HistoryHandles, base_url: str = "", sharing: bool = True
) -> None:
    """One generation as a compact card: a thumbnail and summary, details and code on demand,
    and (for a kept result) Share and Delete."""
    # Keys follow the generation, not its position: a new entry shifts every index.
    # (Gradio keeps every key it has seen: the kept results' count keeps that set bounded.)
    result_id = entry.get("id")
    key = f"h-{result_id or entry.get('number', index)}"
    with gr.Group(elem_classes=["nl-card"], key=f"{key}-card"):
        with gr.Row(equal_height=False):
            _thumbnail(entry, key)
            with gr.Column(scale=4, min_width=200):
                gr.Markdown(entry_summary(entry), padding=True, key=f"{key}-summary")
                if result_id:
                    _card_actions(entry, key, history, base_url, sharing)
        with gr.Accordion("Details, downloads and code", open=False, key=f"{key}-details"):
            gr.Markdown(entry_details(entry), key=f"{key}-params")
            files = entry.get("files") or []
            downloads = [*files, *([entry["prompt_file"]] if entry.get("prompt_file") else [])]
            gr.File(
                downloads or None, label="Download", visible=bool(downloads), key=f"{key}-files"
            )
            given = [path for paths in (entry.get("input_files") or {}).values() for path in paths]
            gr.File(
                given or None,
                label="Input files (what the model was given)",
                visible=bool(given),
                key=f"{key}-inputs",
            )
            python, curl = entry_snippets(entry)
            gr.Code(python, language="python", label="Python (httpx)", key=f"{key}-py")
            gr.Code(curl, language="shell", label="curl", key=f"{key}-curl")


def _card_actions(
    entry: dict, key: str, history: HistoryHandles, base_url: str, sharing: bool
) -> None:
    result_id = str(entry["id"])
    shared = entry.get("share_id")
    with gr.Row(elem_classes=["nl-card-actions"]):
        share = gr.Button(
            "🔗 Share", size="sm", visible=sharing, key=f"{key}-share", scale=0, min_width=110
        )
        delete = gr.Button("🗑️ Delete", size="sm", key=f"{key}-delete", scale=0, min_width=110)
    link = gr.Textbox(
        share_url(base_url, shared) if shared and sharing else "",
        label="Share link: anyone with it sees this result and its input files (only this one)",
        visible=bool(shared and sharing),
        interactive=False,
        buttons=["copy"],
        key=f"{key}-link",
    )

    def make_link(log: HistoryLog | None, request: gr.Request) -> tuple[Any, Any]:
        share_id = log.share(result_id) if log is not None and sharing else None
        if log is None or share_id is None:
            return gr.Textbox(value="This result can no longer be shared.", visible=True), gr.skip()
        # The count changes too: History renders again after this, so a render that read the log
        # before the share (under way when Share was clicked) is not the last word on the card.
        log.count += 1
        return gr.Textbox(value=share_url(app_url(request), share_id), visible=True), log.count

    def remove(log: HistoryLog | None) -> int:
        if log is None:
            return 0
        log.delete(result_id)
        return log.count

    # Keyed listeners keep their id across History's re-renders (Gradio reuses a keyed event's
    # id; an unkeyed one gets a new id each render and the old one is dropped from the session):
    # a click the page sends with the id it had before a re-render reached it still names this
    # card's Share or Delete, instead of an id the server no longer knows (the click was lost).
    share.click(
        make_link,
        [history.log],
        [link, history.count],
        api_visibility="private",
        queue=False,
        key=f"{key}-share-click",
    )
    delete.click(
        remove,
        [history.log],
        [history.count],
        api_visibility="private",
        queue=False,
        key=f"{key}-delete-click",
    )


def history_summary(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "*Nothing yet: generate something in another tab.*"
    return f"{len(entries)} generation{'s' if len(entries) != 1 else ''} in this browser's History."


def build_history_panel(
    history: HistoryHandles,
    tab: gr.Tab,
    result_ttl: float = 7 * 86400.0,
    sharing: bool = True,
) -> None:
    kept = f"for {duration_text(result_ttl)}" if result_ttl > 0 else "until you delete them"
    gr.Markdown(
        "Everything generated in this browser, newest first, kept on this server "
        f"{kept} (Replicate deletes its copies after an hour). It comes back when you reload "
        "the page: this browser keeps a random History id, the server keeps the entries."
        + (" **Share** makes a link to one result; nothing else is shared." if sharing else "")
    )
    clear = gr.Button("Clear history", size="sm", variant="secondary", scale=0)

    def clear_all(log: HistoryLog | None) -> int:
        if log is None:
            return 0
        log.clear()
        return log.count

    clear.click(clear_all, [history.log], [history.count], api_visibility="private", queue=False)

    # Rendered when the tab opens and when a generation is recorded; not on page load, when the
    # Advanced forms render. One render at a time (see events.RENDER_ONE_AT_A_TIME).
    @gr.render(
        inputs=[history.log],
        triggers=[tab.select, history.count.change],
        concurrency_limit=1,
        concurrency_id="render",
    )
    def render_history(log: HistoryLog | None, request: gr.Request) -> None:
        entries = log.shown() if log else []
        base_url = app_url(request)
        gr.Markdown(history_summary(entries))  # always first: the cards' positions never shift
        for index, entry in enumerate(entries):
            entry_card(entry, index, history, base_url, sharing)
