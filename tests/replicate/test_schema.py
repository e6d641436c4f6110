"""InputSchema / ModelInfo against schemas in Cog's real shape (allOf/$ref enums, x-order)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neurolink_ui.replicate.schema import InputField, InputSchema, ModelInfo

SD35_OPENAPI: dict[str, Any] = {
    "openapi": "3.0.2",
    "components": {
        "schemas": {
            "Input": {
                "type": "object",
                "title": "Input",
                "required": ["prompt"],
                "properties": {
                    "seed": {"type": "integer", "title": "Seed", "x-order": 6},
                    "prompt": {"type": "string", "title": "Prompt", "x-order": 0},
                    "cfg": {
                        "type": "number",
                        "title": "Cfg",
                        "default": 5,
                        "minimum": 1,
                        "maximum": 10,
                        "x-order": 3,
                    },
                    "image": {"type": "string", "format": "uri", "x-order": 4},
                    "aspect_ratio": {
                        "allOf": [{"$ref": "#/components/schemas/aspect_ratio"}],
                        "default": "1:1",
                        "description": "Aspect ratio",
                        "x-order": 2,
                    },
                    "output_format": {
                        "allOf": [{"$ref": "#/components/schemas/output_format"}],
                        "default": "webp",
                        "x-order": 7,
                    },
                    "prompt_strength": {
                        "type": "number",
                        "default": 0.85,
                        "minimum": 0,
                        "maximum": 1,
                        "x-order": 5,
                    },
                    "negative_prompt": {"type": "string", "default": "", "x-order": 1},
                    "untitled": {"type": "boolean", "default": False},
                },
            },
            "aspect_ratio": {
                "enum": ["16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"],
                "type": "string",
                "title": "aspect_ratio",
                "description": "An enumeration.",
            },
            "output_format": {"enum": ["webp", "jpg", "png"], "type": "string"},
            "Output": {"type": "string", "format": "uri", "title": "Output"},
        }
    },
}


def test_fields_resolved_and_ordered_by_x_order_then_name() -> None:
    schema = InputSchema.from_openapi(SD35_OPENAPI)
    assert schema.names == [
        "prompt",
        "negative_prompt",
        "aspect_ratio",
        "cfg",
        "image",
        "prompt_strength",
        "seed",
        "output_format",
        "untitled",
    ]
    aspect = schema.get("aspect_ratio")
    assert aspect is not None
    assert aspect.choices is not None and aspect.choices[:2] == ("16:9", "1:1")
    assert aspect.default == "1:1" and aspect.type == "string"
    assert aspect.description == "Aspect ratio"  # the property's own key wins over the $ref's
    image = schema.get("image")
    assert image == InputField(
        name="image", type="file", format="uri", order=4, is_file=True, has_default=False
    )
    prompt = schema.get("prompt")
    assert prompt is not None and prompt.required
    assert schema.has("cfg") and not schema.has("max_tokens") and schema.get("nope") is None
    assert schema.defaults() == {
        "negative_prompt": "",
        "aspect_ratio": "1:1",
        "cfg": 5,
        "prompt_strength": 0.85,
        "output_format": "webp",
        "untitled": False,
    }


def test_validate_reports_every_problem_readably() -> None:
    schema = InputSchema.from_openapi(SD35_OPENAPI)
    problems = schema.validate(
        {"cfg": 12, "aspect_ratio": "7:3", "seed": 1.5, "untitled": "yes", "steps": 4}
    )
    assert problems == [
        "prompt is required",
        "cfg must be between 1 and 10 (got 12)",
        "aspect_ratio must be one of 16:9, 1:1, 21:9, 2:3, 3:2, 4:5, 5:4, 9:16, 9:21 (got '7:3')",
        "seed must be a whole number (got 1.5)",
        "untitled must be true or false (got 'yes')",
        "unknown field 'steps' (this model takes: prompt, negative_prompt, aspect_ratio, cfg, "
        "image, prompt_strength, seed, output_format, untitled)",
    ]
    ok = {"prompt": "a cat", "cfg": 10, "seed": 4.0, "image": Path("x.png"), "prompt_strength": 0}
    assert schema.validate(ok) == []
    assert schema.validate({"prompt": "   "}) == ["prompt is required"]
    assert schema.validate({"prompt": "x", "prompt_strength": -0.1}) == [
        "prompt_strength must be between 0 and 1 (got -0.1)"
    ]
    assert schema.validate({"prompt": "x", "image": 12}) == [
        "image must be a file or URL (got int)"
    ]


def test_coerce_makes_ints_and_drops_blank_optionals() -> None:
    schema = InputSchema.from_openapi(SD35_OPENAPI)
    coerced = schema.coerce(
        {"prompt": "a cat", "seed": 42.0, "negative_prompt": "  ", "image": None, "cfg": 4.5}
    )
    assert coerced == {"prompt": "a cat", "seed": 42, "cfg": 4.5}
    assert isinstance(coerced["seed"], int)


def test_tolerates_missing_pieces_and_cycles() -> None:
    assert InputSchema.from_openapi({}).fields == []
    assert InputSchema.from_openapi(None).names == []  # type: ignore[arg-type]
    dangling = {
        "components": {
            "schemas": {
                "Input": {
                    "properties": {
                        "a": {"allOf": [{"$ref": "#/components/schemas/Missing"}], "default": 1},
                        "b": {"$ref": "#/components/schemas/B"},
                        "c": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
                    }
                },
                "B": {"$ref": "#/components/schemas/B"},
            }
        }
    }
    schema = InputSchema.from_openapi(dangling)
    assert schema.names == ["a", "b", "c"]
    a, c = schema.get("a"), schema.get("c")
    assert a is not None and a.default == 1 and a.type == "string"
    assert c is not None and c.type == "integer" and c.minimum == 0


def _llm_openapi() -> dict[str, Any]:
    return {
        "components": {
            "schemas": {
                "Input": {"properties": {"prompt": {"type": "string", "default": ""}}},
                "Output": {
                    "type": "array",
                    "items": {"type": "string"},
                    "x-cog-array-type": "iterator",
                    "x-cog-array-display": "concatenate",
                },
            }
        }
    }


def test_model_info_from_model_json_and_version_body() -> None:
    model = {
        "owner": "meta",
        "name": "meta-llama-3-70b-instruct",
        "is_official": True,
        "description": "70B chat",
        "latest_version": {"id": "fbfb20b4", "openapi_schema": _llm_openapi()},
    }
    info = ModelInfo.from_model_json(model)
    assert info.ref == "meta/meta-llama-3-70b-instruct"
    assert info.is_official and info.version_id == "fbfb20b4" and info.description == "70B chat"
    assert info.streams and not info.output_is_file
    assert info.input_schema.names == ["prompt"]

    image_model = {"owner": "stability-ai", "name": "sd", "latest_version": None}
    version = {"id": "feb36d70", "openapi_schema": SD35_OPENAPI}
    image = ModelInfo.from_model_json(image_model, version)
    assert not image.is_official and image.version_id == "feb36d70"
    assert image.output_is_file and not image.streams
    assert image.input_schema.has("cfg")

    empty = ModelInfo.from_model_json({"owner": "a", "name": "b"})
    assert empty.version_id is None and empty.input_schema.names == [] and not empty.streams


def test_streams_only_for_concatenated_string_iterators() -> None:
    base = _llm_openapi()
    output = base["components"]["schemas"]["Output"]
    del output["x-cog-array-display"]
    info = ModelInfo.from_model_json(
        {"owner": "a", "name": "b", "latest_version": {"id": "v", "openapi_schema": base}}
    )
    assert not info.streams
    uri_list = {
        "components": {
            "schemas": {
                "Output": {
                    "type": "array",
                    "items": {"type": "string", "format": "uri"},
                    "x-cog-array-type": "iterator",
                }
            }
        }
    }
    files = ModelInfo.from_model_json(
        {"owner": "a", "name": "b"}, {"id": "v", "openapi_schema": uri_list}
    )
    assert files.output_is_file and not files.streams
