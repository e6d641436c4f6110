"""`models check`: the catalogue's recorded schemas against the live API (`catalog.drift`), and
how old each entry's evidence is (`catalog.freshness`)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

from ..replicate.client import ReplicateClient
from .console import Console, settings_from_env
from .parser import EXIT_ERROR, EXIT_OK


def run_models_check(args: argparse.Namespace, usage_error: Callable[[str], Any]) -> int:
    from ..catalog import catalog_model, load_catalog
    from ..catalog.drift import check_models, report_lines
    from ..catalog.freshness import evidence_lines

    unknown = [ref for ref in args.model if catalog_model(ref) is None]
    if unknown:
        usage_error(f"not in the catalogue: {', '.join(unknown)}")  # exits 2
    entries = [e for e in (catalog_model(ref) for ref in args.model) if e] or (
        [] if args.model else list(load_catalog())
    )
    console = Console.for_process()
    today: dt.date = args.today or dt.date.today()
    aged, age_summary = evidence_lines(entries, today)
    if args.evidence_only:
        console.text("".join(f"{line}\n" for line in [*aged, age_summary]))
        return EXIT_OK
    settings = settings_from_env(console)
    if settings is None:
        return EXIT_ERROR
    if not settings.api_token:
        usage_error("models check needs a Replicate token: set REPLICATE_API_TOKEN")

    async def check() -> tuple[list[str], bool]:
        async with ReplicateClient.from_settings(settings) as client:
            found = await check_models(client, entries, settings.api_token or "")
        return report_lines(found), any(r.changed or r.error for r in found)

    lines, changed = asyncio.run(check())
    drift, summary = lines[:-1], lines[-1]
    console.text("".join(f"{line}\n" for line in [*drift, *aged, f"{summary}; {age_summary}"]))
    return EXIT_ERROR if changed else EXIT_OK
