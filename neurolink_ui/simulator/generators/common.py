"""What every generator shares: the output contract, input seeds, reading input files by field name.

Output contract for the server (`Generation`):
- chat (streaming) models: `tokens` is the token list, `single` False -> output is the list.
- plain text models (Output `{"type": "string"}`): `tokens` is `[text]`, `single` True -> output is
  the string itself.
- file models: `files`; `single` True -> output is one URI, False -> a list of URIs.
- JSON models (an object or array Output): `value` is the output itself.

Generators are generic per panel: they read the input by the field names real schemas use, never
by model name, so a new catalogue entry usually needs no code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image

from .. import media
from ..validation import SchemaField

# Server-provided: resolves a data: URL or one of the simulator's own file/delivery URLs to bytes;
# raises ValueError for anything else.
FileResolver = Callable[[str], bytes]


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
    value: Any = None  # JSON models: the output value (tokens None, files empty)


class ModelView(Protocol):
    """The part of a simulated model a generator reads."""

    @property
    def slug(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def output(self) -> dict[str, Any]: ...

    @property
    def schema(self) -> dict[str, Any]: ...  # the whole openapi_schema ($refs point into it)

    @property
    def fields(self) -> tuple[SchemaField, ...]: ...

    def field_spec(self, name: str) -> SchemaField | None: ...


Generator = Callable[[ModelView, dict[str, Any], FileResolver], Generation]


def single_output(model: ModelView) -> bool:
    """One URI (or string) out, not a list: what the model's Output schema says."""
    return model.output.get("type") != "array"


def input_seed(input: dict[str, Any], *salt: object) -> int:
    """The seed a generation uses: the given one, else one derived from the input (reproducible)."""
    seed = input.get("seed")
    if isinstance(seed, int) and seed >= 0:
        return seed
    return media.stable_seed(json.dumps(input, sort_keys=True, default=str), *salt) % 100000


def shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def first_present(input: dict[str, Any], names: Sequence[str]) -> str | None:
    """The first of `names` the input gives a value for."""
    return next((n for n in names if input.get(n) not in (None, "", [])), None)


def fetch(resolve: FileResolver, url: str, what: str) -> bytes:
    """The bytes behind an input URL; an unreadable one is a ValueError naming the field."""
    try:
        return resolve(url)
    except ValueError as exc:
        raise ValueError(f"{what}: cannot read {shorten(url, 80)!r} ({exc})") from exc


def resolve_image(resolve: FileResolver, url: str, what: str) -> Image.Image:
    return media.decode_image(fetch(resolve, url, what), what)


def resolve_audio(resolve: FileResolver, url: str, what: str, rate: int = 44100) -> media.AudioClip:
    return media.decode_audio(fetch(resolve, url, what), what, rate=rate)


def input_image(
    input: dict[str, Any], resolve: FileResolver, names: Sequence[str]
) -> Image.Image | None:
    """The first image among fields `names`: a single URI, or the first item of an array field."""
    name = first_present(input, names)
    if name is None:
        return None
    value = input[name]
    if isinstance(value, list):
        return resolve_image(resolve, str(value[0]), f"{name}.0")
    return resolve_image(resolve, str(value), name)
