"""InputSchema / ModelInfo against schemas in Cog's real shape (allOf/$ref enums, x-order)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from neurolink_ui.catalog import load_catalog
from neurolink_ui.replicate.errors import ReplicateError, SchemaTooComplexError
from neurolink_ui.replicate.schema import (
    MAX_SCHEMA_STEPS,
    InputField,
    InputSchema,
    ModelInfo,
    SchemaResolver,
)

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


# ---- bounded $ref/allOf resolution -------------------------------------------------------------


def _self_listing_schema(k: int) -> dict[str, Any]:
    """The hostile schema that froze the app: node X lists itself k times in `allOf` (about
    600 bytes at k=7), and an input, an array's items and the output point at it. Parsed from JSON, as it arrives: every part is its own
    dict, so memoising by identity gets no help from a shared Python object."""
    ref = {"$ref": "#/components/schemas/X"}
    schema = {
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "properties": {
                        "a": {"allOf": [ref], "default": "x", "x-order": 0},
                        "b": {"type": "array", "items": ref, "x-order": 1},
                    },
                },
                "X": {"type": "string", "title": "X", "allOf": [ref] * k},
                "Output": {"type": "array", "items": ref},
            }
        }
    }
    parsed: dict[str, Any] = json.loads(json.dumps(schema))
    return parsed


@pytest.mark.parametrize("k", [7, 12, 50])
def test_self_listing_allof_resolves_in_steps_linear_in_its_size(k: int) -> None:
    openapi = _self_listing_schema(k)
    resolver = SchemaResolver(openapi)
    schema = InputSchema.from_resolver(resolver)
    resolver.resolve(openapi["components"]["schemas"]["Output"])
    # Each of X's k parts is visited once (its own node, one $ref hop, a cycle stop): a few
    # steps each, where the unmemoised resolver took about k**8.
    assert resolver.steps <= 10 * k + 100
    a, b = schema.get("a"), schema.get("b")
    assert a is not None and a.type == "string" and a.default == "x" and a.title == "X"
    assert b is not None and b.type == "array" and b.item_type == "string"
    info = ModelInfo.from_model_json({"owner": "o", "name": "n"}, {"openapi_schema": openapi})
    assert info.input_schema.names == ["a", "b"] and not info.output_is_file


def _fan_out_schema(levels: int, width: int, properties: int) -> dict[str, Any]:
    """Acyclic, so no cycle check helps: X0 lists X1 `width` times, X1 lists X2, ..., and
    `properties` inputs point at X0. Memoised, each X is resolved once; every visit still costs."""
    schemas: dict[str, Any] = {
        f"X{i}": {
            "allOf": [{"$ref": f"#/components/schemas/X{i + 1}"} for _ in range(width)],
            **{f"key{j}": j for j in range(30)},
        }
        for i in range(levels)
    }
    schemas[f"X{levels}"] = {"type": "string"}
    schemas["Input"] = {
        "properties": {f"p{n}": {"$ref": "#/components/schemas/X0"} for n in range(properties)}
    }
    return {"components": {"schemas": schemas}}


def test_over_budget_schema_is_refused_with_a_typed_error_after_the_budget() -> None:
    openapi = _fan_out_schema(levels=7, width=50, properties=50_000)
    resolver = SchemaResolver(openapi)
    with pytest.raises(SchemaTooComplexError, match="too complex") as refused:
        InputSchema.from_resolver(resolver)
    # The work done is the budget (plus the one step that crossed it), whatever the schema's size.
    assert MAX_SCHEMA_STEPS < resolver.steps <= MAX_SCHEMA_STEPS + 100
    assert isinstance(refused.value, ReplicateError) and isinstance(refused.value, ValueError)
    assert "Pick another model" in str(refused.value)
    # The same refusal reaches every caller: InputSchema, ModelInfo (client.get_model).
    with pytest.raises(SchemaTooComplexError):
        InputSchema.from_openapi(openapi)
    with pytest.raises(SchemaTooComplexError):
        ModelInfo.from_model_json({"owner": "o", "name": "n"}, {"openapi_schema": openapi})


def test_budget_is_shared_by_the_whole_resolution() -> None:
    # k=50 needs a few hundred steps; a resolver allowed fewer refuses it part-way.
    resolver = SchemaResolver(_self_listing_schema(50), budget=100)
    with pytest.raises(SchemaTooComplexError):
        InputSchema.from_resolver(resolver)
    assert resolver.steps <= 100 + 30  # stopped at the step that crossed the budget


def test_references_nested_too_deep_are_refused() -> None:
    chain = {f"C{i}": {"$ref": f"#/components/schemas/C{i + 1}"} for i in range(40)}
    chain["C40"] = {"type": "integer"}
    chain["Input"] = {"properties": {"n": {"$ref": "#/components/schemas/C0"}}}
    with pytest.raises(SchemaTooComplexError, match="levels"):
        InputSchema.from_openapi({"components": {"schemas": chain}})
    shallow = dict(chain, Input={"properties": {"n": {"$ref": "#/components/schemas/C35"}}})
    field = InputSchema.from_openapi({"components": {"schemas": shallow}}).get("n")
    assert field is not None and field.type == "integer"


def _unbounded_resolve(
    root: dict[str, Any], node: dict[str, Any], depth: int = 0
) -> dict[str, Any]:
    """The resolver before the step budget (depth-limited only), kept as the reference: on
    acyclic schemas of real size the bounded one must agree with it exactly."""
    if depth > 16:
        return dict(node)
    merged: dict[str, Any] = {}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        merged.update(
            _unbounded_resolve(root, target if isinstance(target, dict) else {}, depth + 1)
        )
    for part in node.get("allOf") or []:
        if isinstance(part, dict):
            merged.update(_unbounded_resolve(root, part, depth + 1))
    for key in ("anyOf", "oneOf"):
        branches = [b for b in node.get(key) or [] if isinstance(b, dict)]
        non_null = [
            _unbounded_resolve(root, b, depth + 1) for b in branches if b.get("type") != "null"
        ]
        if non_null:
            merged.update(non_null[0])
    merged.update({k: v for k, v in node.items() if k not in ("$ref", "allOf", "anyOf", "oneOf")})
    return merged


def test_every_catalogue_schema_resolves_as_before_within_a_small_budget() -> None:
    catalogue = load_catalog()
    assert len(catalogue) > 10
    for model in catalogue:
        root = model.openapi_schema
        schemas = root["components"]["schemas"]
        resolver = SchemaResolver(root)
        for name in ("Input", "Output"):
            assert resolver.resolve(schemas[name]) == _unbounded_resolve(root, schemas[name])
        for prop in schemas["Input"].get("properties", {}).values():
            resolved = resolver.resolve(prop)
            assert resolved == _unbounded_resolve(root, prop), model.model
            items = resolved.get("items")
            if isinstance(items, dict):
                assert resolver.resolve(items) == _unbounded_resolve(root, items), model.model
        # Real schemas use a sliver of the budget: a hostile one is the only one refused.
        assert resolver.steps < MAX_SCHEMA_STEPS // 100, model.model
        info = ModelInfo.from_model_json({"owner": "o", "name": "n"}, {"openapi_schema": root})
        assert info.input_schema.names == InputSchema.from_openapi(root).names
