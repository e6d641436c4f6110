"""The simulator's models: the catalogue's recorded schemas, served as data, plus generation.

Each `SimModel` wraps one `neurolink_ui.catalog` entry: its `openapi_schema` is served exactly as
recorded, validation runs from that schema (`validation`), and generation is the panel's generic
generator (`generators`), which reads the input by the field names real schemas use. A new model
therefore needs only its JSON file. Rules between fields that a schema cannot express
(`catalog.input_constraints`, e.g. Hailuo 02's 10 s only at 768p) fail the prediction as the real
model does. `SimulatorConfig.model_overrides` can replace a model's
schema, version or README, or make it answer 404 (`models check` against a drifted API, a
hostile README for the Explore tab).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from ..catalog import CatalogModel, InputConstraint, input_constraints, load_catalog, readme
from .generators import FileResolver, Generation, Generator, OutputFile, generator_for
from .generators.chat import parse_conversation
from .validation import SchemaField, fields_of, invalid_field, validate

__all__ = [
    "FileResolver",
    "Generation",
    "OutputFile",
    "SimModel",
    "all_models",
    "find_version",
    "get_model",
    "invalid_field",
    "parse_conversation",
]


_RUN_COUNT = re.compile(r"run_count (\d{1,15})")


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class SimModel:
    owner: str
    name: str
    is_official: bool
    kind: str  # the catalogue panel: chat, image, video, avatar, music, other
    description: str
    schema: dict[str, Any] = field(repr=False)
    recorded_version: str | None = None
    default_example: dict[str, Any] | None = field(default=None, repr=False)
    generator: Generator | None = field(default=None, repr=False)
    readme: str | None = field(default=None, repr=False)  # written README; None: generated
    recorded_runs: int = 0  # the run count the evidence recorded (nodetool's "run_count N")
    constraints: tuple[InputConstraint, ...] = field(default=(), repr=False)

    @classmethod
    def from_catalog(cls, entry: CatalogModel) -> SimModel:
        return cls(
            owner=entry.owner,
            name=entry.name,
            is_official=entry.official,
            kind=entry.panel,
            description=entry.description,
            schema=entry.openapi_schema,
            recorded_version=entry.version,
            default_example=entry.default_example,
            readme=readme(entry.model),
            recorded_runs=max(
                (int(m[1]) for e in entry.evidence for m in _RUN_COUNT.finditer(e.note)), default=0
            ),
            constraints=input_constraints().get(entry.model, ()),
        )

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def version_id(self) -> str:
        """The recorded version id, else 64 deterministic hex: sha256 of 'owner/name'."""
        return self.recorded_version or _sha256_hex(self.slug)

    @property
    def internal_version_id(self) -> str:
        """The `dp-…` id official models show as `version` in predictions (sample 02)."""
        return "dp-" + _sha256_hex("deployment:" + self.slug)[:32]

    @property
    def output(self) -> dict[str, Any]:
        output: dict[str, Any] = self.schema["components"]["schemas"]["Output"]
        return output

    @cached_property
    def fields(self) -> tuple[SchemaField, ...]:
        return fields_of(self.schema)

    @property
    def streams(self) -> bool:
        """Streamable iff Output is a string iterator displayed concatenated (cog #1257)."""
        out = self.output
        return (
            out.get("type") == "array"
            and out.get("items", {}).get("type") == "string"
            and out.get("x-cog-array-type") == "iterator"
            and out.get("x-cog-array-display") == "concatenate"
        )

    @property
    def outputs_text(self) -> bool:
        """Text out (a string or string tokens), not files."""
        out = self.output
        item = out.get("items", {}) if out.get("type") == "array" else out
        return item.get("type") == "string" and item.get("format") != "uri"

    def example_id(self, index: int, input: dict[str, Any]) -> str:
        """The id of the model's `index`-th example (0: its default example), stable per input."""
        return "ex" + _sha256_hex(json.dumps([self.slug, index, input], sort_keys=True))[:24]

    def field_spec(self, name: str) -> SchemaField | None:
        return next((f for f in self.fields if f.name == name), None)

    def openapi_schema(self) -> dict[str, Any]:
        """The recorded schema, exactly (a copy: callers may not change the catalogue)."""
        return copy.deepcopy(self.schema)

    def validate(self, input: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """(input with schema defaults applied, invalid_fields as Replicate reports them)."""
        return validate(self.fields, input)

    def generate(self, input: dict[str, Any], resolve: FileResolver) -> Generation:
        """CPU work (the server runs it in a thread). Bad media inputs, and inputs breaking a
        rule between fields (the model refuses those while it runs), raise ValueError."""
        for rule in self.constraints:
            if rule.broken_by(input):
                raise ValueError(rule.error.format_map(_Missing(input)))
        generator = self.generator or generator_for(self.kind, self.output)
        return generator(self, input, resolve)


class _Missing(dict[str, Any]):
    """An input for `str.format_map` that shows a field it lacks as `?`."""

    def __missing__(self, key: str) -> str:
        return "?"


def _build_catalog() -> dict[str, SimModel]:
    return {m.model: SimModel.from_catalog(m) for m in load_catalog()}


_CATALOG = _build_catalog()
_BY_VERSION: dict[str, SimModel] = {
    version: model
    for model in _CATALOG.values()
    for version in (model.version_id, model.internal_version_id)
}


def apply_override(model: SimModel, override: dict[str, Any] | None) -> SimModel | None:
    """The model as a `model_overrides` entry alters it: None when it is `gone`."""
    if not override:
        return model
    if override.get("gone"):
        return None
    changes: dict[str, Any] = {}
    if "openapi_schema" in override:
        changes["schema"] = override["openapi_schema"]
    if "version" in override:
        changes["recorded_version"] = override["version"]
    if "readme" in override:
        changes["readme"] = override["readme"]
    if "official" in override:
        changes["is_official"] = bool(override["official"])
    return replace(model, **changes) if changes else model


def get_model(
    owner: str, name: str, overrides: dict[str, dict[str, Any]] | None = None
) -> SimModel | None:
    model = _CATALOG.get(f"{owner}/{name}")
    if model is None or not overrides:
        return model
    return apply_override(model, overrides.get(model.slug))


def find_version(
    version_id: str, overrides: dict[str, dict[str, Any]] | None = None
) -> tuple[SimModel, str] | None:
    """(model, version id as given) for a model's 64-hex version id or its internal `dp-` id.

    With `overrides`, an overridden version id finds its model too, and the model found is the
    overridden one (a gone model is not found)."""
    key = version_id.strip().lower()
    model = _BY_VERSION.get(key)
    for ref, override in (overrides or {}).items():
        if override.get("version") == key and ref in _CATALOG:
            model = _CATALOG[ref]
    if model is not None and overrides:
        model = apply_override(model, overrides.get(model.slug))
    return (model, key) if model else None


def all_models() -> list[SimModel]:
    return list(_CATALOG.values())
