"""How old each entry's evidence is: the date of the evidence itself, not the day it was read.

Every entry says when its evidence was read (`checked`); what matters for trusting it is when the
evidence is from (`dated`: a commit's date, a page's "updated" date). An entry whose newest dated
evidence is over six months before `today`, or whose evidence says no date at all, is listed by
`python -m neurolink_ui models check` so someone looks again. Pure; `today` is given.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from . import CatalogModel

MAX_AGE_MONTHS = 6


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


@dataclass(frozen=True)
class EvidenceAge:
    model: str
    newest: dt.date | None  # the newest evidence's own date; None when no evidence says
    read: dt.date  # when the evidence was last read (the latest `checked`)

    def old(self, cutoff: dt.date) -> bool:
        return self.newest is None or self.newest < cutoff


def evidence_age(entry: CatalogModel) -> EvidenceAge:
    read = max(dt.date.fromisoformat(e.checked) for e in entry.evidence)
    return EvidenceAge(entry.model, entry.evidence_dated, read)


def old_evidence(
    entries: Iterable[CatalogModel], today: dt.date, months: int = MAX_AGE_MONTHS
) -> list[EvidenceAge]:
    """The entries whose newest evidence is older than `months` before `today`, or undated,
    oldest first (undated last), in catalogue order among equals."""
    cutoff = months_before(today, months)
    found = [age for age in map(evidence_age, entries) if age.old(cutoff)]
    return sorted(found, key=lambda age: (age.newest is None, age.newest or dt.date.max))


def evidence_lines(
    entries: Iterable[CatalogModel], today: dt.date, months: int = MAX_AGE_MONTHS
) -> tuple[list[str], str]:
    """What `models check` prints about evidence age, and the summary's clause for it."""
    cutoff = months_before(today, months)
    old = old_evidence(entries, today, months)
    dated = [age for age in old if age.newest is not None]
    undated = [age for age in old if age.newest is None]
    lines: list[str] = []
    if dated:
        lines.append(f"evidence older than {months} months (before {cutoff.isoformat()}):")
        lines += [f"  {age.model}: newest evidence {age.newest} (read {age.read})" for age in dated]
    if undated:
        lines.append("evidence that does not say how old it is:")
        lines += [f"  {age.model}: undated (read {age.read})" for age in undated]
    summary = f"evidence: {len(dated)} older than {months} months, {len(undated)} undated"
    return lines, summary
