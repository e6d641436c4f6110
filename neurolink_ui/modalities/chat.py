"""Chat: turning a Gradio message history into the input of whichever LLM is selected.

Four shapes of model exist, told apart by their schema: a `prompt_template` (Llama 3: we write
Meta's chat format ourselves, system message included), a `messages` array (real multi-turn), a
system field (`system_prompt`, `system_instruction`, `system`) beside a single `prompt`, and a
bare `prompt` (DeepSeek R1: a plain transcript). The token limit, system and image fields are
whichever of their names the schema has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from neurolink_ui.replicate.schema import InputField, InputSchema

from .common import (
    InputProblem,
    MappedInput,
    find_image_input,
    finish,
    image_value,
    merge_advanced,
    require_text,
    set_checked,
)

Role = Literal["system", "user", "assistant"]
ChatMessage = Mapping[str, Any]  # {"role": ..., "content": str | list of blocks, "metadata": ...}
History = Sequence[ChatMessage]

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."  # the chat panel's and Compare's
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
BEGIN_OF_TEXT = "<|begin_of_text|>"
EOT = "<|eot_id|>"
TEMPLATE_PASSTHROUGH = "{prompt}"
TOKEN_LIMIT_FIELDS = ("max_tokens", "max_new_tokens", "max_completion_tokens", "max_output_tokens")
SYSTEM_FIELDS = ("system_prompt", "system_instruction", "system")
PROMPT_FIELDS = ("prompt", "text", "input", "message")  # `text`: replicate/hello-world
MESSAGES_FIELD = "messages"
CHAT_IMAGE_NAMES = ("image", "image_input", "images", "input_images", "input_image", "image_url")
# Inputs only reasoning models have; they stay in Advanced (the panel never fills them).
REASONING_FIELDS = (
    "reasoning_effort",
    "extended_thinking",
    "thinking",
    "thinking_level",
    "thinking_budget",
    "thinking_budget_tokens",
    "max_thinking_tokens",
    "enable_thinking",
    "include_reasoning",
)
_REASONING_WORDS = re.compile(r"\breasoning\b|\bthinking\b|chain[- ]of[- ]thought", re.IGNORECASE)
_REASONING_MODEL = re.compile(
    r"\breasoning model\b|\bthinking model\b|chain[- ]of[- ]thought", re.IGNORECASE
)


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


def split_system(system: str | None, history: History | None) -> tuple[str, list[Turn]]:
    """The system text (the box's, then any system turns) and the user/assistant turns."""
    turns = history_turns(history)
    texts = [system.strip()] if system and system.strip() else []
    texts += [t.text for t in turns if t.role == "system"]
    return "\n\n".join(texts), [t for t in turns if t.role != "system"]


def format_llama3_prompt(system: str | None, history: History | None, message: str) -> str:
    """Meta's Llama 3 chat format, ending with an open assistant header for the reply."""
    parts = [BEGIN_OF_TEXT]

    def add(role: str, text: str) -> None:
        parts.append(f"<|start_header_id|>{role}<|end_header_id|>\n\n{text.strip()}{EOT}")

    system_text, dialog = split_system(system, history)
    if system_text:
        add("system", system_text)
    for turn in dialog:
        add(turn.role, turn.text)
    add("user", message)
    parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(parts)


def format_transcript(system: str | None, history: History | None, message: str) -> str:
    """A plain-text dialog for models without a chat template (R1): system first, then turns."""
    lines: list[str] = []
    system_text, dialog = split_system(system, history)
    if system_text:
        lines.append(system_text + "\n")
    for turn in dialog:
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


def token_limit_field(schema: InputSchema) -> InputField | None:
    """The one token-limit field this model declares (never two: newer routes reject that)."""
    return schema.first(*TOKEN_LIMIT_FIELDS)


def system_field(schema: InputSchema) -> InputField | None:
    spec = schema.first(*SYSTEM_FIELDS)
    return spec if spec is not None and spec.type == "string" else None


def messages_field(schema: InputSchema) -> InputField | None:
    spec = schema.get(MESSAGES_FIELD)
    return spec if spec is not None and spec.type == "array" else None


def chat_image_field(schema: InputSchema) -> InputField | None:
    """Where a vision model takes the image of a chat turn (single or list), if anywhere."""
    return find_image_input(schema, CHAT_IMAGE_NAMES, exclude_words=("mask",))


def is_reasoning_model(
    schema: InputSchema, description: str = "", advanced: Mapping[str, Any] | None = None
) -> bool:
    """A model that thinks before it answers, by its own words. A boolean switch such as
    `extended_thinking` decides when the schema has one (on in Advanced, or on by default);
    otherwise any reasoning input (effort, level, budget), a token limit whose description
    speaks of reasoning, or a model description calling it a reasoning model (DeepSeek R1's
    schema says nothing else)."""
    chosen = advanced or {}
    switches = [
        spec for spec in schema.fields if spec.name in REASONING_FIELDS and spec.type == "boolean"
    ]
    if switches:
        return any(chosen.get(spec.name, spec.default) is True for spec in switches)
    if any(schema.has(name) for name in REASONING_FIELDS):
        return True
    limit = token_limit_field(schema)
    if limit is not None and _REASONING_WORDS.search(limit.description):
        return True
    return bool(_REASONING_MODEL.search(description))


def filled_fields(schema: InputSchema) -> frozenset[str]:
    """The fields the Chat panel fills: prompt (or messages, template), system, token limit,
    temperature and the image. Reasoning switches and the rest stay in Advanced."""
    specs = (
        schema.first(*PROMPT_FIELDS),
        schema.get("prompt_template"),
        system_field(schema),
        messages_field(schema),
        token_limit_field(schema),
        schema.get("temperature"),
        chat_image_field(schema),
    )
    return frozenset(spec.name for spec in specs if spec is not None)


def _messages(system: str, history: History | None, message: str) -> list[dict[str, str]]:
    """The dialog as chat-completions messages: system first, then the turns, then `message`."""
    system_text, dialog = split_system(system, history)
    messages = [{"role": "system", "content": system_text}] if system_text else []
    messages += [{"role": t.role, "content": t.text} for t in dialog]
    messages.append({"role": "user", "content": message})
    return messages


def _token_budget(limit: InputField, wanted: int, reasoning: bool, notes: list[str]) -> int | float:
    """The limit to send: at least the schema's default for a reasoning model (its thinking
    counts against the limit; less cuts the answer off), within the field's bounds."""
    value: int | float = wanted
    default = limit.default
    if (
        reasoning
        and isinstance(default, int | float)
        and not isinstance(default, bool)
        and wanted < default
    ):
        value = default
        notes.append(
            f"This model reasons before it answers: {limit.name} raised from {wanted} to its "
            f"default {default:g} so the answer is not cut off inside the reasoning."
        )
    bounded = limit.clamp(value)
    if bounded != value:
        notes.append(
            f"{limit.name} must be {limit.range_text()} for this model; sent {bounded:g} "
            f"instead of {value:g}."
        )
    return bounded


def build_chat_input(
    schema: InputSchema,
    *,
    system_prompt: str | None,
    history: History | None,
    message: str,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    image: Any = None,
    model_description: str = "",
    advanced: Mapping[str, Any] | None = None,
) -> MappedInput:
    """The model input for one chat turn. `max_tokens` None leaves the model's own limit;
    `image` goes to the model's image input (refused, never dropped, if it has none)."""
    text = require_text(message, "message")
    prompt_spec = schema.first(*PROMPT_FIELDS)
    if prompt_spec is None or prompt_spec.type != "string":
        raise InputProblem("This model has no text prompt input, so it cannot be used for chat.")
    prompt_name = prompt_spec.name
    notes: list[str] = []
    system = (system_prompt or "").strip()
    turns = history_turns(history)
    has_dialog = any(t.role != "system" for t in turns)
    system_spec = system_field(schema)
    messages_spec = messages_field(schema)
    input: dict[str, Any] = {}

    if schema.has("prompt_template"):
        input[prompt_name] = format_llama3_prompt(system, history, text)
        input["prompt_template"] = TEMPLATE_PASSTHROUGH
    elif messages_spec is not None and has_dialog:
        # Real multi-turn: the model reads the dialog itself (its prompt and system fields are
        # ignored beside messages, so the system message goes in the array).
        input[messages_spec.name] = _messages(system, history, text)
        if prompt_spec.required:
            input[prompt_name] = text
    elif system_spec is not None:
        if system:
            input[system_spec.name] = system
        # Keep the conversation: the model sees earlier turns as a transcript before the message.
        input[prompt_name] = format_transcript(None, history, text) if has_dialog else text
    else:
        dialog = system or has_dialog
        input[prompt_name] = format_transcript(system, history, text) if dialog else text

    if image is not None:
        target = chat_image_field(schema)
        if target is None:
            raise InputProblem(
                "This model reads text only: it has no image input, so your image cannot be "
                "sent. Remove the image, or pick a model that takes images (a vision model).",
                field="image",
            )
        input[target.name] = image_value(target, image)

    limit = token_limit_field(schema)
    if max_tokens is not None:
        if limit is None:
            notes.append("This model has no token-limit input; the maximum length was not sent.")
        else:
            reasoning = is_reasoning_model(schema, model_description, advanced)
            input[limit.name] = _token_budget(limit, int(max_tokens), reasoning, notes)
    for name, value in (("temperature", temperature), ("top_p", top_p)):
        if value is None:
            continue
        if schema.has(name):
            set_checked(schema, input, name, value)
        else:
            notes.append(f"This model has no '{name}' input; it was not sent.")

    extra = dict(advanced or {})
    if limit is not None:
        for other in TOKEN_LIMIT_FIELDS:
            if other != limit.name and extra.pop(other, None) is not None:
                notes.append(f"{other} was dropped: this model takes {limit.name} only.")
    if system_spec is not None and system_spec.name in extra and system_spec.name not in input:
        extra.pop(system_spec.name)
        notes.append(
            "The system prompt comes from the System prompt box; the Advanced one was ignored."
        )
    merge_advanced(schema, input, extra, managed=filled_fields(schema), notes=notes)
    return finish(schema, input, notes)
