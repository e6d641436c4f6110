"""Tabs drawn on demand (`ui/on_demand.py`): what a fill sends a tab, and what Gradio needs of it.
The drawing itself is exercised in Chromium by the browser tests (every tab but Chat is drawn
when opened); these are the pure parts."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from gradio.utils import deep_hash

from neurolink_ui.results import StoredResult
from neurolink_ui.ui.on_demand import Inbox, PanelFill, _empty, fill_values, opened_with
from neurolink_ui.ui.remix import RemixTarget


def stored(prompt: str = "a fox") -> StoredResult:
    return StoredResult(
        id="r" * 32, kind="image", model="owner/model", version=None, prompt=prompt,
        input={"prompt": prompt, "seed": 7, "nested": {"a": [1, 2]}}, file_fields=(),
        files=(Path("out.png"),), text="", notes=(), predict_time=1.0, wall_time=1.5,
        cold_boot=False, prediction_id="p1", created_at=0.0, share_id=None, size=10,
    )  # fmt: skip


def test_a_fill_holding_a_kept_result_hashes_and_each_remix_is_a_change() -> None:
    """Gradio hashes a State's value to tell whether an event changed it (a kept result holds
    dicts, which do not hash: the Remix event failed with 'unhashable type'); the same result
    remixed twice must fill the panel twice."""
    with gr.Blocks():
        inbox = Inbox("image", gr.State(None))
    first, second = (inbox.values(stored())[0] for _ in range(2))
    assert isinstance(first, PanelFill) and first.result == stored()
    assert deep_hash(first) != deep_hash(second)


def test_explore_fill_sets_only_the_model_and_the_prompt() -> None:
    with gr.Blocks():
        model, prompt, seed = gr.Dropdown(allow_custom_value=True), gr.Textbox(), gr.Number()
    target = RemixTarget("image", model, prompt, {("seed",): seed})
    skip = gr.skip()
    assert fill_values(target, opened_with("o/m", "hi")) == ["o/m", "hi", skip]
    assert fill_values(target, opened_with("o/m", None)) == ["o/m", skip, skip]
    assert fill_values(target, None) == [skip, skip, skip]
    remixed = fill_values(target, PanelFill(1, result=stored("a hare")))
    assert remixed[:3] == ["owner/model", "a hare", 7]


def test_empty_values_are_those_gradio_counts_as_empty() -> None:
    """The page's own rule (a component left without `interactive` is editable when it is an
    input, or starts empty and is no output), applied to a drawn tab's components."""
    assert all(_empty(v) for v in (None, "", 0, False, []))
    assert not any(_empty(v) for v in ("x", 1, -1, [1], True))
