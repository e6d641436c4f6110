"""Panel handlers called as plain async generators: no Gradio server, the simulator behind them."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from neurolink_ui.config import Settings
from neurolink_ui.modalities.forms import FormField
from neurolink_ui.results import NewResult
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.forms import collect_form, parse_advanced
from neurolink_ui.ui.history_log import HistoryLog
from neurolink_ui.ui.panels.chat import (
    make_chat_handler,
    make_chat_restore,
    retry_split,
    user_turns,
)
from neurolink_ui.ui.panels.history import entry_snippets
from neurolink_ui.ui.panels.image import make_image_handler


async def test_chat_handler_streams_then_records_history(ctx: AppContext) -> None:
    chat = make_chat_handler(ctx)
    log = HistoryLog()
    updates = [
        u
        async for u in chat(
            "Explain tides", [], model="meta/meta-llama-3-70b-instruct", generations=log
        )
    ]
    histories = [u[0] for u in updates if isinstance(u[0], list)]  # progress skips the dialog
    assert histories[0][0] == {"role": "user", "content": "Explain tides"}
    lengths = [len(str(h[-1]["content"])) for h in histories[1:]]
    assert lengths == sorted(lengths) and lengths[-1] > lengths[1]  # the answer only grows
    _, message_box, status = updates[-1]
    assert message_box == "" and "Done" in status and log.count == 1
    generations = log.entries
    assert generations[0].kind == "chat" and "tides" in generations[0].text.lower()
    python, curl = entry_snippets(generations[0])
    assert "REPLICATE_API_TOKEN" in python and "REPLICATE_API_TOKEN" in curl
    assert ctx.settings.api_token not in str(generations) + python + curl


async def test_chat_remembers_earlier_turns(ctx: AppContext) -> None:
    chat = make_chat_handler(ctx)
    first = [u async for u in chat("My cat is called Miso", [])][-1][0]
    second = [u async for u in chat("multi-turn memory check", first)][-1][0]
    assert "Miso" in str(second[-1]["content"])


async def test_unknown_model_is_refused_in_the_status_only(ctx: AppContext) -> None:
    chat = make_chat_handler(ctx)
    updates = []
    with pytest.raises(gr.Error, match="not found") as raised:
        async for update in chat("again", [], model="nobody/missing-model"):
            updates.append(update)
    # One update: the message in the status; the dialog and the typed message are untouched.
    ((dialog, message_box, status),) = updates
    assert dialog == message_box == gr.skip()
    assert status.startswith("❌") and "not found" in status
    # API callers (no page request here) still get the error, in plain text.
    assert "`" not in raised.value.message


async def test_failed_prediction_restores_the_dialog_and_keeps_the_message(
    ctx: AppContext, simulator
) -> None:  # type: ignore[no-untyped-def]
    simulator.config.outcome = "failed"
    chat = make_chat_handler(ctx)
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    updates = []
    with pytest.raises(gr.Error, match=r"(?i)interrupted"):
        async for update in chat("again", history):
            updates.append(update)
    assert {"role": "user", "content": "again"} in updates[0][0]  # it was shown…
    assert updates[0][1] == ""  # …its box emptied, as a sent message's is…
    restored, message_box, status = updates[-1]
    assert restored == history  # …and taken back, the message back in its box
    assert message_box == "again"
    assert "Not sent" in status


async def test_retry_split_finds_the_last_user_turn() -> None:
    history = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "2", "metadata": None},
    ]
    before, last = retry_split(history)
    assert last == "two" and before == history[:2]


async def test_image_handler_returns_local_files(ctx: AppContext) -> None:
    image = make_image_handler(ctx)
    log = HistoryLog()
    updates = [
        u
        async for u in image(
            "a lighthouse", "black-forest-labs/flux-schnell", "16:9", generations=log
        )
    ]
    pictures, _ = updates[-1]
    files = [path for path, _ in pictures]
    # Each picture's caption (its alt text in the gallery) is the prompt.
    assert [alt for _, alt in pictures] == ["a lighthouse"] * len(files)
    with Image.open(files[0]) as img:
        assert img.width > img.height
    assert Path(files[0]).is_relative_to(ctx.outputs_dir)
    assert log.count == 1 and [str(f) for f in log.entries[0].files] == files


def test_advanced_file_paths_only_from_the_upload_folder(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    mask = uploads / "mask.png"
    mask.write_bytes(b"x")
    assert parse_advanced({"mask": str(mask)}, upload_root=uploads) == {"mask": mask}
    with pytest.raises(gr.Error, match="server paths are not accepted"):
        parse_advanced({"mask": "/etc/passwd"}, upload_root=uploads)
    with pytest.raises(gr.Error, match="JSON object"):
        parse_advanced("[1, 2]", upload_root=uploads)


def test_history_log_keeps_every_generation_newest_first_when_panels_overlap() -> None:
    log = HistoryLog()
    # Two panels' events hold the same log (Gradio passes a State by reference) and finish in
    # any order: neither overwrites the other's entry.
    log.add(NewResult(kind="image", model="a/b"))
    log.add(NewResult(kind="music", model="a/b"))
    assert log.count == 2
    assert [e.kind for e in log.entries] == ["music", "image"]


def test_banner_says_where_runs_go_and_who_pays() -> None:
    from types import SimpleNamespace

    from neurolink_ui.ui.session import banner_markdown

    # The banner reads only the settings: who runs (and pays) is decided from them and the session.
    owner = SimpleNamespace(settings=Settings(api_token="r8_owner_token_0123456789"))
    assert "the owner pays" in banner_markdown(owner)  # type: ignore[arg-type]
    signed_in = banner_markdown(owner, "ada")  # type: ignore[arg-type]
    assert "Signed in as **ada**" in signed_in and "your own token" in signed_in
    assert "owner pays" not in signed_in and "synthetic" not in signed_in


async def test_a_chat_turn_is_kept_for_the_next_reload(ctx: AppContext) -> None:
    """Each finished turn's History id is noted (a Retry replaces the last); a reload rebuilds
    the conversation from this browser's own History, ids of another History ignored."""
    log = HistoryLog(store=ctx.results, history_id="a" * 32)
    chat = make_chat_handler(ctx)
    dialog: list = []
    for question in ("What makes a good espresso?", "And a good grinder?"):
        async for update in chat(question, dialog, generations=log):
            if isinstance(update[0], list):
                dialog = update[0]
    first, second = log.chat_turns
    assert first and second and user_turns(dialog) == 2
    before, last = retry_split(dialog)
    async for _update in chat(last, before, generations=log):
        pass
    assert log.chat_turns[0] == first and log.chat_turns[1] not in (None, second)

    restore = make_chat_restore(ctx)
    fresh = HistoryLog(store=ctx.results)
    shown = restore(log.history_id, {"turns": [*log.chat_turns, "f" * 32]}, fresh)
    users = [m["content"] for m in shown if m["role"] == "user"]
    assert users == ["What makes a good espresso?", "And a good grinder?"]
    assert "⏱" in shown[-1]["content"]  # the answer as the panel showed it
    assert fresh.chat_turns == log.chat_turns
    assert restore("b" * 32, {"turns": log.chat_turns}, fresh) == gr.skip()  # not its History
    assert restore(log.history_id, {"turns": "junk"}, fresh) == gr.skip()


def test_a_form_value_a_field_cannot_read_is_kept_as_typed() -> None:
    fields = [
        FormField("steps", "number", "Steps", integer=True),
        FormField("tags", "json", "Tags"),
    ]
    assert collect_form(fields, ["4", '["a"]']) == {"steps": 4, "tags": ["a"]}
    # Refused by the run instead, in the panel's status (the model's schema says why).
    assert collect_form(fields, ["four", "[oops"]) == {"steps": "four", "tags": "[oops"}
