"""The discovery client (search, collections, README, examples) against the simulator on loopback,
and against a hostile API (a proxy rewriting the simulator's answers, tests/hostile_api.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hostile_api import HostileAPI, Trap

from neurolink_ui.catalog import collections
from neurolink_ui.replicate import (
    InvalidRequestError,
    ModelRef,
    ReplicateClient,
    ReplicateError,
    UpstreamError,
)
from neurolink_ui.replicate.client import MAX_JSON_BODY
from neurolink_ui.replicate.discovery import (
    MAX_DESCRIPTION_CHARS,
    MAX_QUERY_CHARS,
    MAX_README_BYTES,
    Collection,
    CollectionSummary,
    ModelSummary,
    SearchResults,
    cursor_of,
    get_collection,
    get_model_readme,
    list_collections,
    list_model_examples,
    search_models,
)

ESRGAN = ModelRef.parse("nightmareai/real-esrgan")
HELLO = ModelRef.parse("replicate/hello-world")


@pytest.fixture
async def client(simulator: Any) -> AsyncIterator[ReplicateClient]:
    async with ReplicateClient(simulator.base_url, max_retries=1, retry_base_delay=0.01) as c:
        yield c


def _requests(simulator: Any, prefix: str) -> list[Any]:
    return [r for r in simulator.requests if r.path.startswith(prefix)]


async def test_search_finds_a_model_by_a_word_of_its_description(
    client: ReplicateClient, simulator: Any, token: str
) -> None:
    results = await search_models(client, "  correction ", token=token)
    assert isinstance(results, SearchResults) and results.query == "correction"
    assert [m.ref for m in results.models] == [ESRGAN]
    found = results.models[0]
    assert isinstance(found, ModelSummary)
    assert found.description == "Real-ESRGAN with optional face correction and adjustable upscale"
    # no run count recorded in its evidence: the simulator's own runs of it (earlier tests')
    runs = sum(1 for p in simulator.predictions.values() if p.model.slug == ESRGAN.slug)
    assert found.run_count == runs and found.visibility == "public" and not found.is_official
    assert found.score is not None and found.score > 0 and "super-resolution" in found.tags
    assert found.version_id == "42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b"
    # the cover is on the API's own origin: allowed by the URL policy, not downloaded here
    assert found.cover_image_url == f"{simulator.base_url}/covers/nightmareai/real-esrgan.webp"
    assert (
        found.cover_image_refused is None
        and found.url == "https://replicate.com/nightmareai/real-esrgan"
    )
    assert _requests(simulator, "/covers/") == []
    assert results.next_cursor is None and results.skipped == 0


async def test_search_limit_and_collections(client: ReplicateClient, token: str) -> None:
    many = await search_models(client, "image", token=token, limit=50)
    few = await search_models(client, "image", token=token, limit=3)
    assert len(many.models) > 3 and [m.ref for m in few.models] == [m.ref for m in many.models][:3]
    clamped = await search_models(client, "image", token=token, limit=10_000)  # sent as 50
    assert clamped.models == many.models
    embeddings = await search_models(client, "embeddings", token=token)
    assert embeddings.collections == (
        CollectionSummary(
            "embeddings", "Get embeddings", "Models that generate embeddings from inputs",
            (ModelRef.parse("andreasjansson/clip-features"),),
        ),
    )  # fmt: skip


async def test_bad_queries_fail_before_any_request(
    client: ReplicateClient, simulator: Any, token: str
) -> None:
    for query in ("", "   \n\t", "\x00\x01"):
        with pytest.raises(InvalidRequestError, match="Type something"):
            await search_models(client, query, token=token)
    with pytest.raises(InvalidRequestError, match=f"under {MAX_QUERY_CHARS}"):
        await search_models(client, "x" * 10_000, token=token)
    for limit in (float("nan"), "5", None, True):
        with pytest.raises(InvalidRequestError, match="whole number"):
            await search_models(client, "image", token=token, limit=limit)  # type: ignore[arg-type]
    assert _requests(simulator, "/v1/search") == []


async def test_collections_follow_pagination(
    client: ReplicateClient, simulator: Any, token: str
) -> None:
    listed = await list_collections(client, token=token)
    assert [c.slug for c in listed] == [c.slug for c in collections()]
    assert len(_requests(simulator, "/v1/collections")) >= 2  # more than one page was read
    upscalers = await get_collection(client, "super-resolution", token=token)
    assert isinstance(upscalers, Collection) and upscalers.name == "Super resolution"
    assert [m.ref for m in upscalers.models] == [ESRGAN] and upscalers.models[0].score is None
    assert "## Overview" in upscalers.full_description
    before = len(simulator.requests)
    for slug in ("../account", "a/b", "", "x" * 101, "super resolution"):
        with pytest.raises(InvalidRequestError, match="not a collection slug"):
            await get_collection(client, slug, token=token)
    assert len(simulator.requests) == before
    with pytest.raises(ReplicateError, match="no collection 'no-such-thing'") as missing:
        await get_collection(client, "no-such-thing", token=token)
    assert missing.value.status == 404


async def test_readme_is_text_and_capped(
    client: ReplicateClient, simulator: Any, token: str
) -> None:
    text = await get_model_readme(client, ESRGAN, token=token)
    assert text.startswith("# Real-ESRGAN") and "| `scale` |" in text and "```python" in text
    huge = "# Huge\n" + "ä" * (MAX_README_BYTES * 4)  # two bytes each: cut mid-character
    simulator.config.model_overrides = {"replicate/hello-world": {"readme": huge}}
    capped = await get_model_readme(client, HELLO, token=token)
    assert len(capped.encode()) < MAX_README_BYTES + 200
    assert capped.startswith("# Huge\nää") and "README cut at 256 KB" in capped
    assert "\ufffd" not in capped
    assert await get_model_readme(client, ModelRef.parse("nobody/nothing"), token=token) == ""
    with pytest.raises(InvalidRequestError):
        await get_model_readme(client, ModelRef("..", "x"), token=token)


async def test_examples_follow_pages_up_to_the_limit(
    client: ReplicateClient, simulator: Any, token: str
) -> None:
    examples = await list_model_examples(client, HELLO, token=token)
    assert [e.output for e in examples] == [
        "hello world", "hello Alice", "hello Bob", "hello Carol", "hello Dave",
    ]  # fmt: skip
    assert all(e.id.startswith("ex") and e.created_at for e in examples)
    simulator.reset()
    two = await list_model_examples(client, HELLO, token=token, limit=2)
    assert [e.input for e in two] == [{"text": "world"}, {"text": "Alice"}]
    assert len(_requests(simulator, "/v1/models/replicate/hello-world/examples")) == 1
    upscaled = await list_model_examples(client, ESRGAN, token=token)
    assert [e.status for e in upscaled] == ["succeeded", "succeeded", "failed"]
    assert upscaled[0].output.startswith(f"{simulator.base_url}/delivery/")


async def test_default_example_on_model_info(client: ReplicateClient, token: str) -> None:
    info = await client.get_model(ESRGAN, token=token)
    assert info.default_example is not None
    assert info.default_example.input == info.example_input
    # /examples lists the default example first, under the same id (a UI can drop the repeat)
    first = (await list_model_examples(client, ESRGAN, token=token, limit=1))[0]
    assert info.default_example.id == first.id != ""
    assert info.example_input["scale"] == 2 and info.example_input["image"].startswith(
        "data:image/png"
    )


def test_cursor_of_reads_only_the_cursor() -> None:
    assert cursor_of("https://elsewhere.example/v1/collections?cursor=bzo2&x=1") == "bzo2"
    for bad in (None, "", 12, "https://a/b", "https://a/b?cursor=", "https://a/b?cursor=a%20b",
                "https://a/b?cursor=" + "x" * 3000):  # fmt: skip
        assert cursor_of(bad) is None


# ---- a hostile API ---------------------------------------------------------------------------


async def test_hostile_search_results_are_dropped_capped_and_flagged(
    simulator: Any, token: str
) -> None:
    with Trap() as trap:

        def rewrite(method: str, path: str, body: Any) -> Any:
            if path == "/v1/search" and isinstance(body, dict):
                good = body["models"][0]
                model = good["model"]
                model["description"] = "y" * 1_000_000
                model["cover_image_url"] = f"{trap.url}/cover.png"  # plain http elsewhere
                model["url"] = "javascript:alert(1)"
                model["run_count"] = -5
                good["metadata"]["tags"] = ["t"] * 500 + [{"no": "string"}]
                good["metadata"]["score"] = float("inf")
                bad_refs = [
                    {"model": {**model, "owner": "../../etc", "name": "passwd"}, "metadata": {}},
                    {"model": {**model, "owner": "a b"}, "metadata": {}},
                    {"model": {**model, "owner": "x" * 500}, "metadata": {}},
                    {"model": "not an object", "metadata": {}},
                    {"model": {**model, "name": "ok", "cover_image_url": "https://10.0.0.7/c.png"},
                     "metadata": {}},
                ]  # fmt: skip
                body["models"] = [good, *bad_refs]
            return body

        with HostileAPI(simulator.base_url, rewrite) as api:
            async with ReplicateClient(api.base_url, max_retries=0) as client:
                results = await search_models(client, "correction", token=token)
        assert trap.connections == 0
    assert results.skipped == 4
    first, private = results.models
    assert len(first.description) == MAX_DESCRIPTION_CHARS and first.description.endswith("…")
    assert first.cover_image_url is None and "only https" in (first.cover_image_refused or "")
    assert first.url is None and first.run_count is None and first.score is None
    assert first.tags == ("t",)
    assert private.ref == ModelRef("nightmareai", "ok")
    assert private.cover_image_url is None and "private address" in (
        private.cover_image_refused or ""
    )


async def test_hostile_pagination_stays_on_the_configured_api(simulator: Any, token: str) -> None:
    with Trap() as trap:

        def rewrite(method: str, path: str, body: Any) -> Any:
            if isinstance(body, dict) and isinstance(body.get("next"), str):
                # point the next page at another server, keeping the cursor
                body["next"] = body["next"].replace(api.base_url, trap.url)
            if path.endswith("/examples") and isinstance(body, dict) and not body["previous"]:
                deep: Any = "bottom"
                for _ in range(200):
                    deep = [deep]
                body["results"][0]["input"] = {"nested": deep}
                body["results"][1]["input"] = "not an object"
            return body

        with HostileAPI(simulator.base_url, rewrite) as api:
            async with ReplicateClient(api.base_url, max_retries=0) as client:
                listed = await list_collections(client, token=token)
                examples = await list_model_examples(client, HELLO, token=token)
        assert trap.connections == 0
    assert [c.slug for c in listed] == [c.slug for c in collections()]  # page 2 read via cursor
    assert [e.output for e in examples] == ["hello Bob", "hello Carol", "hello Dave"]


async def test_an_endless_next_link_is_bounded(simulator: Any, token: str) -> None:
    def rewrite(method: str, path: str, body: Any) -> Any:
        if path == "/v1/collections" and isinstance(body, dict):
            body["next"] = f"{api.base_url}/v1/collections?cursor=bzo2"  # always page 2
        return body

    with HostileAPI(simulator.base_url, rewrite) as api:
        async with ReplicateClient(api.base_url, max_retries=0) as client:
            listed = await list_collections(client, token=token)
    # page 1, then page 2 once: a repeated cursor ends the walk, duplicates are dropped
    assert [c.slug for c in listed] == [c.slug for c in collections()]
    assert len(_requests(simulator, "/v1/collections")) == 2


async def test_url_refusal_is_the_netguard_policy_without_a_lookup(
    client: ReplicateClient, simulator: Any
) -> None:
    allowed = (
        "https://replicate.delivery/pbxt/x/cover.png",
        f"{simulator.base_url}/covers/a/b.webp",  # the API's own origin
        "https://8.8.8.8/x.png",  # a public literal address (nothing is fetched here)
    )
    for url in allowed:
        assert client.url_refusal(url) is None, url
    refused = {
        "http://replicate.delivery/x.png": "only https",
        "javascript:alert(1)": "only https",
        "data:image/png;base64,AAAA": "only https",
        "https://10.1.2.3/x.png": "private",
        "https://[::1]/x.png": "loopback",
        "https://169.254.169.254/latest": "link-local",
        "https:///nohost": "names no host",
        "http://127.0.0.1:1/elsewhere": "only https",  # loopback, but not the API's port
    }
    for url, reason in refused.items():
        assert reason in (client.url_refusal(url) or ""), url


async def test_unreadable_and_oversized_answers_are_refused_not_parsed(token: str) -> None:
    answers = {
        "deep": b"[" * 200_000 + b"]" * 200_000,  # json.loads would recurse past the stack
        "huge": b'{"models": [], "pad": "' + b"x" * (MAX_JSON_BODY + 10) + b'"}',
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answers[request.url.params["query"]])

    transport = httpx.MockTransport(handler)  # in memory: no socket at all
    async with ReplicateClient("https://api.replicate.com", transport=transport) as client:
        with pytest.raises(UpstreamError, match="unreadable"):
            await search_models(client, "deep", token=token)
        with pytest.raises(UpstreamError, match="larger than"):
            await search_models(client, "huge", token=token)
