"""The simulator's catalogue: Cog-style schemas, Replicate-style validation, chat generation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from neurolink_ui.simulator import catalog
from neurolink_ui.simulator.catalog import SimModel

ALL_MODELS = catalog.all_models()
MODEL_IDS = [m.slug for m in ALL_MODELS]


def _no_files(url: str) -> bytes:
    raise ValueError(f"unexpected file {url}")


def _resolve_property(schema: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    """Merge an allOf/$ref enum into the property, as a client resolving Cog schemas does."""
    merged = {k: v for k, v in prop.items() if k != "allOf"}
    for part in prop.get("allOf", []):
        ref = part["$ref"]
        assert ref.startswith("#/components/schemas/")
        merged = {**schema["components"]["schemas"][ref.rsplit("/", 1)[1]], **merged}
    return merged


def _required_sample(model: SimModel) -> dict[str, Any]:
    """Minimal valid input: a value for every required field."""
    sample: dict[str, Any] = {}
    for f in model.fields:
        if f.required:
            sample[f.name] = "https://example.invalid/x" if f.format == "uri" else "hello"
    return sample


def _chat(slug: str, **input: Any) -> str:
    owner, name = slug.split("/")
    model = catalog.get_model(owner, name)
    assert model is not None
    resolved, problems = model.validate(input)
    assert problems == []
    generation = model.generate(resolved, _no_files)
    assert generation.tokens is not None
    return "".join(generation.tokens)


@pytest.mark.parametrize("model", ALL_MODELS, ids=MODEL_IDS)
def test_schema_is_cog_style_and_defaults_validate(model: SimModel) -> None:
    schema = model.openapi_schema()
    assert schema["openapi"] == "3.0.2"
    schemas = schema["components"]["schemas"]
    input_schema = schemas["Input"]
    assert input_schema["type"] == "object" and input_schema["title"] == "Input"
    orders = [p["x-order"] for p in input_schema["properties"].values()]
    assert orders == list(range(len(orders)))
    defaults: dict[str, Any] = {}
    for name, prop in input_schema["properties"].items():
        assert prop["description"]
        full = _resolve_property(schema, prop)
        assert full["type"] in {"string", "integer", "number", "boolean", "array"}, name
        if "allOf" in prop:
            assert "type" not in prop and full["enum"], name  # Cog puts the enum in components
        if "default" in full:
            defaults[name] = full["default"]
            if "enum" in full:
                assert full["default"] in full["enum"], name
            if "minimum" in full:
                assert full["default"] >= full["minimum"], name
            if "maximum" in full:
                assert full["default"] <= full["maximum"], name
    for req in input_schema.get("required", []):
        assert req in input_schema["properties"]
    resolved, problems = model.validate({**defaults, **_required_sample(model)})
    assert problems == []
    assert set(defaults) <= set(resolved)
    assert re.fullmatch(r"[0-9a-f]{64}", model.version_id)
    assert catalog.find_version(model.version_id) == (model, model.version_id)
    assert catalog.find_version(model.internal_version_id) == (model, model.internal_version_id)


def test_catalogue_lookup_and_kinds() -> None:
    assert catalog.get_model("meta", "nope") is None
    assert catalog.find_version("0" * 64) is None
    kinds = {m.kind for m in ALL_MODELS}
    assert kinds == {"chat", "image", "video", "avatar", "music", "other"}
    musetalk = catalog.get_model("douwantech", "musetalk")
    assert musetalk is not None and not musetalk.is_official
    assert {f.name for f in musetalk.fields} == {"video_input", "audio_input", "bbox_shift", "fps"}
    llama3 = catalog.get_model("meta", "meta-llama-3-70b-instruct")
    assert llama3 is not None and llama3.field_spec("system_prompt") is None
    assert llama3.field_spec("prompt_template").default == "{prompt}"  # type: ignore[union-attr]
    hello = catalog.get_model("replicate", "hello-world")
    assert hello is not None and not hello.streams
    assert all(m.streams for m in ALL_MODELS if m.kind == "chat" and m.name != "hello-world")


def test_validation_reports_replicate_invalid_fields() -> None:
    model = catalog.get_model("black-forest-labs", "flux-schnell")
    assert model is not None
    _, problems = model.validate(
        {
            "aspect_ratio": "7:3",
            "num_outputs": 9,
            "output_quality": -1,
            "seed": "abc",
            "go_fast": 1,
            "bpm": 80,
        }
    )
    by_field = {p["field"]: p for p in problems}
    assert by_field["prompt"] == {
        "type": "required",
        "field": "prompt",
        "description": "prompt is required",
    }
    assert by_field["aspect_ratio"]["type"] == "enum"
    assert '"16:9"' in by_field["aspect_ratio"]["description"]
    assert by_field["num_outputs"]["type"] == "number_lte"
    assert by_field["num_outputs"]["description"] == "num_outputs must be less than or equal to 4"
    assert by_field["output_quality"]["type"] == "number_gte"
    assert by_field["seed"]["type"] == "type"
    assert by_field["seed"]["description"] == "Invalid type. Expected: integer, given: string"
    assert by_field["go_fast"]["type"] == "type"
    assert by_field["bpm"]["type"] == "additional_property_not_allowed"
    assert len(problems) == 7


def test_validation_applies_defaults_and_accepts_nullable_and_integral_floats() -> None:
    model = catalog.get_model("black-forest-labs", "flux-1.1-pro")
    assert model is not None
    resolved, problems = model.validate({"prompt": "x", "seed": None, "safety_tolerance": 3.0})
    assert problems == []
    assert resolved["aspect_ratio"] == "1:1" and resolved["output_format"] == "webp"
    assert resolved["safety_tolerance"] == 3 and isinstance(resolved["safety_tolerance"], int)
    assert "seed" not in resolved
    _, problems = model.validate({"prompt": "x", "output_quality": None})
    assert [p["type"] for p in problems] == [
        "type"
    ]  # null only for optional fields without default
    _, problems = model.validate({"prompt": "x", "safety_tolerance": 2.5})
    assert [p["type"] for p in problems] == ["type"]
    _, problems = model.validate(["not", "an", "object"])  # type: ignore[arg-type]
    assert problems[0]["field"] == "input"


def test_array_items_are_type_checked() -> None:
    model = catalog.get_model("ideogram-ai", "ideogram-v3-turbo")
    assert model is not None
    _, problems = model.validate({"prompt": "x", "style_reference_images": ["ok", 3]})
    assert problems == [
        {
            "type": "type",
            "field": "style_reference_images.1",
            "description": "Invalid type. Expected: string, given: integer",
        }
    ]


@pytest.mark.parametrize(
    ("slug", "system_field"),
    [
        ("anthropic/claude-4-sonnet", "system_prompt"),
        ("google/gemini-2.5-flash", "system_instruction"),
    ],
)
def test_chat_tokens_quote_prompt_and_system_and_end_empty(slug: str, system_field: str) -> None:
    owner, name = slug.split("/")
    model = catalog.get_model(owner, name)
    assert model is not None
    resolved, problems = model.validate(
        {"prompt": "Explain photosynthesis to a child", system_field: "Speak like a pirate."}
    )
    assert problems == []
    generation = model.generate(resolved, _no_files)
    tokens = generation.tokens
    assert tokens is not None and tokens[-1] == "" and not generation.single
    text = "".join(tokens)
    assert "Explain photosynthesis to a child" in text
    assert "Speak like a pirate." in text
    assert any(t.startswith(" ") for t in tokens)  # word pieces carry leading spaces
    assert all(len(t.strip()) <= 7 or " " in t.strip() for t in tokens)
    again = model.generate(resolved, _no_files)
    assert again.tokens == tokens  # deterministic


@pytest.mark.parametrize("limit", [1, 5, 17])
def test_chat_respects_max_tokens(limit: int) -> None:
    model = catalog.get_model("meta", "meta-llama-3-8b-instruct")
    assert model is not None
    resolved, _ = model.validate({"prompt": "Write a long essay about rivers", "max_tokens": limit})
    tokens = model.generate(resolved, _no_files).tokens
    assert tokens is not None and len(tokens) == limit + 1 and tokens[-1] == ""


def test_chat_min_tokens() -> None:
    long_text = _chat("meta/meta-llama-3-70b-instruct", prompt="Hi", min_tokens=200)
    assert len(long_text.split()) >= 120


def _schema_only_model(properties: dict[str, Any]) -> SimModel:
    """A model that exists only as a schema: the generic chat generator serves it unchanged."""
    for order, prop in enumerate(properties.values()):
        prop["x-order"] = order
    schema = {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "paths": {},
        "components": {
            "schemas": {
                "Input": {"type": "object", "title": "Input", "properties": properties},
                "Output": {
                    "type": "array",
                    "items": {"type": "string"},
                    "title": "Output",
                    "x-cog-array-type": "iterator",
                    "x-cog-array-display": "concatenate",
                },
            }
        },
    }
    return SimModel("someone", "llm", False, "chat", "an LLM", schema)


def test_chat_generator_reads_stop_sequences_messages_and_any_token_limit() -> None:
    model = _schema_only_model(
        {
            "prompt": {"type": "string", "title": "Prompt", "default": ""},
            "messages": {"type": "array", "title": "Messages", "items": {"type": "object"}},
            "max_output_tokens": {"type": "integer", "title": "Max", "default": 6, "minimum": 1},
            "stop_sequences": {"type": "string", "title": "Stops", "nullable": True},
        }
    )
    resolved, problems = model.validate(
        {"prompt": "Tell me about owls", "stop_sequences": "owls,<x>"}
    )
    assert problems == [] and model.streams
    tokens = model.generate({**resolved, "max_output_tokens": 500}, _no_files).tokens
    stopped = "".join(tokens or [])
    assert "owls" not in stopped and stopped.startswith('You asked: "Tell me about ')
    assert len(model.generate(resolved, _no_files).tokens or []) == 6 + 1
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "I own a cat."},
        {"role": "assistant", "content": "Lovely."},
        {"role": "user", "content": [{"type": "text", "text": "multi-turn memory check"}]},
    ]
    resolved, problems = model.validate({"messages": messages, "max_output_tokens": 500})
    assert problems == []
    text = "".join(model.generate(resolved, _no_files).tokens or [])
    assert '1. "I own a cat."' in text


LLAMA3_DIALOG = (
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou answer tersely.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nMy favourite colour is teal.<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\nNoted.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nI live in Lisbon.<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\nNice.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n{last}<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)


def test_llama3_template_last_user_turn_and_system() -> None:
    text = _chat("meta/meta-llama-3-70b-instruct", prompt=LLAMA3_DIALOG.format(last="What is 2+2?"))
    assert 'You asked: "What is 2+2?"' in text
    assert "You answer tersely." in text
    assert "teal" not in text and "<|" not in text


def test_multi_turn_memory_check_lists_previous_user_turns() -> None:
    prompt = LLAMA3_DIALOG.format(last="multi-turn memory check: what did I tell you?")
    text = _chat("meta/meta-llama-3-70b-instruct", prompt=prompt)
    assert '1. "My favourite colour is teal."' in text
    assert '2. "I live in Lisbon."' in text
    plain = "User: I own a cat.\nAssistant: Lovely.\nUser: multi-turn memory check"
    assert '"I own a cat."' in _chat("deepseek-ai/deepseek-r1", prompt=plain)
    first = _chat("meta/meta-llama-3-8b-instruct", prompt="multi-turn memory check")
    assert "can't see any earlier user messages" in first


def test_deepseek_r1_thinks_first() -> None:
    text = _chat("deepseek-ai/deepseek-r1", prompt="Why is the sky blue?")
    assert text.startswith("<think>\n")
    thought, _, answer = text.partition("</think>")
    assert "Why is the sky blue?" in thought and "Why is the sky blue?" in answer


def test_hello_world_is_plain_string() -> None:
    model = catalog.get_model("replicate", "hello-world")
    assert model is not None
    assert model.openapi_schema()["components"]["schemas"]["Output"] == {
        "type": "string",
        "title": "Output",
    }
    resolved, problems = model.validate({"text": "sim"})
    assert problems == []
    generation = model.generate(resolved, _no_files)
    assert generation.tokens == ["hello sim"] and generation.single


def test_parse_conversation_plain_prompt() -> None:
    conv = catalog.parse_conversation("just a question?", "be kind")
    assert conv.system == "be kind" and conv.user_turns == ["just a question?"]
