"""The History tab: this browser's generations, each downloadable and with the code to rerun it."""

from __future__ import annotations

import json
import time
from typing import Any

import gradio as gr

from ...costs import recorded_cost_text
from ...modalities.generic import file_category as media_category
from ...modalities.registry import result_kind
from ...results import StoredResult
from ...snippets import curl_snippet, python_snippet
from ..events import RENDER_ONE_AT_A_TIME
from ..history_log import (
    HistoryHandles,
    HistoryLog,
    app_url,
    recount,
    share_url,
)
from ..inert import as_text, without_html
from ..retention import duration_text

_BY_CATEGORY = {"image": gr.Image, "video": gr.Video, "audio": gr.Audio}


def modality_icon(kind: str) -> str:
    return result_kind(kind).icon


def entry_snippets(result: StoredResult) -> tuple[str, str]:
    """The Python and curl calls that rerun this generation."""
    if result.kind == "compare":  # several models: each cell's own entry has its code
        said = "# A comparison: each model's own History entry has the code that reruns it."
        return said, said
    version = result.version
    # A community model run by name ran on a version; official models answer "hidden".
    pinned = None if not version or version == "hidden" or ":" in result.model else version
    return (
        python_snippet(result.model, result.input, pinned, result.file_fields),
        curl_snippet(result.model, result.input, pinned, result.file_fields),
    )


PREVIEW_CHARS = 160
DETAILS_INPUT_CHARS = 4000


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def created_text(result: StoredResult) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(result.created_at)) + " UTC"


def entry_summary(result: StoredResult) -> str:
    """A card's always-visible lines: what, when, which model, how long, and the prompt's start."""
    kind = result.kind
    timing = f"predict {result.predict_time:.2f} s · " if result.predict_time is not None else ""
    cost = recorded_cost_text(result.cost_usd, result.cost_basis, result.simulated)
    price = f"{cost} · " if cost else ""
    lines = [
        f"**{modality_icon(kind)} {kind.capitalize()}** · {created_text(result)} · "
        f"`{result.model}` · {timing}{price}total {result.wall_time:.2f} s"
        + (" · cold boot" if result.cold_boot else "")
    ]
    if result.prompt:
        shortened = " *(shortened: the full text is the .txt in the details)*"
        lines.append(
            as_text(_clip(result.prompt, PREVIEW_CHARS)) + (shortened if result.prompt_file else "")
        )
    if result.text and not result.files:
        lines.append(f"→ {as_text(_clip(result.text, PREVIEW_CHARS))}")
    more = len(result.files) - 1
    if more > 0:
        lines.append(f"+{more} more in the details")
    return "\n\n".join(lines)


def entry_details(result: StoredResult) -> str:
    """What the card's Details show in full: the prompt, the answer, the exact input sent."""
    pinned = result.version not in (None, "", "hidden")
    version = f"Version `{result.version}`\n\n" if pinned else ""
    params = json.dumps(result.input, ensure_ascii=False, indent=1)
    if len(params) > DETAILS_INPUT_CHARS:
        params = params[:DETAILS_INPUT_CHARS] + "…"
    answer = f"**Answer**\n\n{without_html(result.text[:2000])}\n\n" if result.text else ""
    return f"{version}{answer}**Input sent**\n```json\n{params}\n```"


def _thumbnail(result: StoredResult, key: str) -> None:
    """A small view of the first output: the same three players in every card, unused ones
    hidden (a chat answer shows none). Gradio's browser code reuses the component at a position
    when it re-renders the (hidden) History tab: a Gallery or Image whose place went to an Audio
    was handed the audio's value (`M(...).map is not a function`)."""
    first = result.files[0] if result.files else None
    # What the file is, by its bytes (an animated WebP clip plays in an <img>, not a <video>).
    media = _BY_CATEGORY.get(media_category(first) or "") if first is not None else None
    # An audio player needs room for its controls; a picture or clip fits a small tile.
    width = 300 if media is gr.Audio else 180
    shown = str(first) if first is not None else None
    with gr.Column(scale=0, min_width=width, elem_classes=["nl-thumb"], visible=media is not None):
        gr.Image(
            shown if media is gr.Image else None,
            show_label=False,
            height=120,
            buttons=["fullscreen"],
            visible=media is gr.Image,
            key=f"{key}-img",
        )
        gr.Video(
            shown if media is gr.Video else None,
            show_label=False,
            height=120,
            visible=media is gr.Video,
            key=f"{key}-video",
        )
        gr.Audio(
            shown if media is gr.Audio else None,
            show_label=False,
            visible=media is gr.Audio,
            key=f"{key}-audio",
        )


def card_key(result: StoredResult) -> str:
    """Keys follow the generation, not its position: a new entry shifts every index.
    (Gradio keeps every key it has seen: the kept results' count keeps that set bounded.)"""
    return f"h-{result.id or int(result.created_at * 1000)}"


def entry_card(
    result: StoredResult, history: HistoryHandles, base_url: str = "", sharing: bool = True
) -> None:
    """One generation as a compact card: a thumbnail and summary, details and code on demand,
    and (for a kept result) Share and Delete."""
    key = card_key(result)
    with gr.Group(elem_classes=["nl-card"], key=f"{key}-card"):
        with gr.Row(equal_height=False):
            _thumbnail(result, key)
            with gr.Column(scale=4, min_width=200):
                gr.Markdown(entry_summary(result), padding=True, key=f"{key}-summary")
                if result.id:
                    _card_actions(result, key, history, base_url, sharing)
        with gr.Accordion("Details, downloads and code", open=False, key=f"{key}-details"):
            gr.Markdown(entry_details(result), key=f"{key}-params")
            prompt_file = [result.prompt_file] if result.prompt_file else []
            downloads = [str(path) for path in (*result.files, *prompt_file)]
            gr.File(
                downloads or None, label="Download", visible=bool(downloads), key=f"{key}-files"
            )
            given = [str(path) for paths in result.input_files.values() for path in paths]
            gr.File(
                given or None,
                label="Input files (what the model was given)",
                visible=bool(given),
                key=f"{key}-inputs",
            )
            python, curl = entry_snippets(result)
            gr.Code(python, language="python", label="Python (httpx)", key=f"{key}-py")
            gr.Code(curl, language="shell", label="curl", key=f"{key}-curl")


def _card_actions(
    result: StoredResult, key: str, history: HistoryHandles, base_url: str, sharing: bool
) -> None:
    result_id = result.id
    shared = result.share_id
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

    def make_link(log: HistoryLog | None, request: gr.Request) -> tuple[Any, Any, Any]:
        share_id = log.share(result_id) if log is not None and sharing else None
        if log is None or share_id is None:
            gone = gr.Textbox(value="This result can no longer be shared.", visible=True)
            return gone, gr.skip(), gr.skip()
        # The count changes too: History renders again after this, so a render that read the log
        # before the share (under way when Share was clicked) is not the last word on the card.
        log.count += 1
        link = gr.Textbox(value=share_url(app_url(request), share_id), visible=True)
        return link, *recount(log, True)

    def remove(log: HistoryLog | None) -> tuple[int, int]:
        if log is not None:
            log.delete(result_id)
        return recount(log, True)

    # Keyed listeners keep their id across History's re-renders (Gradio reuses a keyed event's
    # id; an unkeyed one gets a new id each render and the old one is dropped from the session):
    # a click the page sends with the id it had before a re-render reached it still names this
    # card's Share or Delete, instead of an id the server no longer knows (the click was lost).
    share.click(
        make_link,
        [history.log],
        [link, *history.counts],
        api_visibility="private",
        queue=False,
        key=f"{key}-share-click",
    )
    delete.click(
        remove,
        [history.log],
        history.counts,
        api_visibility="private",
        queue=False,
        key=f"{key}-delete-click",
    )


def history_summary(entries: list[StoredResult]) -> str:
    if not entries:
        return "*Nothing yet: generate something in another tab.*"
    return f"{len(entries)} generation{'s' if len(entries) != 1 else ''} in this browser's History."


def build_history_panel(
    history: HistoryHandles,
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
    # Clearing removes every kept result at once: it asks first.
    with gr.Group(visible=False, elem_classes=["nl-confirm"]) as confirm:
        question = gr.Markdown(padding=True)
        with gr.Row():
            really = gr.Button(
                "Yes, delete them", size="sm", variant="stop", scale=0, min_width=160
            )
            keep = gr.Button("Cancel", size="sm", scale=0, min_width=100)

    def ask(log: HistoryLog | None) -> tuple[Any, str]:
        count = len(log.shown()) if log is not None else 0
        if not count:
            return gr.update(visible=True), "History is already empty."
        generations = f"{count} generation{'s' if count != 1 else ''}"
        return gr.update(visible=True), (
            f"⚠️ **Delete all {generations} from this browser's History?** Their share links "
            "stop working. This cannot be undone."
        )

    def clear_all(log: HistoryLog | None) -> tuple[Any, int, int]:
        if log is not None:
            log.clear()
        return gr.update(visible=False), *recount(log, True)

    quiet: dict[str, Any] = {"api_visibility": "private", "queue": False}
    clear.click(ask, [history.log], [confirm, question], **quiet)
    really.click(clear_all, [history.log], [confirm, *history.counts], **quiet)
    keep.click(lambda: gr.update(visible=False), None, [confirm], **quiet)

    # Drawn at every new ticket (history_log): the tab opened (its cards), left (a placeholder:
    # no stale cards while it opens again), or a generation recorded while it is open; never on
    # page load, when the Advanced forms render. One render of a session at a time (see
    # events.RENDER_ONE_AT_A_TIME).
    @gr.render(
        inputs=[history.log, history.open],
        triggers=[history.shown.change],
        **RENDER_ONE_AT_A_TIME,
    )
    def render_history(log: HistoryLog | None, is_open: bool | None, request: gr.Request) -> None:
        if not is_open:
            gr.Markdown("*Opening History…*")
            return
        entries = log.shown() if log else []
        base_url = app_url(request)
        gr.Markdown(history_summary(entries))  # always first: the cards' positions never shift
        for result in entries:
            entry_card(result, history, base_url, sharing)
