"""Each run's deadline, from what is known of its model's run time (issue 22). No Gradio.

Replicate cancels a prediction that reaches its `Cancel-After` while running **and still charges
it**: one deadline for every model (the old 300 s poll cap) killed, and billed, every run of a
model that takes eight minutes. So each run's deadline comes from its model. What is known of a
model's run time, the first found:

1. the catalogue's `run_time` record (`catalog.RunTime`: typical and worst seconds, with their
   evidence and its date) — for a deployment, the record of the model its release runs;
2. the usual run of its panel (`Modality.usual_run`): the catalogue's panel for the model, else
   the modality the run is for, else the panel its schema fits (`generic.fitting_panel`);
3. nothing: the configured poll cap (`REPLICATE_POLL_CAP`) is its deadline.

The longest this process has seen the model take (`ModelTimes.longest`) raises the worst case.
The deadline is the worst case with margin, plus time to boot (it runs from the create: an official
model is kept warm, a community model or a deployment may boot first), at most Replicate's own
30 minutes. The client sends it as `Cancel-After` and waits for the prediction as long.

On a guarded Space the owner's `NEUROLINK_MAX_SECONDS` bounds it, and a model whose *typical* run
is longer is refused before anything is sent (`QuotaGuard.limit_run_time`) — it would be canceled
and billed — unless the owner listed it in `NEUROLINK_LONG_MODELS`. `run_time_note` is what a
panel says of it before the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .catalog import CatalogModel, catalog_model
from .modalities.generic import fitting_panel
from .modalities.registry import find_modality
from .replicate.schema import ModelInfo
from .replicate.types import ModelRef

MARGIN = 1.5  # the worst case known, times this
BOOT_OFFICIAL = 60.0  # s: an official model is kept warm; a queue still happens
BOOT_COMMUNITY = 300.0  # s: a community model (or a deployment) may cold-boot first
LONGEST = 1800.0  # s: Replicate cancels a prediction after 30 minutes running anyway
MINUTES = 60.0  # s: a model typically taking this long gets a note before its run

Basis = Literal["catalogue", "panel", "seen"]


@dataclass(frozen=True)
class KnownRunTime:
    """What is known of one model's run time: typical and worst seconds, created → completed."""

    model: str  # owner/name of the model (a deployment's: the model its release runs)
    typical: float
    worst: float
    basis: Basis  # the catalogue's evidence, its panel's usual run, or runs seen here
    source: str = ""  # the evidence (catalogue), or the panel whose usual run it is
    dated: str = ""  # the evidence's own date (catalogue only)


def about(seconds: float) -> str:
    """`about 8 min`, `about 45 s`: a run time as a person says it."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"about {round(minutes)} min"
    return f"about {minutes / 60:.1f} h"


def span(seconds: float) -> str:
    """A limit as set: `5 min`, `120 s`."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def _model_of(ref: ModelRef, info: ModelInfo | None) -> str | None:
    """The catalogue name of what runs: a deployment's model once its release is known."""
    if info is not None and info.deployment is not None:
        return info.deployment.model
    return None if ref.deployment else ref.slug


def _panel_run(panel: str | None) -> tuple[float, float] | None:
    modality = find_modality(panel) if panel else None
    return modality.usual_run if modality is not None else None


def known_run_time(
    ref: ModelRef | str,
    modality: str | None = None,
    info: ModelInfo | None = None,
    seen: float | None = None,
) -> KnownRunTime | None:
    """What is known of `ref`'s run time (see the module's docstring), None when nothing is.

    `modality`: what the run is for (a panel, "explore"); `info`: the model once fetched (the
    panel its schema fits, a deployment's model); `seen`: the longest run of it seen here."""
    model_ref = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
    name = _model_of(model_ref, info)
    entry: CatalogModel | None = catalog_model(name) if name else None
    known: KnownRunTime | None = None
    shown = name or model_ref.slug
    if entry is not None and entry.run_time is not None:
        record = entry.run_time
        known = KnownRunTime(
            shown,
            record.typical_seconds,
            record.worst_seconds,
            "catalogue",
            record.source,
            record.dated,
        )
    else:
        panels = [entry.panel if entry is not None else None, modality]
        if info is not None:
            panels.append(fitting_panel(info.input_schema, info.output_schema, info.description))
        for panel in panels:
            usual = _panel_run(panel)
            if usual is not None:
                known = KnownRunTime(shown, usual[0], usual[1], "panel", str(panel))
                break
    if seen is not None and seen > 0:
        if known is None:
            known = KnownRunTime(shown, seen, seen, "seen")
        elif seen > known.worst:
            known = KnownRunTime(
                known.model, known.typical, seen, known.basis, known.source, known.dated
            )
    return known


def official(ref: ModelRef, info: ModelInfo | None = None) -> bool:
    """Whether the model is official (kept warm): from its info, else the catalogue. A
    deployment is never: it boots its own instances."""
    if ref.deployment:
        return False
    if info is not None:
        return info.is_official
    entry = catalog_model(ref.slug)
    return entry is not None and entry.official


def deadline_seconds(known: KnownRunTime | None, *, official: bool, default: float) -> float:
    """The deadline of a run: `default` (the poll cap) when nothing is known, else the worst
    case with margin plus time to boot, at most LONGEST."""
    if known is None:
        return float(default)
    boot = BOOT_OFFICIAL if official else BOOT_COMMUNITY
    return float(min(LONGEST, math.ceil(known.worst * MARGIN + boot)))


def run_time_note(
    known: KnownRunTime | None, *, owner_cap: float | None = None, raised: bool = False
) -> str:
    """What a panel says of a model before its run: that it typically takes minutes, or (on a
    guarded Space's token, `owner_cap` its limit a run) that it is not run there. "" when there
    is nothing to say."""
    if known is None:
        return ""
    typical = about(known.typical)
    if owner_cap and not raised and known.typical > owner_cap:
        return (
            f"⏱️ {known.model} typically takes {typical} a run: more than the "
            f"{span(owner_cap)} this Space allows a run on its token, so it is not run on it "
            "(it would be canceled, and still billed). Paste your own Replicate token to run it."
        )
    if known.typical < MINUTES:
        return ""
    where = {"catalogue": "public reports", "panel": "usual for its panel", "seen": "seen here"}
    return (
        f"⏱️ {known.model} typically takes {typical} a run, up to {about(known.worst)} "
        f"({where[known.basis]})."
    )
