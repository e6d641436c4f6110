"""Check a JSON value against a schema of Replicate's OpenAPI spec (the copy in tests/fixtures/).

Covers what the spec and Cog schemas use: `$ref`, `type`, `nullable`, `properties`, `required`,
`items`, `enum`, `oneOf`, `allOf`, `format: uri`. `spec_problems(value, "schemas_search_response")`
lists every mismatch with its JSON path (empty: the value fits).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from helpers import FIXTURES

SPEC_PATH = FIXTURES / "replicate-openapi.json"
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


@cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return data


def spec_problems(value: Any, schema_name: str) -> list[str]:
    """Mismatches of `value` against `components.schemas[schema_name]` of the spec."""
    root = spec()
    return schema_problems(value, root["components"]["schemas"][schema_name], root)


def schema_problems(
    value: Any, node: dict[str, Any], root: dict[str, Any], at: str = "$"
) -> list[str]:
    """Mismatches of `value` against the schema `node`, `$ref`s resolved within `root`."""
    while "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[1]
        node = {
            **root["components"]["schemas"][name],
            **{k: v for k, v in node.items() if k != "$ref"},
        }
    if value is None:
        return [] if node.get("nullable") or "type" not in node else [f"{at}: null"]
    problems: list[str] = []
    for part in node.get("allOf", []):
        problems += schema_problems(value, part, root, at)
    if "oneOf" in node and not any(not schema_problems(value, o, root, at) for o in node["oneOf"]):
        problems.append(f"{at}: matches none of oneOf")
    kind = node.get("type")
    if kind is not None:
        allowed = _TYPES[kind]
        if not isinstance(value, allowed) or (kind != "boolean" and isinstance(value, bool)):
            return [*problems, f"{at}: {type(value).__name__}, expected {kind}"]
    if "enum" in node and value not in node["enum"]:
        problems.append(f"{at}: {value!r} not in {node['enum']}")
    if node.get("format") == "uri" and isinstance(value, str) and "://" not in value:
        problems.append(f"{at}: {value[:60]!r} is not a URI")
    if isinstance(value, dict):
        for name in node.get("required", []):
            if name not in value:
                problems.append(f"{at}: missing {name!r}")
        for name, prop in (node.get("properties") or {}).items():
            if name in value:
                problems += schema_problems(value[name], prop, root, f"{at}.{name}")
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            problems += schema_problems(item, node["items"], root, f"{at}[{index}]")
    return problems
