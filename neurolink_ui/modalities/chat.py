"""Chat: turning a Gradio message history into the input of whichever LLM is selected.

Three shapes of model exist: a `prompt_template` (Llama 3: we write Meta's chat format ourselves),
a `system_prompt` beside a single `prompt`, and a bare `prompt` (DeepSeek R1: a plain transcript).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from neurolink_ui.replicate.schema import InputSchema

from .common import InputProblem, MappedInput, finish, merge_advanced, require_text, set_checked

Role = Literal["system", "user", "assistant"]
ChatMessage = Mapping[str, Any]  # {"role": ..., "content": str | list of blocks, "metadata": ...}
History = Sequence[ChatMessage]

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
BEGIN_OF_TEXT = "<|begin_of_text|>"
EOT = "<|eot_id|>"
TEMPLATE_PASSTHROUGH = "{prompt}"
TOKEN_LIMIT_FIELDS = ("max_tokens", "max_new_tokens")
PROMPT_FIELDS = ("prompt", "text", "input", "message")  # `text`: replicate/hello-world


@dataclass(frozen=True)
class Turn:
    role: Role
    text: str


def flatten_content(content: Any) -> str:
    """Gradio 6 gives content as a string or a list of blocks; keep only the text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        if content.get("type") == "text" or "text" in content:
            return str(content.get("text") or "")
        return ""  # a file or component block: not text an LLM can read
    if isinstance(content, Sequence):
        parts = [flatten_content(block) for block in content]
        return "\n".join(part for part in parts if part)
    return ""


def history_turns(history: History | None) -> list[Turn]:
    """User and assistant turns, flattened; thought/status messages (metadata title) skipped and
    reasoning stripped from assistant answers so later turns never resend it."""
    turns: list[Turn] = []
    for message in history or []:
        role = message.get("role")
        if role not in ("user", "assistant", "system"):
            continue
        metadata = message.get("metadata")
        if isinstance(metadata, Mapping) and metadata.get("title"):
            continue  # a collapsible "Thinking" or tool-status message, not part of the dialog
        text = flatten_content(message.get("content"))
        if role == "assistant":
            text = strip_reasoning(text)
        text = text.strip()
        if text:
            turns.append(Turn(role, text))
    return turns


def format_llama3_prompt(system: str | None, history: History | None, message: str) -> str:
    """Meta's Llama 3 chat format, ending with an open assistant header for the reply."""
    parts = [BEGIN_OF_TEXT]

    def add(role: str, text: str) -> None:
        parts.append(f"<|start_header_id|>{role}<|end_header_id|>\n\n{text.strip()}{EOT}")

    system_texts = [system.strip()] if system and system.strip() else []
    turns = history_turns(history)
    system_texts += [t.text for t in turns if t.role == "system"]
    if system_texts:
        add("system", "\n\n".join(system_texts))
    for turn in turns:
        if turn.role != "system":
            add(turn.role, turn.text)
    add("user", message)
    parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(parts)


def format_transcript(system: str | None, history: History | None, message: str) -> str:
    """A plain-text dialog for models without a chat template (R1): system first, then turns."""
    lines: list[str] = []
    turns = history_turns(history)
    system_texts = [system.strip()] if system and system.strip() else []
    system_texts += [t.text for t in turns if t.role == "system"]
    if system_texts:
        lines.append("\n\n".join(system_texts) + "\n")
    for turn in turns:
        if turn.role != "system":
            lines.append(f"{'User' if turn.role == 'user' else 'Assistant'}: {turn.text}")
    lines.append(f"User: {message.strip()}")
    lines.append("Assistant:")
    return "\n".join(lines)


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that could be the start of `tag` (a tag mid-stream)."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-length:]):
            return length
    return 0


def split_reasoning(text: str, *, final: bool = False) -> tuple[str, str, bool]:
    """(thinking, answer, still_thinking) for R1-style `<think>…</think>` output, also mid-stream.

    A half-received tag (`<thi`, `</thin`) is held back until it is complete, unless `final`.
    Output that lacks the opening tag but has a closing one (R1 templates that open it in the
    prompt) counts everything before `</think>` as thinking.
    """
    stripped = text.lstrip()
    if stripped.startswith(THINK_OPEN):
        body = stripped[len(THINK_OPEN) :]
        close = body.find(THINK_CLOSE)
        if close >= 0:
            return body[:close].strip(), body[close + len(THINK_CLOSE) :].lstrip(), False
        if final:
            return body.strip(), "", False
        held = _partial_suffix(body, THINK_CLOSE)
        thinking = body[: len(body) - held] if held else body
        return thinking.strip(), "", True
    if not final and stripped and THINK_OPEN.startswith(stripped):
        return "", "", True  # "<thi": probably reasoning starting; show nothing yet
    close = text.find(THINK_CLOSE)
    if close >= 0 and THINK_OPEN not in text:
        return text[:close].strip(), text[close + len(THINK_CLOSE) :].lstrip(), False
    return "", text, False


def strip_reasoning(text: str) -> str:
    """The answer alone, for resending a finished assistant turn."""
    return split_reasoning(text, final=True)[1].strip()


def token_limit_field(schema: InputSchema) -> str | None:
    """The one token-limit field this model declares (never both: newer routes reject that)."""
    return next((name for name in TOKEN_LIMIT_FIELDS if schema.has(name)), None)


def build_chat_input(
    schema: InputSchema,
    *,
    system_prompt: str | None,
    history: History | None,
    message: str,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    advanced: Mapping[str, Any] | None = None,
) -> MappedInput:
    text = require_text(message, "message")
    prompt_spec = schema.first(*PROMPT_FIELDS)
    if prompt_spec is None or prompt_spec.type != "string":
        raise InputProblem("This model has no text prompt input, so it cannot be used for chat.")
    prompt_name = prompt_spec.name
    notes: list[str] = []
    system = (system_prompt or "").strip()
    turns = history_turns(history)
    has_dialog = any(t.role != "system" for t in turns)
    input: dict[str, Any] = {}

    if schema.has("prompt_template"):
        input[prompt_name] = format_llama3_prompt(system, history, text)
        input["prompt_template"] = TEMPLATE_PASSTHROUGH
    elif schema.has("system_prompt"):
        if system:
            input["system_prompt"] = system
        # Keep the conversation: the model sees earlier turns as a transcript before the message.
        input[prompt_name] = format_transcript(None, history, text) if has_dialog else text
    else:
        dialog = system or has_dialog
        input[prompt_name] = format_transcript(system, history, text) if dialog else text

    limit_field = token_limit_field(schema)
    if max_tokens is not None:
        if limit_field is None:
            notes.append("This model has no token-limit input; the maximum length was not sent.")
        else:
            set_checked(schema, input, limit_field, max_tokens)
    for name, value in (("temperature", temperature), ("top_p", top_p)):
        if value is None:
            continue
        if schema.has(name):
            set_checked(schema, input, name, value)
        else:
            notes.append(f"This model has no '{name}' input; it was not sent.")

    managed = {prompt_name, "prompt_template", "system_prompt", *TOKEN_LIMIT_FIELDS}
    extra = dict(advanced or {})
    if limit_field is not None:
        for other in TOKEN_LIMIT_FIELDS:
            if other != limit_field and extra.pop(other, None) is not None:
                notes.append(f"{other} was dropped: this model takes {limit_field} only.")
    if "system_prompt" in extra and "prompt_template" in input:
        extra.pop("system_prompt")
        notes.append("The system prompt is written into the Llama 3 prompt, not sent separately.")
    merge_advanced(schema, input, extra, managed=managed, notes=notes)
    return finish(schema, input, notes)
