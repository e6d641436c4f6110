"""Schema drift: what changed between a model's recorded catalogue entry and the live API.

`compare` is pure (recorded entry + the live `ModelInfo` → readable changes); `check_models` fetches
each model's live model object (with its latest version) through the predictions module. Used by
`python -m neurolink_ui models check`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..replicate.client import ReplicateClient
from ..replicate.errors import ModelNotFoundError, ReplicateError
from ..replicate.schema import InputField, InputSchema, ModelInfo
from . import CatalogModel

# The properties of a field whose change matters to a caller, in the order they are reported.
_COMPARED = ("type", "format", "item_type", "required", "default", "choices", "minimum", "maximum")
MAX_PARALLEL = 4


@dataclass
class ModelDrift:
    """One model's check: its changes, `gone` (404), or the error that stopped the check."""

    model: str
    changes: list[str] = field(default_factory=list)
    gone: bool = False
    error: str | None = None

    @property
    def changed(self) -> bool:
        return self.gone or bool(self.changes)


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return "none" if value is None else str(value)


def _attribute(f: InputField, name: str) -> Any:
    if name == "default":
        return f.default if f.has_default else None
    return getattr(f, name)


def compare_fields(recorded: InputSchema, live: InputSchema) -> list[str]:
    """Fields added or removed, and type/format/required/default/enum/min/max changes."""
    old = {f.name: f for f in recorded.fields}
    new = {f.name: f for f in live.fields}
    changes = [f"+ field {name} ({new[name].type})" for name in new if name not in old]
    changes += [f"- field {name}" for name in old if name not in new]
    for name in (n for n in old if n in new):
        for attribute in _COMPARED:
            before, after = _attribute(old[name], attribute), _attribute(new[name], attribute)
            if before != after:
                changes.append(f"~ {name}.{attribute}: {_show(before)} -> {_show(after)}")
    return changes


def compare(entry: CatalogModel, live: ModelInfo) -> list[str]:
    """Every difference between the recorded entry and what the API serves now."""
    changes: list[str] = []
    if entry.version and live.version_id != entry.version:
        changes.append(f"~ version: {entry.version} -> {live.version_id}")
    if live.is_official != entry.official:
        changes.append(f"~ official: {entry.official} -> {live.is_official}")
    recorded = ModelInfo.from_model_json(
        {"latest_version": {"openapi_schema": entry.openapi_schema}}
    )
    changes += compare_fields(recorded.input_schema, live.input_schema)
    if recorded.output_schema != live.output_schema:
        changes.append(f"~ output: {recorded.output_schema} -> {live.output_schema}")
    return changes


async def check_model(client: ReplicateClient, entry: CatalogModel, token: str) -> ModelDrift:
    try:
        live = await client.get_model(entry.model, token=token)
    except ModelNotFoundError:
        return ModelDrift(entry.model, gone=True)
    except ReplicateError as exc:
        return ModelDrift(entry.model, error=str(exc))
    return ModelDrift(entry.model, changes=compare(entry, live))


async def check_models(
    client: ReplicateClient, entries: Iterable[CatalogModel], token: str
) -> list[ModelDrift]:
    """Check every entry (a few at a time, politely), in the order given."""
    gate = asyncio.Semaphore(MAX_PARALLEL)

    async def one(entry: CatalogModel) -> ModelDrift:
        async with gate:
            return await check_model(client, entry, token)

    return list(await asyncio.gather(*(one(e) for e in entries)))


def report_lines(results: Iterable[ModelDrift]) -> list[str]:
    """What `models check` prints: each changed, gone or unchecked model, then a summary."""
    lines: list[str] = []
    counts = {"unchanged": 0, "changed": 0, "gone": 0, "not checked": 0}
    for result in results:
        if result.gone:
            counts["gone"] += 1
            lines.append(f"{result.model}: gone (404 Not Found)")
        elif result.error:
            counts["not checked"] += 1
            lines.append(f"{result.model}: not checked ({result.error})")
        elif result.changes:
            counts["changed"] += 1
            lines.append(f"{result.model}: changed")
            lines += [f"  {change}" for change in result.changes]
        else:
            counts["unchanged"] += 1
    lines.append(", ".join(f"{n} {what}" for what, n in counts.items() if n or what == "unchanged"))
    return lines
