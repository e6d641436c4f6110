"""Examples per panel: the model's own `default_example` first, then the curated ones."""

from __future__ import annotations

import wave
from pathlib import Path

from PIL import Image

from neurolink_ui.examples import CURATED, MAX_EXAMPLES, panel_examples, write_avatar_example
from neurolink_ui.replicate.schema import ModelInfo


def model_json(example: object) -> dict:
    """`GET /v1/models/{owner}/{name}` as Replicate answers it, trimmed to what matters here."""
    return {"owner": "ideogram-ai", "name": "ideogram-v3", "default_example": example}


def test_model_info_reads_the_default_example_input() -> None:
    example = {"input": {"prompt": "a poster that says HELLO in bold letters"}, "output": "x"}
    info = ModelInfo.from_model_json(model_json(example))
    assert info.example_input == {"prompt": "a poster that says HELLO in bold letters"}
    for missing in (None, "nonsense", {"input": "not a dict"}, {}):
        assert ModelInfo.from_model_json(model_json(missing)).example_input == {}


def test_the_models_own_example_comes_first_then_the_curated() -> None:
    info = ModelInfo.from_model_json(model_json({"input": {"prompt": "  a poster  "}}))
    prompts = panel_examples("image", info)
    assert prompts[0] == "a poster"
    assert prompts[1:] == list(CURATED["image"])[: MAX_EXAMPLES - 1]
    assert panel_examples("image") == list(CURATED["image"])[:MAX_EXAMPLES]
    # The same prompt is offered once.
    same = ModelInfo.from_model_json(model_json({"input": {"prompt": CURATED["music"][1]}}))
    assert panel_examples("music", same).count(CURATED["music"][1]) == 1


def test_templates_files_and_long_texts_are_not_offered_as_prompts() -> None:
    for prompt in (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>Hi",
        "https://replicate.delivery/pbxt/input.png",
        "x" * 301,
        "",
        42,
    ):
        info = ModelInfo.from_model_json(model_json({"input": {"prompt": prompt}}))
        assert panel_examples("chat", info) == list(CURATED["chat"])[:MAX_EXAMPLES]


def test_avatar_example_files_are_a_real_image_and_real_audio(tmp_path: Path) -> None:
    portrait, narration = write_avatar_example(tmp_path / "examples")
    with Image.open(portrait) as image:
        assert image.size == (384, 480)
    with wave.open(str(narration)) as audio:
        assert audio.getnframes() / audio.getframerate() == 3.0
        frames = audio.readframes(audio.getnframes())
    assert len(set(frames)) > 100  # not silence


def test_a_clicked_example_fills_the_prompt_the_browser_showed_and_nothing_hostile() -> None:
    import gradio as gr

    from neurolink_ui.ui.forms import picked_example

    def clicked(value: object, index: int = 1) -> object:
        return picked_example(gr.SelectData(None, {"index": index, "value": value}))

    # The value is the sample as the browser drew it: whatever the server's list now holds.
    assert clicked([CURATED["chat"][1]], index=0) == CURATED["chat"][1]
    skip = gr.skip()
    for hostile in (None, [], ["a", "b"], [1], ["   "], ["x" * 10_000], {"0": "a"}, "plain"):
        assert clicked(hostile) == skip, hostile
