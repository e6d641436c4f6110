"""Sharing a whole Compare: a 2-model image compare run through the cells' own handler against the
simulator over HTTP, kept as one `compare` result, opened through the shared view's page-load step
and over HTTP (meta tags by the middleware); blind mode, sharing off, and Remix's mapping."""

# ruff: noqa: F811  (tests take the imported `launched` fixture as an argument)

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import httpx
import pytest
from conftest import TOKEN
from helpers import panel_alone, shared_parts
from launched import LaunchedApp
from PIL import Image
from test_history_persist import launched, request  # noqa: F401  (its app, as a fixture)

from neurolink_ui.comparison import (
    CompareBoard,
    board_summary,
    can_share,
    parse_plan,
    remix_values,
)
from neurolink_ui.config import Settings
from neurolink_ui.results import NewResult, new_history_id
from neurolink_ui.runs import Caller
from neurolink_ui.ui.app import LiveRuns
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.history_log import HistoryLog, history_state, unkept_result
from neurolink_ui.ui.panels.compare import (
    SHARE_LABEL,
    build_compare_panel,
    share_board,
    share_button,
)
from neurolink_ui.ui.panels.compare_cells import run_cell
from neurolink_ui.ui.panels.history import entry_snippets
from neurolink_ui.ui.panels.shared import SHARING_OFF, make_open_shared

MODELS = ["black-forest-labs/flux-schnell", "bytedance/seedream-4"]


def image_board(blind: bool = False) -> CompareBoard:
    plan = parse_plan(
        "image",
        MODELS,
        {"prompt": "A red fox in snow", "aspect_ratio": "16:9", "seed": 7},
        None,
        None,
        text_limit=4000,
        chat_limit=4000,
        blind=blind,
    )
    board = CompareBoard()
    board.start(plan)
    return board


async def run_board(ctx: AppContext, board: CompareBoard, log: HistoryLog) -> None:
    """Each cell run by the page's own step, its views written to the board as the page does."""
    assert board.plan is not None
    for index in range(len(board.plan.models)):
        async for view in run_cell(ctx, board.plan, index, Caller(results=log)):
            board.cells[index] = view


@pytest.mark.slow
async def test_a_shared_image_compare_shows_both_cells_and_leaks_nothing(
    ctx: AppContext, launched: LaunchedApp
) -> None:
    store = launched.ctx.results
    log = HistoryLog(store=store, history_id=new_history_id())
    board = image_board()
    assert not can_share(board) and share_board(board, log) is None  # nothing finished yet
    await run_board(ctx, board, log)
    assert [view.state for view in board.cells] == ["done", "done"]
    assert share_button(board)["interactive"] is True

    share_id = share_board(board, log)
    assert share_id is not None
    kept = store.shared(share_id)
    assert kept is not None and kept.kind == "compare"
    assert kept.model == ", ".join(MODELS) and kept.prompt == "A red fox in snow"
    assert kept.input == {
        "modality": "image",
        "models": MODELS,
        "input": {
            "prompt": "A red fox in snow",
            "aspect_ratio": "16:9",
            "seed": 7,
            "num_outputs": 1,
        },
        "blind": False,
        "pick": None,
    }
    check_shared(launched, share_id, board)


def check_shared(launched: LaunchedApp, share_id: str, board: CompareBoard) -> None:
    """The kept compare, its shared view and its page over HTTP: both cells, nothing else."""
    store = launched.ctx.results
    kept = store.shared(share_id)
    assert kept is not None
    # Every finished cell's files, in cell order, with their bytes.
    cell_files = [path for view in board.cells for path in view.files]
    assert len(cell_files) == 2
    assert [p.read_bytes() for p in kept.files] == [p.read_bytes() for p in cell_files]

    opened = shared_parts(make_open_shared(store, True, {"compare"})(request({"result": share_id})))
    text, gallery, remix = opened["text"], opened["gallery"], opened["remix"]
    assert text.startswith("### 🔗 Shared comparison")
    for view in board.cells:
        assert f"`{view.model}`" in text and f"total {view.total_time:.2f} s" in text
    assert text.count("— done") == 2
    assert isinstance(gallery, gr.Gallery) and gallery.visible
    shown = [Path(item["image"]["path"]).read_bytes() for item in gallery.value]
    assert sorted(shown) == sorted(p.read_bytes() for p in cell_files)  # both cells' images
    # Each picture captioned with its cell's model.
    captions = {Path(item["image"]["path"]).read_bytes(): item["caption"] for item in gallery.value}
    for view in board.cells:
        for path in view.files:
            assert captions[path.read_bytes()] == f"{view.label} · {view.model}"
    assert remix.visible is True
    outputs = (str(launched.ctx.outputs_dir), str(store.root), str(cell_files[0].parent))
    for secret in (TOKEN, *outputs):
        assert secret not in text

    # Over HTTP: the page's title from the middleware, its preview the first cell's image.
    page = httpx.get(f"{launched.url}?result={share_id}").text
    assert f"<title>Comparison by {', '.join(MODELS)} — NeuroLink UI</title>" in page
    assert TOKEN not in page and str(store.root) not in page
    preview = httpx.get(f"{launched.url.rstrip('/')}/shared-preview/{share_id}")
    assert preview.status_code == 200 and preview.content == cell_files[0].read_bytes()


async def test_blind_compare_is_shared_only_after_a_pick(ctx: AppContext, tmp_path: Path) -> None:
    log = HistoryLog()  # no store: nothing kept, nothing shared
    board = image_board(blind=True)
    await run_board(ctx, board, log)
    assert board.hidden and not can_share(board)
    button = share_button(board)
    assert button["interactive"] is False and "pick one first" in button["value"]
    assert share_board(board, log) is None
    board.pick(1)
    assert can_share(board) and share_button(board)["value"] == SHARE_LABEL


def test_sharing_off_refuses_the_link_and_hides_the_button(launched: LaunchedApp) -> None:
    store = launched.ctx.results
    opened = shared_parts(
        make_open_shared(store, False, {"compare"})(request({"result": "a" * 32}))
    )
    assert SHARING_OFF in opened["text"]
    assert opened["remix"].visible is False
    for sharing in (True, False):
        context = AppContext.create(Settings(api_token=TOKEN, sharing=sharing))
        demo = panel_alone(context, build_compare_panel)
        buttons = [b for b in demo.blocks.values() if getattr(b, "value", None) == SHARE_LABEL]
        assert len(buttons) == 1
        row = buttons[0].parent
        assert row is not None and row.visible is sharing


def test_remix_maps_a_stored_compare_back_to_the_compare_controls(tmp_path: Path) -> None:
    stored = {
        "modality": "image",
        "models": MODELS,
        "input": {"prompt": "A fox", "aspect_ratio": "16:9", "seed": 7, "num_outputs": 2},
        "blind": False,
        "pick": MODELS[1],
    }
    assert remix_values(stored) == {
        "modality": "image",
        "models": MODELS,
        "prompt": "A fox",
        "image.aspect_ratio": "16:9",
        "image.seed": 7,
        "image.num_outputs": 2,
    }
    chat = remix_values({"modality": "chat", "models": MODELS, "input": {"prompt": "hi"}})
    assert chat is not None and chat["chat.temperature"] == 0.6  # missing: the default
    hostile_inputs: list[Any] = [
        None,
        [],
        {"modality": "sculpture", "models": MODELS, "input": {}},
        {"modality": "image", "models": ["only/one"], "input": {"prompt": "x"}},
        {"modality": "image", "models": MODELS, "input": {"prompt": "x", "steps": 9}},
        {"modality": "image", "models": MODELS, "input": {"prompt": "x", "seed": "7"}},
    ]
    for hostile in hostile_inputs:
        assert remix_values(hostile) is None

    # The Compare tab's Remix target: its values line up with its components.
    ctx = AppContext.create(Settings(api_token=TOKEN))
    with gr.Blocks():
        history = history_state(ctx.settings.output_ttl, ctx.results)
        remix = build_compare_panel(ctx, gr.State(None), history, gr.State(LiveRuns()))
    picture = tmp_path / "00-start.png"
    Image.new("RGB", (8, 8), "red").save(picture)
    kept = SimpleNamespace(input=stored, input_files={"image": (picture,)})
    values = remix.values(kept)  # type: ignore[arg-type]
    assert len(values) == len(remix.components)
    assert values[0] == "image" and values[1]["value"] == MODELS
    by_component = dict(zip(remix.components, values, strict=True))
    assert by_component[remix.controls[0]]["value"] == "A fox"  # the prompt
    assert by_component[remix.controls[5]]["value"] == 7  # image.seed, in CONTROL_ORDER
    assert by_component[remix.controls[1]] == gr.skip()  # a chat control: left as it is
    # The kept upload goes back into the Compare tab's image input, shown for image.
    image_input = remix.parts["image"]
    assert by_component[image_input]["value"] == str(picture)
    assert by_component[image_input]["visible"] is True
    assert "value" not in by_component[remix.parts["audio"]]  # none kept: left as it is
    unknown = remix.values(
        SimpleNamespace(input={"modality": 3}, input_files={})  # type: ignore[arg-type]
    )
    assert unknown == [gr.skip()] * len(remix.components)


def test_a_shared_compare_in_history_has_no_single_model_snippet() -> None:
    record = NewResult(kind="compare", model=", ".join(MODELS), input={"modality": "image"})
    python, curl = entry_snippets(unkept_result(record))
    assert "History entry" in python and "curl" not in curl and MODELS[0] not in python


def test_the_summary_has_each_cell_its_times_and_a_chat_answer_but_no_error_text() -> None:
    plan = parse_plan(
        "chat", MODELS, {"prompt": "hi"}, None, None, text_limit=4000, chat_limit=4000
    )
    board = CompareBoard()
    board.start(plan)
    first, second = board.cells
    first.state, first.text, first.predict_time, first.total_time = (
        "done",
        "Hello!\n\nBye.",
        1.5,
        2.25,
    )
    second.fail("Download of http://10.0.0.1/secret failed")
    board.pick(0)
    summary = board_summary(board)
    assert (
        f"**Model A · `{MODELS[0]}`** ⭐ picked — done · predict 1.50 s · total 2.25 s" in summary
    )
    assert "> Hello!\n>\n> Bye." in summary
    assert f"**Model B · `{MODELS[1]}`** — failed" in summary and "10.0.0.1" not in summary
