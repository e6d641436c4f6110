"""Every API endpoint answers a wrong parameter type with its own message (issue 20, item 7).

Gradio turns a wrong type into a generic failure: a component's `preprocess` raises on a text
where a number was due (`{"error": null}` on the wire), or quietly stringifies a number sent for a
prompt. The queue (ui/fairness.FairQueue) asks `wrong_type` before an API call runs, so the caller
reads which parameter was wrong, what it takes and what it got, and nothing of the call runs.

The expected kind comes from each input component's own `api_info()` (the JSON schema Gradio
publishes at /gradio_api/info), read once per event and cached. Only the JSON kind is checked
here (text, number, whole number, true/false, file, list); values are checked by the components
and handlers that own them (ranges, choices, sizes). `None` passes: it means "not given", and each
handler says what it needs. No Gradio import: the blocks are duck-typed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["text", "number", "whole number", "true or false", "file", "list"]

# A file parameter is a FileData object: `{"path": …}` after an upload, or `{"url": …}`.
_FILE_KEYS = ("path", "url")


@dataclass(frozen=True)
class ExpectedInput:
    """One checked parameter of an endpoint: its position, name and the JSON kind it takes."""

    index: int
    name: str
    kind: Kind


def kind_of_schema(schema: Any) -> Kind | None:
    """The JSON kind a component's `api_info()` asks for; None when any value is taken."""
    if not isinstance(schema, dict):
        return None
    declared = schema.get("type")
    if declared == "string":
        return "text"
    if declared == "number":
        return "number"
    if declared == "integer":
        return "whole number"
    if declared == "boolean":
        return "true or false"
    if declared == "array":
        return "list"
    properties = schema.get("properties")
    if isinstance(properties, dict) and all(key in properties for key in _FILE_KEYS):
        return "file"
    if "ChatMessage" in str(schema.get("$defs", ""))[:10_000]:
        return "list"  # a Chatbot's history: a list of messages
    return None


def _json_kind(value: Any) -> str:
    """What a JSON value is, in the words of the messages below."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def fits(kind: Kind, value: Any) -> bool:
    """Whether a JSON value is of the kind (bool is never a number: JSON keeps them apart)."""
    if value is None:
        return True
    if kind == "text":
        return isinstance(value, str)
    if kind == "true or false":
        return isinstance(value, bool)
    if kind in ("number", "whole number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return True  # a number all the same: its component says it must be finite
        return kind == "number" or isinstance(value, int) or value.is_integer()
    if kind == "file":
        return isinstance(value, dict) and any(
            isinstance(value.get(key), str) and value.get(key) for key in _FILE_KEYS
        )
    return isinstance(value, list)


_TAKES: dict[Kind, str] = {
    "text": "a text (a JSON string)",
    "number": "a number",
    "whole number": "a whole number",
    "true or false": "true or false",
    "file": 'a file: {"path": …} from an upload, or {"url": "https://…"} (handle_file in '
    "gradio_client)",
    "list": "a list",
}


def expected_inputs(inputs: list[Any], names: list[str]) -> list[ExpectedInput]:
    """The checked parameters of an event: its input blocks that are not session state, named
    as /gradio_api/info names them (`names`, aligned with `inputs`), else by their labels."""
    expected: list[ExpectedInput] = []
    for index, block in enumerate(inputs):
        if getattr(block, "stateful", False):
            continue
        try:
            kind = kind_of_schema(block.api_info())
        except Exception:  # a component without a schema takes anything
            kind = None
        if kind is None:
            continue
        published = names[index] if index < len(names) else ""
        name = published or str(getattr(block, "label", None) or f"parameter {index + 1}")
        expected.append(ExpectedInput(index, name, kind))
    return expected


def wrong_type(endpoint: str, expected: list[ExpectedInput], data: Any) -> str | None:
    """The message for the first parameter of a wrong kind, or None when all fit."""
    if not isinstance(data, list):
        return f"{endpoint}: the parameters must be a list of values (got {_json_kind(data)})."
    for parameter in expected:
        if parameter.index >= len(data):
            continue  # not sent: Gradio fills the default
        value = data[parameter.index]
        if not fits(parameter.kind, value):
            return (
                f"{endpoint}: “{parameter.name}” takes {_TAKES[parameter.kind]}; it got "
                f"{_json_kind(value)}. Nothing was run."
            )
    return None
