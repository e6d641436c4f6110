"""The panels' component subclasses render as their Gradio bases and describe the same API."""

from __future__ import annotations

import gradio as gr
import pytest

from neurolink_ui.ui.components import AudioOutput, GalleryOutput, ImageInput, VideoOutput


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
    with pytest.raises(gr.Error, match=r"Portrait: photo\.png is not an image we can read"):
        component.preprocess(FileData(path=str(bad), orig_name="photo.png"))


def test_checked_inputs_keep_their_base_config_and_api() -> None:
    # Gradio builds a component's page config from its __init__ signature: a subclass that
    # changed it would render as an empty, forever-loading block.
    from neurolink_ui.ui.components import NumberInput, chat_history_input

    for mine, theirs in (
        (chat_history_input(1000, label="Conversation"), gr.Chatbot(label="Conversation")),
        (NumberInput(label="Seed", precision=0), gr.Number(label="Seed", precision=0)),
    ):
        assert mine.get_block_name() == theirs.get_block_name()
        assert mine.get_config() == theirs.get_config()
        assert mine.api_info() == theirs.api_info()
