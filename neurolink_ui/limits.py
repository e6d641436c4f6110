"""Limits on what a visitor sends, checked before anything uses it (issue 8, items 5 and 6).

Everything here is pure (no Gradio) and raises `InputProblem` with a message that says what to
change: JSON of bounded size and depth (measured before parsing: `json.loads` itself recurses),
numbers that are finite and of bounded size, texts and chat histories of bounded length and shape.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .modalities.common import InputProblem

MAX_JSON_DEPTH = 32
MAX_ADVANCED_CHARS = 100_000
MAX_WHOLE_NUMBER = 2**63 - 1  # what a model's integer input (a seed) can hold
MAX_CHAT_MESSAGES = 500
CHAT_ROLES = frozenset({"user", "assistant", "system"})
CHAT_MESSAGE_KEYS = frozenset({"role", "content", "metadata", "options"})


def json_depth_over(text: str, limit: int) -> bool:
    """True when `text` nests arrays/objects deeper than `limit` (one linear scan; brackets
    inside strings don't count)."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _whole_from_json(digits: str) -> int:
    if len(digits.lstrip("-")) > len(str(MAX_WHOLE_NUMBER)):
        raise InputProblem(_too_big_number(digits))
    value = int(digits)
    if abs(value) > MAX_WHOLE_NUMBER:
        raise InputProblem(_too_big_number(digits))
    return value


def _float_from_json(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputProblem(f"The number {text[:20]}… is too large; use a finite number.")
    return value


def _no_constant(name: str) -> float:
    raise InputProblem(f"{name} is not a number a model accepts; use a finite number.")


def _too_big_number(digits: str) -> str:
    shown = digits if len(digits) <= 24 else f"{digits[:12]}… ({len(digits):,} digits)"
    return f"The number {shown} is too large: whole numbers must lie within ±{MAX_WHOLE_NUMBER:,}."


def parse_json_object(text: str, what: str = "Advanced parameters") -> dict[str, Any]:
    """A JSON object from a visitor, refused when too long, too deep or holding numbers of
    unbounded size, before `json.loads` sees it."""
    if len(text) > MAX_ADVANCED_CHARS:
        raise InputProblem(
            f"{what} are {len(text):,} characters of JSON; the limit is {MAX_ADVANCED_CHARS:,}."
        )
    if json_depth_over(text, MAX_JSON_DEPTH):
        raise InputProblem(
            f"{what} are nested more than {MAX_JSON_DEPTH} levels deep; "
            "send a flat JSON object of field names to values."
        )
    try:
        values = json.loads(
            text,
            parse_int=_whole_from_json,
            parse_float=_float_from_json,
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as exc:
        raise InputProblem(f"{what} must be a JSON object: {exc}") from None
    if not isinstance(values, dict):
        raise InputProblem(f"{what} must be a JSON object of field names to values.")
    return values


def check_number(value: Any, what: str) -> float | int | None:
    """A finite number of bounded size (or None); refuses NaN, infinities and huge values."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputProblem(f"The {what} must be a number.", field=what)
    if isinstance(value, float) and not math.isfinite(value):
        raise InputProblem(f"The {what} must be a finite number (got {value}).", field=what)
    if abs(value) > MAX_WHOLE_NUMBER:
        raise InputProblem(
            f"The {what} is too large: it must lie within ±{MAX_WHOLE_NUMBER:,}.", field=what
        )
    return value


def check_text(value: Any, what: str, limit: int) -> None:
    """Refuse a text longer than `limit` characters, saying the limit."""
    if isinstance(value, str) and len(value) > limit:
        raise InputProblem(
            f"The {what} is {len(value):,} characters long; the limit is {limit:,} characters. "
            "Shorten it and try again.",
            field=what,
        )


def check_values(values: Mapping[str, Any], text_limit: int) -> None:
    """Each value of a flat mapping (the Advanced parameters): texts within the limit, numbers
    finite and bounded (the JSON parser already refused the rest)."""
    for name, value in values.items():
        if isinstance(value, str):
            check_text(value, f"'{name}' value", text_limit)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            check_number(value, f"'{name}' value")


def _text_size(value: Any, depth: int = 0) -> int:
    """Characters of text in a message's content (strings in lists and dicts, bounded depth)."""
    if isinstance(value, str):
        return len(value)
    if depth > 4:
        raise InputProblem("The chat history holds content nested too deeply to be a message.")
    if isinstance(value, list | tuple):
        return sum(_text_size(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return sum(_text_size(item, depth + 1) for item in value.values())
    return 0


def check_chat_history(history: Any, *, message_limit: int) -> None:
    """A chat history as the Chatbot sends it: a list of at most MAX_CHAT_MESSAGES messages,
    each a dict with a role and content, each within `message_limit` characters, and all of
    them within four turns' worth."""
    if history is None:
        return
    if not isinstance(history, list):
        raise InputProblem("The chat history must be a list of messages.")
    if len(history) > MAX_CHAT_MESSAGES:
        raise InputProblem(
            f"The chat history has {len(history):,} messages; the limit is {MAX_CHAT_MESSAGES}. "
            "Clear the conversation (or send fewer earlier turns) and try again."
        )
    total = 0
    for index, message in enumerate(history):
        if not isinstance(message, dict) or not {"role", "content"} <= message.keys():
            raise InputProblem(
                f"Chat history message {index + 1} must be an object with 'role' and 'content'."
            )
        unknown = set(message) - CHAT_MESSAGE_KEYS
        if unknown:
            raise InputProblem(
                f"Chat history message {index + 1} has unknown keys: {sorted(unknown)[:5]}."
            )
        if message["role"] not in CHAT_ROLES:
            raise InputProblem(
                f"Chat history message {index + 1} has role {str(message['role'])[:20]!r}; "
                "use 'user' or 'assistant'."
            )
        size = _text_size(message["content"])
        if size > message_limit:
            raise InputProblem(
                f"Chat history message {index + 1} is {size:,} characters long; "
                f"the limit is {message_limit:,}."
            )
        total += size
    if total > 4 * message_limit:
        raise InputProblem(
            f"The chat history holds {total:,} characters; the limit is {4 * message_limit:,}. "
            "Clear the conversation and try again."
        )
