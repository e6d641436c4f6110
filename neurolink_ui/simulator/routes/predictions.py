"""Predictions: create (by version), get, cancel, list.

Create checks its body as the spec's schema does, honours `Prefer: wait[=N]` (holding until the
output is complete) and `Cancel-After`; `models.py` creates by model name and `deployments.py`
by deployment through the same path.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..catalog import SimModel, find_version, get_model, invalid_field
from ..lifecycle import start_prediction, stop_prediction
from ..state import PredictionState, new_prediction_id
from .common import (
    ProblemError,
    base_of,
    invalid_body,
    not_found,
    problem,
    require_credit,
    require_token,
    sim_state,
)

PAGE_SIZE = 100
"""`GET /v1/predictions` page size (spec: 100 records per page)."""
_PREFER_RE = re.compile(r"^wait(=([1-9]|[1-9][0-9]|60))?$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_SLUG_RE = re.compile(rf"^(?P<owner>{_NAME})/(?P<name>{_NAME})$")
_SLUG_VERSION_RE = re.compile(
    rf"^(?P<owner>{_NAME})/(?P<name>{_NAME}):(?P<version>[0-9a-f]{{64}})$"
)
_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")
CREATE_KEYS = frozenset({"input", "webhook", "webhook_events_filter", "stream"})
_WEBHOOK_EVENTS = frozenset({"start", "output", "logs", "completed"})
_INVALID_VERSION = {
    "title": "Invalid version or not permitted",
    "detail": (
        "The specified version does not exist (or perhaps you don't have permission to use it?)"
    ),
    "status": 422,
}


def parse_rfc3339(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def parse_cancel_after(value: str) -> float:
    """`30s`, `5m`, `1h30m45s` or bare seconds; the minimum is 5 s (spec)."""
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        seconds = float(text)
    else:
        match = _DURATION_RE.fullmatch(text)
        if not text or not match:
            raise ValueError(f"invalid duration {value!r}")
        hours, minutes, secs = match.groups()
        seconds = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)
    if seconds < 5:
        raise ValueError("the minimum Cancel-After is 5 seconds")
    return seconds


_BODY_TYPES: dict[str, tuple[type, str]] = {
    "input": (dict, "object"),
    "version": (str, "string"),
    "webhook": (str, "string"),
    "stream": (bool, "boolean"),
}


async def read_create_body(request: Request, allowed: frozenset[str]) -> dict[str, Any]:
    """The JSON body of a create, checked like the spec's schema (additionalProperties false)."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise problem(400, f"Request body is not valid JSON: {exc}", "Invalid JSON") from exc
    if not isinstance(body, dict):
        raise invalid_body([invalid_field("type", "(root)", "Invalid type. Expected: object")])
    fields = [
        invalid_field(
            "additional_property_not_allowed", "(root)", f"Additional property {k} is not allowed"
        )
        for k in body
        if k not in allowed
    ]
    fields += [
        invalid_field("required", "(root)", f"{k} is required")
        for k in ("input", "version")
        if k in allowed and k not in body
    ]
    for key, (expected, type_name) in _BODY_TYPES.items():
        if key in body and not isinstance(body[key], expected):
            fields.append(
                invalid_field("invalid_type", key, f"Invalid type. Expected: {type_name}")
            )
    events = body.get("webhook_events_filter")
    if events is not None and (
        not isinstance(events, list) or not all(e in _WEBHOOK_EVENTS for e in events)
    ):
        fields.append(
            invalid_field(
                "enum", "webhook_events_filter", "must be a list of: start, output, logs, completed"
            )
        )
    if fields:
        raise invalid_body(fields)
    return body


def parse_prefer(request: Request) -> tuple[str, float] | None:
    """(header value, seconds to hold) for a valid `Prefer: wait[=N]`, None without one."""
    raw = request.headers.get("prefer")
    if raw is None:
        return None
    value = raw.strip()
    match = _PREFER_RE.fullmatch(value)
    if not match:
        raise problem(
            400,
            f"Invalid Prefer header {raw!r}: expected 'wait' or 'wait=N' with N from 1 to 60",
            "Invalid Prefer header",
        )
    # The spec's pattern admits 61-99 although its text says 1-60: accept, hold at most 60 s.
    return value, min(float(match.group(2) or 60), 60.0)


def parse_cancel_after_header(request: Request) -> float | None:
    raw = request.headers.get("cancel-after")
    if raw is None:
        return None
    try:
        return parse_cancel_after(raw)
    except ValueError as exc:
        raise problem(
            400, f"Invalid Cancel-After header {raw!r}: {exc}", "Invalid Cancel-After"
        ) from exc


async def create_with_model(
    request: Request,
    model: SimModel,
    body: dict[str, Any],
    token_id: str,
    *,
    deployment: str | None = None,
    version: str | None = None,
) -> Response:
    """Create and start the prediction (`deployment`: the owner/name that created it, running
    `version` of the model)."""
    prefer = parse_prefer(request)
    cancel_after = parse_cancel_after_header(request)
    prepared, invalid = model.validate(body["input"])
    if invalid:
        raise invalid_body(invalid)
    if body.get("stream") and not model.streams and model.outputs_text:
        # A plain-text model has no event source (MODELS.md, replicate/cog #1257).
        raise problem(422, f"Model {model.slug} does not support streaming", "Invalid request")
    state = sim_state(request)
    config = state.config
    echo: dict[str, Any] = {
        k: body[k] for k in ("webhook", "webhook_events_filter", "stream") if k in body
    }
    pred = PredictionState(
        id=new_prediction_id(),
        seq=state.next_seq(),
        model=model,
        version=version or ("hidden" if model.is_official else model.version_id),
        input=body["input"],
        prepared_input=prepared,
        token_id=token_id,
        created_at=time.time(),
        cold_start=float(config.cold_start),
        run_time=float(config.run_time),
        token_interval=float(config.token_interval),
        first_token_delay=float(config.first_token_delay),
        outcome=config.outcome,
        fail_after=config.fail_after,
        failure=config.failure,
        deployment=deployment,
        echo=echo,
    )
    start_prediction(state, pred, cancel_after)
    if config.create_delay:
        await asyncio.sleep(float(config.create_delay))
    headers: dict[str, str] = {}
    if prefer is not None and config.hold_sync:
        value, hold = prefer
        loop = asyncio.get_running_loop()
        until = loop.time() + hold
        while not (pred.is_terminal or pred.output_complete):
            remaining = until - loop.time()
            if remaining <= 0:
                break
            await pred.wait_change(remaining)
        headers["Preference-Applied"] = value
    return JSONResponse(pred.to_json(base_of(request)), status_code=201, headers=headers)


async def create_prediction(request: Request) -> Response:
    token_id = require_token(request)
    require_credit(request)
    body = await read_create_body(request, CREATE_KEYS | {"version"})
    model = _model_for_version(body["version"].strip(), sim_state(request).config.model_overrides)
    return await create_with_model(request, model, body, token_id)


def own_prediction(request: Request, token_id: str) -> PredictionState:
    pred = sim_state(request).predictions.get(request.path_params["id"])
    if pred is None or pred.token_id != token_id:
        raise not_found("Prediction not found.")
    return pred


async def get_prediction(request: Request) -> Response:
    pred = own_prediction(request, require_token(request))
    return JSONResponse(pred.to_json(base_of(request)))


async def cancel_prediction(request: Request) -> Response:
    pred = own_prediction(request, require_token(request))
    if not pred.is_terminal:
        stop_prediction(pred, "canceled")
    return JSONResponse(pred.to_json(base_of(request)))


async def list_predictions(request: Request) -> Response:
    token_id = require_token(request)
    params = request.query_params
    try:
        after = parse_rfc3339(params["created_after"]) if "created_after" in params else None
        before = parse_rfc3339(params["created_before"]) if "created_before" in params else None
        cursor = _decode_cursor(params["cursor"]) if "cursor" in params else None
    except ValueError as exc:
        raise problem(400, f"Invalid query parameter: {exc}", "Bad request") from exc
    items = [
        p
        for p in sim_state(request).predictions.values()
        if p.token_id == token_id
        and (after is None or p.created_at >= after)
        and (before is None or p.created_at < before)
        and params.get("source", "api") == "api"  # every simulated prediction is from the API
    ]
    items.sort(key=lambda p: p.seq, reverse=True)
    if cursor is not None and cursor[0] == "before":
        page = [p for p in items if p.seq < cursor[1]][:PAGE_SIZE]
    elif cursor is not None:
        page = [p for p in items if p.seq > cursor[1]][-PAGE_SIZE:]
    else:
        page = items[:PAGE_SIZE]
    next_url = previous_url = None
    if page and any(p.seq < page[-1].seq for p in items):
        next_url = str(
            request.url.include_query_params(cursor=_encode_cursor("before", page[-1].seq))
        )
    if page and any(p.seq > page[0].seq for p in items):
        previous_url = str(
            request.url.include_query_params(cursor=_encode_cursor("after", page[0].seq))
        )
    base = base_of(request)
    return JSONResponse(
        {"next": next_url, "previous": previous_url, "results": [p.to_json(base) for p in page]}
    )


def _model_for_version(version: str, overrides: dict[str, dict[str, Any]]) -> SimModel:
    """`<64-hex>`, `owner/name:<64-hex>` or `owner/name` (official models only), as
    `SimulatorConfig.model_overrides` alter them."""
    if _HEX64_RE.fullmatch(version):
        found = find_version(version, overrides)
        if found is not None:
            return found[0]
    elif match := _SLUG_VERSION_RE.fullmatch(version):
        found = find_version(match["version"], overrides)
        if found is not None and found[0].slug == f"{match['owner']}/{match['name']}":
            return found[0]
    elif match := _SLUG_RE.fullmatch(version):
        model = get_model(match["owner"], match["name"], overrides)
        if model is not None and model.is_official:
            return model
    raise ProblemError(422, dict(_INVALID_VERSION))


def _encode_cursor(direction: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{direction}:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        direction, _, seq = text.partition(":")
        if direction not in ("before", "after"):
            raise ValueError(direction)
        return direction, int(seq)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc


routes = [
    Route("/v1/predictions", create_prediction, methods=["POST"]),
    Route("/v1/predictions", list_predictions, methods=["GET"]),
    Route("/v1/predictions/{id}", get_prediction, methods=["GET"]),
    Route("/v1/predictions/{id}/cancel", cancel_prediction, methods=["POST"]),
]
