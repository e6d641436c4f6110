"""What the simulator knows: predictions, stored files, delivered outputs, the request log.

`SimState` is shared by the server's routes (as `app.state.sim`) and the runner (read from other
threads); a `PredictionState` changes only inside the server's event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fnmatch
import hashlib
import json
import math
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit

from .catalog import Generation, OutputFile, SimModel
from .config import Fault, SimulatorConfig

GENERATION_CACHE_ENTRIES = 64
GENERATION_CACHE_MAX_BYTES = 16 * 1024 * 1024  # per entry
FILE_TTL_SECONDS = 24 * 3600
TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # lowercase alnum, like Replicate's ids


def token_id_of(token: str) -> str:
    """What the simulator records instead of a token: the first 12 hex of its sha256."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def rfc3339(timestamp: float, digits: int = 6) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[: len(text) - (6 - digits)] + "Z"


def new_prediction_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))


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
class SimDeployment:
    """A deployment: which catalogue model and version its current release runs, on what.

    `token_id` is the account that created it (None: configured, seen by every token)."""

    owner: str
    name: str
    model: str  # owner/name of a catalogue model
    version: str
    hardware: str = "gpu-t4"
    min_instances: int = 0
    max_instances: int = 1
    release: int = 1
    created_at: float = 1_717_243_200.0  # 2024-06-01, as the simulator's model versions
    token_id: str | None = None

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        """`schemas_deployment_response`, as the spec's examples show it."""
        return {
            "owner": self.owner,
            "name": self.name,
            "current_release": {
                "number": self.release,
                "model": self.model,
                "version": self.version,
                "created_at": rfc3339(self.created_at),
                "created_by": {
                    "type": "organization" if self.token_id is None else "user",
                    "username": self.owner,
                    "name": self.owner,
                    "avatar_url": f"https://cdn.replicate.com/avatars/{self.owner}.png",
                    "github_url": f"https://github.com/{self.owner}",
                },
                "configuration": {
                    "hardware": self.hardware,
                    "min_instances": self.min_instances,
                    "max_instances": self.max_instances,
                },
            },
        }


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
    fail_after: int | None = None  # outcome failed: tokens or log lines before it (None: half)
    failure: str | None = None  # outcome failed: its error message (None: code PA)
    deployment: str | None = None  # owner/name of the deployment that created it
    echo: dict[str, Any] = field(default_factory=dict)  # webhook, webhook_events_filter, stream
    status: str = "starting"
    tokens: list[str] | None = None
    files: list[DeliveredFile] = field(default_factory=list)
    single: bool = False
    value: Any = None  # a JSON model's output
    logs: str = ""
    error: str | None = None
    started_at: float | None = None
    completed_at: float | None = None
    deadline: float | None = None
    first_token_at: float | None = None
    output_complete: bool = False
    events: list[SseEvent] = field(default_factory=list)
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    deadline_timer: asyncio.TimerHandle | None = field(default=None, repr=False)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    booted: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    """Set to end the cold start early (`Simulator.end_cold_starts`): a test that watches the
    `starting` state waits on what it sees, not on a race against the clock."""

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def has_stream(self) -> bool:
        return self.model.streams or not self.model.outputs_text

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
        if self.first_token_at is None:
            self.first_token_at = time.time()
        self.tokens.append(token)
        self.events.append(SseEvent("output", token))
        self.notify()

    def output(self, base: str) -> Any:
        if self.value is not None:
            return self.value
        if self.files:
            urls = [f.url(base) for f in self.files]
            return urls[0] if self.single and len(urls) == 1 else urls
        if self.tokens is None:
            return None
        return "".join(self.tokens) if self.single else list(self.tokens)

    def metrics(self, started: float) -> dict[str, Any]:
        """A terminal prediction's `metrics`, as Replicate reports them: `predict_time` and
        `total_time` for every model (samples 05, 06); official language models add their token
        counts, `time_to_first_token` and `tokens_per_second` (cog's docs: "Official language
        models have metrics like input_token_count, output_token_count, tokens_per_second, and
        time_to_first_token"); official image models `image_count` (recorded flux-schnell and
        flux-1.1-pro replies, 2025)."""
        assert self.completed_at is not None
        predict = self.completed_at - started
        found: dict[str, Any] = {
            "predict_time": round(predict, 6),
            "total_time": round(self.completed_at - self.created_at, 6),
        }
        if not self.model.is_official:
            return found  # Replicate ignores a community model's own metrics
        if self.tokens is not None:
            output_tokens = sum(1 for t in self.tokens if t)
            found["input_token_count"] = input_token_count(self.prepared_input)
            found["output_token_count"] = output_tokens
            if self.first_token_at is not None:
                first = max(self.first_token_at - started, 0.0)
                found["time_to_first_token"] = round(first, 6)
                streaming = self.completed_at - self.first_token_at
                if streaming > 0:
                    found["tokens_per_second"] = round(output_tokens / streaming, 3)
        elif self.files and self.model.kind == "image":
            found["image_count"] = len(self.files)
        return found

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
            body["metrics"] = self.metrics(started)
        if self.deadline is not None:
            body["deadline"] = rfc3339(self.deadline)
        body["urls"] = urls
        body["source"] = "api"
        if self.deployment is not None:
            body["deployment"] = self.deployment
        body.update(self.echo)
        return body


def input_token_count(prepared_input: dict[str, Any]) -> int:
    """Tokens of text a language model reads, as the simulator counts them: about four bytes of
    text a token (Replicate counts with the model's tokenizer); files and their URLs aside."""
    size = 0
    for value in prepared_input.values():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                item = item.get("content") if isinstance(item.get("content"), str) else None
            if isinstance(item, str) and not item.startswith(("data:", "http://", "https://")):
                size += len(item.encode("utf-8"))
    return max(1, math.ceil(size / 4))


class SimState:
    """Everything the server knows; shared with the runner (read from other threads)."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.requests: list[RequestRecord] = []
        self.predictions: dict[str, PredictionState] = {}
        self.files: dict[str, StoredFile] = {}
        self.deliveries: dict[str, DeliveredFile] = {}
        # Example predictions of /examples, generated once: key -> (output, error, logs).
        self.examples: dict[str, tuple[Any, str | None, str]] = {}
        self.own_netlocs: set[str] = set()
        # Deployments created through `POST /v1/deployments`, by owner/name (config ones apart).
        self.deployments: dict[str, SimDeployment] = {}
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

    def deliver(self, files: list[OutputFile]) -> list[DeliveredFile]:
        """Serve `files` at fresh `/delivery/<token>/<name>` URLs."""
        delivered = []
        for output_file in files:
            item = DeliveredFile(
                secrets.token_urlsafe(24).replace("-", "x").replace("_", "y"), output_file
            )
            self.deliveries[item.token] = item
            delivered.append(item)
        return delivered

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def reset(self) -> None:
        """Config back to defaults (in place: references stay valid), request log and created
        deployments cleared."""
        defaults = SimulatorConfig()
        for name in defaults.to_json():
            setattr(self.config, name, getattr(defaults, name))
        self.requests.clear()
        self.deployments.clear()

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
