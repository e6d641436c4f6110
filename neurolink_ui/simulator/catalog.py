"""The simulator's model catalogue: each model's Cog-style schema, input validation and generation.

Schemas follow /work/shared/reference/MODELS.md field for field and are emitted the way Cog emits
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


def _invalid(kind: str, field_name: str, description: str) -> dict[str, str]:
    return {"type": kind, "field": field_name, "description": description}


def _validate_value(spec: FieldSpec, value: Any) -> list[dict[str, str]]:
    name = spec.name
    if value is None:
        if spec.nullable:
            return []
        return [_invalid("type", name, f"Invalid type. Expected: {spec.type}, given: null")]
    if not _type_matches(spec.type, value):
        given = _json_type_name(value)
        return [_invalid("type", name, f"Invalid type. Expected: {spec.type}, given: {given}")]
    problems: list[dict[str, str]] = []
    if spec.type == "array" and spec.items_type:
        for i, item in enumerate(value):
            if not _type_matches(spec.items_type, item):
                problems.append(
                    _invalid(
                        "type",
                        f"{name}.{i}",
                        f"Invalid type. Expected: {spec.items_type}, "
                        f"given: {_json_type_name(item)}",
                    )
                )
    if spec.choices is not None and value not in spec.choices:
        listed = ", ".join(json.dumps(c) for c in spec.choices)
        problems.append(_invalid("enum", name, f"{name} must be one of the following: {listed}"))
    if spec.minimum is not None and value < spec.minimum:
        problems.append(
            _invalid(
                "number_gte",
                name,
                f"{name} must be greater than or equal to {_fmt_number(spec.minimum)}",
            )
        )
    if spec.maximum is not None and value > spec.maximum:
        problems.append(
            _invalid(
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
                _invalid("type", "input", f"Invalid type. Expected: object, given: {given}")
            ]
        problems: list[dict[str, str]] = []
        known = {f.name for f in self.fields}
        for key in input:
            if key not in known:
                problems.append(
                    _invalid(
                        "additional_property_not_allowed",
                        key,
                        f"Additional property {key} is not allowed",
                    )
                )
        resolved: dict[str, Any] = {}
        for spec in self.fields:
            if spec.name not in input:
                if spec.required:
                    problems.append(_invalid("required", spec.name, f"{spec.name} is required"))
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
    "the this to was what when where which who why will with write you your about give".split()
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


def _llama31_fields() -> tuple[FieldSpec, ...]:
    return (
        _f("prompt", "string", _DESC_PROMPT, ""),
        _f("system_prompt", "string", _DESC_SYSTEM, "You are a helpful assistant."),
        _f("min_tokens", "integer", _DESC_MIN_TOKENS, 0),
        _f("max_tokens", "integer", _DESC_MAX_TOKENS, 512),
        _f("temperature", "number", _DESC_TEMPERATURE, 0.6),
        _f("top_p", "number", _DESC_TOP_P, 0.9),
        _f("top_k", "integer", _DESC_TOP_K, 50),
        _f("presence_penalty", "number", "Presence penalty", 0),
        _f("frequency_penalty", "number", "Frequency penalty", 0),
        _f("stop_sequences", "string", _DESC_STOPS),
        _f("prompt_template", "string", _DESC_TEMPLATE, ""),
    )


def _llama3_fields() -> tuple[FieldSpec, ...]:
    return (
        _f("prompt", "string", _DESC_PROMPT, required=True),
        _f("min_tokens", "integer", _DESC_MIN_TOKENS, 0),
        _f("max_tokens", "integer", _DESC_MAX_TOKENS, 512),
        _f("temperature", "number", _DESC_TEMPERATURE, 0.6),
        _f("top_p", "number", _DESC_TOP_P, 0.9),
        _f("top_k", "integer", _DESC_TOP_K, 50),
        _f("presence_penalty", "number", "Presence penalty", 1.15),
        _f("frequency_penalty", "number", "Frequency penalty", 0.2),
        _f("stop_sequences", "string", _DESC_STOPS),
        _f("prompt_template", "string", _DESC_TEMPLATE, "{prompt}"),
    )


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


def _resolve_image(resolve: FileResolver, url: str, what: str) -> Any:
    try:
        data = resolve(url)
    except ValueError as exc:
        raise ValueError(f"{what}: cannot read {_shorten(url, 80)!r} ({exc})") from exc
    return media.decode_image(data, what)


def _image_files(
    input: dict[str, Any],
    *,
    width: int,
    height: int,
    count: int,
    single: bool,
    fmt: str,
    quality: int,
    resolve: FileResolver,
    image_field: str | None,
    strength: float,
    mask_field: str | None = None,
    steps: int = 28,
) -> Generation:
    prompt = str(input.get("prompt") or "")
    seed = input_seed(input)
    init = mask = None
    if image_field and input.get(image_field):
        init = _resolve_image(resolve, input[image_field], image_field)
    if mask_field and input.get(mask_field) and init is not None:
        mask = _resolve_image(resolve, input[mask_field], mask_field)
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
        resolve=resolve,
        image_field=None,
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
        _enum("output_format", ("webp", "jpg", "png"), "webp", _DESC_OUTPUT_FORMAT),
        _f("output_quality", "integer", _DESC_OUTPUT_QUALITY, 80, minimum=0, maximum=100),
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


# =============================================================================================
# Registry


def _build_catalog() -> dict[str, SimModel]:
    models = [*_chat_models(), _flux_schnell()]
    return {m.slug: m for m in models}


_CATALOG = _build_catalog()
_BY_VERSION: dict[str, SimModel] = {}
for _model in _CATALOG.values():
    _BY_VERSION[_model.version_id] = _model
    _BY_VERSION[_model.internal_version_id] = _model


def get_model(owner: str, name: str) -> SimModel | None:
    return _CATALOG.get(f"{owner}/{name}")


def find_version(version_id: str) -> tuple[SimModel, str] | None:
    """(model, version id as given) for a model's 64-hex version id or its internal `dp-` id."""
    model = _BY_VERSION.get(version_id.strip().lower()) if version_id else None
    return (model, version_id.strip().lower()) if model else None


def all_models() -> list[SimModel]:
    return list(_CATALOG.values())
