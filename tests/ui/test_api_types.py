"""The API's parameter kinds as pure functions (ui/api_types): what fits, what does not, and the
message a caller reads. The launched app's fuzz over every endpoint is in test_app_e2e.py."""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
import pytest

from neurolink_ui.ui.api_types import (
    ExpectedInput,
    expected_inputs,
    fits,
    kind_of_schema,
    wrong_type,
)
from neurolink_ui.ui.components import NumberInput, chat_history_input


@pytest.mark.parametrize(
    ("component", "kind"),
    [
        (gr.Textbox(), "text"),
        (gr.Code(), "text"),
        (gr.Dropdown(choices=["a", "b"]), "text"),
        (gr.Slider(0, 10), "number"),
        (NumberInput(precision=0), "whole number"),
        (gr.Checkbox(), "true or false"),
        (gr.Image(), "file"),
        (gr.Audio(), "file"),
        (chat_history_input(1000), "list"),
        (gr.JSON(), None),
    ],
)
def test_each_component_declares_the_kind_it_takes(component: Any, kind: str | None) -> None:
    assert kind_of_schema(component.api_info()) == kind


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("text", ["", "a prompt", None], [12345, True, {"a": 1}, [1]]),
        # Infinities and NaN are numbers: their components say they must be finite.
        ("number", [0, -1.5, 10**30, math.inf, None], ["abc", "1e400", True, [1]]),
        ("whole number", [0, 42, 42.0, math.nan, None], [1.5, "7", False]),
        ("true or false", [True, False, None], [1, "yes", "true"]),
        (
            "file",
            [{"path": "/tmp/x.png"}, {"url": "https://x/y.png"}],
            ["x.png", 7, {}, {"path": 3}],
        ),
        ("list", [[], [{"role": "user", "content": "hi"}]], ["hello", 7, {"a": 1}]),
    ],
)
def test_what_fits_each_kind(kind: Any, good: list[Any], bad: list[Any]) -> None:
    assert all(fits(kind, value) for value in good)
    assert not any(fits(kind, value) for value in bad)


def test_the_message_names_the_parameter_what_it_takes_and_what_came() -> None:
    expected = [ExpectedInput(0, "prompt", "text"), ExpectedInput(2, "seed", "whole number")]
    assert wrong_type("/image", expected, ["a cat", None, 7]) is None
    assert wrong_type("/image", expected, ["a cat"]) is None  # not sent: Gradio's default
    message = wrong_type("/image", expected, ["a cat", None, "abc"])
    assert message == "/image: “seed” takes a whole number; it got a text. Nothing was run."
    assert "“prompt” takes a text" in str(wrong_type("/image", expected, [{"x": 1}]))
    assert "must be a list" in str(wrong_type("/image", expected, {"prompt": "x"}))


def test_session_state_is_never_checked_and_names_fall_back_to_labels() -> None:
    with gr.Blocks():
        prompt = gr.Textbox(label="Prompt")
        state = gr.State()
        seed = gr.Number(label="Seed", precision=0)
        unlabelled = gr.Checkbox()
    found = expected_inputs([prompt, state, seed, unlabelled], ["prompt"])
    assert found == [
        ExpectedInput(0, "prompt", "text"),
        ExpectedInput(2, "Seed", "whole number"),
        ExpectedInput(3, "parameter 4", "true or false"),
    ]
