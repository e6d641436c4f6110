"""A model's input and output schema, read from Cog's `openapi_schema` (pure: no HTTP, no UI).

Cog writes enums as `allOf: [{"$ref": "#/components/schemas/X"}]` and orders fields with `x-order`;
both are resolved here so every caller sees plain fields with their choices, bounds and defaults.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .errors import SchemaTooComplexError
from .types import Deployment, ModelExample, ModelRef

FieldType = Literal["string", "integer", "number", "boolean", "file", "array", "object"]

_KNOWN_TYPES: dict[Any, FieldType] = {name: name for name in get_args(FieldType)}
_NO_ORDER = 1_000_000  # fields without x-order go last, by name
_MAX_REF_DEPTH = 16
# Steps one whole schema (input fields, their items, the output) may take to resolve: the largest
# catalogued schema takes under 200; a hostile one is refused after ~20 ms.
MAX_SCHEMA_STEPS = 100_000


@dataclass(frozen=True)
class InputField:
    """One input of a model, with `$ref`/`allOf` enums resolved into `choices`."""

    name: str
    type: FieldType = "string"
    format: str | None = None
    title: str = ""
    description: str = ""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    required: bool = False
    order: int = _NO_ORDER
    is_file: bool = False
    item_type: str | None = None  # for arrays: the items' type ("file" for lists of URIs)
    has_default: bool = False  # a default of None is still a default; absence is not

    def __hash__(self) -> int:
        # Not from every field: a default may be a list (array fields' `default: []`), and
        # Gradio hashes what a session's state holds. Equal fields still hash equal.
        return hash((self.name, self.type, self.format, self.title, self.order, self.is_file))

    @property
    def label(self) -> str:
        # Cog titles an enum's property with the enum's raw name ("output_format"): humanise it.
        if self.title and self.title != self.name:
            return self.title
        return self.name.replace("_", " ").capitalize()

    @property
    def is_numeric(self) -> bool:
        return self.type in ("integer", "number")

    def range_text(self) -> str:
        low, high = _fmt_num(self.minimum), _fmt_num(self.maximum)
        if self.minimum is not None and self.maximum is not None:
            return f"between {low} and {high}"
        if self.minimum is not None:
            return f"at least {low}"
        if self.maximum is not None:
            return f"at most {high}"
        return ""

    def in_range(self, value: float) -> bool:
        if self.minimum is not None and value < self.minimum:
            return False
        return not (self.maximum is not None and value > self.maximum)

    def clamp(self, value: float) -> float:
        if self.minimum is not None:
            value = max(value, self.minimum)
        if self.maximum is not None:
            value = min(value, self.maximum)
        return round(value) if self.type == "integer" else value


@dataclass
class InputSchema:
    """The inputs of one model version, ordered by `x-order` then name. Treat as read-only."""

    fields: list[InputField] = field(default_factory=list)
    _by_name: dict[str, InputField] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.fields = sorted(self.fields, key=lambda f: (f.order, f.name))
        self._by_name = {f.name: f for f in self.fields}

    @classmethod
    def from_openapi(cls, openapi_schema: dict[str, Any] | None) -> InputSchema:
        """Read `components.schemas.Input`; missing pieces give an empty or partial schema.

        Raises SchemaTooComplexError (a ReplicateError and ValueError) for a schema whose
        references would take over MAX_SCHEMA_STEPS to resolve."""
        root = openapi_schema if isinstance(openapi_schema, dict) else {}
        return cls.from_resolver(SchemaResolver(root))

    @classmethod
    def from_resolver(cls, resolver: SchemaResolver) -> InputSchema:
        components = _as_dict(_as_dict(resolver.root.get("components")).get("schemas"))
        input_node = resolver.resolve(_as_dict(components.get("Input")))
        properties = _as_dict(input_node.get("properties"))
        required = {str(n) for n in input_node.get("required") or [] if isinstance(n, str)}
        fields = [
            _field_from_property(resolver, str(name), _as_dict(prop), str(name) in required)
            for name, prop in properties.items()
        ]
        return cls(fields)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def has(self, name: str) -> bool:
        return name in self._by_name

    def get(self, name: str) -> InputField | None:
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[InputField]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def first(self, *names: str) -> InputField | None:
        """The first of `names` this schema has (models name the same idea differently)."""
        for name in names:
            found = self._by_name.get(name)
            if found is not None:
                return found
        return None

    def file_fields(self) -> list[InputField]:
        return [f for f in self.fields if f.is_file]

    def defaults(self) -> dict[str, Any]:
        return {f.name: f.default for f in self.fields if f.has_default and f.default is not None}

    def validate(self, input: dict[str, Any]) -> list[str]:
        """Human-readable problems with `input` for this model, found without a request."""
        problems: list[str] = []
        for f in self.fields:
            if f.required and _is_blank(input.get(f.name)):
                problems.append(f"{f.name} is required")
        for name, value in input.items():
            spec = self._by_name.get(name)
            if spec is None:
                known = ", ".join(self.names) or "(none)"
                problems.append(f"unknown field '{name}' (this model takes: {known})")
                continue
            if value is None:
                continue
            problem = _value_problem(spec, value)
            if problem:
                problems.append(problem)
        return problems

    def check(self, name: str, value: Any) -> str | None:
        """The problem with one value for one field, or None (required-ness not considered)."""
        spec = self._by_name.get(name)
        if spec is None:
            return f"unknown field '{name}'"
        return None if value is None else _value_problem(spec, value)

    def coerce(self, input: dict[str, Any]) -> dict[str, Any]:
        """Integral floats become ints for integer fields; None and blank optional values are
        dropped so the model's own defaults apply."""
        result: dict[str, Any] = {}
        for name, value in input.items():
            spec = self._by_name.get(name)
            if value is None:
                continue
            if isinstance(value, str) and not value.strip() and not (spec and spec.required):
                continue
            if spec is not None and spec.type == "integer":
                value = _to_int_if_integral(value)
            elif spec is not None and spec.type == "number" and isinstance(value, str):
                value = _to_number_if_numeric(value)
            result[name] = value
        return result


@dataclass(frozen=True)
class ModelInfo:
    """A model (or one version of it) as the app needs it."""

    ref: str
    is_official: bool = False
    version_id: str | None = None
    description: str = ""
    input_schema: InputSchema = field(default_factory=InputSchema)
    output_schema: dict[str, Any] = field(default_factory=dict)
    streams: bool = False
    output_is_file: bool = False
    # The input of the model's own `default_example` (its page's example), {} when it has none.
    example_input: dict[str, Any] = field(default_factory=dict)
    # That whole example (input and output), bounded; None when it has none or it is unusable.
    default_example: ModelExample | None = None
    # Set when this is a deployment's model (`deployment:owner/name`): what its release runs.
    deployment: Deployment | None = None

    @classmethod
    def from_model_json(
        cls, model: dict[str, Any], version: dict[str, Any] | None = None
    ) -> ModelInfo:
        """From `GET /v1/models/{o}/{n}` (its `latest_version`), or a `versions/{id}` body.

        Raises SchemaTooComplexError for a schema over the resolution budget (input and output
        share one budget)."""
        model = model if isinstance(model, dict) else {}
        chosen = version if isinstance(version, dict) else _as_dict(model.get("latest_version"))
        openapi = _as_dict(chosen.get("openapi_schema"))
        resolver = SchemaResolver(openapi)
        components = _as_dict(_as_dict(openapi.get("components")).get("schemas"))
        output = resolver.resolve(_as_dict(components.get("Output")))
        owner, name = str(model.get("owner") or ""), str(model.get("name") or "")
        example = ModelExample.from_json(model.get("default_example"))
        return cls(
            ref=f"{owner}/{name}" if owner and name else owner or name,
            is_official=bool(model.get("is_official", False)),
            version_id=str(chosen["id"]) if chosen.get("id") else None,
            description=str(model.get("description") or ""),
            input_schema=InputSchema.from_resolver(resolver),
            output_schema=output,
            streams=output_streams(output),
            output_is_file=_output_is_file(resolver, output),
            example_input=example.input if example else {},
            default_example=example,
        )

    def run_version(self, ref: ModelRef) -> str | None:
        """The version a run of `ref` pins: the one it names, else a community model's latest
        (official models run by name, on no version). The one rule for the run, the "Ran
        version" note and the code snippets. A deployment runs the version of its release, by
        its own route: it pins none."""
        if ref.deployment:
            return None
        if ref.version:
            return ref.version
        return None if self.is_official else self.version_id


def output_streams(output: dict[str, Any]) -> bool:
    """Replicate streams only string iterators displayed concatenated (cog #1257)."""
    items = _as_dict(output.get("items"))
    return (
        output.get("type") == "array"
        and items.get("type") == "string"
        and items.get("format") != "uri"
        and output.get("x-cog-array-type") == "iterator"
        and output.get("x-cog-array-display") == "concatenate"
    )


def output_is_file(root: dict[str, Any], output: dict[str, Any]) -> bool:
    """Whether `output` (resolved, from `root`) is a file or a list of files."""
    return _output_is_file(SchemaResolver(root), output)


def _output_is_file(resolver: SchemaResolver, output: dict[str, Any]) -> bool:
    if output.get("type") == "string":
        return output.get("format") == "uri"
    if output.get("type") == "array":
        items = resolver.resolve(_as_dict(output.get("items")))
        return items.get("type") == "string" and items.get("format") == "uri"
    return False


# ---- internals -------------------------------------------------------------------------------


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class SchemaResolver:
    """Resolves `$ref` / `allOf` / `anyOf` / `oneOf` in one `openapi_schema`, bounded in total work.

    A schema comes from the API (or a visitor's Explore pick), so it is hostile: a node listing
    itself k times in `allOf` once cost ~k^depth steps and froze the app. Every node is resolved
    once (memoised by identity), a node met again while it is being resolved (a cycle) adds
    nothing, and every step — a node visited, a reference path part walked, a key merged — counts
    against `budget` for the whole resolution (input fields, their items, the output), so a schema
    either resolves within `budget` steps or raises SchemaTooComplexError.
    """

    def __init__(self, root: dict[str, Any], budget: int = MAX_SCHEMA_STEPS) -> None:
        self.root = root
        self.budget = budget
        self.steps = 0
        # id(node) -> (node, resolved): the node is kept so its id is never reused meanwhile.
        self._done: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._in_progress: set[int] = set()

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        """`node` merged flat; a new dict the caller may keep (the memo's stay private)."""
        return dict(self._resolve(node, 0))

    def _spend(self, steps: int) -> None:
        self.steps += steps
        if self.steps > self.budget:
            raise SchemaTooComplexError(
                f"This model's schema is too complex to read: resolving its $ref/allOf "
                f"references took over {self.budget:,} steps, so it was not used. Pick another "
                "model or version; a real Cog schema needs a few hundred steps."
            )

    def _lookup_ref(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#/"):
            return {}
        parts = ref[2:].split("/")
        self._spend(len(parts))
        node: Any = self.root
        for part in parts:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return {}
            node = node[part]
        return _as_dict(node)

    def _resolve(self, node: dict[str, Any], depth: int) -> dict[str, Any]:
        """Merge `$ref`, `allOf` and the first non-null branch of `anyOf`/`oneOf` into one flat
        node. Keys on the node itself win over the referenced ones (Cog puts `default`,
        `x-order` and `description` beside the `allOf`)."""
        self._spend(1)
        key = id(node)
        done = self._done.get(key)
        if done is not None:
            return done[1]
        if key in self._in_progress:
            return {}  # a cycle: the node's own resolution, further up, supplies its keys
        if depth > _MAX_REF_DEPTH:
            # Distinct nodes nested this deep are no Cog schema; recursing on would risk the
            # interpreter's stack, and truncating would make results depend on visit order.
            raise SchemaTooComplexError(
                f"This model's schema nests $ref/allOf references over {_MAX_REF_DEPTH} levels "
                "deep, so it was not used. Pick another model or version."
            )
        self._in_progress.add(key)
        try:
            merged: dict[str, Any] = {}
            ref = node.get("$ref")
            if isinstance(ref, str):
                self._merge(merged, self._resolve(self._lookup_ref(ref), depth + 1))
            parts = node.get("allOf")
            for part in parts if isinstance(parts, list) else []:
                self._spend(1)
                if isinstance(part, dict):
                    self._merge(merged, self._resolve(part, depth + 1))
            for union in ("anyOf", "oneOf"):
                branches = node.get(union)
                for branch in branches if isinstance(branches, list) else []:
                    self._spend(1)
                    if isinstance(branch, dict) and branch.get("type") != "null":
                        self._merge(merged, self._resolve(branch, depth + 1))
                        break
            self._spend(len(node))  # counted before the copy: a node may have a million keys
            merged.update(
                (k, v) for k, v in node.items() if k not in ("$ref", "allOf", "anyOf", "oneOf")
            )
        finally:
            self._in_progress.discard(key)
        self._done[key] = (node, merged)
        return merged

    def _merge(self, merged: dict[str, Any], part: dict[str, Any]) -> None:
        self._spend(len(part))
        merged.update(part)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _field_from_property(
    resolver: SchemaResolver, name: str, prop: dict[str, Any], required: bool
) -> InputField:
    node = resolver.resolve(prop)
    raw_type = node.get("type")
    if isinstance(raw_type, list):  # JSON-schema style ["integer", "null"]
        raw_type = next((t for t in raw_type if t != "null"), "string")
    fmt = node.get("format") if isinstance(node.get("format"), str) else None
    enum = node.get("enum")
    if raw_type is None and isinstance(enum, list) and enum:
        raw_type = _type_of(enum[0])
    type_name: FieldType = _KNOWN_TYPES.get(raw_type, "string")
    is_file = type_name == "string" and fmt == "uri"
    item_type: str | None = None
    if type_name == "array":
        items = resolver.resolve(_as_dict(node.get("items")))
        item_type = "file" if items.get("format") == "uri" else items.get("type")
    minimum = _number(node.get("minimum"))
    if minimum is None:
        minimum = _number(node.get("exclusiveMinimum"))
    maximum = _number(node.get("maximum"))
    if maximum is None:
        maximum = _number(node.get("exclusiveMaximum"))
    order = node.get("x-order")
    return InputField(
        name=name,
        type="file" if is_file else type_name,
        format=fmt,
        title=str(node.get("title") or ""),
        description=str(node.get("description") or ""),
        default=node.get("default"),
        minimum=minimum,
        maximum=maximum,
        choices=tuple(enum) if isinstance(enum, list) and enum else None,
        required=required,
        order=order if isinstance(order, int) and not isinstance(order, bool) else _NO_ORDER,
        is_file=is_file,
        item_type=str(item_type) if item_type else None,
        has_default="default" in node,
    )


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _fmt_num(value: float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fmt_value(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return _fmt_num(value) if _number(value) is not None else str(value)


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_file_value(value: Any) -> bool:
    """URLs, bytes, paths, open files and PIL images all become a file input later."""
    if isinstance(value, str | bytes | bytearray | memoryview):
        return True
    if isinstance(value, os.PathLike):
        return True
    return hasattr(value, "read") or (hasattr(value, "save") and hasattr(value, "size"))


def _value_problem(spec: InputField, value: Any) -> str | None:
    kind = spec.type
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{spec.name} must be a whole number (got {value!r})"
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            return f"{spec.name} must be a whole number (got {value!r})"
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{spec.name} must be a number (got {value!r})"
        if not math.isfinite(value):
            return f"{spec.name} must be a finite number (got {value!r})"
    elif kind == "boolean":
        if not isinstance(value, bool):
            return f"{spec.name} must be true or false (got {value!r})"
    elif kind == "string":
        if not isinstance(value, str):
            return f"{spec.name} must be text (got {type(value).__name__})"
    elif kind == "file":
        if not _is_file_value(value):
            return f"{spec.name} must be a file or URL (got {type(value).__name__})"
    elif kind == "array":
        if not isinstance(value, list | tuple):
            return f"{spec.name} must be a list (got {type(value).__name__})"
    elif kind == "object" and not isinstance(value, dict):
        return f"{spec.name} must be an object (got {type(value).__name__})"
    if spec.choices is not None and value not in spec.choices:
        allowed = ", ".join(str(c) for c in spec.choices)
        return f"{spec.name} must be one of {allowed} (got {_fmt_value(value)})"
    if spec.is_numeric and not spec.in_range(value):
        return f"{spec.name} must be {spec.range_text()} (got {_fmt_num(value)})"
    return None


def _to_int_if_integral(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return value
        if math.isfinite(number) and number.is_integer():
            return int(number)
    return value


def _to_number_if_numeric(value: str) -> Any:
    try:
        number = float(value.strip())
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value else number
