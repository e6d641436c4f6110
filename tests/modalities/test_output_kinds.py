"""Any model from its schema: output views, the panel it fits, the run form, stale examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurolink_ui.catalog import load_catalog
from neurolink_ui.modalities.generic import (
    MAX_FORM_FIELDS,
    file_category,
    fit_example,
    fitting_panel,
    output_plan,
    result_views,
    run_form,
    sniff_file,
)
from neurolink_ui.replicate.schema import InputSchema, ModelInfo

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 40
MP4 = b"\0\0\0\x18ftypisom" + b"\0" * 40
WAV = b"RIFF\0\0\0\0WAVEfmt " + b"\0" * 40
ZIP = b"PK\x03\x04" + b"\0" * 40

URI = {"type": "string", "format": "uri"}


def openapi(
    properties: dict, required: list[str] | None = None, output: dict | None = None
) -> dict:
    return {
        "components": {
            "schemas": {
                "Input": {"type": "object", "properties": properties, "required": required or []},
                "Output": output if output is not None else URI,
            }
        }
    }


def info_of(schema: dict, description: str = "") -> ModelInfo:
    model = {"owner": "someone", "name": "thing", "description": description}
    return ModelInfo.from_model_json({**model, "latest_version": {"openapi_schema": schema}})


@pytest.mark.parametrize(
    ("output", "plan"),
    [
        (URI, "files"),
        ({"type": "array", "items": URI}, "files"),
        (
            {
                "type": "array",
                "items": {"type": "string"},
                "x-cog-array-type": "iterator",
                "x-cog-array-display": "concatenate",
            },
            "text",
        ),
        ({"type": "string"}, "text"),
        ({"type": "object", "properties": {"label": {"type": "string"}}}, "json"),
        ({"type": "array", "items": {"type": "object"}}, "json"),
        ({"type": "number"}, "json"),
        ({}, "json"),
    ],
)
def test_output_plan_from_the_output_schema(output: dict, plan: str) -> None:
    assert output_plan(info_of(openapi({}, output=output)).output_schema) == plan


def files_of(tmp_path: Path, **contents: bytes) -> list[tuple[Path, object]]:
    files = []
    for name, data in contents.items():
        path = tmp_path / name  # names without a telling suffix: the bytes decide
        path.write_bytes(data)
        files.append((path, sniff_file(path)))
    return files


def test_views_come_from_the_bytes_not_the_names(tmp_path: Path) -> None:
    files = files_of(tmp_path, a=PNG, b=PNG, c=MP4, d=WAV, e=ZIP, f=MP4)
    views = result_views("files", files, text=None, data=None)  # type: ignore[arg-type]
    assert views.views == ("images", "video", "audio", "files")
    assert [p.name for p in views.images] == ["a", "b"]
    assert [p.name for p in views.videos] == ["c", "f"]
    assert [p.name for p in views.audios] == ["d"]
    # A second video and anything unknown are downloads.
    assert [p.name for p in views.others] == ["e", "f"]


def test_one_image(tmp_path: Path) -> None:
    views = result_views("files", files_of(tmp_path, x=PNG), text=None, data=None)  # type: ignore[arg-type]
    assert views.views == ("images",)


def test_text_and_json_views() -> None:
    assert result_views("text", [], text="hello", data="hello").views == ("text",)
    assert result_views("json", [], text=None, data={"label": "cat"}).views == ("json",)
    # A JSON plan whose model answered plain text shows JSON (the string) — never nothing.
    assert result_views("json", [], text="plain", data="plain").views == ("json",)
    assert result_views("files", [], text="a note", data=None).views == ("text",)


def test_every_catalogued_panel_model_fits_its_panel_by_schema() -> None:
    for entry in load_catalog():
        schema = {**entry.openapi_schema}
        info = info_of(schema, entry.description)
        expected = None if entry.panel == "other" else entry.panel
        got = fitting_panel(info.input_schema, info.output_schema, info.description)
        assert got == expected, entry.model


def test_no_panel_for_an_upscaler_or_a_json_model() -> None:
    upscaler = info_of(
        openapi(
            {
                "image": {"type": "string", "format": "uri", "description": "Image to upscale"},
                "scale": {"type": "integer", "default": 4, "minimum": 2, "maximum": 8},
            },
            ["image"],
        )
    )
    assert fitting_panel(upscaler.input_schema, upscaler.output_schema) is None
    classifier = info_of(
        openapi(
            {"prompt": {"type": "string"}},
            output={"type": "object", "properties": {"labels": {"type": "array"}}},
        )
    )
    assert fitting_panel(classifier.input_schema, classifier.output_schema) is None


def test_the_name_never_decides() -> None:
    schema = openapi({"prompt": {"type": "string"}})
    # Same schema, the words of another medium in the model's name only: still an image model.
    for name in ("video-maker", "musicgen-pro", "llama-chat"):
        model = {"owner": "x", "name": name, "latest_version": {"openapi_schema": schema}}
        info = ModelInfo.from_model_json(model)
        assert fitting_panel(info.input_schema, info.output_schema, info.description) == "image"


def test_run_form_puts_required_first_and_caps_a_huge_schema() -> None:
    properties = {f"field_{i:04d}": {"type": "integer", "x-order": i} for i in range(5000)}
    properties["needed"] = {"type": "string", "x-order": 9999}
    schema = InputSchema.from_openapi(openapi(properties, ["needed"]))
    form = run_form(schema)
    assert form.fields[0].name == "needed"
    assert len(form.fields) == MAX_FORM_FIELDS
    assert len(form.left_out) == 5001 - MAX_FORM_FIELDS
    assert "5,001 inputs" in form.note and "field_0059" in form.note
    small = run_form(InputSchema.from_openapi(openapi({"a": {"type": "string"}})))
    assert small.note == "" and [f.name for f in small.fields] == ["a"]


def test_a_malformed_schema_gives_an_empty_form() -> None:
    for broken in (None, {}, {"components": "nope"}, {"components": {"schemas": {"Input": 3}}}):
        schema = InputSchema.from_openapi(broken)  # type: ignore[arg-type]
        assert run_form(schema).fields == ()


def test_a_stale_example_loads_what_fits_and_says_what_not() -> None:
    schema = InputSchema.from_openapi(
        openapi(
            {
                "prompt": {"type": "string"},
                "steps": {"type": "integer", "minimum": 1, "maximum": 50},
                "mode": {"type": "string", "enum": ["fast", "good"]},
            }
        )
    )
    fitted = fit_example(
        schema, {"prompt": "a cat", "steps": 500, "mode": "turbo", "old_field": True}
    )
    assert fitted.input == {"prompt": "a cat"}
    assert "steps must be between 1 and 50" in fitted.note
    assert "mode must be one of fast, good" in fitted.note
    assert "unknown field 'old_field'" in fitted.note
    assert fit_example(schema, {"prompt": "ok"}).note == ""


def test_file_category_goes_by_the_bytes_and_survives_a_missing_file(tmp_path: Path) -> None:
    png, wav, junk = tmp_path / "a.mp3", tmp_path / "b", tmp_path / "c.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)  # a misleading suffix: bytes win
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 32)
    junk.write_bytes(b"hello")
    assert file_category(png) == "image"
    assert file_category(wav) == "audio"
    assert file_category(junk) is None
    assert file_category(tmp_path / "gone.png") is None  # an expired file: no crash
