"""What a run costs on Replicate: each catalogued model's price with its evidence (`prices.json`).

Replicate bills an official model by what it makes — per image, per megapixel, per second of
output video or audio, per million input and output tokens, per run, sometimes by a chosen
resolution — and any other model by the time it runs on its hardware (per second, per GPU type).
Each price keeps its evidence: where it was read, the day it was read and the evidence's own date.
A price that could not be confirmed is an `UnknownRate` saying why, never a made-up number. A
model the file does not name has an unknown price too. No Gradio; estimates are in `costs`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

_REF = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Media = Literal["video", "audio"]


@dataclass(frozen=True)
class PriceEvidence:
    source: str  # a URL or `owner/repo@commit:path`
    read: str  # ISO date it was read here
    dated: str | None  # the evidence's own ISO date; None when the stored copy carries none
    note: str


@dataclass(frozen=True)
class PerImage:
    usd: float  # per output image


@dataclass(frozen=True)
class PerMegapixel:
    usd: float  # per megapixel of output images


@dataclass(frozen=True)
class PerOutputSecond:
    usd: float  # per second of output
    media: Media


@dataclass(frozen=True)
class PerTokens:
    input_usd_per_million: float
    output_usd_per_million: float


@dataclass(frozen=True)
class PerRun:
    usd: float  # one prediction, whatever it makes


@dataclass(frozen=True)
class ByHardware:
    """Billed by predict time × the hardware's price per second (community models)."""

    sku: str | None  # e.g. "gpu-l40s"; None: the model's hardware is not known
    why: str = ""  # what is missing, when `sku` is None


@dataclass(frozen=True)
class ByInput:
    """A price chosen by one input's value (e.g. `resolution`: 720p, 1080p)."""

    field: str
    tiers: Mapping[str, Rate]
    default: str | None = None  # the tier when the input leaves the field out


@dataclass(frozen=True)
class UnknownRate:
    why: str


Rate = (
    PerImage
    | PerMegapixel
    | PerOutputSecond
    | PerTokens
    | PerRun
    | ByHardware
    | ByInput
    | UnknownRate
)


@dataclass(frozen=True)
class Hardware:
    sku: str
    name: str
    usd_per_second: float


@dataclass(frozen=True)
class ModelPrice:
    model: str  # owner/name
    rate: Rate
    evidence: tuple[PriceEvidence, ...] = ()

    @property
    def known(self) -> bool:
        return not isinstance(self.rate, UnknownRate) and not (
            isinstance(self.rate, ByHardware) and self.rate.sku is None
        )


@dataclass(frozen=True)
class PriceTable:
    models: Mapping[str, ModelPrice]
    hardware: Mapping[str, Hardware]
    hardware_evidence: tuple[PriceEvidence, ...] = field(default=())

    def price_of(self, ref: str, *, official: bool | None = None) -> ModelPrice:
        """The price of `owner/name` (a `:version` suffix is ignored). A model the table does
        not name: billed by hardware it does not know (a community model, `official=False`),
        else simply unknown."""
        model = ref.strip().split(":", 1)[0]
        found = self.models.get(model)
        if found is not None:
            return found
        if official is False:
            why = "Community model, billed by hardware time; its hardware is not catalogued."
            return ModelPrice(model, ByHardware(None, why))
        return ModelPrice(model, UnknownRate("No confirmed price for this model."))


def _positive(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def _evidence(items: Any, where: str) -> tuple[PriceEvidence, ...]:
    found = []
    for item in items or ():
        read, dated = str(item["read"]), item.get("dated")
        if not _DATE.fullmatch(read) or (dated is not None and not _DATE.fullmatch(str(dated))):
            raise ValueError(f"{where}: evidence dates must be YYYY-MM-DD (dated may be null)")
        found.append(
            PriceEvidence(
                str(item["source"]),
                read,
                None if dated is None else str(dated),
                item.get("note", ""),
            )
        )
    return tuple(found)


def parse_rate(data: Mapping[str, Any], where: str) -> Rate:
    """One `price` object of prices.json as a typed rate; a malformed one fails naming `where`."""
    per = data.get("per")
    if per == "image":
        return PerImage(_positive(data.get("usd"), f"{where}: usd"))
    if per == "megapixel":
        return PerMegapixel(_positive(data.get("usd"), f"{where}: usd"))
    if per == "output_second":
        media = data.get("media")
        if media not in ("video", "audio"):
            raise ValueError(f"{where}: media must be video or audio")
        return PerOutputSecond(_positive(data.get("usd"), f"{where}: usd"), media)
    if per == "tokens":
        return PerTokens(
            _positive(data.get("input_usd_per_million"), f"{where}: input_usd_per_million"),
            _positive(data.get("output_usd_per_million"), f"{where}: output_usd_per_million"),
        )
    if per == "run":
        return PerRun(_positive(data.get("usd"), f"{where}: usd"))
    if per == "hardware":
        sku = data.get("sku")
        if sku is None and not data.get("why"):
            raise ValueError(f"{where}: a hardware price without a sku must say why")
        return ByHardware(None if sku is None else str(sku), str(data.get("why") or ""))
    if per == "by_input":
        tiers = data.get("tiers")
        if not isinstance(tiers, dict) or not tiers:
            raise ValueError(f"{where}: by_input needs tiers")
        default = data.get("default")
        return ByInput(
            str(data.get("field") or ""),
            {str(k): parse_rate(v, f"{where} tier {k}") for k, v in tiers.items()},
            None if default is None else str(default),
        )
    if per == "unknown":
        why = str(data.get("why") or "")
        if not why:
            raise ValueError(f"{where}: an unknown price must say why")
        return UnknownRate(why)
    raise ValueError(
        f"{where}: per must be image, megapixel, output_second, tokens, run, hardware, by_input or unknown"
    )


def parse_prices(data: Mapping[str, Any]) -> PriceTable:
    hardware_block = data.get("hardware") or {}
    hardware = {
        sku: Hardware(
            sku, str(item["name"]), _positive(item["usd_per_second"], f"{sku}: usd_per_second")
        )
        for sku, item in (hardware_block.get("skus") or {}).items()
    }
    models: dict[str, ModelPrice] = {}
    for ref, item in (data.get("models") or {}).items():
        if not _REF.fullmatch(ref):
            raise ValueError(f"prices.json: bad model reference {ref!r}")
        rate = parse_rate(item.get("price") or {}, ref)
        if isinstance(rate, ByHardware) and rate.sku is not None and rate.sku not in hardware:
            raise ValueError(f"{ref}: hardware {rate.sku!r} is not in the hardware table")
        evidence = _evidence(item.get("evidence"), ref)
        if not isinstance(rate, UnknownRate | ByHardware) and not evidence:
            raise ValueError(f"{ref}: a price needs at least one evidence entry")
        models[ref] = ModelPrice(ref, rate, evidence)
    return PriceTable(models, hardware, _evidence(hardware_block.get("evidence"), "hardware"))


@cache
def load_prices() -> PriceTable:
    """The catalogue's price table (read once per process)."""
    text = resources.files(__package__).joinpath("prices.json").read_text(encoding="utf-8")
    return parse_prices(json.loads(text))


def price_table() -> PriceTable:
    """The table in use: the catalogue's (tests may install another)."""
    return load_prices()


def price_of(ref: str, *, official: bool | None = None) -> ModelPrice:
    """The price of a model (see `PriceTable.price_of`)."""
    return price_table().price_of(ref, official=official)
