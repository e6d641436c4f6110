"""The simulator's model catalogue: each model's Cog-style schema, input validation and generation.

Schemas follow the models' published Replicate schemas field for field and are emitted the way Cog emits
them (enums as `allOf: [{"$ref": ...}]` with the enum in `components.schemas`). Validation reports
problems with Replicate's `invalid_fields` types. Generation is deterministic and derived from the
input: chat models answer about the prompt, media models return real files built by `media`.

Output contract for the server (`Generation`):
- chat (streaming) models: `tokens` is the token list, `single` False -> output is the list.
- plain text models (Output `{"type": "string"}`): `tokens` is `[text]`, `single` True -> output is
  the string itself.
- file models: `files`; `single` True -> output is one URI, False -> a list of URIs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from . import media

ModelKind = Literal["chat", "image", "video", "avatar", "music"]
FieldType = Literal["string", "integer", "number", "boolean", "array"]


@dataclass(frozen=True)
class OutputFile:
    name: str  # e.g. "out-0.webp", "output.mp4"
    content_type: str  # e.g. "image/webp", "video/mp4", "audio/wav"
    data: bytes


@dataclass
class Generation:
    tokens: list[str] | None  # chat: the token list; plain text: [text] with single=True
    files: list[OutputFile]  # media models
    single: bool  # True: output is one URI (or one string); False: a list
    logs: list[str]  # log lines, incl. tqdm-style progress lines


# Server-provided: resolves a data: URL or one of the simulator's own file/delivery URLs to bytes;
# raises ValueError for anything else.
FileResolver = Callable[[str], bytes]


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class FieldSpec:
    """One Cog input field. `choices` makes it an enum (emitted as a $ref'd component schema)."""

    name: str
    type: FieldType
    description: str
    default: Any = NO_DEFAULT
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    format: str | None = None  # "uri" for files
    items_type: FieldType | None = None  # arrays
    items_format: str | None = None

    @property
    def title(self) -> str:
        return self.name.replace("_", " ").title()

    @property
    def nullable(self) -> bool:
        """Optional fields without a default (Cog's `Optional[...] = None`) accept null."""
        return not self.required and self.default is NO_DEFAULT

    def property_schema(self, order: int) -> dict[str, Any]:
        prop: dict[str, Any]
        if self.choices is not None:
            prop = {"allOf": [{"$ref": f"#/components/schemas/{self.name}"}]}
        else:
            prop = {"type": self.type, "title": self.title}
            if self.format:
                prop["format"] = self.format
            if self.items_type:
                items: dict[str, Any] = {"type": self.items_type}
                if self.items_format:
                    items["format"] = self.items_format
                prop["items"] = items
        if self.default is not NO_DEFAULT:
            prop["default"] = self.default
        if self.minimum is not None:
            prop["minimum"] = self.minimum
        if self.maximum is not None:
            prop["maximum"] = self.maximum
        if self.nullable:
            prop["nullable"] = True
        prop["x-order"] = order
        prop["description"] = self.description
        return prop

    def enum_schema(self) -> dict[str, Any]:
        assert self.choices is not None
        return {
            "enum": list(self.choices),
            "type": self.type,
            "title": self.name,
            "description": "An enumeration.",
        }


def _json_type_name(value: Any) -> str:
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


def _type_matches(kind: FieldType, value: Any) -> bool:
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
    return False


def _fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def invalid_field(kind: str, field_name: str, description: str) -> dict[str, str]:
    """One `invalid_fields` entry, as Replicate reports them (the server uses it too)."""
    return {"type": kind, "field": field_name, "description": description}


def _validate_value(spec: FieldSpec, value: Any) -> list[dict[str, str]]:
    name = spec.name
    if value is None:
        if spec.nullable:
            return []
        return [invalid_field("type", name, f"Invalid type. Expected: {spec.type}, given: null")]
    if not _type_matches(spec.type, value):
        given = _json_type_name(value)
        return [invalid_field("type", name, f"Invalid type. Expected: {spec.type}, given: {given}")]
    problems: list[dict[str, str]] = []
    if spec.type == "array" and spec.items_type:
        for i, item in enumerate(value):
            if not _type_matches(spec.items_type, item):
                problems.append(
                    invalid_field(
                        "type",
                        f"{name}.{i}",
                        f"Invalid type. Expected: {spec.items_type}, "
                        f"given: {_json_type_name(item)}",
                    )
                )
    if spec.choices is not None and value not in spec.choices:
        listed = ", ".join(json.dumps(c) for c in spec.choices)
        problems.append(
            invalid_field("enum", name, f"{name} must be one of the following: {listed}")
        )
    if spec.minimum is not None and value < spec.minimum:
        problems.append(
            invalid_field(
                "number_gte",
                name,
                f"{name} must be greater than or equal to {_fmt_number(spec.minimum)}",
            )
        )
    if spec.maximum is not None and value > spec.maximum:
        problems.append(
            invalid_field(
                "number_lte",
                name,
                f"{name} must be less than or equal to {_fmt_number(spec.maximum)}",
            )
        )
    return problems


Generator = Callable[["SimModel", dict[str, Any], FileResolver], Generation]


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class SimModel:
    owner: str
    name: str
    is_official: bool
    kind: ModelKind
    description: str
    fields: tuple[FieldSpec, ...]
    output: dict[str, Any]
    generator: Generator = field(repr=False, compare=False)

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def version_id(self) -> str:
        """64 lowercase hex, deterministic: sha256 of 'owner/name'."""
        return _sha256_hex(self.slug)

    @property
    def internal_version_id(self) -> str:
        """The `dp-…` id official models show as `version` in predictions (sample 02)."""
        return "dp-" + _sha256_hex("deployment:" + self.slug)[:32]

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

    def field_spec(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def openapi_schema(self) -> dict[str, Any]:
        properties = {f.name: f.property_schema(i) for i, f in enumerate(self.fields)}
        input_schema: dict[str, Any] = {
            "type": "object",
            "title": "Input",
            "properties": properties,
        }
        required = [f.name for f in self.fields if f.required]
        if required:
            input_schema["required"] = required
        schemas: dict[str, Any] = {"Input": input_schema, "Output": dict(self.output)}
        for f in self.fields:
            if f.choices is not None:
                schemas[f.name] = f.enum_schema()
        return {
            "openapi": "3.0.2",
            "info": {"title": "Cog", "version": "0.1.0"},
            "paths": {},
            "components": {"schemas": schemas},
        }

    def validate(self, input: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """(input with schema defaults applied, invalid_fields as Replicate reports them)."""
        if not isinstance(input, dict):
            given = _json_type_name(input)
            return {}, [
                invalid_field("type", "input", f"Invalid type. Expected: object, given: {given}")
            ]
        problems: list[dict[str, str]] = []
        known = {f.name for f in self.fields}
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
        for spec in self.fields:
            if spec.name not in input:
                if spec.required:
                    problems.append(
                        invalid_field("required", spec.name, f"{spec.name} is required")
                    )
                elif spec.default is not NO_DEFAULT:
                    resolved[spec.name] = spec.default
                continue
            value = input[spec.name]
            problems.extend(_validate_value(spec, value))
            if value is None and spec.default is NO_DEFAULT:
                continue  # null for an optional field means "not given"
            if spec.type == "integer" and isinstance(value, float) and value.is_integer():
                value = int(value)
            resolved[spec.name] = value
        return resolved, problems

    def generate(self, input: dict[str, Any], resolve: FileResolver) -> Generation:
        """CPU work (the server runs it in a thread). Bad media inputs raise ValueError."""
        return self.generator(self, input, resolve)


# =============================================================================================
# Field helpers


def _f(
    name: str, type: FieldType, description: str, default: Any = NO_DEFAULT, **kw: Any
) -> FieldSpec:
    return FieldSpec(name=name, type=type, description=description, default=default, **kw)


def _enum(name: str, choices: Sequence[Any], default: Any, description: str) -> FieldSpec:
    kind: FieldType = "integer" if isinstance(choices[0], int) else "string"
    return FieldSpec(name, kind, description, default=default, choices=tuple(choices))


def _uri(name: str, description: str, required: bool = False) -> FieldSpec:
    return FieldSpec(name, "string", description, required=required, format="uri")


def _seed(description: str = "Random seed. Set for reproducible generation") -> FieldSpec:
    return FieldSpec("seed", "integer", description)


CHAT_OUTPUT = {
    "type": "array",
    "items": {"type": "string"},
    "title": "Output",
    "x-cog-array-type": "iterator",
    "x-cog-array-display": "concatenate",
}
URI_OUTPUT = {"type": "string", "title": "Output", "format": "uri"}
URI_LIST_OUTPUT = {"type": "array", "title": "Output", "items": {"type": "string", "format": "uri"}}


def input_seed(input: dict[str, Any], *salt: object) -> int:
    """The seed a generation uses: the given one, else one derived from the input (reproducible)."""
    seed = input.get("seed")
    if isinstance(seed, int) and seed >= 0:
        return seed
    return media.stable_seed(json.dumps(input, sort_keys=True, default=str), *salt) % 100000


# =============================================================================================
# Chat: prompt understanding and tokenisation

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


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


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
        listed = "\n".join(f'{i}. "{_shorten(t, 160)}"' for i, t in enumerate(earlier, 1))
        return f"Here are the earlier user messages I can see in this conversation:\n{listed}"
    parts: list[str] = []
    if question:
        parts.append(f'You asked: "{_shorten(question, 200)}".')
    else:
        parts.append("You sent an empty prompt, so here is a general answer.")
    if conv.system:
        parts.append(f'Following the system prompt ("{_shorten(conv.system, 120)}"), here goes.')
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


def _effective_prompt(input: dict[str, Any], has_system: bool) -> tuple[str, str | None]:
    """Apply prompt_template like Replicate's Llama models: '{prompt}' / '{system_prompt}'."""
    prompt = str(input.get("prompt") or "")
    system = str(input.get("system_prompt") or "") if has_system else None
    template = input.get("prompt_template")
    if has_system and not template:
        template = LLAMA3_TEMPLATE
    if template:
        filled = str(template).replace("{prompt}", prompt)
        if system is not None:
            filled = filled.replace("{system_prompt}", system)
        return filled, None if "{system_prompt}" in str(template) else system
    return prompt, system


def _generate_chat(model: SimModel, input: dict[str, Any], resolve: FileResolver) -> Generation:
    has_system = model.field_spec("system_prompt") is not None
    prompt, system = _effective_prompt(input, has_system)
    conv = parse_conversation(prompt, system)
    seed = media.stable_seed(model.slug, prompt, system or "")
    min_tokens = int(input.get("min_tokens") or 0)
    max_tokens = int(input.get("max_tokens") or input.get("max_new_tokens") or 512)
    answer = compose_answer(conv, seed, min_words=min_tokens)
    if model.name == "deepseek-r1":
        topic = _shorten(conv.last_user, 120) or "an empty prompt"
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
        f"Formatted prompt: `{_shorten(prompt, 500)}`",
        f"Generated {len(tokens) - 1} tokens",
    ]
    return Generation(tokens=tokens, files=[], single=False, logs=logs)


def _generate_hello(model: SimModel, input: dict[str, Any], resolve: FileResolver) -> Generation:
    text = "hello " + str(input.get("text") or "")
    return Generation(
        tokens=[text], files=[], single=True, logs=[f"prefixing {input.get('text')!r}"]
    )


_DESC_PROMPT = "Prompt"
_DESC_SYSTEM = (
    "System prompt to send to the model. This is prepended to the prompt and helps guide system "
    "behavior. Ignored for non-chat models."
)
_DESC_MIN_TOKENS = "The minimum number of tokens the model should generate as output."
_DESC_MAX_TOKENS = "The maximum number of tokens the model should generate as output."
_DESC_TEMPERATURE = "The value used to modulate the next token probabilities."
_DESC_TOP_P = (
    "A probability threshold for generating the output. If < 1.0, only keep the top tokens with "
    "cumulative probability >= top_p (nucleus filtering). Nucleus filtering is described in "
    "Holtzman et al. (http://arxiv.org/abs/1904.09751)."
)
_DESC_TOP_K = (
    "The number of highest probability tokens to consider for generating the output. If > 0, "
    "only keep the top k tokens with highest probability (top-k filtering)."
)
_DESC_STOPS = (
    "A comma-separated list of sequences to stop generation at. For example, '<end>,<stop>' will "
    "stop generation at the first instance of 'end' or '<stop>'."
)
_DESC_TEMPLATE = (
    "A template to format the prompt with. If not provided, the default prompt template will be "
    "used."
)


def _llama_fields(
    head: tuple[FieldSpec, ...], *, presence: float, frequency: float, template: str
) -> tuple[FieldSpec, ...]:
    """The Llama 3 / 3.1 inputs after `head` (prompt, system prompt); versions differ in defaults."""
    return (
        *head,
        _f("min_tokens", "integer", _DESC_MIN_TOKENS, 0),
        _f("max_tokens", "integer", _DESC_MAX_TOKENS, 512),
        _f("temperature", "number", _DESC_TEMPERATURE, 0.6),
        _f("top_p", "number", _DESC_TOP_P, 0.9),
        _f("top_k", "integer", _DESC_TOP_K, 50),
        _f("presence_penalty", "number", "Presence penalty", presence),
        _f("frequency_penalty", "number", "Frequency penalty", frequency),
        _f("stop_sequences", "string", _DESC_STOPS),
        _f("prompt_template", "string", _DESC_TEMPLATE, template),
    )


def _llama31_fields() -> tuple[FieldSpec, ...]:
    head = (
        _f("prompt", "string", _DESC_PROMPT, ""),
        _f("system_prompt", "string", _DESC_SYSTEM, "You are a helpful assistant."),
    )
    return _llama_fields(head, presence=0, frequency=0, template="")


def _llama3_fields() -> tuple[FieldSpec, ...]:
    head = (_f("prompt", "string", _DESC_PROMPT, required=True),)
    return _llama_fields(head, presence=1.15, frequency=0.2, template="{prompt}")


def _deepseek_fields() -> tuple[FieldSpec, ...]:
    return (
        _f("prompt", "string", _DESC_PROMPT, ""),
        _f("max_tokens", "integer", _DESC_MAX_TOKENS, 20480),
        _f("temperature", "number", "Sampling temperature", 0.1),
        _f("top_p", "number", "Top-p (nucleus) sampling", 1),
        _f("presence_penalty", "number", "Presence penalty", 0),
        _f("frequency_penalty", "number", "Frequency penalty", 0),
    )


def _chat_models() -> list[SimModel]:
    def chat(owner: str, name: str, desc: str, fields: tuple[FieldSpec, ...]) -> SimModel:
        return SimModel(owner, name, True, "chat", desc, fields, CHAT_OUTPUT, _generate_chat)

    return [
        chat(
            "meta",
            "meta-llama-3.1-70b-instruct",
            "Meta's Llama 3.1 70B instruct model (simulated).",
            _llama31_fields(),
        ),
        chat(
            "meta",
            "meta-llama-3.1-405b-instruct",
            "Meta's flagship 405 billion parameter language model, fine-tuned for chat completions",
            _llama31_fields(),
        ),
        chat(
            "meta",
            "meta-llama-3-70b-instruct",
            "A 70 billion parameter language model from Meta, fine tuned for chat completions",
            _llama3_fields(),
        ),
        chat(
            "meta",
            "meta-llama-3-8b-instruct",
            "An 8 billion parameter language model from Meta, fine tuned for chat completions",
            _llama3_fields(),
        ),
        chat(
            "deepseek-ai",
            "deepseek-r1",
            "A reasoning model trained with reinforcement learning, on par with OpenAI o1",
            _deepseek_fields(),
        ),
        SimModel(
            "replicate",
            "hello-world",
            False,
            "chat",
            "A tiny model that says hello (non-streaming text output)",
            (_f("text", "string", "Text to prefix with 'hello '", required=True),),
            {"type": "string", "title": "Output"},
            _generate_hello,
        ),
    ]


# =============================================================================================
# Images

_DESC_OUTPUT_FORMAT = "Format of the output images"
_DESC_OUTPUT_QUALITY = (
    "Quality when saving the output images, from 0 to 100. 100 is best quality, 0 is lowest "
    "quality. Not relevant for .png outputs"
)
_OUTPUT_FORMAT = _enum("output_format", ("webp", "jpg", "png"), "webp", _DESC_OUTPUT_FORMAT)
_OUTPUT_QUALITY = _f("output_quality", "integer", _DESC_OUTPUT_QUALITY, 80, minimum=0, maximum=100)
_FLUX_SCHNELL_RATIOS = (
    "1:1",
    "16:9",
    "21:9",
    "3:2",
    "2:3",
    "4:5",
    "5:4",
    "3:4",
    "4:3",
    "9:16",
    "9:21",
)


def _image_logs(seed: int, prompt: str, steps: int, mode: str = "txt2img") -> list[str]:
    return [
        f"Using seed: {seed}",
        f"Prompt: {prompt}",
        mode + " mode",
        *media.tqdm_lines(steps, 17.15, every=max(1, steps // 12)),
    ]


def _fetch(resolve: FileResolver, url: str, what: str) -> bytes:
    """The bytes behind an input URL; an unreadable one is a ValueError naming the field."""
    try:
        return resolve(url)
    except ValueError as exc:
        raise ValueError(f"{what}: cannot read {_shorten(url, 80)!r} ({exc})") from exc


def _resolve_image(resolve: FileResolver, url: str, what: str) -> Image.Image:
    return media.decode_image(_fetch(resolve, url, what), what)


def _input_image(
    input: dict[str, Any], resolve: FileResolver, field_name: str | None
) -> Image.Image | None:
    """The decoded image of an optional URI field, None when the field is absent or empty."""
    if field_name and input.get(field_name):
        return _resolve_image(resolve, input[field_name], field_name)
    return None


def _inpaint_inputs(
    input: dict[str, Any], resolve: FileResolver
) -> tuple[Image.Image | None, Image.Image | None]:
    """(image, mask) of an img2img / inpainting model; a mask without an image is ignored."""
    init = _input_image(input, resolve, "image")
    mask = _input_image(input, resolve, "mask") if init is not None else None
    return init, mask


def _image_files(
    input: dict[str, Any],
    *,
    width: int,
    height: int,
    count: int,
    single: bool,
    fmt: str,
    quality: int,
    init: Image.Image | None,
    strength: float,
    mask: Image.Image | None = None,
    steps: int = 28,
) -> Generation:
    prompt = str(input.get("prompt") or "")
    seed = input_seed(input)
    width, height = media.cap_size(width, height)
    files: list[OutputFile] = []
    for i in range(count):
        img = media.render_image(
            prompt, seed + i, width, height, init=init, strength=strength, mask=mask
        )
        data, content_type, ext = media.encode_image(img, fmt, quality)
        name = f"output.{ext}" if single else f"out-{i}.{ext}"
        files.append(OutputFile(name, content_type, data))
    mode = "img2img" if init is not None else "txt2img"
    return Generation(None, files, single, _image_logs(seed, prompt, steps, mode))


def _generate_flux_schnell(
    model: SimModel, input: dict[str, Any], resolve: FileResolver
) -> Generation:
    long_side = 1024 if input["megapixels"] == "1" else 512
    width, height = media.size_for_ratio(input["aspect_ratio"], long_side)
    return _image_files(
        input,
        width=width,
        height=height,
        count=int(input["num_outputs"]),
        single=False,
        fmt=input["output_format"],
        quality=int(input["output_quality"]),
        init=None,
        strength=1.0,
        steps=int(input["num_inference_steps"]),
    )


def _flux_schnell() -> SimModel:
    fields = (
        _f("prompt", "string", "Prompt for generated image", required=True),
        _enum(
            "aspect_ratio",
            _FLUX_SCHNELL_RATIOS,
            "1:1",
            "Aspect ratio for the generated image",
        ),
        _f("num_outputs", "integer", "Number of outputs to generate", 1, minimum=1, maximum=4),
        _f(
            "num_inference_steps",
            "integer",
            "Number of denoising steps. 4 is recommended, and lower number of steps produce lower "
            "quality outputs, faster.",
            4,
            minimum=1,
            maximum=4,
        ),
        _seed(),
        _OUTPUT_FORMAT,
        _OUTPUT_QUALITY,
        _f(
            "disable_safety_checker",
            "boolean",
            "Disable safety checker for generated images.",
            False,
        ),
        _f(
            "go_fast",
            "boolean",
            "Run faster predictions with model optimized for speed (currently fp8 quantized); "
            "disable to run in original bf16",
            True,
        ),
        _enum(
            "megapixels",
            ("1", "0.25"),
            "1",
            "Approximate number of megapixels for generated image",
        ),
    )
    return SimModel(
        "black-forest-labs",
        "flux-schnell",
        True,
        "image",
        "The fastest image generation model tailored for local development and personal use",
        fields,
        URI_LIST_OUTPUT,
        _generate_flux_schnell,
    )


_FLUX_PRO_RATIOS = ("custom", "1:1", "16:9", "3:2", "2:3", "4:5", "5:4", "9:16", "3:4", "4:3")
_SD_RATIOS = ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
_IDEOGRAM_RATIOS = (
    "1:3", "3:1", "1:2", "2:1", "9:16", "16:9", "10:16", "16:10",
    "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "1:1",
)  # fmt: skip
_IDEOGRAM_RESOLUTIONS = (
    "None", "512x1536", "576x1408", "576x1472", "576x1536", "640x1344", "640x1408", "640x1472",
    "640x1536", "704x1152", "704x1216", "704x1280", "704x1344", "704x1408", "704x1472",
    "736x1312", "768x1088", "768x1216", "768x1280", "768x1344", "800x1280", "832x960",
    "832x1024", "832x1088", "832x1152", "832x1216", "832x1248", "864x1152", "896x960",
    "896x1024", "896x1088", "896x1120", "896x1152", "960x832", "960x896", "960x1024",
    "960x1088", "1024x832", "1024x896", "1024x960", "1024x1024", "1088x768", "1088x832",
    "1088x896", "1088x960", "1120x896", "1152x704", "1152x832", "1152x864", "1152x896",
    "1216x704", "1216x768", "1216x832", "1248x832", "1280x704", "1280x768", "1280x800",
    "1312x736", "1344x640", "1344x704", "1344x768", "1408x576", "1408x640", "1408x704",
    "1472x576", "1472x640", "1472x704", "1536x512", "1536x576", "1536x640",
)  # fmt: skip
_IDEOGRAM_STYLE_PRESETS = (
    "None", "80s Illustration", "90s Nostalgia", "Abstract Organic", "Analog Nostalgia",
    "Art Brut", "Art Deco", "Art Poster", "Aura", "Avant Garde", "Bauhaus", "Blueprint",
    "Blurry Motion", "Bright Art", "C4D Cartoon", "Children's Book", "Collage",
    "Coloring Book I", "Coloring Book II", "Cubism", "Dark Aura", "Doodle", "Double Exposure",
    "Dramatic Cinema", "Editorial", "Emotional Minimal", "Ethereal Party", "Expired Film",
    "Flat Art", "Flat Vector", "Forest Reverie", "Geo Minimalist", "Glass Prism", "Golden Hour",
    "Graffiti I", "Graffiti II", "Halftone Print", "High Contrast", "Hippie Era", "Iconic",
    "Japandi Fusion", "Jazzy", "Long Exposure", "Magazine Editorial", "Minimal Illustration",
    "Mixed Media", "Monochrome", "Nightlife", "Oil Painting", "Old Cartoons", "Paint Gesture",
    "Pop Art", "Retro Etching", "Riviera Pop", "Spotlight 80s", "Stylized Red",
    "Surreal Collage", "Travel Poster", "Vintage Geo", "Vintage Poster", "Watercolor", "Weird",
    "Woodblock Print",
)  # fmt: skip
_PLAYGROUND_SCHEDULERS = (
    "DDIM", "DPMSolverMultistep", "HeunDiscrete", "K_EULER_ANCESTRAL", "K_EULER", "PNDM",
    "DPM++2MKarras", "DPMSolver++",
)  # fmt: skip


def _generate_flux_pro(model: SimModel, input: dict[str, Any], resolve: FileResolver) -> Generation:
    if input["aspect_ratio"] == "custom":
        width = int(input.get("width") or 1024) // 32 * 32
        height = int(input.get("height") or 1024) // 32 * 32
    else:
        width, height = media.size_for_ratio(input["aspect_ratio"], 1024, multiple=32)
    return _image_files(
        input,
        width=width,
        height=height,
        count=1,
        single=True,
        fmt=input["output_format"],
        quality=int(input["output_quality"]),
        init=_input_image(input, resolve, "image_prompt"),
        strength=0.55,
    )


def _flux_pro() -> SimModel:
    fields = (
        _f("prompt", "string", "Text prompt for image generation", required=True),
        _uri(
            "image_prompt",
            "Image to use with Flux Redux. This is used together with the text prompt to guide "
            "the generation towards the composition of the image_prompt. Must be jpeg, png, gif, "
            "or webp.",
        ),
        _enum(
            "aspect_ratio",
            _FLUX_PRO_RATIOS,
            "1:1",
            "Aspect ratio for the generated image",
        ),
        _f(
            "width",
            "integer",
            "Width of the generated image in text-to-image mode. Only used when aspect_ratio="
            "custom. Must be a multiple of 32 (if it's not, it will be rounded to nearest "
            "multiple of 32).",
            minimum=256,
            maximum=1440,
        ),
        _f(
            "height",
            "integer",
            "Height of the generated image in text-to-image mode. Only used when aspect_ratio="
            "custom. Must be a multiple of 32 (if it's not, it will be rounded to nearest "
            "multiple of 32).",
            minimum=256,
            maximum=1440,
        ),
        _f(
            "safety_tolerance",
            "integer",
            "Safety tolerance, 1 is most strict and 6 is most permissive",
            2,
            minimum=1,
            maximum=6,
        ),
        _seed(),
        _f(
            "prompt_upsampling",
            "boolean",
            "Automatically modify the prompt for more creative generation",
            False,
        ),
        _OUTPUT_FORMAT,
        _OUTPUT_QUALITY,
    )
    return SimModel(
        "black-forest-labs",
        "flux-1.1-pro",
        True,
        "image",
        "Faster, better FLUX Pro. Text-to-image model with excellent image quality, prompt "
        "adherence, and output diversity.",
        fields,
        URI_OUTPUT,
        _generate_flux_pro,
    )


def _generate_sd35(model: SimModel, input: dict[str, Any], resolve: FileResolver) -> Generation:
    width, height = media.size_for_ratio(input["aspect_ratio"], 1024)
    init = _input_image(input, resolve, "image")
    if init is not None:  # img2img: the output takes the input image's shape
        width, height = media.cap_size(init.width, init.height)
        width, height = max(16, width // 16 * 16), max(16, height // 16 * 16)
    return _image_files(
        input,
        width=width,
        height=height,
        count=1,
        single=True,
        fmt=input["output_format"],
        quality=90,
        init=init,
        strength=float(input["prompt_strength"]),
    )


def _sd35(name: str, cfg_default: float, description: str) -> SimModel:
    fields = (
        _f("prompt", "string", "Text prompt for image generation", required=True),
        _f(
            "negative_prompt",
            "string",
            "What you do not want to see in the image",
            "",
        ),
        _enum(
            "aspect_ratio",
            _SD_RATIOS,
            "1:1",
            "The aspect ratio of your output image. This value is ignored if you are using an "
            "input image.",
        ),
        _f(
            "cfg",
            "number",
            "The guidance scale tells the model how similar the output should be to the prompt.",
            cfg_default,
            minimum=1,
            maximum=10,
        ),
        _uri(
            "image",
            "Input image for image to image mode. The aspect ratio of your output will match "
            "this image.",
        ),
        _f(
            "prompt_strength",
            "number",
            "Prompt strength (or denoising strength) when using image to image. 1.0 corresponds "
            "to full destruction of information in image.",
            0.85,
            minimum=0,
            maximum=1,
        ),
        _seed(),
        _OUTPUT_FORMAT,
    )
    return SimModel(
        "stability-ai", name, True, "image", description, fields, URI_OUTPUT, _generate_sd35
    )


def _generate_playground(
    model: SimModel, input: dict[str, Any], resolve: FileResolver
) -> Generation:
    init, mask = _inpaint_inputs(input, resolve)
    return _image_files(
        input,
        width=int(input["width"]),
        height=int(input["height"]),
        count=int(input["num_outputs"]),
        single=False,
        fmt="png",
        quality=100,
        init=init,
        strength=float(input["prompt_strength"]),
        mask=mask,
        steps=int(input["num_inference_steps"]),
    )


def _playground() -> SimModel:
    fields = (
        _f(
            "prompt",
            "string",
            "Input prompt",
            "Astronaut in a jungle, cold color palette, muted colors, detailed, 8k",
        ),
        _f(
            "negative_prompt",
            "string",
            "Negative Input prompt",
            "ugly, deformed, noisy, blurry, distorted",
        ),
        _uri("image", "Input image for img2img or inpaint mode"),
        _uri(
            "mask",
            "Input mask for inpaint mode. Black areas will be preserved, white areas will be "
            "inpainted.",
        ),
        _f("width", "integer", "Width of output image", 1024, minimum=256, maximum=1536),
        _f("height", "integer", "Height of output image", 1024, minimum=256, maximum=1536),
        _enum(
            "scheduler",
            _PLAYGROUND_SCHEDULERS,
            "DPMSolver++",
            "Scheduler. DPMSolver++ or DPM++2MKarras is recommended for most cases",
        ),
        _f("num_outputs", "integer", "Number of images to output.", 1, minimum=1, maximum=4),
        _f(
            "guidance_scale",
            "number",
            "Scale for classifier-free guidance",
            3,
            minimum=0.1,
            maximum=20,
        ),
        _f(
            "prompt_strength",
            "number",
            "Prompt strength when using img2img / inpaint. 1.0 corresponds to full destruction "
            "of information in image",
            0.8,
            minimum=0,
            maximum=1,
        ),
        _f(
            "num_inference_steps",
            "integer",
            "Number of denoising steps",
            25,
            minimum=1,
            maximum=60,
        ),
        _f(
            "apply_watermark",
            "boolean",
            "Applies a watermark to enable determining if an image is generated in downstream "
            "applications. If you have other provisions for generating or deploying images "
            "safely, you can use this to disable watermarking.",
            True,
        ),
        _f(
            "disable_safety_checker",
            "boolean",
            "Disable safety checker for generated images. This feature is only available through "
            "the API. See https://replicate.com/docs/how-does-replicate-work#safety",
            False,
        ),
        _seed("Random seed. Leave blank to randomize the seed"),
    )
    return SimModel(
        "playgroundai",
        "playground-v2.5-1024px-aesthetic",
        False,
        "image",
        "Playground v2.5 is the state-of-the-art open-source model in aesthetic quality",
        fields,
        URI_LIST_OUTPUT,
        _generate_playground,
    )


def _generate_ideogram(model: SimModel, input: dict[str, Any], resolve: FileResolver) -> Generation:
    if input["resolution"] != "None":
        w_text, _, h_text = input["resolution"].partition("x")
        width, height = int(w_text), int(h_text)
    else:
        width, height = media.size_for_ratio(input["aspect_ratio"], 1024)
    init, mask = _inpaint_inputs(input, resolve)
    return _image_files(
        input,
        width=width,
        height=height,
        count=1,
        single=True,
        fmt="png",
        quality=100,
        init=init,
        strength=0.5,
        mask=mask,
    )


def _ideogram(name: str, description: str) -> SimModel:
    fields = (
        _f("prompt", "string", "Text prompt for image generation", required=True),
        _enum(
            "aspect_ratio",
            _IDEOGRAM_RATIOS,
            "1:1",
            "Aspect ratio. Ignored if a resolution or inpainting image is given.",
        ),
        _enum(
            "resolution",
            _IDEOGRAM_RESOLUTIONS,
            "None",
            "Resolution. Overrides aspect ratio. Ignored if an inpainting image is given.",
        ),
        _enum(
            "magic_prompt_option",
            ("Auto", "On", "Off"),
            "Auto",
            "Magic Prompt will interpret your prompt and optimize it to maximize variety and "
            "quality of the images generated. You can also use it to write prompts in different "
            "languages.",
        ),
        _enum(
            "style_type",
            ("None", "Auto", "General", "Realistic", "Design"),
            "None",
            "The styles help define the specific aesthetic of the image you want to generate.",
        ),
        _enum(
            "style_preset",
            _IDEOGRAM_STYLE_PRESETS,
            "None",
            "Apply a predefined artistic style to the generated image (V3 models only).",
        ),
        _uri(
            "image",
            "An image file to use for inpainting. You must also use a mask.",
        ),
        _uri(
            "mask",
            "A black and white image. Black pixels are inpainted, white pixels are preserved. "
            "The mask will be resized to match the image size.",
        ),
        FieldSpec(
            "style_reference_images",
            "array",
            "A list of images to use as style references.",
            items_type="string",
            items_format="uri",
        ),
        _seed("Random seed. Set for reproducible generation"),
    )
    return SimModel(
        "ideogram-ai", name, True, "image", description, fields, URI_OUTPUT, _generate_ideogram
    )


def _image_models() -> list[SimModel]:
    return [
        _flux_pro(),
        _flux_schnell(),
        _sd35(
            "stable-diffusion-3.5-large",
            5,
            "A text-to-image model that generates high-resolution images with fine details. It "
            "supports various artistic styles and produces diverse outputs from the same prompt, "
            "thanks to Query-Key Normalization.",
        ),
        _sd35(
            "stable-diffusion-3.5-large-turbo",
            1,
            "A text-to-image model that generates high-resolution images with fine details. It "
            "supports various artistic styles and produces diverse outputs from the same prompt, "
            "with a focus on fewer inference steps",
        ),
        _playground(),
        _ideogram(
            "ideogram-v3-turbo",
            "Turbo is the fastest and cheapest Ideogram v3. v3 creates images with stunning "
            "realism, creative designs, and consistent styles",
        ),
        _ideogram(
            "ideogram-v3-balanced",
            "Balance speed, quality and cost. Ideogram v3 creates images with stunning realism, "
            "creative designs, and consistent styles",
        ),
        _ideogram(
            "ideogram-v3-quality",
            "The highest quality Ideogram v3 model. v3 creates images with stunning realism, "
            "creative designs, and consistent styles",
        ),
        _ideogram(
            "ideogram-v3",
            "Ideogram v3 (simulated alias of ideogram-v3-turbo)",
        ),
    ]


# =============================================================================================
# Video

VIDEO_ASPECTS = {"16:9": (832, 480), "9:16": (480, 832), "1:1": (480, 480)}


def _video_logs(
    seed: int, prompt: str, frames: int, fps: float, width: int, height: int
) -> list[str]:
    return [
        f"Using seed: {seed}",
        f"Prompt: {prompt}",
        f"Generating {frames} frames at {width}x{height}, {fps:g} fps",
        *media.tqdm_lines(frames, 9.5, every=max(1, frames // 10)),
    ]


def _mp4_video(
    input: dict[str, Any],
    resolve: FileResolver,
    *,
    frames: int,
    fps: float,
    image_field: str | None,
    end_field: str | None = None,
    aspect: str | None = None,
) -> Generation:
    prompt = str(input.get("prompt") or "")
    seed = input_seed(input)
    start = _input_image(input, resolve, image_field)
    end = _input_image(input, resolve, end_field)
    if start is not None:
        width, height = media.video_size(start.width, start.height)
    else:
        width, height = media.video_size(*VIDEO_ASPECTS.get(aspect or "16:9", (832, 480)))
    frame_iter = media.animate_frames(prompt, seed, width, height, frames, start=start, end=end)
    data = media.encode_mp4(frame_iter, width, height, fps)
    logs = _video_logs(seed, prompt, frames, fps, width, height)
    return Generation(None, [OutputFile("output.mp4", "video/mp4", data)], True, logs)


def _round_4n1(frames: int) -> int:
    return max(5, round((frames - 1) / 4) * 4 + 1)


def _generate_wan_alpha(
    model: SimModel, input: dict[str, Any], resolve: FileResolver
) -> Generation:
    prompt = str(input.get("prompt") or "")
    seed = input_seed(input)
    w_text, _, h_text = input["resolution"].partition("*")
    width, height = media.video_size(int(w_text), int(h_text))
    fps = int(input["fps"])
    total = _round_4n1(int(input["num_frames"]))
    rgba = list(media.with_alpha(media.animate_frames(prompt, seed, width, height, total), seed))
    if input["remove_first_frame"] and len(rgba) > 1:
        rgba = rgba[1:]
    if input["remove_last_frame"] and len(rgba) > 1:
        rgba = rgba[:-1]
    quality = int(input["output_quality"])
    if input["output_format"] == "webm":
        data = media.encode_webm_alpha(rgba, width, height, fps, quality)
        out = OutputFile("output.webm", "video/webm", data)
    else:
        out = OutputFile(
            "output.webp", "image/webp", media.encode_animated_webp(rgba, fps, quality)
        )
    logs = _video_logs(seed, prompt, len(rgba), fps, width, height)
    return Generation(None, [out], True, logs)


def _wan_alpha() -> SimModel:
    fields = (
        _f("prompt", "string", "Text prompt describing the video to generate", required=True),
        _f("negative_prompt", "string", "Things to avoid in the video", ""),
        _enum(
            "resolution",
            ("832*480", "480*832", "1280*720", "720*1280", "512*512"),
            "832*480",
            "Output resolution (width*height)",
        ),
        _f(
            "num_frames",
            "integer",
            "Number of frames to generate (rounded to 4n+1)",
            81,
            minimum=5,
            maximum=121,
        ),
        _f("sample_steps", "integer", "Number of sampling steps", 4, minimum=1, maximum=50),
        _f(
            "guidance_scale", "number", "Classifier-free guidance scale", 1.0, minimum=0, maximum=20
        ),
        _enum("solver", ("unipc", "dpm++"), "unipc", "Sampling solver"),
        _f("seed", "integer", "Random seed (-1 for random)", -1),
        _enum(
            "output_format",
            ("webm", "webp"),
            "webm",
            "webm: VP9 video with alpha channel; webp: animated WebP with transparency",
        ),
        _f("fps", "integer", "Frames per second of the output", 16, minimum=5, maximum=30),
        _f("output_quality", "integer", "Output quality (1-100)", 85, minimum=1, maximum=100),
        _f("remove_first_frame", "boolean", "Drop the first frame of the output", False),
        _f("remove_last_frame", "boolean", "Drop the last frame of the output", False),
    )
    return SimModel(
        "atonamy",
        "wan-alpha",
        False,
        "video",
        "Wan-Alpha: text-to-video with a transparent (alpha) background",
        fields,
        URI_OUTPUT,
        _generate_wan_alpha,
    )


def _generate_wan21(model: SimModel, input: dict[str, Any], resolve: FileResolver) -> Generation:
    return _mp4_video(input, resolve, frames=81, fps=16, image_field="image")


def _wan21_i2v() -> SimModel:
    fields = (
        _uri("image", "Image for use as the initial frame of the video.", required=True),
        _f("prompt", "string", "Text prompt for video generation", required=True),
        _f("negative_prompt", "string", "Negative prompt to avoid certain elements", ""),
        _enum(
            "aspect_ratio",
            ("16:9", "9:16"),
            "16:9",
            "Aspect ratio of the output video (the input image's shape is kept)",
        ),
        _enum(
            "fast_mode",
            ("Off", "Balanced", "Fast"),
            "Balanced",
            "Speed up generation with different levels of acceleration. Faster modes may degrade "
            "quality somewhat.",
        ),
        _f("sample_steps", "integer", "Number of generation steps.", 30, minimum=1, maximum=40),
        _f(
            "sample_guide_scale",
            "number",
            "Higher guide scale makes prompt adherence better, but can reduce variation",
            5,
            minimum=1,
            maximum=10,
        ),
        _seed("Random seed. Leave blank for random"),
    )
    return SimModel(
        "wavespeedai",
        "wan-2.1-i2v-480p",
        True,
        "video",
        "Accelerated inference for Wan 2.1 14B image to video, a comprehensive and open suite of "
        "video foundation models that pushes the boundaries of video generation.",
        fields,
        URI_OUTPUT,
        _generate_wan21,
    )


def _generate_wan22(model: SimModel, input: dict[str, Any], resolve: FileResolver) -> Generation:
    i2v = model.field_spec("image") is not None
    return _mp4_video(
        input,
        resolve,
        frames=int(input["num_frames"]),
        fps=int(input["frames_per_second"]),
        image_field="image" if i2v else None,
        end_field="last_image" if i2v else None,
        aspect=input.get("aspect_ratio"),
    )


def _wan22(i2v: bool) -> SimModel:
    common = (
        _f(
            "num_frames",
            "integer",
            "Number of video frames. 81 frames give the best results",
            81,
            minimum=81,
            maximum=121,
        ),
        _enum(
            "resolution",
            ("480p", "720p"),
            "480p",
            "Resolution of video. 16:9 corresponds to 832x480px, and 9:16 is 480x832px",
        ),
        _f(
            "frames_per_second",
            "integer",
            "Frames per second. Note that the pricing of this model is based on the video "
            "duration at 16 fps",
            16,
            minimum=5,
            maximum=30,
        ),
        _f("go_fast", "boolean", "Go fast", True),
        _f(
            "interpolate_output",
            "boolean",
            "Interpolate the generated video to 30 FPS using ffmpeg",
            False,
        ),
        _seed("Random seed. Leave blank for random"),
    )
    if i2v:
        head: tuple[FieldSpec, ...] = (
            _uri("image", "Input image to generate video from.", required=True),
            _f("prompt", "string", "Prompt for video generation", required=True),
            _uri("last_image", "Optional last image to end the video with."),
        )
        name, desc = (
            "wan-2.2-i2v-fast",
            "A very fast and cheap PrunaAI optimized version of Wan 2.2 A14B image-to-video",
        )
    else:
        head = (
            _f("prompt", "string", "Prompt for video generation", required=True),
            _enum("aspect_ratio", ("16:9", "9:16"), "16:9", "Aspect ratio of video."),
        )
        name, desc = (
            "wan-2.2-t2v-fast",
            "A very fast and cheap PrunaAI optimized version of Wan 2.2 A14B text-to-video",
        )
    return SimModel(
        "wan-video", name, True, "video", desc, (*head, *common), URI_OUTPUT, _generate_wan22
    )


def _generate_hailuo(model: SimModel, input: dict[str, Any], resolve: FileResolver) -> Generation:
    fps = 24
    return _mp4_video(
        input,
        resolve,
        frames=int(input["duration"]) * fps,
        fps=fps,
        image_field="first_frame_image",
    )


def _hailuo() -> SimModel:
    fields = (
        _f("prompt", "string", "Text prompt for generation", required=True),
        _uri(
            "first_frame_image",
            "First frame image for video generation. The output video will have the same aspect "
            "ratio as this image.",
            required=True,
        ),
        _enum(
            "duration",
            (6, 10),
            6,
            "Duration of the video in seconds. 10 seconds is only available for 768p resolution.",
        ),
        _enum("resolution", ("768p", "1080p"), "768p", "Pick between 768p or 1080p resolution."),
        _f("prompt_optimizer", "boolean", "Use prompt optimizer", True),
    )
    return SimModel(
        "minimax",
        "hailuo-2.3-fast",
        True,
        "video",
        "A lower-latency image-to-video version of Hailuo 2.3 that preserves core motion quality",
        fields,
        URI_OUTPUT,
        _generate_hailuo,
    )


def _generate_kling(model: SimModel, input: dict[str, Any], resolve: FileResolver) -> Generation:
    fps = 24
    return _mp4_video(
        input,
        resolve,
        frames=int(input["duration"]) * fps,
        fps=fps,
        image_field="start_image",
        end_field="end_image",
    )


def _kling() -> SimModel:
    fields = (
        _f("prompt", "string", "Text prompt for video generation", required=True),
        _f("negative_prompt", "string", "Things you do not want to see in the video", ""),
        _uri(
            "start_image",
            "First frame of the video. You must use a start image with kling-v2.1.",
            required=True,
        ),
        _uri(
            "end_image",
            "Last frame of the video (only with mode 'pro'; a start_image is required).",
        ),
        _enum(
            "mode",
            ("standard", "pro"),
            "standard",
            "Standard has a resolution of 720p, pro is 1080p. Both are 24fps.",
        ),
        _enum("duration", (5, 10), 5, "Duration of the video in seconds"),
    )
    return SimModel(
        "kwaivgi",
        "kling-v2.1",
        True,
        "video",
        "Use Kling v2.1 to generate 5s and 10s videos in 720p and 1080p resolution from a "
        "starting image (image-to-video)",
        fields,
        URI_OUTPUT,
        _generate_kling,
    )


def _video_models() -> list[SimModel]:
    return [_wan_alpha(), _wan21_i2v(), _wan22(True), _wan22(False), _hailuo(), _kling()]


# =============================================================================================
# Avatar (talking head)


def _resolve_audio(
    resolve: FileResolver, url: str, what: str, rate: int = 44100
) -> media.AudioClip:
    return media.decode_audio(_fetch(resolve, url, what), what, rate=rate)


def _avatar_generation(sources: list[Any], audio: media.AudioClip, fps: float) -> Generation:
    data = media.render_talking_head(sources, audio, fps)
    frames = max(1, round(audio.duration * fps))
    logs = [
        f"Audio: {audio.duration:.2f}s at {audio.sample_rate} Hz",
        f"Rendering {frames} frames at {fps:g} fps",
        *media.tqdm_lines(frames, 30.0, every=max(1, frames // 10)),
    ]
    return Generation(None, [OutputFile("output.mp4", "video/mp4", data)], True, logs)


def _generate_musetalk(model: SimModel, input: dict[str, Any], resolve: FileResolver) -> Generation:
    audio = _resolve_audio(resolve, input["audio_input"], "audio_input")
    try:
        video_bytes = resolve(input["video_input"])
    except ValueError as exc:
        raise ValueError(f"video_input: cannot read it ({exc})") from exc
    fps = int(input["fps"])
    if fps <= 0:
        raise ValueError("fps must be positive")
    sources, _ = media.decode_video_frames(video_bytes, "video_input")
    return _avatar_generation(sources, audio, fps)


def _musetalk(owner: str) -> SimModel:
    fields = (
        _uri("video_input", "Input video (the face to lip-sync)", required=True),
        _uri("audio_input", "Input audio file", required=True),
        _f(
            "bbox_shift",
            "integer",
            "BBox_shift value, px: moves the mouth region up (negative) or down (positive)",
            0,
        ),
        _f("fps", "integer", "Frames per second of the output video", 25),
    )
    return SimModel(
        owner,
        "musetalk",
        False,
        "avatar",
        "MuseTalk: real-time high quality lip synchronization with latent space inpainting",
        fields,
        URI_OUTPUT,
        _generate_musetalk,
    )


def _generate_sadtalker(
    model: SimModel, input: dict[str, Any], resolve: FileResolver
) -> Generation:
    portrait = _resolve_image(resolve, input["source_image"], "source_image")
    audio = _resolve_audio(resolve, input["driven_audio"], "driven_audio")
    return _avatar_generation([portrait], audio, 25)


def _sadtalker(owner: str) -> SimModel:
    fields = (
        _uri(
            "source_image",
            "Upload the source image, it can be video.mp4 or picture.png",
            required=True,
        ),
        _uri("driven_audio", "Upload the driven audio, accepts .wav and .mp4 file", required=True),
        _enum("enhancer", ("gfpgan", "RestoreFormer"), "gfpgan", "Choose a face enhancer"),
        _enum(
            "preprocess",
            ("crop", "resize", "full", "extcrop", "extfull"),
            "crop",
            "how to preprocess the images",
        ),
        _f(
            "still",
            "boolean",
            "Can crop back to the original videos for the full body aniamtion",
            True,
        ),
    )
    return SimModel(
        owner,
        "sadtalker",
        False,
        "avatar",
        "Stylized Audio-Driven Single Image Talking Face Animation",
        fields,
        URI_OUTPUT,
        _generate_sadtalker,
    )


def _generate_talking_avatar(
    model: SimModel, input: dict[str, Any], resolve: FileResolver
) -> Generation:
    portrait = _resolve_image(resolve, input["image"], "image")
    audio = _resolve_audio(resolve, input["audio"], "audio")
    limit = input.get("duration")
    if limit:
        keep = min(audio.samples.shape[1], round(float(limit) * audio.sample_rate))
        audio = media.AudioClip(audio.samples[:, :keep], audio.sample_rate)
    short = 720 if input["resolution"] == "720p" else 480
    scale = min(1.0, short / min(portrait.size))
    portrait = portrait.resize((round(portrait.width * scale), round(portrait.height * scale)))
    return _avatar_generation([portrait], audio, 25)


def _talking_avatar() -> SimModel:
    fields = (
        _uri("image", "Portrait image of the speaker", required=True),
        _uri("audio", "Speech audio to lip-sync", required=True),
        _f(
            "duration",
            "number",
            "Maximum video length in seconds (default: the whole audio)",
            minimum=0.1,
            maximum=120,
        ),
        _f("captions", "boolean", "Burn captions into the video", False),
        _enum("resolution", ("480p", "720p"), "480p", "Output resolution"),
    )
    return SimModel(
        "lucataco",
        "talking-avatar",
        False,
        "avatar",
        "Turn a portrait and an audio clip into a talking-head video",
        fields,
        URI_OUTPUT,
        _generate_talking_avatar,
    )


def _avatar_models() -> list[SimModel]:
    return [
        _musetalk("lucataco"),
        _musetalk("douwantech"),
        _sadtalker("cjwbw"),
        _sadtalker("lucataco"),
        _talking_avatar(),
    ]


# =============================================================================================
# Music

MUSICGEN_SAMPLE_RATE = 32000


def _generate_musicgen(model: SimModel, input: dict[str, Any], resolve: FileResolver) -> Generation:
    duration = int(input["duration"])
    if duration <= 0 or duration > 300:
        raise ValueError(f"duration must be between 1 and 300 seconds, got {duration}")
    prompt = str(input.get("prompt") or "")
    seed = input_seed(input)
    melody = None
    if input.get("input_audio"):
        melody = _resolve_audio(
            resolve, input["input_audio"], "input_audio", rate=MUSICGEN_SAMPLE_RATE
        )
        if input["continuation"]:
            start = int(input["continuation_start"] * MUSICGEN_SAMPLE_RATE)
            end_s = input.get("continuation_end")
            end = melody.samples.shape[1]
            if end_s is not None and end_s > 0:
                end = int(end_s * MUSICGEN_SAMPLE_RATE)
            if end <= start:
                raise ValueError("continuation_end must be after continuation_start")
            melody = media.AudioClip(melody.samples[:, start:end], MUSICGEN_SAMPLE_RATE)
    channels = 2 if str(input["model_version"]).startswith("stereo") else 1
    clip = media.synth_music(
        prompt,
        duration,
        sample_rate=MUSICGEN_SAMPLE_RATE,
        channels=channels,
        seed=seed,
        melody=melody,
        continuation=bool(input["continuation"]),
        normalization=str(input["normalization_strategy"]),
    )
    data, content_type, ext = media.encode_audio(clip, input["output_format"])
    steps = duration * 50  # MusicGen generates 50 audio tokens per second
    logs = [
        f"Using seed: {seed}",
        f"Tempo: {media.bpm_from_prompt(prompt):g} BPM",
        *media.tqdm_lines(steps, 87.3, every=max(1, steps // 10)),
    ]
    return Generation(None, [OutputFile(f"output.{ext}", content_type, data)], True, logs)


def _musicgen() -> SimModel:
    fields = (
        _f("prompt", "string", "A description of the music you want to generate."),
        _uri(
            "input_audio",
            "An audio file that will influence the generated music. If `continuation` is `True`, "
            "the generated music will be a continuation of the audio file. Otherwise, the "
            "generated music will mimic the audio file's melody.",
        ),
        _f("duration", "integer", "Duration of the generated audio in seconds.", 8),
        _f(
            "continuation",
            "boolean",
            "If `True`, generated music will continue from `input_audio`. Otherwise, generated "
            "music will mimic `input_audio`'s melody.",
            False,
        ),
        _f(
            "continuation_start",
            "integer",
            "Start time of the audio file to use for continuation.",
            0,
            minimum=0,
        ),
        _f(
            "continuation_end",
            "integer",
            "End time of the audio file to use for continuation. If -1 or None, will default to "
            "the end of the audio clip.",
        ),
        _enum(
            "model_version",
            ("stereo-melody-large", "stereo-large", "melody-large", "large"),
            "stereo-melody-large",
            "Model to use for generation",
        ),
        _enum("output_format", ("wav", "mp3"), "wav", "Output format for generated audio."),
        _enum(
            "normalization_strategy",
            ("loudness", "clip", "peak", "rms"),
            "loudness",
            "Strategy for normalizing audio.",
        ),
        _f(
            "multi_band_diffusion",
            "boolean",
            "If `True`, the EnCodec tokens will be decoded with MultiBand Diffusion. Only works "
            "with non-stereo models.",
            False,
        ),
        _f("top_k", "integer", "Reduces sampling to the k most likely tokens.", 250),
        _f(
            "top_p",
            "number",
            "Reduces sampling to tokens with cumulative probability of p. When set to  `0` "
            "(default), top_k sampling is used.",
            0,
        ),
        _f(
            "temperature",
            "number",
            "Controls the 'conservativeness' of the sampling process. Higher temperature means "
            "more diversity.",
            1,
        ),
        _f(
            "classifier_free_guidance",
            "integer",
            "Increases the influence of inputs on the output. Higher values produce lower-"
            "varience outputs that adhere more closely to inputs.",
            3,
        ),
        _seed("Seed for random number generator. If None or -1, a random seed will be used."),
    )
    return SimModel(
        "meta",
        "musicgen",
        False,
        "music",
        "Generate music from a prompt or melody",
        fields,
        URI_OUTPUT,
        _generate_musicgen,
    )


# =============================================================================================
# Registry


def _build_catalog() -> dict[str, SimModel]:
    models = [
        *_chat_models(),
        *_image_models(),
        *_video_models(),
        *_avatar_models(),
        _musicgen(),
    ]
    return {m.slug: m for m in models}


_CATALOG = _build_catalog()
_BY_VERSION: dict[str, SimModel] = {
    version: model
    for model in _CATALOG.values()
    for version in (model.version_id, model.internal_version_id)
}


def get_model(owner: str, name: str) -> SimModel | None:
    return _CATALOG.get(f"{owner}/{name}")


def find_version(version_id: str) -> tuple[SimModel, str] | None:
    """(model, version id as given) for a model's 64-hex version id or its internal `dp-` id."""
    key = version_id.strip().lower()
    model = _BY_VERSION.get(key)
    return (model, key) if model else None


def all_models() -> list[SimModel]:
    return list(_CATALOG.values())
