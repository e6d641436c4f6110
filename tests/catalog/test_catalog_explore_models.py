"""Models that fit no panel (an upscaler, a JSON-output model): in the catalogue with evidence,
offered by no panel, and run end to end through the shared pipeline against the simulator."""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

import pytest
from openapi_check import schema_problems
from PIL import Image

from neurolink_ui.catalog import (
    PANELS,
    catalog_model,
    collections,
    load_catalog,
    suggested_models,
)
from neurolink_ui.pipeline import RunResult, run_model
from neurolink_ui.replicate import ModelRef, ReplicateClient
from neurolink_ui.simulator.generators import generator_for
from neurolink_ui.simulator.generators.structured import generate_json
from neurolink_ui.simulator.generators.transform import transform_image

UPSCALER = "nightmareai/real-esrgan"
EMBEDDER = "andreasjansson/clip-features"


@pytest.mark.parametrize("ref", [UPSCALER, EMBEDDER])
def test_the_explore_models_are_evidenced_and_offered_by_no_panel(ref: str) -> None:
    model = catalog_model(ref)
    assert model is not None and model.confirmed and model.panel == "other"
    assert model.version is not None and len(model.evidence) >= 2
    assert any("@" in e.source and ":" in e.source for e in model.evidence)  # repo@commit:path
    assert model.default_example is not None
    offered = {r for panel in PANELS if panel != "other" for r in suggested_models(panel)}
    offered |= {
        *suggested_models("chat"),
        *suggested_models("image"),
        *suggested_models("video"),
        *suggested_models("avatar"),
        *suggested_models("music"),
    }
    assert ref not in offered
    assert any(ref in c.models for c in collections())


def test_their_schemas_are_the_recorded_cog_shapes() -> None:
    upscaler, embedder = catalog_model(UPSCALER), catalog_model(EMBEDDER)
    assert upscaler is not None and embedder is not None
    inputs = upscaler.openapi_schema["components"]["schemas"]["Input"]
    assert inputs["required"] == ["image"] and inputs["properties"]["image"]["format"] == "uri"
    assert (
        inputs["properties"]["scale"].items() >= {"default": 4, "minimum": 0, "maximum": 10}.items()
    )
    assert upscaler.openapi_schema["components"]["schemas"]["Output"] == {
        "type": "string", "title": "Output", "format": "uri",
    }  # fmt: skip
    output = embedder.openapi_schema["components"]["schemas"]["Output"]
    assert output["type"] == "array"
    assert output["items"] == {"$ref": "#/components/schemas/NamedEmbedding"}


def test_no_panel_models_get_a_generator_from_their_output_schema() -> None:
    for model in load_catalog():
        if model.panel != "other":
            continue
        chosen = generator_for("other", model.openapi_schema["components"]["schemas"]["Output"])
        expected = {UPSCALER: transform_image, EMBEDDER: generate_json}.get(model.model)
        if expected is not None:
            assert chosen is expected, model.model


async def _run(
    base_url: str, ref: str, model_input: dict[str, Any], kind: Any, tmp: Path
) -> RunResult:
    async with ReplicateClient(base_url, poll_schedule=(0.05, 0.1)) as client:
        result = None
        async for event in run_model(
            client, ModelRef.parse(ref), model_input, token="r8_exploremodels01", kind=kind,
            dest_dir=tmp,
        ):  # fmt: skip
            if isinstance(event, RunResult):
                result = event
    assert result is not None
    return result


async def test_the_upscaler_runs_end_to_end_and_returns_a_larger_image(
    simulator: Any, tmp_path: Path
) -> None:
    model = catalog_model(UPSCALER)
    assert model is not None and model.default_example is not None
    example = model.default_example["input"]  # the prefilled default example, unchanged
    source = Image.open(io.BytesIO(_data_url_bytes(example["image"])))
    result = await _run(simulator.base_url, UPSCALER, example, "image", tmp_path / "a")
    [file] = result.files
    with Image.open(file) as upscaled:
        assert upscaled.format == "PNG"
        assert upscaled.size == (source.width * 2, source.height * 2)
    four = await _run(
        simulator.base_url, UPSCALER, {**example, "scale": 4}, "image", tmp_path / "b"
    )
    with Image.open(four.files[0]) as bigger:
        assert bigger.size == (source.width * 4, source.height * 4)


async def test_the_embedder_runs_end_to_end_and_returns_json_of_its_schema(
    simulator: Any, tmp_path: Path
) -> None:
    model = catalog_model(EMBEDDER)
    assert model is not None
    text = "a photo of a dog\na cat\na photo of a dog"
    result = await _run(simulator.base_url, EMBEDDER, {"inputs": text}, "text", tmp_path)
    value = result.prediction.output
    output_schema = model.openapi_schema["components"]["schemas"]["Output"]
    assert schema_problems(value, output_schema, model.openapi_schema) == []
    assert [item["input"] for item in value] == text.splitlines()
    vectors = [item["embedding"] for item in value]
    assert all(
        len(v) == 768 and math.isclose(sum(x * x for x in v), 1.0, abs_tol=1e-3) for v in vectors
    )
    assert vectors[0] == vectors[2] != vectors[1]  # equal inputs, equal embeddings
    assert result.files == [] and result.text == ""


async def test_json_generation_follows_any_output_schema_not_the_model_name(
    simulator: Any, tmp_path: Path
) -> None:
    # hello-world served with a classifier's schema: the JSON comes from that schema alone
    schema = {
        "openapi": "3.0.2", "info": {"title": "Cog", "version": "0.1.0"}, "paths": {},
        "components": {"schemas": {
            "Input": {"type": "object", "properties": {
                "text": {"type": "string", "title": "Text", "x-order": 0}}, "required": ["text"]},
            "Label": {"type": "string", "enum": ["positive", "negative"]},
            "Output": {"type": "object", "title": "Output", "required": ["label", "confidence"],
                       "properties": {
                           "label": {"$ref": "#/components/schemas/Label"},
                           "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                           "tokens": {"type": "integer", "minimum": 1, "maximum": 512},
                           "flagged": {"type": "boolean"}}},
        }},
    }  # fmt: skip
    simulator.config.model_overrides = {"replicate/hello-world": {"openapi_schema": schema}}
    # hello-world's catalogue panel is "other": its overridden Output now says JSON
    result = await _run(
        simulator.base_url, "replicate/hello-world", {"text": "great"}, "text", tmp_path
    )
    value = result.prediction.output
    assert schema_problems(value, schema["components"]["schemas"]["Output"], schema) == []
    assert value["label"] == "positive" and 0 <= value["confidence"] <= 1
    assert isinstance(value["tokens"], int) and isinstance(value["flagged"], bool)


def _data_url_bytes(url: str) -> bytes:
    return base64.b64decode(url.split(",", 1)[1])
