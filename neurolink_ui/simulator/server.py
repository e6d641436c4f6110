"""The Replicate-compatible HTTP API of the simulator: `create_app(state) -> Starlette`.

Built from Replicate's OpenAPI spec and recorded bodies (copies in tests/fixtures/): the /v1 routes,
SSE streams at `/v1/streams/<id>`, output delivery at `/delivery/<token>/<name>` and the
unauthenticated, loopback-only control routes under `/_sim`.

Choices where Replicate's behaviour is unverified (REPLICATE-API.md §9), documented here:
- A `Prefer` header outside `^wait(=([1-9]|[1-9][0-9]|60))?$` is rejected with 400, so a client bug
  (`wait=0`, `wait=90`) shows up in tests instead of silently not holding.
- An invalid or too short (< 5 s) `Cancel-After` is rejected with 400.
- A held create (`Prefer: wait`) returns once the output is complete: a chat model then still says
  `processing` with its full token list and no `completed_at`/`metrics` (sample 07); file models
  return the terminal prediction. On timeout the incomplete prediction returns. Always 201.
- Unknown prediction / file / model ids answer 404 problem+json `{"detail": ..., "status": 404}`.
  Predictions and files are scoped to the token's account (token_id): another token gets 404.
- Cancel on a terminal prediction returns it unchanged with 200.
- Webhooks are validated and echoed but never delivered (no traffic leaves loopback).
- `"stream": true` for a plain-text (non-iterator) model is a 422; file models do get a stream.
- SSE `done` for an `aborted` prediction carries `{"reason": "canceled"}` (no documented reason).
- `GET /v1/files/{id}/download` accepts the owner's token instead of a signed query.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fnmatch
import hashlib
import json
import logging
import re
import secrets
import struct
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .catalog import (
    Generation,
    OutputFile,
    SimModel,
    find_version,
    get_model,
    invalid_field,
)
from .config import Fault, SimulatorConfig

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 100 * 1024 * 1024
"""`POST /v1/files` limit (spec: "Files must be less than 100MB in size")."""
PAGE_SIZE = 100
"""`GET /v1/predictions` page size (spec: 100 records per page)."""
DELIVERY_CHUNK = 64 * 1024
GENERATION_CACHE_ENTRIES = 64
GENERATION_CACHE_MAX_BYTES = 16 * 1024 * 1024  # per entry
FILE_TTL_SECONDS = 24 * 3600
PA_ERROR = "Prediction interrupted; please retry (code: PA)"
TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})

_PREFER_RE = re.compile(r"^wait(=([1-9]|[1-9][0-9]|60))?$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_SLUG_RE = re.compile(rf"^(?P<owner>{_NAME})/(?P<name>{_NAME})$")
_SLUG_VERSION_RE = re.compile(
    rf"^(?P<owner>{_NAME})/(?P<name>{_NAME}):(?P<version>[0-9a-f]{{64}})$"
)
_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # lowercase alnum, like Replicate's ids
_CREATE_KEYS = frozenset({"input", "webhook", "webhook_events_filter", "stream"})
_WEBHOOK_EVENTS = frozenset({"start", "output", "logs", "completed"})
_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})

_UNAUTHENTICATED = {
    "title": "Unauthenticated",
    "detail": "You did not pass a valid authentication token",
    "status": 401,
}
_INSUFFICIENT_CREDIT = {
    "title": "Insufficient credit",
    "detail": (
        "You have insufficient credit to run this model. Go to "
        "https://replicate.com/account/billing#billing to purchase credit. Once you purchase "
        "credit, please wait a few minutes before trying again."
    ),
    "status": 402,
}
_INVALID_VERSION = {
    "title": "Invalid version or not permitted",
    "detail": (
        "The specified version does not exist (or perhaps you don't have permission to use it?)"
    ),
    "status": 422,
}


# =============================================================================================
# Small helpers


def token_id_of(token: str) -> str:
    """What the simulator records instead of a token: the first 12 hex of its sha256."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def rfc3339(timestamp: float, digits: int = 6) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[: len(text) - (6 - digits)] + "Z"


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


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Bearer <t>` or `Token <t>` (both accepted, as Replicate does), else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in ("bearer", "token") or not token:
        return None
    return token


def new_prediction_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))


def mp4_free_box_header(padding: int) -> bytes:
    """Header of a trailing `free` box whose total size (header included) is `padding` bytes.

    Uses the 64-bit `largesize` form when the box does not fit a 32-bit size.
    """
    if padding <= 0xFFFFFFFF:
        return struct.pack(">I4s", padding, b"free")
    return struct.pack(">I4sQ", 1, b"free", padding)


def effective_padding(content_type: str, name: str, padding: int) -> int:
    """MP4 padding must hold at least a box header (8 bytes, 16 for largesize)."""
    if padding and is_mp4(content_type, name):
        return max(padding, 8 if padding <= 0xFFFFFFFF else 16)
    return padding


def is_mp4(content_type: str, name: str) -> bool:
    return content_type == "video/mp4" or name.lower().endswith(".mp4")


class ProblemError(Exception):
    """Answered as `application/problem+json` with the given body."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(body.get("detail", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


def status_title(status: int) -> str:
    """The standard reason phrase of an HTTP status, "Error" for a non-standard one."""
    return HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"


def problem(status: int, detail: str, title: str | None = None, **extra: Any) -> ProblemError:
    body: dict[str, Any] = {}
    if title:
        body["title"] = title
    body["detail"] = detail
    body["status"] = status
    body.update(extra)
    return ProblemError(status, body)


def not_found(detail: str = "Not found.") -> ProblemError:
    return problem(404, detail)  # no title, as in sample 10


def problem_response(error: ProblemError) -> Response:
    return JSONResponse(
        error.body,
        status_code=error.status,
        headers=error.headers,
        media_type="application/problem+json",
    )


# =============================================================================================
# State


@dataclass
class RequestRecord:
    """One request as the simulator saw it; the token itself is never kept, only `token_id`."""

    method: str
    path: str
    status: int
    token_id: str | None
    headers: dict[str, str]
    time: float


@dataclass
class StoredFile:
    id: str
    name: str
    content_type: str
    data: bytes
    metadata: dict[str, Any]
    created_at: float
    token_id: str

    @cached_property
    def checksums(self) -> dict[str, str]:
        """Hashed once: a file (up to 100 MB) is listed and fetched many times."""
        return {
            "sha256": hashlib.sha256(self.data).hexdigest(),
            "md5": hashlib.md5(self.data).hexdigest(),
        }

    def to_json(self, base: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "content_type": self.content_type,
            "size": len(self.data),
            "etag": self.checksums["md5"],
            "checksums": dict(self.checksums),
            "metadata": self.metadata,
            "created_at": rfc3339(self.created_at, 3),
            "expires_at": rfc3339(self.created_at + FILE_TTL_SECONDS, 3),
            "urls": {"get": f"{base}/v1/files/{self.id}"},
        }


@dataclass
class DeliveredFile:
    token: str
    file: OutputFile

    def url(self, base: str) -> str:
        return f"{base}/delivery/{self.token}/{quote(self.file.name)}"


@dataclass
class SseEvent:
    event: str  # output | logs | error | done
    data: str
    file: DeliveredFile | None = None  # output events of file models: rendered as its URL


@dataclass
class PredictionState:
    """One prediction's live state; it changes only inside the server's event loop."""

    id: str
    seq: int
    model: SimModel
    version: str  # 64-hex, or "hidden" for official models
    input: dict[str, Any]  # as the client sent it (echoed)
    prepared_input: dict[str, Any]  # with schema defaults, given to the model
    token_id: str
    created_at: float
    # latencies and outcome, copied from the config at creation
    cold_start: float
    run_time: float
    token_interval: float
    first_token_delay: float
    outcome: str
    echo: dict[str, Any] = field(default_factory=dict)  # webhook, webhook_events_filter, stream
    status: str = "starting"
    tokens: list[str] | None = None
    files: list[DeliveredFile] = field(default_factory=list)
    single: bool = False
    logs: str = ""
    error: str | None = None
    started_at: float | None = None
    completed_at: float | None = None
    deadline: float | None = None
    output_complete: bool = False
    events: list[SseEvent] = field(default_factory=list)
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    deadline_timer: asyncio.TimerHandle | None = field(default=None, repr=False)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def has_stream(self) -> bool:
        return self.model.streams or self.model.kind != "chat"

    def notify(self) -> None:
        """Wake everyone waiting for a change (held creates, SSE streams)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, seconds: float) -> None:
        """Return on the next change or after `seconds`, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    def add_log(self, line: str) -> None:
        self.logs += line + "\n"
        self.events.append(SseEvent("logs", line))
        self.notify()

    def add_token(self, token: str) -> None:
        if self.tokens is None:
            self.tokens = []
        self.tokens.append(token)
        self.events.append(SseEvent("output", token))
        self.notify()

    def output(self, base: str) -> Any:
        if self.files:
            urls = [f.url(base) for f in self.files]
            return urls[0] if self.single and len(urls) == 1 else urls
        if self.tokens is None:
            return None
        return "".join(self.tokens) if self.single else list(self.tokens)

    def sse_id(self, index: int) -> str:
        return f"{int(self.created_at)}:{index}"

    def to_json(self, base: str) -> dict[str, Any]:
        urls = {
            "cancel": f"{base}/v1/predictions/{self.id}/cancel",
            "get": f"{base}/v1/predictions/{self.id}",
            "web": f"https://replicate.com/p/{self.id}",
        }
        if self.has_stream:
            urls["stream"] = f"{base}/v1/streams/{self.id}"
        body: dict[str, Any] = {
            "id": self.id,
            "model": self.model.slug,
            "version": self.version,
            "input": self.input,
            "logs": self.logs,
            "output": self.output(base),
            "data_removed": False,
            "error": self.error,
            "status": self.status,
            "created_at": rfc3339(self.created_at),
        }
        if self.started_at is not None:
            body["started_at"] = rfc3339(self.started_at)
        if self.completed_at is not None:
            body["completed_at"] = rfc3339(self.completed_at)
            started = self.started_at if self.started_at is not None else self.completed_at
            body["metrics"] = {
                "predict_time": round(self.completed_at - started, 6),
                "total_time": round(self.completed_at - self.created_at, 6),
            }
        if self.deadline is not None:
            body["deadline"] = rfc3339(self.deadline)
        body["urls"] = urls
        body["source"] = "api"
        body.update(self.echo)
        return body


class SimState:
    """Everything the server knows; shared with the runner (read from other threads)."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.requests: list[RequestRecord] = []
        self.predictions: dict[str, PredictionState] = {}
        self.files: dict[str, StoredFile] = {}
        self.deliveries: dict[str, DeliveredFile] = {}
        self.own_netlocs: set[str] = set()
        # Generation is deterministic: the same model and input make the same output, so a
        # repeat costs no CPU (the stand-in must not eat the cores the client side is measured on).
        self._generations: OrderedDict[str, Generation] = OrderedDict()
        self._generations_lock = threading.Lock()  # generation runs in worker threads
        self._seq = 0

    def generate(self, model: SimModel, prepared_input: dict[str, Any]) -> Generation:
        """The model's output for this input, from the cache when it was made before."""
        key = hashlib.sha256(
            json.dumps(
                [model.owner, model.name, prepared_input], sort_keys=True, default=str
            ).encode()
        ).hexdigest()
        with self._generations_lock:
            cached = self._generations.get(key)
            if cached is not None:
                self._generations.move_to_end(key)
                return cached
        generation = model.generate(dict(prepared_input), self.resolve)
        if sum(len(f.data) for f in generation.files) <= GENERATION_CACHE_MAX_BYTES:
            with self._generations_lock:
                self._generations[key] = generation
                while len(self._generations) > GENERATION_CACHE_ENTRIES:
                    self._generations.popitem(last=False)
        return generation

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def reset(self) -> None:
        """Config back to defaults (in place: references stay valid), request log cleared."""
        defaults = SimulatorConfig()
        for name in defaults.to_json():
            setattr(self.config, name, getattr(defaults, name))
        self.requests.clear()

    def match_fault(self, method: str, path: str) -> Fault | None:
        hit: Fault | None = None
        for fault in list(self.config.faults):
            if fault.method != "*" and fault.method.upper() != method.upper():
                continue
            if not fnmatch.fnmatchcase(path, fault.path):
                continue
            fault.matched += 1
            if hit is None and fault.nth <= fault.matched < fault.nth + fault.count:
                hit = fault
        return hit

    def resolve(self, url: str) -> bytes:
        """Bytes of a data: URL or of this simulator's own file/delivery URL (from memory)."""
        if url.startswith("data:"):
            header, sep, payload = url[5:].partition(",")
            if not sep:
                raise ValueError("malformed data: URL (no comma)")
            if header.endswith(";base64"):
                try:
                    return base64.b64decode(payload, validate=False)
                except binascii.Error as exc:
                    raise ValueError(f"malformed base64 in data: URL: {exc}") from exc
            return unquote_to_bytes(payload)
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc in self.own_netlocs:
            segments = parts.path.split("/")
            if parts.path.startswith("/v1/files/") and len(segments) >= 4:
                stored = self.files.get(segments[3])
                if stored is not None:
                    return stored.data
            if parts.path.startswith("/delivery/") and len(segments) >= 4:
                delivered = self.deliveries.get(segments[2])
                if delivered is not None:
                    return delivered.file.data
            raise ValueError(f"simulator cannot fetch {url}: no such file")
        raise ValueError(
            f"simulator cannot fetch {url}: only data: URLs and its own /v1/files and "
            "/delivery URLs are available offline"
        )


# =============================================================================================
# Prediction lifecycle (asyncio tasks in the server's loop)


def _finish(pred: PredictionState, status: str, error: str | None = None) -> None:
    if pred.is_terminal:
        return
    pred.status = status
    pred.error = error
    pred.completed_at = time.time()
    if pred.deadline_timer is not None:
        pred.deadline_timer.cancel()
    if status == "failed":
        pred.events.append(SseEvent("error", json.dumps({"detail": error or "failed"})))
        pred.events.append(SseEvent("done", json.dumps({"reason": "error"})))
    elif status in ("canceled", "aborted"):
        pred.events.append(SseEvent("done", json.dumps({"reason": "canceled"})))
    else:
        pred.events.append(SseEvent("done", "{}"))
    pred.notify()


def _stop(pred: PredictionState, status: str) -> None:
    """User cancel or deadline: end the prediction now and stop its task."""
    _finish(pred, status)
    if pred.task is not None and not pred.task.done():
        pred.task.cancel()


async def _spread_logs(pred: PredictionState, lines: list[str], seconds: float) -> None:
    step = seconds / max(len(lines), 1)
    for line in lines:
        pred.add_log(line)
        await asyncio.sleep(step)
    if not lines:
        await asyncio.sleep(seconds)


async def _run_prediction(state: SimState, pred: PredictionState) -> None:
    try:
        await asyncio.sleep(pred.cold_start)
        if pred.outcome == "aborted":
            _finish(pred, "aborted")
            return
        pred.status = "processing"
        pred.started_at = time.time()
        pred.notify()
        try:
            generation = await asyncio.to_thread(state.generate, pred.model, pred.prepared_input)
        except ValueError as exc:
            _finish(pred, "failed", str(exc))
            return
        if generation.tokens is not None:
            await _emit_tokens(pred, generation)
        else:
            await _emit_files(state, pred, generation)
    except asyncio.CancelledError:
        pass  # canceled, aborted by deadline, or server shutdown: the state is already final
    except Exception as exc:  # a simulator bug must not leave the prediction hanging
        logger.exception("prediction %s crashed", pred.id)
        _finish(pred, "failed", f"simulator error: {exc}")


async def _emit_tokens(pred: PredictionState, generation: Generation) -> None:
    tokens = generation.tokens or []
    pred.single = generation.single
    for line in generation.logs:
        pred.add_log(line)
    await asyncio.sleep(pred.first_token_delay)
    if pred.outcome == "failed":
        for token in tokens[: len(tokens) // 2]:
            pred.add_token(token)
            await asyncio.sleep(pred.token_interval)
        _finish(pred, "failed", PA_ERROR)
        return
    for index, token in enumerate(tokens):
        if index:
            await asyncio.sleep(pred.token_interval)
        pred.add_token(token)
    pred.output_complete = True
    pred.notify()
    # Replicate's sync reply can catch this moment: `processing` with the full output (sample 07).
    await asyncio.sleep(pred.token_interval)
    _finish(pred, "succeeded")


async def _emit_files(state: SimState, pred: PredictionState, generation: Generation) -> None:
    pred.single = generation.single
    if pred.outcome == "failed":
        await _spread_logs(pred, generation.logs[: len(generation.logs) // 2], pred.run_time / 2)
        _finish(pred, "failed", PA_ERROR)
        return
    await _spread_logs(pred, generation.logs, pred.run_time)
    delivered = []
    for output_file in generation.files:
        item = DeliveredFile(
            secrets.token_urlsafe(24).replace("-", "x").replace("_", "y"), output_file
        )
        state.deliveries[item.token] = item
        delivered.append(item)
    pred.files = delivered
    for item in delivered:
        pred.events.append(SseEvent("output", "", file=item))
    pred.output_complete = True
    _finish(pred, "succeeded")


def _start_prediction(state: SimState, pred: PredictionState, cancel_after: float | None) -> None:
    loop = asyncio.get_running_loop()
    state.predictions[pred.id] = pred
    pred.task = loop.create_task(_run_prediction(state, pred), name=f"prediction-{pred.id}")
    if cancel_after is not None:
        pred.deadline = pred.created_at + cancel_after

        def expire() -> None:
            if not pred.is_terminal:
                _stop(pred, "aborted" if pred.status == "starting" else "canceled")

        pred.deadline_timer = loop.call_later(cancel_after, expire)


# =============================================================================================
# Request parsing


def base_of(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def require_token(request: Request) -> str:
    """The caller's token_id; 401 exactly as sample 09 when missing or invalid."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None or token.startswith("r8_invalid"):
        raise ProblemError(401, dict(_UNAUTHENTICATED))
    return token_id_of(token)


def require_credit(request: Request) -> None:
    token = bearer_token(request.headers.get("authorization")) or ""
    if token.startswith("r8_nocredit"):
        raise ProblemError(402, dict(_INSUFFICIENT_CREDIT))


def _invalid_body(fields: list[dict[str, str]]) -> ProblemError:
    detail = "\n".join(f"- {f['field']}: {f['description']}" for f in fields)
    return problem(422, detail, "Input validation failed", invalid_fields=fields)


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
        raise _invalid_body([invalid_field("type", "(root)", "Invalid type. Expected: object")])
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
        raise _invalid_body(fields)
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


# =============================================================================================
# Route handlers


def create_app(state: SimState) -> Starlette:
    """The simulator's ASGI app over `state` (which the runner shares)."""

    async def create_with_model(
        request: Request, model: SimModel, body: dict[str, Any], token_id: str
    ) -> Response:
        prefer = parse_prefer(request)
        cancel_after = parse_cancel_after_header(request)
        prepared, invalid = model.validate(body["input"])
        if invalid:
            raise _invalid_body(invalid)
        if body.get("stream") and not model.streams and model.kind == "chat":
            # A plain-text model has no event source (MODELS.md, replicate/cog #1257).
            raise problem(422, f"Model {model.slug} does not support streaming", "Invalid request")
        config = state.config
        echo = {k: body[k] for k in ("webhook", "webhook_events_filter", "stream") if k in body}
        pred = PredictionState(
            id=new_prediction_id(),
            seq=state.next_seq(),
            model=model,
            version="hidden" if model.is_official else model.version_id,
            input=body["input"],
            prepared_input=prepared,
            token_id=token_id,
            created_at=time.time(),
            cold_start=float(config.cold_start),
            run_time=float(config.run_time),
            token_interval=float(config.token_interval),
            first_token_delay=float(config.first_token_delay),
            outcome=config.outcome,
            echo=echo,
        )
        _start_prediction(state, pred, cancel_after)
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
        body = await read_create_body(request, _CREATE_KEYS | {"version"})
        model = _model_for_version(body["version"].strip())
        return await create_with_model(request, model, body, token_id)

    async def create_model_prediction(request: Request) -> Response:
        token_id = require_token(request)
        model = _existing_model(request)
        if not model.is_official:
            raise not_found(
                f"The model {model.slug} is not an official model, so it cannot be run by name. "
                f'Run a version of it instead: POST /v1/predictions with "version": '
                f'"{model.version_id}".'
            )
        require_credit(request)
        body = await read_create_body(request, _CREATE_KEYS)
        return await create_with_model(request, model, body, token_id)

    async def create_deployment_prediction(request: Request) -> Response:
        require_token(request)
        owner, name = request.path_params["owner"], request.path_params["name"]
        raise not_found(f"Deployment {owner}/{name} not found.")

    def own_prediction(request: Request, token_id: str) -> PredictionState:
        pred = state.predictions.get(request.path_params["id"])
        if pred is None or pred.token_id != token_id:
            raise not_found("Prediction not found.")
        return pred

    async def get_prediction(request: Request) -> Response:
        pred = own_prediction(request, require_token(request))
        return JSONResponse(pred.to_json(base_of(request)))

    async def cancel_prediction(request: Request) -> Response:
        pred = own_prediction(request, require_token(request))
        if not pred.is_terminal:
            _stop(pred, "canceled")
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
            for p in state.predictions.values()
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

    async def get_model_route(request: Request) -> Response:
        require_token(request)
        model = _existing_model(request)
        runs = sum(1 for p in state.predictions.values() if p.model.slug == model.slug)
        return JSONResponse(
            {
                "url": f"https://replicate.com/{model.slug}",
                "owner": model.owner,
                "name": model.name,
                "description": model.description,
                "visibility": "public",
                "github_url": None,
                "paper_url": None,
                "license_url": None,
                "run_count": runs,
                "cover_image_url": None,
                "default_example": None,
                "is_official": model.is_official,
                "latest_version": _version_json(model),
            }
        )

    async def list_versions(request: Request) -> Response:
        require_token(request)
        model = _versioned_model(request)
        return JSONResponse({"next": None, "previous": None, "results": [_version_json(model)]})

    async def get_version(request: Request) -> Response:
        require_token(request)
        model = _versioned_model(request)
        if request.path_params["version"] != model.version_id:
            raise not_found("Version not found.")
        return JSONResponse(_version_json(model))

    async def create_file(request: Request) -> Response:
        token_id = require_token(request)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_FILE_BYTES + 1024 * 1024:
            raise _too_large()
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise problem(
                400, "Expected a multipart/form-data body with a 'content' part", "Bad request"
            )
        async with request.form(max_files=4, max_fields=16) as form:
            content = form.get("content")
            if not isinstance(content, UploadFile):
                raise _invalid_body([invalid_field("required", "content", "content is required")])
            data = await content.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                raise _too_large()
            name_field = form.get("filename")
            type_field = form.get("type")
            metadata_field = form.get("metadata")
            filename = (
                (name_field if isinstance(name_field, str) and name_field else None)
                or content.filename
                or "file"
            )
            content_type = (
                (type_field if isinstance(type_field, str) and type_field else None)
                or content.content_type
                or "application/octet-stream"
            )
        if len(filename.encode()) > 255:
            raise _invalid_body([invalid_field("string_lte", "filename", "at most 255 bytes")])
        metadata: Any = {}
        if isinstance(metadata_field, str) and metadata_field:
            try:
                metadata = json.loads(metadata_field)
            except json.JSONDecodeError as exc:
                problem_ = invalid_field("invalid_type", "metadata", f"must be valid JSON: {exc}")
                raise _invalid_body([problem_]) from exc
            if not isinstance(metadata, dict):
                raise _invalid_body(
                    [invalid_field("invalid_type", "metadata", "must be an object")]
                )
        file_id = base64.b64encode(str(uuid.uuid4()).encode()).decode()  # shaped like sample 11
        stored = StoredFile(file_id, filename, content_type, data, metadata, time.time(), token_id)
        state.files[file_id] = stored
        return JSONResponse(stored.to_json(base_of(request)), status_code=201)

    def own_file(request: Request, token_id: str) -> StoredFile:
        stored = state.files.get(request.path_params["id"])
        if stored is None or stored.token_id != token_id:
            raise not_found("File not found")
        return stored

    async def list_files(request: Request) -> Response:
        token_id = require_token(request)
        base = base_of(request)
        mine = [f for f in state.files.values() if f.token_id == token_id]
        mine.sort(key=lambda f: f.created_at, reverse=True)
        return JSONResponse(
            {"next": None, "previous": None, "results": [f.to_json(base) for f in mine]}
        )

    async def get_file(request: Request) -> Response:
        stored = own_file(request, require_token(request))
        return JSONResponse(stored.to_json(base_of(request)))

    async def download_file(request: Request) -> Response:
        stored = own_file(request, require_token(request))
        return Response(stored.data, media_type=stored.content_type)

    async def delete_file(request: Request) -> Response:
        stored = own_file(request, require_token(request))
        del state.files[stored.id]
        return Response(status_code=204)

    async def account(request: Request) -> Response:
        token_id = require_token(request)
        return JSONResponse(
            {
                "type": "user",
                "username": f"sim-{token_id[:6]}",
                "name": f"Simulated user {token_id[:6]}",
            }
        )

    async def stream(request: Request) -> Response:
        pred = state.predictions.get(request.path_params["id"])
        if pred is None or not pred.has_stream:
            raise not_found("Stream not found.")
        start = _resume_index(request.headers.get("last-event-id"))
        drop_after = state.config.drop_stream_after
        base = base_of(request)
        return StreamingResponse(
            _sse_events(pred, start, drop_after, base),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def deliver(request: Request) -> Response:
        item = state.deliveries.get(request.path_params["token"])
        config = state.config
        if config.output_delay:
            await asyncio.sleep(config.output_delay)
        if item is None or item.file.name != request.path_params["name"] or config.missing_outputs:
            raise not_found("Not found.")
        output = item.file
        padding = effective_padding(output.content_type, output.name, config.output_padding)
        trailer = (
            mp4_free_box_header(padding)
            if padding and is_mp4(output.content_type, output.name)
            else b""
        )
        if request.method == "HEAD":  # headers only: never generate the (maybe huge) body
            return Response(
                media_type=output.content_type,
                headers={"Content-Length": str(len(output.data) + padding)},
            )
        return StreamingResponse(
            _delivery_chunks(output.data, trailer, padding),
            media_type=output.content_type,
            headers={
                "Content-Length": str(len(output.data) + padding),
                "Cache-Control": "public, max-age=3600",
            },
        )

    # ---- control routes (unauthenticated, loopback only) ----

    def require_loopback(request: Request) -> None:
        host = request.client.host if request.client else ""
        if host not in _LOOPBACK_HOSTS and not host.startswith("127."):
            raise problem(403, "Simulator control routes answer loopback clients only", "Forbidden")

    async def sim_get_config(request: Request) -> Response:
        require_loopback(request)
        return JSONResponse(state.config.to_json())

    async def sim_put_config(request: Request) -> Response:
        require_loopback(request)
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            state.config.update_from_json(data)
        except (ValueError, TypeError) as exc:
            raise problem(422, str(exc), "Invalid simulator config") from exc
        return JSONResponse(state.config.to_json())

    async def sim_requests(request: Request) -> Response:
        require_loopback(request)
        return JSONResponse([asdict(r) for r in list(state.requests)])

    async def sim_reset(request: Request) -> Response:
        require_loopback(request)
        state.reset()
        return JSONResponse(state.config.to_json())

    # ---- helpers closing over state ----

    def _model_for_version(version: str) -> SimModel:
        """`<64-hex>`, `owner/name:<64-hex>` or `owner/name` (official models only)."""
        if _HEX64_RE.fullmatch(version):
            found = find_version(version)
            if found is not None:
                return found[0]
        elif match := _SLUG_VERSION_RE.fullmatch(version):
            found = find_version(match["version"])
            if found is not None and found[0].slug == f"{match['owner']}/{match['name']}":
                return found[0]
        elif match := _SLUG_RE.fullmatch(version):
            model = get_model(match["owner"], match["name"])
            if model is not None and model.is_official:
                return model
        raise ProblemError(422, dict(_INVALID_VERSION))

    def _existing_model(request: Request) -> SimModel:
        owner, name = request.path_params["owner"], request.path_params["name"]
        model = get_model(owner, name)
        if model is None:
            raise not_found(f"Model {owner}/{name} not found.")
        return model

    def _versioned_model(request: Request) -> SimModel:
        model = _existing_model(request)
        if model.is_official:  # official models expose no versions (MODELS.md)
            raise not_found(f"Model {model.slug} is an official model and has no public versions.")
        return model

    routes = [
        Route("/v1/predictions", create_prediction, methods=["POST"]),
        Route("/v1/predictions", list_predictions, methods=["GET"]),
        Route("/v1/predictions/{id}", get_prediction, methods=["GET"]),
        Route("/v1/predictions/{id}/cancel", cancel_prediction, methods=["POST"]),
        Route("/v1/models/{owner}/{name}", get_model_route, methods=["GET"]),
        Route("/v1/models/{owner}/{name}/predictions", create_model_prediction, methods=["POST"]),
        Route("/v1/models/{owner}/{name}/versions", list_versions, methods=["GET"]),
        Route("/v1/models/{owner}/{name}/versions/{version}", get_version, methods=["GET"]),
        Route(
            "/v1/deployments/{owner}/{name}/predictions",
            create_deployment_prediction,
            methods=["POST"],
        ),
        Route("/v1/files", create_file, methods=["POST"]),
        Route("/v1/files", list_files, methods=["GET"]),
        Route("/v1/files/{id}", get_file, methods=["GET"]),
        Route("/v1/files/{id}", delete_file, methods=["DELETE"]),
        Route("/v1/files/{id}/download", download_file, methods=["GET"]),
        Route("/v1/account", account, methods=["GET"]),
        Route("/v1/streams/{id}", stream, methods=["GET"]),
        Route("/delivery/{token}/{name:path}", deliver, methods=["GET", "HEAD"]),
        Route("/_sim/config", sim_get_config, methods=["GET"]),
        Route("/_sim/config", sim_put_config, methods=["PUT"]),
        Route("/_sim/requests", sim_requests, methods=["GET"]),
        Route("/_sim/reset", sim_reset, methods=["POST"]),
    ]

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return problem_response(exc)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        title = status_title(exc.status_code)
        return problem_response(problem(exc.status_code, str(exc.detail or title), title))

    return Starlette(
        routes=routes,
        middleware=[Middleware(_SimMiddleware, state=state)],
        exception_handlers={ProblemError: on_problem, HTTPException: on_http_exception},
    )


def _version_json(model: SimModel) -> dict[str, Any]:
    return {
        "id": model.version_id,
        "created_at": "2024-06-01T12:00:00.000000Z",
        "cog_version": "0.9.9",
        "openapi_schema": model.openapi_schema(),
    }


def _too_large() -> ProblemError:
    return problem(413, "Files must be less than 100MB in size", "Content Too Large")


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


def _resume_index(last_event_id: str | None) -> int:
    """Index of the first event to send: the one after `Last-Event-ID` (`<time>:<index>`)."""
    if not last_event_id:
        return 0
    _, _, index = last_event_id.strip().rpartition(":")
    return int(index) + 1 if index.isdigit() else 0


def format_sse(event: str, data: str, event_id: str) -> str:
    lines = [f"event: {event}", f"id: {event_id}"]
    lines += [f"data: {part}" for part in data.split("\n")]
    return "\n".join(lines) + "\n\n"


async def _sse_events(
    pred: PredictionState, start: int, drop_after: int | None, base: str
) -> AsyncIterator[str]:
    yield ": hi\n\n"
    index, outputs_sent = start, 0
    if drop_after is not None and drop_after <= 0:
        return
    while True:
        while index < len(pred.events):
            event = pred.events[index]
            data = event.file.url(base) if event.file is not None else event.data
            yield format_sse(event.event, data, pred.sse_id(index))
            index += 1
            if event.event == "done":
                return
            if event.event == "output":
                outputs_sent += 1
                if drop_after is not None and outputs_sent >= drop_after:
                    return  # simulated dropped connection: no `done`
        if pred.is_terminal and index >= len(pred.events):
            return  # resumed after the final event: nothing more will come
        await pred.wait_change(15.0)


async def _delivery_chunks(data: bytes, trailer: bytes, padding: int) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), DELIVERY_CHUNK):
        yield data[offset : offset + DELIVERY_CHUNK]
    if not padding:
        return
    if trailer:
        yield trailer
    remaining = padding - len(trailer)
    zeros = bytes(DELIVERY_CHUNK)
    while remaining > 0:
        size = min(DELIVERY_CHUNK, remaining)
        yield zeros if size == DELIVERY_CHUNK else bytes(size)
        remaining -= size


def _ratelimit_remaining(method: str, path: str) -> str:
    """The values recorded at Replicate (REPLICATE-API.md §2)."""
    if method == "POST" and (
        path == "/v1/predictions"
        or (path.startswith(("/v1/models/", "/v1/deployments/")) and path.endswith("/predictions"))
    ):
        return "599"
    if method == "GET" and re.fullmatch(r"/v1/predictions/[^/]+", path):
        return "59999"
    return "2999"


class _SimMiddleware:
    """Records every request (without its token), injects faults, adds rate-limit headers."""

    def __init__(self, app: ASGIApp, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if "host" in headers:
            self.state.own_netlocs.add(headers["host"])
        token = bearer_token(headers.get("authorization"))
        record = RequestRecord(
            method=method,
            path=path,
            status=0,
            token_id=token_id_of(token) if token else None,
            headers={k: v for k, v in headers.items() if k not in _SECRET_HEADERS},
            time=time.time(),
        )
        add_ratelimit = path.startswith("/v1/") and not path.startswith("/v1/streams/")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                self.state.requests.append(record)
                if add_ratelimit:
                    extra = [
                        (b"ratelimit-remaining", _ratelimit_remaining(method, path).encode()),
                        (b"ratelimit-reset", b"1"),
                    ]
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        fault = self.state.match_fault(method, path)
        try:
            if fault is not None:
                await problem_response(_fault_problem(fault))(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            if record.status == 0:  # the app crashed before answering
                record.status = 500
                self.state.requests.append(record)


def _fault_problem(fault: Fault) -> ProblemError:
    if fault.status == 429:  # no title, as Replicate's throttling answer
        seconds = fault.retry_after if fault.retry_after and fault.retry_after.isdigit() else "1"
        error = problem(
            429, fault.detail or f"Request was throttled. Your rate limit resets in ~{seconds}s."
        )
    else:
        title = status_title(fault.status)
        error = problem(fault.status, fault.detail or title, title)
    if fault.retry_after is not None:
        error.headers["Retry-After"] = fault.retry_after
    return error


__all__ = [
    "MAX_FILE_BYTES",
    "PAGE_SIZE",
    "PredictionState",
    "RequestRecord",
    "SimState",
    "create_app",
    "mp4_free_box_header",
    "parse_cancel_after",
    "token_id_of",
]
