"""The simulator's search, collections, README and examples routes, checked against the spec."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from openapi_check import schema_problems, spec, spec_problems
from PIL import Image

from neurolink_ui.catalog import catalog_model, collections, recorded_examples
from neurolink_ui.simulator.routes.discovery import COLLECTIONS_PAGE, EXAMPLES_PAGE

AUTH = {"Authorization": "Bearer r8_discoveryroutes0123"}


@pytest.fixture
def http(simulator: Any) -> Any:
    with httpx.Client(base_url=simulator.base_url, headers=AUTH, timeout=60) as client:
        yield client


def _pages(http: Any, url: str | None, schema: str) -> list[dict[str, Any]]:
    """Every page of a listing, following `next`, each checked against the spec's `schema`."""
    pages = []
    while url:
        page = http.get(url).json()
        assert spec_problems(page, schema) == []
        pages.append(page)
        url = page["next"]
    return pages


def _slugs(body: dict[str, Any]) -> list[str]:
    return [f"{item['model']['owner']}/{item['model']['name']}" for item in body["models"]]


def test_search_answers_the_spec_shape_and_finds_by_a_word_of_the_description(http: Any) -> None:
    # "correction" is only in real-esrgan's description ("…optional face correction…")
    body = http.get("/v1/search", params={"query": "correction"}).json()
    assert spec_problems(body, "schemas_search_response") == []
    assert _slugs(body) == ["nightmareai/real-esrgan"]
    metadata = body["models"][0]["metadata"]
    assert metadata["score"] > 0 and "super-resolution" in metadata["tags"]
    assert body["query"] == "correction" and body["pages"] == []


def test_search_ranks_by_score_and_matches_collections(http: Any) -> None:
    body = http.get("/v1/search", params={"query": "upscale image"}).json()
    assert _slugs(body)[0] == "nightmareai/real-esrgan"
    scores = [item["metadata"]["score"] for item in body["models"]]
    assert scores == sorted(scores, reverse=True)
    assert "super-resolution" not in {c["slug"] for c in body["collections"]}
    embeddings = http.get("/v1/search", params={"query": "embeddings"}).json()
    assert _slugs(embeddings) == ["andreasjansson/clip-features"]
    # the run count the evidence recorded (nodetool's generated node), plus the simulator's runs
    assert embeddings["models"][0]["model"]["run_count"] >= 151_522_532
    assert [c["slug"] for c in embeddings["collections"]] == ["embeddings"]
    assert embeddings["collections"][0]["models"] == ["andreasjansson/clip-features"]


def test_search_limit_and_bad_queries(http: Any) -> None:
    everything = http.get("/v1/search", params={"query": "image", "limit": 50}).json()
    assert len(everything["models"]) > 3
    two = http.get("/v1/search", params={"query": "image", "limit": 2}).json()
    assert _slugs(two) == _slugs(everything)[:2]
    default = http.get("/v1/search", params={"query": "image"}).json()
    assert len(default["models"]) == min(20, len(everything["models"]))
    for params in ({}, {"query": "   "}, {"query": "x", "limit": 0}, {"query": "x", "limit": 51},
                   {"query": "x", "limit": "many"}, {"query": "x" * 2001}):  # fmt: skip
        answer = http.get("/v1/search", params=params)
        assert answer.status_code == 400, params
        assert answer.json()["detail"], params
    assert http.get("/v1/search", params={"query": "zzzqqq"}).json()["models"] == []
    assert httpx.get(f"{http.base_url}/v1/search?query=x").status_code == 401


def test_collections_are_paginated_and_each_lists_its_models(http: Any) -> None:
    pages = _pages(http, "/v1/collections", "schemas_paginated_collection_response")
    assert all(len(page["results"]) <= COLLECTIONS_PAGE for page in pages)
    assert len(pages) == -(-len(collections()) // COLLECTIONS_PAGE) >= 2
    assert pages[0]["previous"] is None and pages[-1]["previous"] is not None
    listed = [item["slug"] for page in pages for item in page["results"]]
    assert listed == [c.slug for c in collections()]
    for item in collections():
        body = http.get(f"/v1/collections/{item.slug}").json()
        assert spec_problems(body, "schemas_collection_response") == []
        assert [f"{m['owner']}/{m['name']}" for m in body["models"]] == list(item.models)
    upscalers = http.get("/v1/collections/super-resolution").json()
    assert [m["name"] for m in upscalers["models"]] == ["real-esrgan"]
    assert "## Overview" in upscalers["full_description"]
    assert http.get("/v1/collections/no-such-thing").status_code == 404
    assert http.get("/v1/collections", params={"cursor": "!!"}).status_code == 400


def test_collection_rules_follow_the_schema(http: Any) -> None:
    by_slug = {c.slug: set(c.models) for c in collections()}
    assert "wan-video/wan-2.2-i2v-fast" in by_slug["image-to-video"]  # requires a start image
    assert "wan-video/wan-2.2-i2v-fast" not in by_slug["text-to-video"]
    assert "wan-video/wan-2.2-t2v-fast" in by_slug["text-to-video"]
    assert "black-forest-labs/flux-kontext-pro" in by_slug["image-editing"]
    assert "black-forest-labs/flux-schnell" not in by_slug["image-editing"]  # no image input
    assert all(catalog_model(ref).official for ref in by_slug["official"])  # type: ignore[union-attr]


def test_readme_is_markdown_text(http: Any, simulator: Any) -> None:
    written = http.get("/v1/models/nightmareai/real-esrgan/readme")
    assert written.status_code == 200 and written.headers["content-type"].startswith("text/plain")
    text = written.text
    assert "![" in text and "](https://" in text  # images
    assert "| --- |" in text and "```python" in text  # a table and code
    generated = http.get("/v1/models/replicate/hello-world/readme").text
    assert generated.startswith("# replicate/hello-world")
    assert "| `text` | string | required |" in generated and '"text": "world"' in generated
    simulator.config.model_overrides = {"replicate/hello-world": {"readme": "<script>x</script>"}}
    assert http.get("/v1/models/replicate/hello-world/readme").text == "<script>x</script>"
    assert http.get("/v1/models/nobody/nothing/readme").status_code == 404
    assert httpx.get(f"{http.base_url}/v1/models/replicate/hello-world/readme").status_code == 401


def test_examples_are_paginated_predictions_with_generated_outputs(http: Any) -> None:
    pages = _pages(
        http, "/v1/models/replicate/hello-world/examples", "schemas_paginated_prediction_response"
    )
    assert len(pages) == 2 and all(len(page["results"]) <= EXAMPLES_PAGE for page in pages)
    outputs = [item["output"] for page in pages for item in page["results"]]
    names = ["world"] + [e["input"]["text"] for e in recorded_examples()["replicate/hello-world"]]
    assert outputs == [f"hello {name}" for name in names]


def test_upscaler_examples_point_at_delivered_larger_images(http: Any, simulator: Any) -> None:
    results = http.get("/v1/models/nightmareai/real-esrgan/examples").json()["results"]
    first, bigger, stale = results
    for item in results:
        assert spec_problems(item, "schemas_prediction_response") == []
    sizes = []
    for item in (first, bigger):
        assert item["status"] == "succeeded" and item["output"].startswith(simulator.base_url)
        image = Image.open(io.BytesIO(http.get(item["output"]).content))
        sizes.append(image.size)
    assert sizes == [(96, 64), (192, 128)]  # the 48x32 input, scaled 2 and 4
    assert stale["status"] == "failed" and "image" in stale["error"] and stale["output"] is None


def test_json_examples_fit_the_models_output_schema(http: Any) -> None:
    model = catalog_model("andreasjansson/clip-features")
    assert model is not None
    output_schema = model.openapi_schema["components"]["schemas"]["Output"]
    results = http.get("/v1/models/andreasjansson/clip-features/examples").json()["results"]
    for item in results:
        assert schema_problems(item["output"], output_schema, model.openapi_schema) == []
        lines = item["input"]["inputs"].splitlines()
        assert [entry["input"] for entry in item["output"]] == lines
    assert len(results[0]["output"][0]["embedding"]) == 768


def test_search_results_carry_a_served_cover_image(http: Any) -> None:
    model = http.get("/v1/search", params={"query": "esrgan"}).json()["models"][0]["model"]
    cover = httpx.get(model["cover_image_url"])
    assert cover.status_code == 200 and cover.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(cover.content)).size == (320, 200)
    assert spec()["paths"]["/search"]["get"]["parameters"][1]["schema"]["maximum"] == 50
