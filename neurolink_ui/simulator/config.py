"""SimulatorConfig: latencies, outcomes and injected faults of the local Replicate simulator.

The config object is live: the server reads it on every request, and a prediction copies the
latency/outcome fields when it is created, so changing them affects only later predictions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["succeeded", "failed", "aborted"]
_OUTCOMES: tuple[str, ...] = ("succeeded", "failed", "aborted")


@dataclass
class Fault:
    """Answer the `nth` request matching `method` and `path` (a glob) with `status`.

    `count` consecutive matches are faulted, starting at the nth one. Matches are counted per Fault
    object from the moment it is in the config (`matched` is that counter, not part of the JSON).
    `retry_after` becomes a `Retry-After` header (seconds or an HTTP-date) when set.
    """

    method: str = "*"
    path: str = "*"
    nth: int = 1
    count: int = 1
    status: int = 500
    retry_after: str | None = None
    detail: str | None = None
    matched: int = field(default=0, init=False, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "nth": self.nth,
            "count": self.count,
            "status": self.status,
            "retry_after": self.retry_after,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown Fault fields: {sorted(unknown)}")
        fault = cls(**data)
        if fault.nth < 1 or fault.count < 1:
            raise ValueError("Fault.nth and Fault.count must be >= 1")
        if not 400 <= fault.status <= 599:
            raise ValueError("Fault.status must be an HTTP error status (400-599)")
        if fault.retry_after is not None:
            fault.retry_after = str(fault.retry_after)
        return fault


# Deployments the simulator serves by default, on community models of the catalogue (a
# deployment runs a version: official models show none), one per kind of output.
DEPLOYMENTS: dict[str, dict[str, Any]] = {
    "acme/image-generator": {
        "model": "playgroundai/playground-v2.5-1024px-aesthetic",
        "hardware": "gpu-l40s",
    },
    "acme/music-generator": {"model": "meta/musicgen", "hardware": "gpu-a100-large"},
    "acme/lip-sync": {"model": "douwantech/musetalk", "hardware": "gpu-l40s"},
}


@dataclass
class SimulatorConfig:
    """Every knob of the simulator; the defaults are fast so tests stay quick."""

    cold_start: float = 0.05
    """Seconds a prediction spends in `starting`."""
    run_time: float = 0.3
    """Seconds a file-output model spends in `processing` (its log lines are spread over it)."""
    token_interval: float = 0.01
    """Seconds between streamed tokens of a chat model."""
    first_token_delay: float = 0.02
    """Seconds between `processing` and a chat model's first token."""
    faults: list[Fault] = field(default_factory=list)
    outcome: Outcome = "succeeded"
    """How the next predictions end: `failed` (code PA, transient) or `aborted` after cold start.
    A failure sends the stream's `error` event (its message as `{"detail": …}`), then `done`."""
    fail_after: int | None = None
    """With outcome `failed`: the output tokens (a chat model) or log lines (a file model) sent
    before the failure; None: half of them."""
    failure: str | None = None
    """With outcome `failed`: the prediction's error message (None: Replicate's transient
    `Prediction interrupted; please retry (code: PA)`)."""
    drop_stream_after: int | None = None
    """Close each SSE connection after this many `output` events, without `done`."""
    output_delay: float = 0.0
    """Seconds a delivery URL waits before answering (slow first byte)."""
    missing_outputs: bool = False
    """Delivery URLs answer 404 (outputs purged or not yet replicated)."""
    output_padding: int = 0
    """Bytes appended to every delivered file: a trailing `free` box for MP4, zeros otherwise.
    Generated while streaming, never held in memory, so multi-GB outputs can be simulated."""
    create_delay: float = 0.0
    """Seconds a create request takes to answer once its prediction exists (a slow network or a
    busy API): until then the client does not know the prediction's id."""
    hold_sync: bool = True
    """`Prefer: wait` holds the create request as Replicate does; False answers at once."""
    model_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per `owner/name`: `{"gone": true}` (404), `{"openapi_schema": {...}}`,
    `{"version": "<64-hex>"}`, `{"official": false}` (served as a community model, run by
    version) and/or `{"readme": "<Markdown>"}` served instead of the catalogue's (a drifted live
    API, a hostile README)."""
    deployments: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(DEPLOYMENTS))
    """Deployments every token can see and run, per `owner/name`: `{"model": "<catalogue
    owner/name>"}`, optionally `"version"` (default the model's), `"hardware"`,
    `"min_instances"`, `"max_instances"`. Served at `/v1/deployments/...` beside those a token
    creates (`POST /v1/deployments`, its own only)."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "faults"
        }
        data["faults"] = [fault.to_json() for fault in self.faults]
        return data

    def update_from_json(self, data: dict[str, Any]) -> None:
        """Apply a partial JSON object; validates everything before changing anything."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        candidate = dataclasses.replace(self)
        for key, value in data.items():
            if key == "faults":
                if not isinstance(value, list):
                    raise ValueError("faults must be a list")
                candidate.faults = [
                    item if isinstance(item, Fault) else Fault.from_json(item) for item in value
                ]
            else:
                setattr(candidate, key, value)
        candidate.validate()
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(candidate, f.name))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimulatorConfig:
        config = cls()
        config.update_from_json(data)
        return config

    def validate(self) -> None:
        for name in (
            "cold_start",
            "run_time",
            "token_interval",
            "first_token_delay",
            "create_delay",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a number >= 0")
        if not isinstance(self.output_delay, int | float) or self.output_delay < 0:
            raise ValueError("output_delay must be a number >= 0")
        if self.outcome not in _OUTCOMES:
            raise ValueError(f"outcome must be one of {list(_OUTCOMES)}")
        if self.fail_after is not None and (
            not isinstance(self.fail_after, int)
            or isinstance(self.fail_after, bool)
            or self.fail_after < 0
        ):
            raise ValueError("fail_after must be null or an integer >= 0")
        if self.failure is not None and (not isinstance(self.failure, str) or not self.failure):
            raise ValueError("failure must be null or a non-empty string")
        _validate_deployments(self.deployments)
        if self.drop_stream_after is not None and (
            not isinstance(self.drop_stream_after, int) or self.drop_stream_after < 0
        ):
            raise ValueError("drop_stream_after must be null or an integer >= 0")
        if not isinstance(self.output_padding, int) or self.output_padding < 0:
            raise ValueError("output_padding must be an integer >= 0")
        if not isinstance(self.hold_sync, bool) or not isinstance(self.missing_outputs, bool):
            raise ValueError("hold_sync and missing_outputs must be booleans")
        _validate_overrides(self.model_overrides)


_OVERRIDE_KEYS = frozenset({"gone", "openapi_schema", "version", "readme", "official"})


def _validate_overrides(overrides: Any) -> None:
    if not isinstance(overrides, dict):
        raise ValueError("model_overrides must be an object of owner/name -> override")
    for ref, override in overrides.items():
        if not isinstance(ref, str) or ref.count("/") != 1:
            raise ValueError(f"model_overrides key {ref!r} must be owner/name")
        if not isinstance(override, dict) or not set(override) <= _OVERRIDE_KEYS:
            raise ValueError(f"model_overrides[{ref!r}] takes only {sorted(_OVERRIDE_KEYS)}")
        schema = override.get("openapi_schema")
        if schema is not None and not (
            isinstance(schema, dict)
            and {"Input", "Output"} <= set(schema.get("components", {}).get("schemas", {}))
        ):
            raise ValueError(f"model_overrides[{ref!r}].openapi_schema needs Input and Output")
        if not isinstance(override.get("official", False), bool):
            raise ValueError(f"model_overrides[{ref!r}].official must be a boolean")
        if not isinstance(override.get("readme", ""), str):
            raise ValueError(f"model_overrides[{ref!r}].readme must be a string (Markdown)")
        version = override.get("version")
        if version is not None and not (
            isinstance(version, str)
            and len(version) == 64
            and all(c in "0123456789abcdef" for c in version)
        ):
            raise ValueError(f"model_overrides[{ref!r}].version must be 64 lowercase hex")


_DEPLOYMENT_KEYS = frozenset({"model", "version", "hardware", "min_instances", "max_instances"})


def _validate_deployments(deployments: Any) -> None:
    if not isinstance(deployments, dict):
        raise ValueError("deployments must be an object of owner/name -> deployment")
    for ref, spec in deployments.items():
        if not isinstance(ref, str) or ref.count("/") != 1 or not all(ref.split("/")):
            raise ValueError(f"deployments key {ref!r} must be owner/name")
        if not isinstance(spec, dict) or not set(spec) <= _DEPLOYMENT_KEYS:
            raise ValueError(f"deployments[{ref!r}] takes only {sorted(_DEPLOYMENT_KEYS)}")
        if not isinstance(spec.get("model"), str) or spec["model"].count("/") != 1:
            raise ValueError(f"deployments[{ref!r}].model must be a catalogued owner/name")
        for name in ("min_instances", "max_instances"):
            value = spec.get(name, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"deployments[{ref!r}].{name} must be an integer >= 0")
