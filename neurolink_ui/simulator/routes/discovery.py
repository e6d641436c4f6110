"""Finding models: search, collections, a model's README and examples, over the catalogue.

Shapes follow the spec (`GET /v1/search`, `/v1/collections`, `/v1/collections/{slug}`,
`/v1/models/{o}/{n}/readme`, `/v1/models/{o}/{n}/examples`; copy in tests/fixtures/). Choices where
Replicate's behaviour is not documented:
- Search needs a token like every route here (the spec lists no security for it, but every call
  Replicate documents sends one). It scores each model by the query's words found in its name
  (3), owner (2), tags (1.5) and description (1), divided by the number of words, plus 1 when
  every word matched; a 4+ letter word also matches the start of a longer one, and the
  generated description counts 0.5; a model matching no word is left out. `limit` outside 1-50 and a missing or
  blank `query` answer 400 `{"detail": …}` as the spec's example; a query over
  MAX_QUERY_CHARS too. Collections match by their name, slug or description; `pages` is empty.
- Tags are the slugs of the collections a model is in, then its panel's word.
- Collections and examples are paginated with an opaque `cursor` (an offset), COLLECTIONS_PAGE
  and EXAMPLES_PAGE per page, `next`/`previous` as absolute URLs the way predictions are.
- A README is the catalogue's (`catalog/readmes/`), else written from the entry (description,
  an input table from the schema, a Python snippet with the default example); a
  `model_overrides[...]["readme"]` replaces it (hostile READMEs for the Explore tab's tests).
- Examples are the model's `default_example` then `catalog/examples.json`, run through the
  model's generator when first listed: a succeeded prediction (`source: web`) whose files are
  served at `/delivery/…`, or a failed one when the inputs no longer fit the model.
- Cover images are drawn per model and served, without auth, at `/covers/<owner>/<name>.webp`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ...catalog import CatalogCollection, collections, recorded_examples
from .. import media
from ..catalog import SimModel, all_models, apply_override
from ..state import SimState, rfc3339
from .common import base_of, not_found, problem, require_token, sim_state
from .models import existing_model, model_json

MAX_QUERY_CHARS = 2_000
MAX_LIMIT = 50
DEFAULT_LIMIT = 20
COLLECTIONS_PAGE = 6
EXAMPLES_PAGE = 3
PANEL_TAGS = {
    "chat": "text-generation",
    "image": "image-generation",
    "video": "video-generation",
    "avatar": "talking-head",
    "music": "audio-generation",
}
_WORD = re.compile(r"[a-z0-9]+")
_EXAMPLES_CREATED = 1_717_243_200.0  # 2024-06-01T12:00:00Z: examples predate any run


# ---- search ----------------------------------------------------------------------------------


async def search(request: Request) -> Response:
    require_token(request)
    params = request.query_params
    query = params.get("query", "").strip()
    if not query:
        raise _bad_request('Query parameter "query" is required')
    if len(query) > MAX_QUERY_CHARS:
        raise _bad_request(f'Query parameter "query" must be at most {MAX_QUERY_CHARS} characters')
    limit = _limit(params.get("limit"))
    terms = _words(query)
    models = _live_models(request)
    scored = [(score, model) for model in models if (score := _score(model, terms)) > 0]
    scored.sort(key=lambda pair: (-pair[0], pair[1].slug))
    return JSONResponse(
        {
            "query": query,
            "models": [
                {
                    "model": model_json(request, model),
                    "metadata": {
                        "generated_description": _generated_description(model),
                        "tags": model_tags(model),
                        "score": round(score, 6),
                    },
                }
                for score, model in scored[:limit]
            ],
            "collections": [
                {
                    "name": c.name,
                    "slug": c.slug,
                    "description": c.description,
                    "models": list(c.models),
                }
                for c in collections()
                if terms and set(terms) & set(_words(f"{c.name} {c.slug} {c.description}"))
            ],
            "pages": [],
        }
    )


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise _bad_request('Query parameter "limit" must be an integer') from None
    if not 1 <= value <= MAX_LIMIT:
        raise _bad_request(f'Query parameter "limit" must be between 1 and {MAX_LIMIT}')
    return value


def _bad_request(detail: str) -> Exception:
    return problem(400, detail)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _score(model: SimModel, terms: list[str]) -> float:
    if not terms:
        return 0.0
    fields = (
        (set(_words(model.name)), 3.0),
        (set(_words(model.owner)), 2.0),
        ({w for tag in model_tags(model) for w in _words(tag)}, 1.5),
        (set(_words(model.description)), 1.0),
        (set(_words(_generated_description(model))), 0.5),
    )
    total, matched = 0.0, 0
    for term in terms:
        weights = [weight for words, weight in fields if _found(term, words)]
        if weights:
            matched += 1
            total += sum(weights)
    if not matched:
        return 0.0
    # A model matching every word ranks above any matching fewer ("upscale image": an upscaler
    # before every model named "…-image"): the bonus is a term's largest possible weight.
    every = sum(weight for _, weight in fields)
    return total / len(terms) + (every if matched == len(terms) else 0.0)


def _found(term: str, words: set[str]) -> bool:
    """The term is one of the words, or (4+ letters) the start of one: "upscal" finds
    "upscale", "image" finds "images"."""
    return term in words or (len(term) >= 4 and any(w.startswith(term) for w in words))


def model_tags(model: SimModel) -> list[str]:
    """The collections the model is in, then its panel's word."""
    tags = [c.slug for c in collections() if model.slug in c.models]
    panel = PANEL_TAGS.get(model.kind)
    return [*tags, panel] if panel and panel not in tags else tags


def _generated_description(model: SimModel) -> str:
    inputs = ", ".join(f.name for f in model.fields)
    return f"{model.description}. It takes {inputs or 'no inputs'}."


def _live_models(request: Request) -> list[SimModel]:
    """Every catalogued model as the config's overrides serve it (a gone model is not found)."""
    overrides = sim_state(request).config.model_overrides
    found = (apply_override(m, overrides.get(m.slug)) for m in all_models())
    return [m for m in found if m is not None]


# ---- collections -----------------------------------------------------------------------------


async def list_collections(request: Request) -> Response:
    require_token(request)
    items = [{"name": c.name, "slug": c.slug, "description": c.description} for c in collections()]
    return JSONResponse(_page(request, items, COLLECTIONS_PAGE))


async def get_collection(request: Request) -> Response:
    require_token(request)
    found = _collection(request.path_params["slug"])
    live = {m.slug: m for m in _live_models(request)}
    return JSONResponse(
        {
            "name": found.name,
            "slug": found.slug,
            "description": found.description,
            "full_description": found.full_description,
            "models": [model_json(request, live[ref]) for ref in found.models if ref in live],
        }
    )


def _collection(slug: str) -> CatalogCollection:
    for item in collections():
        if item.slug == slug:
            return item
    raise not_found("Collection not found.")


# ---- README ----------------------------------------------------------------------------------


async def get_readme(request: Request) -> Response:
    require_token(request)
    model = existing_model(request)
    text = model.readme if model.readme is not None else written_readme(model)
    return PlainTextResponse(text, media_type="text/plain; charset=utf-8")


def written_readme(model: SimModel) -> str:
    """A README from the catalogue entry: description, inputs table, output, an API snippet."""
    properties = model.schema["components"]["schemas"]["Input"].get("properties", {})
    rows = [
        f"| `{spec.name}` | {_type_text(spec.type, spec.format, spec.items_format)} | "
        f"{'required' if spec.required else _cell(spec.default if spec.has_default else '—')} | "
        f"{_cell(properties.get(spec.name, {}).get('description', ''))} |"
        for spec in model.fields
    ]
    example = (model.default_example or {}).get("input") or {}
    snippet = json.dumps(example, indent=4, ensure_ascii=False) if example else "{}"
    lines = [
        f"# {model.slug}",
        "",
        f"{model.description.rstrip('.')}.",
        "",
        *(["An official model: always on, run by name.", ""] if model.is_official else []),
        "## Inputs",
        "",
        "| Input | Type | Default | Description |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        "## Output",
        "",
        _output_text(model.output),
        "",
        "## Run it with the API",
        "",
        "```python",
        "import replicate",
        "",
        f'output = replicate.run("{model.slug}", input={snippet})',
        "print(output)",
        "```",
        "",
    ]
    return "\n".join(lines)


def _type_text(kind: str, fmt: str | None, items_format: str | None) -> str:
    if fmt == "uri":
        return "file"
    if kind == "array" and items_format == "uri":
        return "list of files"
    return kind


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return " ".join(text.split()).replace("|", "\\|")[:200]


def _output_text(output: dict[str, Any]) -> str:
    raw = output.get("items")
    items: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if output.get("type") == "string":
        return "One file (a URL)." if output.get("format") == "uri" else "Text."
    if output.get("type") == "array" and items.get("format") == "uri":
        return "A list of files (URLs)."
    if output.get("type") == "array" and items.get("type") == "string":
        return "Text, streamed token by token."
    return "JSON, shaped by the model's output schema."


# ---- examples --------------------------------------------------------------------------------


async def list_examples(request: Request) -> Response:
    require_token(request)
    model = existing_model(request)
    state = sim_state(request)
    inputs = _example_inputs(model)
    page = _page(request, list(range(len(inputs))), EXAMPLES_PAGE)
    base = base_of(request)
    page["results"] = [
        await _example(state, model, index, inputs[index], base) for index in page["results"]
    ]
    return JSONResponse(page)


def _example_inputs(model: SimModel) -> list[dict[str, Any]]:
    found = [model.default_example["input"]] if model.default_example else []
    found.extend(item["input"] for item in recorded_examples().get(model.slug, ()))
    return found


async def _example(
    state: SimState, model: SimModel, index: int, input: dict[str, Any], base: str
) -> dict[str, Any]:
    """The example as a finished prediction, its output generated (and delivered) once."""
    ident = model.example_id(index, input)
    if ident not in state.examples:
        state.examples[ident] = await asyncio.to_thread(_run_example, state, model, input)
    output, error, logs = state.examples[ident]
    created = _EXAMPLES_CREATED + index * 60
    return {
        "id": ident,
        "model": model.slug,
        "version": "hidden" if model.is_official else model.version_id,
        "input": input,
        "logs": logs,
        "output": _with_base(output, base),
        "data_removed": False,
        "error": error,
        "status": "failed" if error else "succeeded",
        "source": "web",
        "created_at": rfc3339(created),
        "started_at": rfc3339(created + 0.5),
        "completed_at": rfc3339(created + 2.5),
        "metrics": {"predict_time": 2.0, "total_time": 2.5},
        "urls": {
            "get": f"{base}/v1/predictions/{ident}",
            "cancel": f"{base}/v1/predictions/{ident}/cancel",
            "web": f"https://replicate.com/p/{ident}",
        },
    }


_BASE = "\x00base\x00"  # stands for the simulator's origin in stored outputs


def _run_example(
    state: SimState, model: SimModel, input: dict[str, Any]
) -> tuple[Any, str | None, str]:
    """(output with file URLs relative to `_BASE`, error, logs) of running the example."""
    prepared, invalid = model.validate(input)
    if invalid:
        problems = "; ".join(f"{f['field']}: {f['description']}" for f in invalid)
        return None, f"The input no longer fits this model ({problems}).", ""
    try:
        generation = state.generate(model, prepared)
    except ValueError as exc:
        return None, str(exc), ""
    logs = "\n".join(generation.logs)
    if generation.tokens is not None:
        text = "".join(generation.tokens)
        return (text if generation.single else list(generation.tokens)), None, logs
    if generation.value is not None:
        return generation.value, None, logs
    urls = [f"{_BASE}{item.url('')}" for item in state.deliver(generation.files)]
    return (urls[0] if generation.single and len(urls) == 1 else urls), None, logs


def _with_base(output: Any, base: str) -> Any:
    if isinstance(output, str) and output.startswith(_BASE):
        return base + output[len(_BASE) :]
    if isinstance(output, list):
        return [_with_base(item, base) for item in output]
    return output


# ---- pagination, covers ----------------------------------------------------------------------


def _page(request: Request, items: list[Any], size: int) -> dict[str, Any]:
    """One page of `items` at the request's `cursor` (an offset), with next/previous URLs."""
    offset = _offset(request.query_params.get("cursor"))
    chunk = items[offset : offset + size]
    next_url = previous_url = None
    if offset + size < len(items):
        next_url = str(request.url.include_query_params(cursor=_cursor(offset + size)))
    if offset > 0:
        previous_url = str(request.url.include_query_params(cursor=_cursor(max(0, offset - size))))
    return {"next": next_url, "previous": previous_url, "results": chunk}


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind != "o" or not number.isdigit():
            raise ValueError(cursor)
        return int(number)
    except (ValueError, UnicodeDecodeError):
        raise problem(400, f"Invalid cursor {cursor[:40]!r}", "Bad request") from None


async def cover_image(request: Request) -> Response:
    model = existing_model(request)
    return Response(
        _cover_bytes(model.slug, model.description),
        media_type="image/webp",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@lru_cache(maxsize=128)
def _cover_bytes(slug: str, description: str) -> bytes:
    art = media.draw_caption(
        media.draw_artwork(description, media.stable_seed(slug), 320, 200), slug
    )
    return media.encode_image(art, "webp", 80)[0]


routes = [
    Route("/v1/search", search, methods=["GET"]),
    Route("/v1/collections", list_collections, methods=["GET"]),
    Route("/v1/collections/{slug}", get_collection, methods=["GET"]),
    Route("/v1/models/{owner}/{name}/readme", get_readme, methods=["GET"]),
    Route("/v1/models/{owner}/{name}/examples", list_examples, methods=["GET"]),
    Route("/covers/{owner}/{name}.webp", cover_image, methods=["GET"]),
]
