"""Input validation from a model's recorded Cog schema, reporting problems as Replicate does.

The schema is data (the catalogue's JSON); `fields_of` reads its `Input` properties once, resolving
Cog's `allOf: [{"$ref": ...}]` enums, and `validate` checks an input against them, applying
defaults, with Replicate's `invalid_fields` types (`required`, `type`, `enum`, `number_gte`,
`number_lte`, `additional_property_not_allowed`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class SchemaField:
    """One `Input` property with its enum resolved: what validation and the generators read."""

    name: str
    type: str  # string, integer, number, boolean, array, object
    required: bool
    default: Any  # _NO_DEFAULT when the schema has none
    minimum: float | None
    maximum: float | None
    choices: tuple[Any, ...] | None
    format: str | None
    items_type: str | None
    items_format: str | None
    nullable: bool

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    @property
    def is_file(self) -> bool:
        return self.format == "uri" or self.items_format == "uri"


def fields_of(openapi_schema: dict[str, Any]) -> tuple[SchemaField, ...]:
    """The `Input` fields in `x-order`, enums merged in from `components.schemas`."""
    schemas = openapi_schema["components"]["schemas"]
    input_schema = schemas["Input"]
    required = set(input_schema.get("required", []))
    fields: list[SchemaField] = []
    props = input_schema.get("properties", {})
    for name, prop in sorted(props.items(), key=lambda kv: kv[1].get("x-order", 0)):
        merged = {k: v for k, v in prop.items() if k != "allOf"}
        for part in prop.get("allOf", []):
            ref = str(part.get("$ref", ""))
            merged = {**schemas.get(ref.rsplit("/", 1)[-1], {}), **merged}
        items = merged.get("items") or {}
        choices = merged.get("enum")
        fields.append(
            SchemaField(
                name=name,
                type=str(merged.get("type", "string")),
                required=name in required,
                default=merged.get("default", _NO_DEFAULT),
                minimum=merged.get("minimum"),
                maximum=merged.get("maximum"),
                choices=tuple(choices) if choices is not None else None,
                format=merged.get("format"),
                items_type=items.get("type"),
                items_format=items.get("format"),
                nullable=bool(merged.get("nullable"))
                or (name not in required and "default" not in merged),
            )
        )
    return tuple(fields)


def invalid_field(kind: str, field_name: str, description: str) -> dict[str, str]:
    """One `invalid_fields` entry, as Replicate reports them (the server uses it too)."""
    return {"type": kind, "field": field_name, "description": description}


def json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_matches(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return False


def _fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _validate_value(spec: SchemaField, value: Any) -> list[dict[str, str]]:
    name = spec.name
    if value is None:
        if spec.nullable:
            return []
        return [invalid_field("type", name, f"Invalid type. Expected: {spec.type}, given: null")]
    if not _type_matches(spec.type, value):
        given = json_type_name(value)
        return [invalid_field("type", name, f"Invalid type. Expected: {spec.type}, given: {given}")]
    problems: list[dict[str, str]] = []
    if spec.type == "array" and spec.items_type:
        for i, item in enumerate(value):
            if not _type_matches(spec.items_type, item):
                problems.append(
                    invalid_field(
                        "type",
                        f"{name}.{i}",
                        f"Invalid type. Expected: {spec.items_type}, given: {json_type_name(item)}",
                    )
                )
    if spec.choices is not None and value not in spec.choices:
        listed = ", ".join(json.dumps(c) for c in spec.choices)
        problems.append(
            invalid_field("enum", name, f"{name} must be one of the following: {listed}")
        )
    numeric = spec.type in ("integer", "number")
    if numeric and spec.minimum is not None and value < spec.minimum:
        problems.append(
            invalid_field(
                "number_gte",
                name,
                f"{name} must be greater than or equal to {_fmt_number(spec.minimum)}",
            )
        )
    if numeric and spec.maximum is not None and value > spec.maximum:
        problems.append(
            invalid_field(
                "number_lte",
                name,
                f"{name} must be less than or equal to {_fmt_number(spec.maximum)}",
            )
        )
    return problems


def validate(
    fields: tuple[SchemaField, ...], input: Any
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(input with schema defaults applied, invalid_fields as Replicate reports them)."""
    if not isinstance(input, dict):
        given = json_type_name(input)
        return {}, [
            invalid_field("type", "input", f"Invalid type. Expected: object, given: {given}")
        ]
    problems: list[dict[str, str]] = []
    known = {f.name for f in fields}
    for key in input:
        if key not in known:
            problems.append(
                invalid_field(
                    "additional_property_not_allowed",
                    key,
                    f"Additional property {key} is not allowed",
                )
            )
    resolved: dict[str, Any] = {}
    for spec in fields:
        if spec.name not in input:
            if spec.required:
                problems.append(invalid_field("required", spec.name, f"{spec.name} is required"))
            elif spec.has_default:
                resolved[spec.name] = spec.default
            continue
        value = input[spec.name]
        problems.extend(_validate_value(spec, value))
        if value is None and not spec.has_default:
            continue  # null for an optional field means "not given"
        if spec.type == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        resolved[spec.name] = value
    return resolved, problems
