"""The panels' component subclasses render as their Gradio bases and describe the same API."""

from __future__ import annotations

import gradio as gr
import pytest

from neurolink_ui.ui.common import Refused
from neurolink_ui.ui.components import (
    AudioOutput,
    GalleryOutput,
    ImageInput,
    NumberInput,
    SliderInput,
    VideoOutput,
)


@pytest.mark.parametrize(
    ("ours", "base"),
    [
        (GalleryOutput, gr.Gallery),
        (VideoOutput, gr.Video),
        (AudioOutput, gr.Audio),
        (ImageInput, gr.Image),
    ],
)
def test_subclass_renders_and_describes_itself_as_its_base(ours: type, base: type) -> None:
    mine, theirs = ours(), base()
    assert mine.get_block_name() == theirs.get_block_name()
    assert mine.api_info() == theirs.api_info()


def test_api_info_is_built_once_per_class_and_callers_cannot_corrupt_it() -> None:
    first, second = GalleryOutput(), GalleryOutput()
    info = first.api_info()
    info["corrupted"] = True
    assert "corrupted" not in second.api_info()
    assert first.api_info() == gr.Gallery().api_info()


def test_unreadable_upload_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gradio.data_classes import FileData

    bad = tmp_path / "photo.png"
    bad.write_bytes(b"not an image at all")
    component = ImageInput(label="Portrait", type="filepath")
    # Handed to the handler, which says it in the panel's status (a raise here would be a toast
    # and an Error badge over the outputs, before the handler runs).
    refused = component.preprocess(FileData(path=str(bad), orig_name="photo.png"))
    assert isinstance(refused, Refused)
    assert refused.message.startswith("Portrait: photo.png is not an image we can read")


@pytest.mark.parametrize(
    ("sent", "says"),
    [
        (-5, "Seed (-1 = random) must be at least -1 (got -5)."),
        (12.7, "Seed (-1 = random) must be a whole number (got 12.7)."),
        (1.2345678901234568e29, "The seed (-1 = random) is too large"),
        (float("nan"), "The seed (-1 = random) must be a finite number"),
    ],
)
def test_a_number_a_control_cannot_take_is_refused_with_its_label(sent: float, says: str) -> None:
    seed = NumberInput(label="Seed (-1 = random)", precision=0, minimum=-1)
    refused = seed.preprocess(sent)
    assert isinstance(refused, Refused) and refused.message.startswith(says)
    assert seed.preprocess(-1) == -1 and seed.preprocess(7.0) == 7 and seed.preprocess(None) is None


def test_a_slider_value_out_of_range_is_refused_not_raised() -> None:
    images = SliderInput(1, 4, value=1, step=1, label="Images")
    refused = images.preprocess(9)
    assert isinstance(refused, Refused) and refused.message == "Images must be at most 4 (got 9)."
    assert images.preprocess(3) == 3


def test_checked_inputs_keep_their_base_config_and_api() -> None:
    # Gradio builds a component's page config from its __init__ signature: a subclass that
    # changed it would render as an empty, forever-loading block.
    from neurolink_ui.ui.components import chat_history_input

    for mine, theirs in (
        (chat_history_input(1000, label="Conversation"), gr.Chatbot(label="Conversation")),
        (NumberInput(label="Seed", precision=0), gr.Number(label="Seed", precision=0)),
        (SliderInput(1, 4, step=1, label="Images"), gr.Slider(1, 4, step=1, label="Images")),
    ):
        assert mine.get_block_name() == theirs.get_block_name()
        assert mine.get_config() == theirs.get_config()
        assert mine.api_info() == theirs.api_info()
