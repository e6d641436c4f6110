"""Chat generation: any text model, driven by the fields its schema has.

Reads `prompt` (with `prompt_template` when the schema has one), a `messages` array, the system
field (`system_prompt`, `system_instruction`, `system`), the token limit (`max_tokens`,
`max_new_tokens`, `max_completion_tokens`, `max_output_tokens`), `min_tokens`, `stop_sequences`.
Answers are deterministic and quote the last user turn; a model whose description calls it a
reasoning model opens its answer with a `<think>` block, as DeepSeek-R1 does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import media
from .common import FileResolver, Generation, ModelView, first_present, shorten

SYSTEM_FIELDS = ("system_prompt", "system_instruction", "system")
TOKEN_LIMIT_FIELDS = ("max_tokens", "max_new_tokens", "max_completion_tokens", "max_output_tokens")

LLAMA3_TEMPLATE = (
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system_prompt}<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)
_LLAMA3_TURN = re.compile(
    r"<\|start_header_id\|>\s*(\w+)\s*<\|end_header_id\|>\s*(.*?)(?=<\|eot_id\|>|<\|start_header_id\|>|$)",
    re.DOTALL,
)
_PLAIN_ROLE = re.compile(
    r"^\s*(?:###\s*)?(system|user|human|assistant|ai|bot)\s*:\s*", re.IGNORECASE | re.MULTILINE
)
_ROLE_ALIASES = {"human": "user", "ai": "assistant", "bot": "assistant"}
MEMORY_CHECK = "multi-turn memory check"


@dataclass(frozen=True)
class Conversation:
    """What a prompt says: the system turn (if any) and the user / assistant turns in order."""

    system: str | None
    turns: tuple[tuple[str, str], ...]  # (role, text)

    @property
    def user_turns(self) -> list[str]:
        return [text for role, text in self.turns if role == "user"]

    @property
    def last_user(self) -> str:
        users = self.user_turns
        return users[-1] if users else ""


def parse_conversation(prompt: str, system_prompt: str | None = None) -> Conversation:
    """Understand Llama 3 template prompts, 'User:/Assistant:' transcripts and plain prompts."""
    system = system_prompt.strip() if system_prompt and system_prompt.strip() else None
    turns: list[tuple[str, str]] = []
    if "<|start_header_id|>" in prompt:
        for role, text in _LLAMA3_TURN.findall(prompt):
            role = role.lower()
            text = text.strip()
            if role == "system":
                system = text or system
            elif text or role == "user":
                turns.append((role, text))
        turns = [(r, t) for r, t in turns if not (r == "assistant" and not t)]
        return Conversation(system, tuple(turns))
    markers = list(_PLAIN_ROLE.finditer(prompt))
    if markers:
        head = prompt[: markers[0].start()].strip()
        if head:
            system = system or head
        for i, match in enumerate(markers):
            end = markers[i + 1].start() if i + 1 < len(markers) else len(prompt)
            role = _ROLE_ALIASES.get(match[1].lower(), match[1].lower())
            text = prompt[match.end() : end].strip()
            if role == "system":
                system = text or system
            elif text:
                turns.append((role, text))
        if any(role == "user" for role, _ in turns):
            return Conversation(system, tuple(turns))
    return Conversation(system, (("user", prompt.strip()),))


_WORD = re.compile(r"\s*\S+|\s+")


def tokenize(text: str) -> list[str]:
    """Split text into word pieces the way LLM streams look: leading spaces, long words split."""
    pieces: list[str] = []
    for word in _WORD.findall(text):
        while len(word.strip()) > 7:
            lead = len(word) - len(word.lstrip())
            cut = lead + max(3, len(word.strip()) // 2)
            pieces.append(word[:cut])
            word = word[cut:]
        pieces.append(word)
    return pieces


_STOPWORDS = frozenset(
    "a an and are as at be by can do for from how i in is it me my of on or please tell that "
    "the this to was what when where which who why will with write you your about give did "
    "does say said tell know".split()
)

_FILLERS = (
    "Let me walk through it step by step so that each part is easy to follow.",
    "The short version is that it depends on what you want to optimise for.",
    "A good first move is to look at the simplest case and build up from there.",
    "In practice, small experiments will tell you more than long deliberation.",
    "It also helps to write down your assumptions, because they shape the answer.",
    "If anything here is unclear, ask a follow-up and I will go into more detail.",
    "There is rarely a single right answer, but there are clearly better trade-offs.",
    "Keep the goal in mind and check each step against it as you go.",
)


def _keywords(text: str, limit: int = 3) -> list[str]:
    seen: list[str] = []
    for word in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", text):
        lower = word.lower()
        if lower not in _STOPWORDS and lower not in seen:
            seen.append(lower)
    return seen[:limit]


def compose_answer(conv: Conversation, seed: int, min_words: int = 0) -> str:
    """A deterministic answer that quotes the last user turn and mentions the system prompt."""
    question = conv.last_user
    if MEMORY_CHECK in question.lower() or (not question and MEMORY_CHECK in str(conv.turns)):
        earlier = conv.user_turns[:-1]
        if not earlier:
            return "I can't see any earlier user messages in this conversation."
        listed = "\n".join(f'{i}. "{shorten(t, 160)}"' for i, t in enumerate(earlier, 1))
        return f"Here are the earlier user messages I can see in this conversation:\n{listed}"
    parts: list[str] = []
    if question:
        parts.append(f'You asked: "{shorten(question, 200)}".')
    else:
        parts.append("You sent an empty prompt, so here is a general answer.")
    if conv.system:
        parts.append(f'Following the system prompt ("{shorten(conv.system, 120)}"), here goes.')
    keys = _keywords(question)
    if keys:
        listed = keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + " and " + keys[-1]
        parts.append(f"The key ideas here are {listed}.")
    start = seed % len(_FILLERS)
    count = 2 + seed % 2
    i = 0
    while i < count or sum(len(p.split()) for p in parts) < min_words:
        parts.append(_FILLERS[(start + i) % len(_FILLERS)])
        i += 1
        if i > 10_000:
            break
    return " ".join(parts)


def _apply_stops(text: str, stop_sequences: str | None) -> str:
    if not stop_sequences:
        return text
    cut = len(text)
    for stop in (s for s in stop_sequences.split(",") if s):
        pos = text.find(stop)
        if pos != -1:
            cut = min(cut, pos)
    return text[:cut]


def _effective_prompt(model: ModelView, input: dict[str, Any]) -> tuple[str, str | None]:
    """Apply prompt_template like Replicate's Llama models: '{prompt}' / '{system_prompt}'."""
    prompt = str(input.get("prompt") or "")
    system_field = next((f for f in SYSTEM_FIELDS if model.field_spec(f) is not None), None)
    system = str(input.get(system_field) or "") if system_field else None
    template = input.get("prompt_template") if model.field_spec("prompt_template") else None
    if system_field == "system_prompt" and model.field_spec("prompt_template") and not template:
        template = LLAMA3_TEMPLATE
    if template:
        filled = str(template).replace("{prompt}", prompt)
        if system is not None:
            filled = filled.replace("{system_prompt}", system)
        return filled, None if "{system_prompt}" in str(template) else system
    return prompt, system


def _conversation(model: ModelView, input: dict[str, Any]) -> tuple[Conversation, str]:
    """What was asked: from a `messages` array when given, else from the (templated) prompt."""
    messages = input.get("messages")
    prompt, system = _effective_prompt(model, input)
    if isinstance(messages, list) and messages:
        turns: list[tuple[str, str]] = []
        for message in messages:
            if not isinstance(message, dict):
                raise ValueError("messages: each message must be an object with role and content")
            role = str(message.get("role") or "user").lower()
            content = message.get("content")
            if isinstance(content, list):  # OpenAI-style content parts
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            text = str(content or "").strip()
            if role == "system":
                system = text or system
            elif text:
                turns.append(("assistant" if role == "assistant" else "user", text))
        return Conversation(system or None, tuple(turns)), prompt or str(messages)[:500]
    return parse_conversation(prompt, system), prompt


def generate_chat(model: ModelView, input: dict[str, Any], resolve: FileResolver) -> Generation:
    conv, prompt = _conversation(model, input)
    seed = media.stable_seed(model.slug, prompt, conv.system or "")
    min_tokens = int(input.get("min_tokens") or 0)
    limit_field = first_present(input, TOKEN_LIMIT_FIELDS)
    max_tokens = int(input[limit_field]) if limit_field else 512
    answer = compose_answer(conv, seed, min_words=min_tokens)
    if "reasoning model" in model.description.lower():
        topic = shorten(conv.last_user, 120) or "an empty prompt"
        thought = (
            f'The user is asking: "{topic}". I should answer directly, keep it clear, '
            "and check that the answer actually addresses the question."
        )
        text = f"<think>\n{thought}\n</think>\n\n{answer}"
    else:
        text = answer
    text = _apply_stops(text, input.get("stop_sequences"))
    tokens = tokenize(text)
    if len(tokens) < min_tokens:  # pad with more sentences until min_tokens is reached
        extra = compose_answer(conv, seed + 1, min_words=min_tokens)
        tokens += tokenize(" " + extra)
    tokens = [*tokens[:max_tokens], ""]
    logs = [
        f"Random seed used: `{seed % 100000}`",
        f"Formatted prompt: `{shorten(prompt, 500)}`",
        f"Generated {len(tokens) - 1} tokens",
    ]
    return Generation(tokens=tokens, files=[], single=False, logs=logs)


def generate_text(model: ModelView, input: dict[str, Any], resolve: FileResolver) -> Generation:
    """A plain-string model (Replicate's hello-world): 'hello ' + the text it was given."""
    text = "hello " + str(input.get("text") or "")
    return Generation(
        tokens=[text], files=[], single=True, logs=[f"prefixing {input.get('text')!r}"]
    )
