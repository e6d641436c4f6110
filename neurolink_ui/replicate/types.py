"""Small typed objects of Replicate's API: model references, predictions, accounts, events."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import InvalidModelRefError

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "aborted"})

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_REF_RE = re.compile(rf"^(?P<owner>{_NAME})/(?P<name>{_NAME})(?::(?P<version>[A-Za-z0-9]+))?$")
# How a deployment is named wherever a model can be: `deployment:owner/name`.
DEPLOYMENT_PREFIX = "deployment:"


@dataclass(frozen=True)
class ModelRef:
    """`owner/name` (official models, run by name), `owner/name:version` (pinned), or
    `deployment:owner/name` (a deployment: `POST /v1/deployments/{owner}/{name}/predictions`).

    A deployment is named with a prefix, not found by trying: its `owner/name` lives in another
    namespace than models' (an account's `acme/sdxl` deployment and a public `acme/sdxl` model
    can both exist, and run different code on different hardware), so a bare `owner/name` that
    meant "whichever answers" could silently run the other one, or be billed on another account's
    model. Resolving a name against the token's own deployments would cost a request before
    every run and make the same text mean different things for different tokens (the owner's
    and a visitor's) — and a History entry or share link would then rerun something else. The
    prefix is what Replicate's clients spell out too (`replicate.deployments.get("acme/x")` runs
    `deployments.predictions.create`, never the models route). A deployment pins its model
    version in its release, so it takes no `:version`.
    """

    owner: str
    name: str
    version: str | None = None
    deployment: bool = False

    @classmethod
    def parse(cls, ref: str) -> ModelRef:
        text = (ref or "").strip()
        deployment = text[: len(DEPLOYMENT_PREFIX)].lower() == DEPLOYMENT_PREFIX
        match = _REF_RE.match(text[len(DEPLOYMENT_PREFIX) :] if deployment else text)
        if not match or (deployment and match["version"]):
            raise InvalidModelRefError(text)
        return cls(match["owner"], match["name"], match["version"], deployment)

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.name}"

    def __str__(self) -> str:
        if self.deployment:
            return f"{DEPLOYMENT_PREFIX}{self.slug}"
        return f"{self.slug}:{self.version}" if self.version else self.slug


@dataclass(frozen=True)
class Deployment:
    """A deployment's current release, as `GET /v1/deployments/{owner}/{name}` answers it: the
    model (`owner/name`) and version it runs, on which hardware."""

    owner: str
    name: str
    model: str
    version: str
    release: int | None = None
    hardware: str = ""

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Prediction:
    """A prediction as Replicate returns it; unknown keys are kept in `raw`."""

    id: str
    status: str
    model: str = ""
    version: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    error: str | None = None
    logs: str = ""
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prediction:
        return cls(
            id=str(data.get("id", "")),
            status=str(data.get("status", "starting")),
            model=str(data.get("model") or ""),
            version=data.get("version"),
            input=dict(data.get("input") or {}),
            output=data.get("output"),
            error=data.get("error"),
            logs=data.get("logs") or "",
            created_at=data.get("created_at"),
            started_at=data.get("started_at"),
            completed_at=data.get("completed_at"),
            metrics=dict(data.get("metrics") or {}),
            urls=dict(data.get("urls") or {}),
            raw=data,
        )

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def web_url(self) -> str:
        return self.urls.get("web") or f"https://replicate.com/p/{self.id}"

    @property
    def stream_url(self) -> str | None:
        return self.urls.get("stream")

    @property
    def predict_time(self) -> float | None:
        value = self.metrics.get("predict_time")
        return float(value) if isinstance(value, int | float) else None


# What an example prediction (input and output) read from the API may weigh, as compact JSON.
MAX_EXAMPLE_JSON_CHARS = 256 * 1024
MAX_EXAMPLE_DEPTH = 32
_EXAMPLE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_TIMESTAMP = re.compile(r"[0-9T:.+Z -]{1,40}")


def json_within(value: Any, max_chars: int, max_depth: int) -> bool:
    """True when `value` (parsed JSON) nests at most `max_depth` deep and dumps to at most
    `max_chars` characters (depth checked first, so a deep value never reaches json.dumps)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    try:
        return len(json.dumps(value, default=str)) <= max_chars
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class ModelExample:
    """One example prediction of a model (its `default_example` or one of `/examples`).

    Read from hostile JSON: `input` is a dict and input plus output are bounded in size and depth
    (else `from_json` gives None); `output` is as the API sent it — its URLs are for
    `ReplicateClient.download_outputs` (guarded by netguard), never to fetch directly. `id` is
    empty when the API gave none usable (a default example often has none).
    """

    id: str
    input: dict[str, Any]
    output: Any
    created_at: str | None
    status: str = "succeeded"

    @classmethod
    def from_json(cls, data: Any) -> ModelExample | None:
        if not isinstance(data, dict) or not isinstance(data.get("input"), dict):
            return None
        payload = {"input": data["input"], "output": data.get("output")}
        if not json_within(payload, MAX_EXAMPLE_JSON_CHARS, MAX_EXAMPLE_DEPTH):
            return None
        ident, created, status = data.get("id"), data.get("created_at"), data.get("status")
        return cls(
            id=ident if isinstance(ident, str) and _EXAMPLE_ID.fullmatch(ident) else "",
            input=payload["input"],
            output=payload["output"],
            created_at=created
            if isinstance(created, str) and _TIMESTAMP.fullmatch(created)
            else None,
            status=status if isinstance(status, str) and status in _STATUSES else "succeeded",
        )


_STATUSES = frozenset({"starting", "processing", *TERMINAL_STATUSES})


@dataclass(frozen=True)
class Account:
    type: str
    username: str
    name: str = ""


# Events yielded while a prediction runs: what a UI or CLI needs to show it live.


@dataclass(frozen=True)
class Progress:
    """Where a prediction is: `starting` means Replicate is starting it (a cold boot only when
    that lasts: pipeline.progress_phase), `processing` that it runs; `prediction_id` is empty only while the create is in flight."""

    prediction_id: str
    status: str
    elapsed: float
    percent: float | None = None
    log_tail: tuple[str, ...] = ()

    kind: Literal["progress"] = "progress"


@dataclass(frozen=True)
class TextDelta:
    """A piece of streamed text output, in order, never repeated."""

    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True)
class Completed:
    """The finished prediction (status `succeeded`)."""

    prediction: Prediction
    kind: Literal["completed"] = "completed"


PredictionEvent = Progress | TextDelta | Completed
