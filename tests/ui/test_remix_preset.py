"""Remix's Advanced preset: the stored input's other values become the start of the Advanced
form loaded for the same model — once per Remix, only that model, ill-fitting values dropped."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pytest

from neurolink_ui.modalities.forms import FormField, collect_advanced
from neurolink_ui.results.store import StoredResult
from neurolink_ui.ui.forms import (
    AdvancedPreset,
    ModelForm,
    apply_preset,
    parse_advanced,
    same_form,
)
from neurolink_ui.ui.remix import RemixTarget

FIELDS = (
    FormField(
        "output_format", "dropdown", "Output format", default="webp", choices=("webp", "png")
    ),
    FormField("steps", "slider", "Steps", default=4, minimum=1, maximum=8, step=1, integer=True),
    FormField("guidance", "number", "Guidance", minimum=0, maximum=10),
    FormField("safe", "checkbox", "Safe", default=True),
    FormField("negative", "text", "Negative prompt", default=""),
    FormField("loras", "json", "LoRAs"),
    FormField("mask", "file", "Mask"),
)
STORED = {
    "prompt": "a fox",  # the panel's prompt box fills it: not a form field
    "output_format": "png",
    "steps": 6,
    "guidance": 7.5,
    "safe": False,
    "negative": "blurry",
    "loras": [{"name": "x"}],
    "mask": "<file mask.png>",  # a file: the Advanced form never presets one
}


def form(model: str = "acme/flux") -> ModelForm:
    return ModelForm(model, FIELDS)


def test_a_preset_for_the_model_starts_its_form_and_its_advanced_json() -> None:
    loaded, advanced = apply_preset(form(), AdvancedPreset("acme/flux", json.dumps(STORED)))
    start = json.loads(loaded.start)
    expected = {k: v for k, v in STORED.items() if k not in ("prompt", "mask")}
    assert start == expected
    assert json.loads(advanced) == expected  # what the handler reads: the same values
    assert loaded.fields == FIELDS  # the model's defaults stay the reference for "changed"


def test_a_preset_for_another_model_or_none_leaves_the_defaults() -> None:
    for preset in (AdvancedPreset("acme/other", json.dumps(STORED)), None):
        loaded, advanced = apply_preset(form(), preset)
        assert loaded.start == "{}" and advanced == "{}"


def test_ill_typed_or_unknown_values_are_dropped_without_a_crash() -> None:
    hostile = {
        "output_format": "gif",  # not a choice
        "steps": 99,  # out of range
        "guidance": "7",  # text, not a number
        "safe": "yes",  # not a bool
        "negative": ["x"],  # not text
        "loras": "not json",
        "unknown_field": 1,
        "mask": {"path": "/etc/passwd"},
    }
    loaded, advanced = apply_preset(form(), AdvancedPreset("acme/flux", json.dumps(hostile)))
    assert loaded.start == "{}" and advanced == "{}"
    for raw in ("[1, 2]", "{not json", "null", json.dumps({"steps": float("nan")})):
        loaded, advanced = apply_preset(form(), AdvancedPreset("acme/flux", raw))
        assert advanced == "{}"


def test_a_default_the_shared_run_sent_is_sent_again() -> None:
    """The shared run sent `steps: 4` (the model's default) and `safe: true`: the remix sends
    them too, also after another control changes; a default it did not send stays unsent."""
    sent = '{"steps": 4.0, "safe": true}'
    loaded, advanced = apply_preset(form(), AdvancedPreset("acme/flux", sent))
    assert json.loads(loaded.start) == {"steps": 4, "safe": True}
    assert json.loads(advanced) == {"steps": 4, "safe": True}
    assert set(loaded.pinned) == {"steps", "safe"}
    # What the form's change handler computes from its controls' values after an edit.
    values = {"output_format": "png", "steps": 4, "safe": True, "negative": "", "guidance": ""}
    assert collect_advanced(FIELDS, values, keep=loaded.pinned) == {
        "output_format": "png",
        "steps": 4,
        "safe": True,
    }
    # Without a Remix nothing is pinned: defaults are not sent (the model decides).
    assert collect_advanced(FIELDS, values) == {"output_format": "png"}


def test_remix_writes_the_preset_with_the_model() -> None:
    with gr.Blocks():
        model, prompt, preset = gr.Dropdown(), gr.Textbox(), gr.State(None)
        target = RemixTarget("image", model, prompt, {}, preset=preset)
    result = StoredResult(
        id="r", kind="image", model="acme/flux", version=None, prompt="a fox", input=STORED,
        file_fields=("mask",), files=(), text="", notes=(), predict_time=None, wall_time=1.0,
        cold_boot=None, prediction_id="p", created_at=0.0, share_id="s", size=0,
    )  # fmt: skip
    values = target.values(result)
    assert target.components == [model, prompt, preset]
    assert values[:2] == ["acme/flux", "a fox"]
    assert values[2] == AdvancedPreset("acme/flux", json.dumps(STORED), "{}")


def test_a_kept_file_of_an_advanced_field_is_staged_as_an_upload(tmp_path: Path) -> None:
    """A mask (an Advanced file field) kept with the shared result: Remix's form gets a copy in
    the upload folder, the one place the panel's handler takes a file from, and the JSON the
    handler reads sends it. A kept file that is gone is dropped."""
    kept = tmp_path / "results" / "inputs" / "01-mask.png"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"\x89PNG mask bytes")
    uploads = tmp_path / "uploads"
    preset = AdvancedPreset("acme/flux", json.dumps(STORED), json.dumps({"mask": str(kept)}))
    loaded, advanced = apply_preset(form(), preset, upload_root=uploads)
    staged = json.loads(loaded.start)["mask"]
    assert Path(staged).is_relative_to(uploads) and Path(staged).read_bytes() == kept.read_bytes()
    assert json.loads(advanced)["mask"] == staged
    assert "mask" in loaded.pinned
    parsed = parse_advanced(advanced, upload_root=uploads)
    assert parsed["mask"] == Path(staged).resolve()
    # The kept path itself would be refused: server paths are not accepted from the page.
    with pytest.raises(gr.Error, match="upload the file"):
        parse_advanced(json.dumps({"mask": str(kept)}), upload_root=uploads)

    kept.unlink()
    loaded, advanced = apply_preset(form(), preset, upload_root=uploads)
    assert "mask" not in json.loads(loaded.start) and "mask" not in json.loads(advanced)


def test_a_reload_of_the_form_shown_keeps_it_and_its_json() -> None:
    """A sign-in reloads the form of the model shown. When it is the same form (model and
    fields), the load keeps the controls and the JSON they wrote; answering a fresh "{}" there
    cleared a value the person had just set (the run then sent the model's default: the long
    streamed answer of the newcomer Stop test came back 76 tokens long)."""
    remixed, _ = apply_preset(form(), AdvancedPreset("acme/flux", json.dumps(STORED)))
    assert same_form(form(), form()) and same_form(remixed, form())
    assert not same_form(None, form())  # the page's first load
    assert not same_form(form("acme/other"), form())
    fewer = ModelForm("acme/flux", FIELDS[:-1])  # the token sees another version's schema
    assert not same_form(fewer, form())
