"""Finding models: search, collections, a model's README and its example predictions (no Gradio).

Functions over `ReplicateClient` (its one pooled transport, retries and error types). Everything
the API hands back is treated as hostile: strings, lists and the README are capped, results whose
`owner/name` is not a valid model reference are dropped (counted in `skipped`), slugs and refs are
checked before they go into a URL path, and pagination follows only the `cursor` of a `next` URL,
always on the client's own base URL.

URLs in the results, and what a UI may do with them:
- `ModelSummary.cover_image_url` has passed the client's URL policy as far as it can be judged
  without a lookup (https, or the API's own origin; no literal private address); a refused one is
  None, with the reason in `cover_image_refused`. Nothing here downloads it. A server that wants
  the image fetches it with `client.download_outputs(url, folder, kind="image")`, which applies
  the whole policy (every resolved address public) and the image size cap.
- `ModelSummary.url` (the model's page) passed the same check; show it as a link only.
- Example outputs are as the API sent them: download them with `client.download_outputs`.
- README Markdown may hold anything (scripts, `javascript:` links, http images): the UI must
  sanitise it before rendering.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from .client import ReplicateClient, TextBody
from .errors import InvalidRequestError, ReplicateError
from .types import ModelExample, ModelRef

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_README_BYTES",
    "MAX_SEARCH_LIMIT",
    "Collection",
    "CollectionSummary",
    "ModelExample",
    "ModelSummary",
    "SearchResults",
    "get_collection",
    "get_model_readme",
    "list_collections",
    "list_model_examples",
    "search_models",
]

MAX_QUERY_CHARS = 500
MAX_SEARCH_LIMIT = 50  # the spec's maximum for `limit`
MAX_README_BYTES = 256 * 1024
MAX_EXAMPLES = 50
MAX_COLLECTIONS = 500
MAX_COLLECTION_MODELS = 200
MAX_PAGES = 10  # pages followed per listing, however many `next` links the API sends
MAX_PAGE_ITEMS = 200  # items read from one page
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 2_000
MAX_FULL_DESCRIPTION_CHARS = 64 * 1024
MAX_TAGS = 16
MAX_TAG_CHARS = 48
MAX_URL_CHARS = 2_048
MAX_REF_PART_CHARS = 100
_MAX_RUN_COUNT = 10**15

T = TypeVar("T")

_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_CURSOR = re.compile(r"[A-Za-z0-9+/=_.~%-]{1,1000}")
_VERSION = re.compile(r"[A-Za-z0-9]{1,128}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class ModelSummary:
    """One model in search results or a collection; every field bounded and checked."""

    ref: ModelRef
    description: str
    run_count: int | None
    cover_image_url: str | None  # passed the URL policy's static check; see the module doc
    url: str | None
    is_official: bool
    visibility: str  # "public" | "private" | "unknown"
    tags: tuple[str, ...]
    score: float | None  # search relevance (metadata.score); None outside search
    generated_description: str = ""  # search's longer AI-written description, "" when none
    version_id: str | None = None  # latest_version.id
    cover_image_refused: str | None = None  # why a cover image URL was dropped


@dataclass(frozen=True)
class CollectionSummary:
    slug: str
    name: str
    description: str
    models: tuple[ModelRef, ...] = ()  # search results name a collection's models; lists don't


@dataclass(frozen=True)
class SearchResults:
    models: tuple[ModelSummary, ...]
    next_cursor: str | None  # search (beta) has no pagination: None from Replicate's API
    query: str
    collections: tuple[CollectionSummary, ...] = ()  # collections matching the query
    skipped: int = 0  # results dropped as malformed (bad owner/name, wrong shape)


@dataclass(frozen=True)
class Collection:
    slug: str
    name: str
    description: str
    models: tuple[ModelSummary, ...]
    full_description: str = ""  # Markdown, capped; sanitise before rendering
    skipped: int = 0


# ---- requests --------------------------------------------------------------------------------


async def search_models(
    client: ReplicateClient, query: str, *, token: str, limit: int = 20
) -> SearchResults:
    """`GET /v1/search`: public models matching `query`, best first, at most `limit` (1-50)."""
    text = _CONTROL.sub(" ", query or "").strip()
    if not text:
        raise InvalidRequestError("Type something to search for (a model name, task or word).")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidRequestError(
            f"The search is {len(text):,} characters long; keep it under {MAX_QUERY_CHARS}."
        )
    count = _count(limit, MAX_SEARCH_LIMIT)
    data = await client._request(
        "GET", "/v1/search", token=token, params={"query": text, "limit": count}
    )
    body = _as_dict(data)
    entries = [_as_dict(item) for item in _as_list(body.get("models"))[:count]]
    models, skipped = _summaries(client, [(e.get("model"), e.get("metadata")) for e in entries])
    collections = tuple(
        c for c in (_collection_summary(c) for c in _as_list(body.get("collections"))[:50]) if c
    )
    return SearchResults(
        models=tuple(models),
        next_cursor=None,
        query=text,
        collections=collections,
        skipped=skipped,
    )


async def list_collections(client: ReplicateClient, *, token: str) -> tuple[CollectionSummary, ...]:
    """`GET /v1/collections`, every page up to MAX_PAGES pages and MAX_COLLECTIONS entries."""
    listed = await _paginated(
        client, "/v1/collections", _collection_summary, token=token, limit=MAX_COLLECTIONS
    )
    unique = {summary.slug: summary for summary in reversed(listed)}  # the first of each slug
    return tuple(unique[slug] for slug in dict.fromkeys(s.slug for s in listed))


async def get_collection(client: ReplicateClient, slug: str, *, token: str) -> Collection:
    """`GET /v1/collections/{slug}`: the collection and its models (at most 200)."""
    checked = _checked_slug(slug)
    try:
        data = _as_dict(await client._request("GET", f"/v1/collections/{checked}", token=token))
    except ReplicateError as exc:
        if exc.status != 404:
            raise
        raise ReplicateError(
            f"There is no collection '{checked}'. List them with list_collections().",
            status=404, title="Collection not found", detail=exc.detail,
        ) from None  # fmt: skip
    items = _as_list(data.get("models"))[:MAX_COLLECTION_MODELS]
    models, skipped = _summaries(client, [(item, None) for item in items])
    return Collection(
        slug=_slug_or(data.get("slug"), checked),
        name=_text(data.get("name"), MAX_NAME_CHARS) or checked,
        description=_text(data.get("description"), MAX_DESCRIPTION_CHARS),
        models=tuple(models),
        full_description=_text(data.get("full_description"), MAX_FULL_DESCRIPTION_CHARS, True),
        skipped=skipped,
    )


async def get_model_readme(client: ReplicateClient, ref: ModelRef, *, token: str) -> str:
    """`GET /v1/models/{owner}/{name}/readme`: Markdown (unsanitised), at most MAX_README_BYTES;
    a longer one is cut there with a note. "" when the model has no README (404: the spec's
    "README not found"; an unknown model is reported by `client.get_model`)."""
    try:
        body = await client._request(
            "GET", _model_path(ref) + "/readme", token=token, max_body=MAX_README_BYTES, text=True
        )
    except ReplicateError as exc:
        if exc.status == 404:
            return ""
        raise
    assert isinstance(body, TextBody)
    text = body.text.replace("\x00", "")
    if body.truncated:
        text = text.rstrip("\ufffd") + (
            f"\n\n*(README cut at {MAX_README_BYTES // 1024} KB; read it whole at "
            f"https://replicate.com/{ref.slug}.)*\n"
        )
    return text


async def list_model_examples(
    client: ReplicateClient, ref: ModelRef, *, token: str, limit: int = 20
) -> tuple[ModelExample, ...]:
    """`GET /v1/models/{owner}/{name}/examples`: up to `limit` (≤ 50) example predictions,
    following pages; examples without a usable input or too large are left out."""
    count = _count(limit, MAX_EXAMPLES)
    path = _model_path(ref) + "/examples"
    examples = await _paginated(
        client, path, ModelExample.from_json, token=token, limit=count, model=ref.slug
    )
    return tuple(examples)


# ---- pagination ------------------------------------------------------------------------------


async def _paginated(
    client: ReplicateClient,
    path: str,
    parse: Callable[[Any], T | None],
    *,
    token: str,
    limit: int,
    model: str | None = None,
) -> list[T]:
    """Up to `limit` parsed `results` of a paginated listing (items `parse` refuses are left
    out), following `next` by its cursor on our own base URL, at most MAX_PAGES pages."""
    found: list[T] = []
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        params = {"cursor": cursor} if cursor else None
        page = _as_dict(await client._request("GET", path, token=token, model=model, params=params))
        for item in _as_list(page.get("results"))[:MAX_PAGE_ITEMS]:
            parsed = parse(item)
            if parsed is not None and len(found) < limit:
                found.append(parsed)
        cursor = cursor_of(page.get("next"))
        if len(found) >= limit or cursor is None or cursor in seen:
            break
        seen.add(cursor)
    return found


def cursor_of(next_url: Any) -> str | None:
    """The `cursor` query parameter of a `next` link (the link itself is never requested)."""
    if not isinstance(next_url, str) or not next_url or len(next_url) > MAX_URL_CHARS:
        return None
    try:
        value = httpx.URL(next_url).params.get("cursor")
    except (httpx.InvalidURL, ValueError):
        return None
    return value if value and _CURSOR.fullmatch(value) else None


# ---- reading hostile JSON --------------------------------------------------------------------


def _count(limit: Any, maximum: int) -> int:
    """A caller's `limit` within 1..maximum; anything not a whole number is refused."""
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit):
        raise InvalidRequestError(f"The limit must be a whole number from 1 to {maximum}.")
    return max(1, min(maximum, int(limit)))


def _summaries(
    client: ReplicateClient, items: list[tuple[Any, Any]]
) -> tuple[tuple[ModelSummary, ...], int]:
    """(the usable summaries of (model, metadata) pairs, how many were dropped)."""
    found = [_summary(client, model, metadata) for model, metadata in items]
    usable = tuple(summary for summary in found if summary is not None)
    return usable, len(found) - len(usable)


def _summary(client: ReplicateClient, model: Any, metadata: Any) -> ModelSummary | None:
    data, meta = _as_dict(model), _as_dict(metadata)
    ref = _model_ref(data.get("owner"), data.get("name"))
    if ref is None:
        return None
    cover, refused = _vetted_url(client, data.get("cover_image_url"))
    page, _ = _vetted_url(client, data.get("url"))
    run_count = data.get("run_count")
    score = meta.get("score")
    version = _as_dict(data.get("latest_version")).get("id")
    visibility = data.get("visibility")
    return ModelSummary(
        ref=ref,
        description=_text(data.get("description"), MAX_DESCRIPTION_CHARS),
        run_count=run_count
        if isinstance(run_count, int) and not isinstance(run_count, bool)
        and 0 <= run_count <= _MAX_RUN_COUNT
        else None,
        cover_image_url=cover,
        url=page,
        is_official=data.get("is_official") is True,
        visibility=visibility if visibility in ("public", "private") else "unknown",
        tags=_tags(meta.get("tags")),
        score=float(score)
        if isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score)
        else None,
        generated_description=_text(meta.get("generated_description"), MAX_DESCRIPTION_CHARS),
        version_id=version if isinstance(version, str) and _VERSION.fullmatch(version) else None,
        cover_image_refused=refused,
    )  # fmt: skip


def _collection_summary(item: Any) -> CollectionSummary | None:
    data = _as_dict(item)
    slug = data.get("slug")
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        return None
    refs = (
        _model_ref(*_split_ref(r)) for r in _as_list(data.get("models"))[:MAX_COLLECTION_MODELS]
    )
    return CollectionSummary(
        slug=slug,
        name=_text(data.get("name"), MAX_NAME_CHARS) or slug,
        description=_text(data.get("description"), MAX_DESCRIPTION_CHARS),
        models=tuple(r for r in refs if r is not None),
    )


def _model_ref(owner: Any, name: Any) -> ModelRef | None:
    if not isinstance(owner, str) or not isinstance(name, str):
        return None
    if not (0 < len(owner) <= MAX_REF_PART_CHARS and 0 < len(name) <= MAX_REF_PART_CHARS):
        return None
    try:
        ref = ModelRef.parse(f"{owner}/{name}")
    except ValueError:
        return None
    return ref if ref.version is None else None


def _split_ref(value: Any) -> tuple[Any, Any]:
    if not isinstance(value, str) or value.count("/") != 1:
        return None, None
    owner, name = value.split("/")
    return owner, name


def _model_path(ref: ModelRef) -> str:
    """`/v1/models/{owner}/{name}` for a ref checked again here (a caller may build one by hand)."""
    if _model_ref(ref.owner, ref.name) is None:
        raise InvalidRequestError(
            f"{str(ref)[:80]!r} is not a model reference: use `owner/name`, e.g. "
            "`nightmareai/real-esrgan`."
        )
    return f"/v1/models/{ref.owner}/{ref.name}"


def _checked_slug(slug: str) -> str:
    value = (slug or "").strip()
    if not _SLUG.fullmatch(value):
        raise InvalidRequestError(
            f"{value[:80]!r} is not a collection slug: use lowercase words joined by dashes, "
            "e.g. `super-resolution`."
        )
    return value


def _slug_or(value: Any, fallback: str) -> str:
    return value if isinstance(value, str) and _SLUG.fullmatch(value) else fallback


def _vetted_url(client: ReplicateClient, value: Any) -> tuple[str | None, str | None]:
    """(the URL if the policy allows it, else None; why it was refused)."""
    if value is None or value == "":
        return None, None
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS:
        return None, "The URL is not a string of at most 2,048 characters."
    refusal = client.url_refusal(value)
    return (None, refusal) if refusal else (value, None)


def _tags(value: Any) -> tuple[str, ...]:
    tags: list[str] = []
    for item in _as_list(value):
        tag = _text(item, MAX_TAG_CHARS)
        if tag and tag not in tags:
            tags.append(tag)
        if len(tags) == MAX_TAGS:
            break
    return tuple(tags)


def _text(value: Any, limit: int, multiline: bool = False) -> str:
    """A string from the API, control characters removed (newlines kept if `multiline`), cut
    at `limit` characters; anything not a string is ""."""
    if not isinstance(value, str):
        return ""
    text = _CONTROL.sub("", value[: limit * 2])
    if not multiline:
        text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
