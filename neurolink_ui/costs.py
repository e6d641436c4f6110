"""What a run costs: an estimate from the model's price and the run's own usage. No Gradio.

`estimate_cost` is pure (a rate and a `RunUsage` in, a `CostEstimate` out): images made ×
the price per image, seconds of output video or audio × the price per second, input and output
tokens × the price per million, predict time × the hardware's price per second, and so on. The
same function gives a run's worst case (`quota.budget`) from the largest usage its input allows.
`usage_of` reads a finished prediction's usage: its `metrics` (`image_count`,
`input_token_count`, `output_token_count`, `predict_time`), else what its output files hold.
An unknown price or usage gives an unknown estimate that says why — never a guessed number.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import prices
from .catalog.prices import (
    ByHardware,
    ByInput,
    Hardware,
    PerImage,
    PerMegapixel,
    PerOutputSecond,
    PerRun,
    PerTokens,
    Rate,
    UnknownRate,
)
from .replicate.types import Prediction

log = logging.getLogger("neurolink_ui.costs")

MICROS = 1_000_000  # stores and budgets count micro-dollars (whole numbers: exact sums)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".avif"})
MEDIA_SUFFIXES = frozenset(
    {".mp4", ".webm", ".mov", ".mkv", ".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac", ".opus"}
)


@dataclass(frozen=True)
class RunUsage:
    """What one run used, as far as it is known (None: not known)."""

    images: int | None = None  # images made
    megapixels: float | None = None  # megapixels of all images made
    output_seconds: float | None = None  # seconds of video or audio made
    input_tokens: int | None = None
    output_tokens: int | None = None
    predict_time: float | None = None  # seconds the prediction ran (what hardware bills)
    input: Mapping[str, Any] = field(default_factory=dict)  # what was sent (a tier reads it)


@dataclass(frozen=True)
class CostEstimate:
    """A cost in US dollars with how it was reached; `usd` None: unknown (`basis` says why)."""

    usd: float | None
    basis: str

    @property
    def known(self) -> bool:
        return self.usd is not None

    @property
    def micros(self) -> int | None:
        """Micro-dollars, rounded up (a budget never under-counts)."""
        return None if self.usd is None else math.ceil(round(self.usd * MICROS, 6))


def unknown(why: str) -> CostEstimate:
    return CostEstimate(None, why)


def format_usd(usd: float) -> str:
    """Dollars as a person reads them: $1.25, $0.04, $0.003, $0.000053."""
    if usd <= 0:
        return "$0"
    if usd < 0.000001:
        return "<$0.000001"
    decimals = min(6, max(2, 1 - math.floor(math.log10(usd))))
    text = f"{usd:,.{decimals}f}"
    if "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0").ljust(2, "0")
        text = f"{whole}.{frac}"
    return f"${text}"


def format_rate(usd: float) -> str:
    """A price as published, unrounded: $0.000975, $0.003, $2.75."""
    text = f"{usd:,.8f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def _plural(count: float, one: str, many: str | None = None) -> str:
    word = one if count == 1 else (many or one + "s")
    shown = f"{count:g}" if isinstance(count, float) else f"{count:,}"
    return f"{shown} {word}"


def estimate_cost(
    rate: Rate, usage: RunUsage, hardware: Mapping[str, Hardware] | None = None
) -> CostEstimate:
    """The cost of a run that used `usage`, at `rate` (hardware-time rates look their SKU up in
    `hardware`). Pure."""
    if isinstance(rate, UnknownRate):
        return unknown(rate.why)
    if isinstance(rate, PerImage):
        if usage.images is None:
            return unknown("the number of images made is not known")
        return CostEstimate(
            usage.images * rate.usd, f"{_plural(usage.images, 'image')} × {format_rate(rate.usd)}"
        )
    if isinstance(rate, PerMegapixel):
        if usage.megapixels is None:
            return unknown("the megapixels made are not known")
        mp = round(usage.megapixels, 2)
        return CostEstimate(usage.megapixels * rate.usd, f"{mp:g} MP × {format_rate(rate.usd)}/MP")
    if isinstance(rate, PerOutputSecond):
        if usage.output_seconds is None:
            return unknown(f"the length of the {rate.media} made is not known")
        seconds = round(usage.output_seconds, 1)
        return CostEstimate(
            usage.output_seconds * rate.usd,
            f"{seconds:g} s of {rate.media} × {format_rate(rate.usd)}/s",
        )
    if isinstance(rate, PerTokens):
        if usage.input_tokens is None or usage.output_tokens is None:
            return unknown("the token counts are not in the prediction's metrics")
        usd = (
            usage.input_tokens * rate.input_usd_per_million
            + usage.output_tokens * rate.output_usd_per_million
        ) / MICROS
        return CostEstimate(
            usd,
            f"{usage.input_tokens:,} tokens in × {format_rate(rate.input_usd_per_million)}/M + "
            f"{usage.output_tokens:,} out × {format_rate(rate.output_usd_per_million)}/M",
        )
    if isinstance(rate, PerRun):
        return CostEstimate(rate.usd, f"{format_rate(rate.usd)} per run")
    if isinstance(rate, ByHardware):
        if rate.sku is None:
            return unknown(rate.why or "the model's hardware is not known")
        unit = (hardware or {}).get(rate.sku)
        if unit is None:
            return unknown(f"no price for hardware {rate.sku}")
        if usage.predict_time is None:
            return unknown("the prediction's predict time is not known")
        return CostEstimate(
            usage.predict_time * unit.usd_per_second,
            f"{usage.predict_time:.1f} s on {unit.name} × {format_rate(unit.usd_per_second)}/s",
        )
    if isinstance(rate, ByInput):
        value = usage.input.get(rate.field)
        key = rate.default if value is None else str(value)
        tier = rate.tiers.get(key) if key is not None else None
        if tier is None:
            return unknown(f"no price for {rate.field} {key!r}")
        found = estimate_cost(tier, usage, hardware)
        return CostEstimate(found.usd, f"{rate.field} {key}: {found.basis}")
    raise TypeError(f"not a rate: {rate!r}")  # pragma: no cover - the union is closed


# ---- a finished prediction's usage ------------------------------------------------------------


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value) if math.isfinite(value) else None


def media_seconds(path: Path) -> float | None:
    """Seconds of a video or audio file, from its container (None: unreadable)."""
    try:
        import av

        with av.open(str(path), mode="r") as container:
            if container.duration is not None:
                return float(container.duration / av.time_base)
            for stream in (*container.streams.video, *container.streams.audio):
                if stream.duration is not None and stream.time_base is not None:
                    return float(stream.duration * stream.time_base)
    except Exception as exc:  # any unreadable output: its length is simply not known
        log.debug("could not read the length of %s: %s", path.name, exc)
    return None


def image_megapixels(path: Path) -> float | None:
    """Megapixels of an image file, from its header (None: unreadable)."""
    try:
        from PIL import Image

        with Image.open(path) as picture:
            width, height = picture.size
        return width * height / MICROS
    except Exception as exc:  # an unreadable output: its size is simply not known
        log.debug("could not read the size of %s: %s", path.name, exc)
        return None


def usage_of(
    prediction: Prediction, files: Sequence[Path], model_input: Mapping[str, Any]
) -> RunUsage:
    """What a finished prediction used: its metrics (`image_count`, `input_token_count`,
    `output_token_count`, `predict_time`), else what its downloaded files hold (images counted
    and measured, video and audio lengths read from their containers). Reads files' headers:
    run it off the event loop."""
    metrics = prediction.metrics
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    media = [p for p in files if p.suffix.lower() in MEDIA_SUFFIXES]
    counted = _count(metrics.get("image_count"))
    image_count = counted if counted is not None else (len(images) if images else None)
    sizes = [image_megapixels(p) for p in images]
    megapixels = sum(s for s in sizes if s is not None) if images and None not in sizes else None
    lengths = [media_seconds(p) for p in media]
    seconds = sum(s for s in lengths if s is not None) if media and None not in lengths else None
    return RunUsage(
        images=image_count,
        megapixels=megapixels,
        output_seconds=seconds,
        input_tokens=_count(metrics.get("input_token_count")),
        output_tokens=_count(metrics.get("output_token_count")),
        predict_time=prediction.predict_time,
        input=dict(model_input),
    )


def run_cost(model: str, official: bool, usage: RunUsage) -> CostEstimate:
    """What a run of `model` that used `usage` cost, at the catalogue's price."""
    table = prices.price_table()
    rate = table.price_of(model, official=official).rate
    return estimate_cost(rate, usage, table.hardware)


# ---- what a person reads ----------------------------------------------------------------------


def cost_text(estimate: CostEstimate | None, simulated: bool = False) -> str:
    """`≈ $0.003`, `≈ $0.003 on Replicate` (a simulated run: not billed), or `cost unknown`."""
    if estimate is None or estimate.usd is None:
        return "cost unknown"
    return f"≈ {format_usd(estimate.usd)}" + (" on Replicate" if simulated else "")


def recorded_cost_text(usd: float | None, basis: str, simulated: bool = False) -> str:
    """A kept result's cost as History and the shared view show it: "" for a result kept before
    costs were recorded (no estimate, no reason)."""
    if usd is None and not basis:
        return ""
    return cost_text(CostEstimate(usd, basis), simulated)


@dataclass
class SessionCosts:
    """The costs of one session's runs: billed ones apart from simulated ones (what they would
    have cost). One per session (held by its History log); the run core adds to it."""

    billed_usd: float = 0.0
    billed_unknown: int = 0
    simulated_usd: float = 0.0
    simulated_unknown: int = 0

    def add(self, estimate: CostEstimate, simulated: bool) -> None:
        if simulated:
            if estimate.usd is None:
                self.simulated_unknown += 1
            else:
                self.simulated_usd += estimate.usd
        elif estimate.usd is None:
            self.billed_unknown += 1
        else:
            self.billed_usd += estimate.usd

    def text(self, simulated: bool) -> str:
        """`session ≈ $0.012` (`+ 2 runs of unknown cost`), for billed or simulated runs."""
        usd, unknowns = (
            (self.simulated_usd, self.simulated_unknown)
            if simulated
            else (self.billed_usd, self.billed_unknown)
        )
        label = "session (simulated)" if simulated else "session"
        more = f" + {_plural(unknowns, 'run')} of unknown cost" if unknowns else ""
        return f"{label} ≈ {format_usd(usd)}{more}"
