"""The Explore tab's API (/search, /collection, /model_card, /run_model) with gradio_client, on the
launched app against the simulator: find a model, open it, run it from its own schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import TOKEN
from gradio_client import Client
from gradio_client.exceptions import AppError
from launched import LaunchedApp
from PIL import Image

from neurolink_ui.config import Settings
from neurolink_ui.modalities.generic import MAX_FORM_FIELDS
from neurolink_ui.simulator.runner import Simulator

pytestmark = pytest.mark.slow  # launches the whole app

UPSCALER = "nightmareai/real-esrgan"
EMBEDDINGS = "andreasjansson/clip-features"


@pytest.fixture(scope="module")
def app(
    simulator_session: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LaunchedApp]:
    settings = Settings(api_token=TOKEN, base_url=simulator_session.base_url, poll_cap=60)
    launched = LaunchedApp(settings, tmp_path_factory.mktemp("outputs"))
    yield launched
    launched.close()


@pytest.fixture
def client(app: LaunchedApp, simulator: Simulator) -> Iterator[Client]:
    c = app.client()
    yield c
    c.close()


def refused(client: Client, *args: Any, api_name: str) -> str:
    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=api_name)
    return str(caught.value)


def test_search_finds_a_model_by_a_word_of_its_description(client: Client) -> None:
    results, status = client.predict("upscale", api_name="/search")
    models = [r["model"] for r in results]
    assert UPSCALER in models, models
    found = next(r for r in results if r["model"] == UPSCALER)
    assert "upscale" in found["description"].lower()
    assert set(found) >= {"run_count", "is_official", "cover_image_url", "tags", "score"}
    assert "model" in status


def test_a_collection_lists_its_models(client: Client) -> None:
    results, status = client.predict("super-resolution", api_name="/collection")
    assert [r["model"] for r in results] == [UPSCALER]
    assert "(1 model)" in status


def test_an_upscaler_runs_its_default_example_unchanged(
    client: Client, simulator: Simulator
) -> None:
    card = client.predict(UPSCALER, api_name="/model_card")
    assert card["panel"] is None  # no panel runs an upscaler: Explore does
    assert card["output"] == "files"
    assert card["fields"][0] == "image"  # required first
    example = card["example_input"]
    assert example and example["image"].startswith("data:image/")
    before = set(simulator.predictions)
    _text, gallery, video, audio, files, data, status = client.predict(
        UPSCALER, json.dumps(example), api_name="/run_model"
    )
    assert "Done" in status
    (created,) = [s for pid, s in simulator.predictions.items() if pid not in before]
    assert created.input == example  # sent exactly as the example had it
    assert len(gallery) == 1
    with Image.open(gallery[0]["image"]) as image:
        image.load()
        assert image.width > 48  # the example's 48×32 picture, upscaled
    assert video is None and audio is None and files is None and not data


def test_a_json_output_model_renders_json(client: Client) -> None:
    card = client.predict(EMBEDDINGS, api_name="/model_card")
    assert card["panel"] is None and card["output"] == "json"
    text, gallery, video, audio, files, data, status = client.predict(
        EMBEDDINGS, json.dumps({"inputs": "a cat\na dog"}), api_name="/run_model"
    )
    assert not text and video is None and audio is None and files is None
    assert "Done" in status
    parsed = json.loads(data)
    assert [item["input"] for item in parsed] == ["a cat", "a dog"]
    assert all(isinstance(x, float) for x in parsed[0]["embedding"])
    assert not gallery


def test_a_streaming_model_streams_text(client: Client) -> None:
    job = client.submit(
        "meta/meta-llama-3-8b-instruct",
        json.dumps({"prompt": "Tell me about llamas", "max_tokens": 200}),
        api_name="/run_model",
    )
    updates = list(job)
    final = job.outputs()[-1]
    assert "Done" in final[-1]
    assert "llama" in final[0].lower()
    streamed = {u[0] for u in updates if isinstance(u[0], str) and u[0]}
    assert len(streamed) > 2  # the text grew over several updates


def test_a_panel_model_says_which_panel_fits(client: Client) -> None:
    assert (
        client.predict("black-forest-labs/flux-schnell", api_name="/model_card")["panel"] == "image"
    )
    assert client.predict("meta/musicgen", api_name="/model_card")["panel"] == "music"


def test_bad_queries_get_clear_messages(client: Client) -> None:
    assert "Type something to search for" in refused(client, "", api_name="/search")
    assert "Type something" in refused(client, "   ", api_name="/search")
    long = refused(client, "x" * 10_000, api_name="/search")
    assert "10,000 characters" in long and "500" in long
    # The app keeps serving.
    results, _ = client.predict("music", api_name="/search")
    assert results


def test_hostile_run_inputs_are_refused_clearly(client: Client) -> None:
    deep = "[" * 100 + "]" * 100
    assert "nested more than" in refused(
        client, UPSCALER, '{"a": ' + deep + "}", api_name="/run_model"
    )
    assert "too large" in refused(
        client, UPSCALER, '{"scale": 1' + "0" * 400 + "}", api_name="/run_model"
    )
    assert "JSON object" in refused(client, UPSCALER, "[1, 2]", api_name="/run_model")
    assert "JSON object" in refused(client, UPSCALER, "{not json", api_name="/run_model")
    huge = json.dumps({"prompt": "x" * 200_000})
    assert "characters of JSON" in refused(client, UPSCALER, huge, api_name="/run_model")
    misfit = refused(client, UPSCALER, '{"scale": 50, "colour": "red"}', api_name="/run_model")
    assert "image is required" in misfit and "scale must be between 0 and 10" in misfit
    assert "unknown field 'colour'" in misfit
    assert "owner/name" in refused(client, "not a model", "{}", api_name="/run_model")
    assert "characters long" in refused(client, "a/" + "b" * 5000, "{}", api_name="/run_model")


def test_a_huge_schema_gets_a_capped_form(client: Client, simulator: Simulator) -> None:
    properties = {
        f"knob_{i:04d}": {"type": "number", "default": 0.5, "x-order": i} for i in range(3000)
    }
    properties["text"] = {"type": "string", "x-order": 5000}
    schema = {
        "openapi": "3.0.2",
        "components": {
            "schemas": {
                "Input": {"type": "object", "properties": properties, "required": ["text"]},
                "Output": {"type": "string"},
            }
        },
    }
    simulator.config.model_overrides = {
        "replicate/hello-world": {"openapi_schema": schema, "version": "a" * 64}
    }
    card = client.predict("replicate/hello-world", api_name="/model_card")
    assert len(card["fields"]) == MAX_FORM_FIELDS
    assert card["fields"][0] == "text"
    assert "3,001 inputs" in card["form_note"] and "Input JSON" in card["form_note"]


def test_a_stale_example_loads_what_fits(client: Client, simulator: Simulator) -> None:
    schema = {
        "openapi": "3.0.2",
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "properties": {
                        "text_prompt": {"type": "string", "x-order": 0},
                        "seed": {"type": "integer", "x-order": 1},
                    },
                },
                "Output": {"type": "string", "format": "uri"},
            }
        },
    }
    simulator.config.model_overrides = {
        "google/lyria-2": {"openapi_schema": schema, "version": "b" * 64}
    }
    card = client.predict("google/lyria-2", api_name="/model_card")
    assert "no longer fits" in card["example_note"]
    assert "unknown field 'prompt'" in card["example_note"]
    assert "prompt" not in card["example_input"]


def test_a_malformed_schema_still_opens(client: Client, simulator: Simulator) -> None:
    # Properties that are not objects, a type that is a number, an enum that is text.
    broken = {"a": 5, "b": {"type": 7, "enum": "zz", "x-order": "first"}, "c": None}
    schema = {"components": {"schemas": {"Input": {"properties": broken, "required": "a"}}}}
    simulator.config.model_overrides = {
        "stability-ai/stable-audio-2.5": {"openapi_schema": schema, "version": "c" * 64}
    }
    card = client.predict("stability-ai/stable-audio-2.5", api_name="/model_card")
    assert card["panel"] is None and card["output"] == "json"
    assert card["fields"] == ["a", "b", "c"]  # each still gets a (text) control
    # A run is checked against what could be read of it, with a clear message.
    message = refused(client, "stability-ai/stable-audio-2.5", "{}", api_name="/run_model")
    assert "doesn't fit the model: a is required" in message
