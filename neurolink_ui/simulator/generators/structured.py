"""Models whose Output is JSON (objects, arrays of objects or numbers): a value of that shape.

Built from the Output schema alone (`$ref`s resolved, bounded depth): one array item per line of
the first text input (embedding and captioning models take newline-separated inputs), objects
with every property, strings named like an input (`input`, `text`, `label`, `caption`) echo that
line, numbers within the schema's bounds, arrays of numbers as unit vectors (768 long when the
property is an `embedding`/`features`, 8 otherwise). Deterministic: the same line gives the same
numbers, so equal inputs get equal embeddings.
"""

from __future__ import annotations

import math
from typing import Any

from .. import media
from .common import FileResolver, Generation, ModelView, shorten

MAX_ITEMS = 32
MAX_DEPTH = 8
EMBEDDING_SIZE = 768
VECTOR_SIZE = 8
_ECHO_NAMES = ("input", "text", "label", "caption", "prompt", "name")


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    for _ in range(MAX_DEPTH):
        ref = node.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/components/schemas/"):
            break
        node = root.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
    if "allOf" in node and isinstance(node["allOf"], list) and node["allOf"]:
        merged = dict(_resolve(root, node["allOf"][0]))
        merged.update({k: v for k, v in node.items() if k != "allOf"})
        return merged
    return node


def _lines(model: ModelView, input: dict[str, Any]) -> list[str]:
    """The lines of the first non-empty text input (in schema order)."""
    for spec in model.fields:
        value = input.get(spec.name)
        if spec.type == "string" and not spec.is_file and isinstance(value, str) and value.strip():
            lines = [line.strip() for line in value.strip().splitlines() if line.strip()]
            return lines[:MAX_ITEMS]
    return ["input"]


def _vector(seed_text: str, size: int) -> list[float]:
    values = media.rng_for("vector", seed_text).standard_normal(size)
    norm = math.sqrt(float((values**2).sum())) or 1.0
    return [round(float(v) / norm, 6) for v in values]


def _number(node: dict[str, Any], seed_text: str, integer: bool) -> float | int:
    low = float(node.get("minimum", 0.0))
    high = float(node.get("maximum", low + (100 if integer else 1.0)))
    value = low + (high - low) * float(media.rng_for("number", seed_text).random())
    return round(value) if integer else round(value, 6)


def _value(root: dict[str, Any], node: dict[str, Any], line: str, name: str, depth: int) -> Any:
    node = _resolve(root, node)
    kind = node.get("type")
    if depth > MAX_DEPTH:
        return None
    if kind == "object":
        properties = node.get("properties") or {}
        return {
            key: _value(root, prop, line, key, depth + 1)
            for key, prop in properties.items()
            if isinstance(prop, dict)
        }
    if kind == "array":
        items = _resolve(root, node.get("items") or {})
        if items.get("type") in ("number", "integer"):
            size = EMBEDDING_SIZE if any(w in name for w in ("embedding", "features")) else 8
            return _vector(f"{name}:{line}", size)
        return [_value(root, items, line, name, depth + 1)]
    if kind in ("number", "integer"):
        return _number(node, f"{name}:{line}", kind == "integer")
    if kind == "boolean":
        return media.stable_seed(name, line) % 2 == 0
    if isinstance(node.get("enum"), list) and node["enum"]:
        return node["enum"][0]
    if name in _ECHO_NAMES:
        return line
    return shorten(f"{name.replace('_', ' ')} of {line}", 120)


def generate_json(model: ModelView, input: dict[str, Any], resolve: FileResolver) -> Generation:
    root = model.schema
    output = model.output
    lines = _lines(model, input)
    top = _resolve(root, output)
    if top.get("type") == "array" and _resolve(root, top.get("items") or {}).get("type") not in (
        "number",
        "integer",
    ):
        value: Any = [_value(root, top["items"], line, "output", 1) for line in lines]
    else:
        value = _value(root, top, lines[0], "output", 0)
    logs = [f"processing {len(lines)} input(s)", *media.tqdm_lines(len(lines), 12.0)]
    return Generation(None, [], True, logs, value=value)
