"""The guard in front of the owner's token: allowed models, per-visitor and daily limits, cost caps.

`QuotaGuard` decides and words the answers; the stores count. The UI calls it for owner-paid runs
only (a visitor's own token and the simulator are never limited). No Gradio here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..catalog import prices
from ..costs import MICROS, CostEstimate, format_usd
from ..deadlines import KnownRunTime, about, span
from ..replicate.schema import InputSchema, ModelInfo
from .budget import run_bounds, worst_case
from .clamp import Clamped, clamp_costs
from .identity import Visitor
from .settings import QuotaSettings
from .store import AdmitRequest, Limit, QuotaStore, Usage, first_refusal, open_store

LEASE_MARGIN = 600.0  # a slot outlives the longest run by this much if its process dies
LIMIT_NAMES: dict[str, str] = {
    "daily_runs": "runs per day for all visitors",
    "daily_budget": "dollars per day for all visitors",
    "runs_per_day": "runs per day",
    "runs_per_minute": "runs per minute",
    "concurrent": "runs at once",
    "network": "runs from your network",
}


class QuotaRefused(Exception):
    """A run on the owner's token that may not start; the message says why and the ways on."""

    def __init__(self, message: str, *, title: str, limit: Limit | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.title = title
        self.limit = limit


@dataclass(frozen=True)
class Ticket:
    """An admitted run holding a concurrency slot until released, and under a dollar budget
    the worst-case cost it reserved on `day` until it is settled."""

    visitor: Visitor
    id: str
    day: str = ""
    reserved_micros: int = 0


@dataclass(frozen=True)
class CostPlan:
    """A run's worst-case cost under the dollar budget: what its admission reserves."""

    worst: CostEstimate  # always known (an unknown price is refused or counted at the ceiling)
    ceiling: bool = False  # counted at NEUROLINK_UNKNOWN_PRICE_USD: its price is not confirmed

    @property
    def micros(self) -> int:
        return self.worst.micros or 0


def _dollars(micros: int) -> str:
    return format_usd(max(micros, 0) / MICROS)


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _wait_text(seconds: float) -> str:
    seconds = max(1, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class QuotaGuard:
    def __init__(
        self,
        settings: QuotaSettings,
        store: QuotaStore | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock

    @classmethod
    def open(cls, settings: QuotaSettings) -> QuotaGuard:
        """The guard with its store opened (and checked, so a bad setting stops the start)."""
        store = open_store(settings.state_db, settings.redis_url) if settings.counts else None
        return cls(settings, store)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    # ---- the rules -----------------------------------------------------------------------

    def runs_per_day(self, visitor: Visitor) -> int:
        s = self.settings
        return s.user_runs_per_day if visitor.signed_in else s.runs_per_day

    def _day(self, now: float) -> str:
        return dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()

    def _midnight_in(self, now: float) -> float:
        today = dt.datetime.fromtimestamp(now, dt.UTC).date()
        midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
        return midnight.timestamp() - now

    @property
    def budget_micros(self) -> int:
        return round(self.settings.daily_budget_usd * MICROS)

    def _request(
        self,
        visitor: Visitor,
        now: float,
        ticket: str = "",
        cost_micros: int = 0,
        seconds: float | None = None,
    ) -> AdmitRequest:
        s = self.settings
        return AdmitRequest(
            ticket=ticket,
            visitor=visitor.key,
            day=self._day(now),
            now=now,
            runs_per_minute=s.runs_per_minute,
            runs_per_day=self.runs_per_day(visitor),
            concurrent=s.concurrent,
            daily_runs=s.daily_runs,
            # The slot outlives the run's own deadline (a long model's may pass max_seconds).
            lease=max(s.max_seconds or 3600.0, seconds or 0.0) + LEASE_MARGIN,
            network=visitor.network,
            network_share=s.network_share,
            cost_micros=cost_micros,
            budget_micros=self.budget_micros,
        )

    def check_model(self, panel: str, ref: str) -> None:
        """Refuse a model outside this panel's allow-list, before any request."""
        allowed = self.settings.allowed
        if allowed is None or allowed.allows(panel, ref):
            return
        names = ", ".join(allowed.names(panel)) or "none"
        raise QuotaRefused(
            f"{ref} cannot run on this Space's token from the {panel.capitalize()} panel. "
            f"Allowed here: {names}. Paste your own Replicate token to run any model.",
            title="Model not allowed here",
        )

    def limit_run_time(self, ref: str, known: KnownRunTime | None, deadline: float) -> float:
        """The deadline of an owner-paid run of `ref`: its own, within `max_seconds`. A model
        whose typical run is longer than `max_seconds` is refused before any request (it would
        be canceled at the limit and still billed), unless the owner listed it in
        NEUROLINK_LONG_MODELS: then it keeps its own deadline."""
        cap = self.settings.max_seconds
        if not cap or self.settings.runs_long(ref):
            return deadline
        if known is not None and known.typical > cap:
            raise QuotaRefused(
                f"{ref} typically takes {about(known.typical)} a run, longer than the "
                f"{span(cap)} this Space allows one run on its token: it would be canceled "
                "before it finished, and still billed, so it is not run here. The Space's owner "
                "can allow it (NEUROLINK_LONG_MODELS) or raise the limit "
                f"(NEUROLINK_MAX_SECONDS). {self.ways_on()}",
                title="Model too slow for this Space",
            )
        return min(deadline, cap)

    async def precheck(self, visitor: Visitor) -> None:
        """Refuse a run that would break a limit already, before any request is made.

        Only a quick early answer; `admit` is the atomic one that counts."""
        if self.store is None:
            return
        now = self.clock()
        # Under a budget, a run needs at least a micro-dollar left (its own cost is not known
        # until its input is mapped: `admit` checks that).
        request = self._request(visitor, now, cost_micros=1 if self.budget_micros else 0)
        usage = await asyncio.to_thread(
            self.store.usage, visitor.key, request.day, now, visitor.network
        )
        limit = first_refusal(request, usage)
        if limit is not None:
            raise self.refusal(visitor, limit, usage, now)

    async def admit(
        self, visitor: Visitor, cost: CostPlan | None = None, seconds: float | None = None
    ) -> Ticket:
        """Count one run, take a slot and reserve its worst-case cost (`cost`, under a dollar
        budget), or raise QuotaRefused; atomic across processes. `seconds`: the run's deadline
        (its slot is held at least that long)."""
        ticket_id = uuid.uuid4().hex
        if self.store is None:
            return Ticket(visitor, ticket_id)
        now = self.clock()
        micros = cost.micros if cost is not None and self.budget_micros else 0
        request = self._request(visitor, now, ticket_id, micros, seconds)
        admission = await asyncio.to_thread(self.store.admit, request)
        if admission.refused is not None:
            raise self.refusal(visitor, admission.refused, admission.usage, now, cost)
        return Ticket(visitor, ticket_id, request.day, micros)

    async def settle(self, ticket: Ticket, cost: CostEstimate | None) -> None:
        """Record what the admitted run cost in place of its reservation: its estimate when
        known. `None` or an unknown estimate keeps what it reserved — its worst case, or the
        unknown-price ceiling — since it may have been billed an amount not known here."""
        if self.store is None or not ticket.reserved_micros or cost is None or cost.usd is None:
            return
        micros = cost.micros or 0
        await asyncio.to_thread(
            self.store.settle, ticket.visitor.key, ticket.id, ticket.day, micros
        )

    async def release(self, ticket: Ticket) -> None:
        if self.store is not None:
            await asyncio.to_thread(
                self.store.release, ticket.visitor.key, ticket.id, ticket.visitor.network
            )

    def plan_cost(
        self,
        ref: str,
        info: ModelInfo,
        model_input: dict[str, Any],
        seconds: float | None,
    ) -> CostPlan | None:
        """The run's worst-case cost when a dollar budget is set (None without one), from the
        model's price and the input as clamped; `seconds` is the run's deadline (what a
        hardware-billed run may bill at most). A model whose worst case is unknown is refused,
        or counted at NEUROLINK_UNKNOWN_PRICE_USD when the owner set it."""
        if not self.budget_micros:
            return None
        table = prices.price_table()
        price = table.price_of(ref, official=info.is_official)
        bounds = run_bounds(info.input_schema, model_input, seconds)
        worst = worst_case(price.rate, bounds, table.hardware)
        if worst.usd is not None:
            return CostPlan(worst)
        ceiling = self.settings.unknown_price_usd
        if ceiling:
            counted = f"its worst case is unknown ({worst.basis}): counted at {format_usd(ceiling)}"
            return CostPlan(CostEstimate(ceiling, counted), ceiling=True)
        raise QuotaRefused(
            f"{ref} cannot run within this Space's daily dollar budget: its worst-case cost is "
            f"not known ({worst.basis}), and an unknown price could be any amount. "
            f"{self.ways_on()}",
            title="Price unknown",
            limit="daily_budget",
        )

    def clamp(self, schema: InputSchema, model_input: dict[str, Any], panel: str) -> Clamped:
        if self.settings.caps is None:
            return Clamped(dict(model_input), [])
        return clamp_costs(schema, model_input, self.settings.caps, panel)

    # ---- what a visitor reads ------------------------------------------------------------

    def ways_on(self) -> str:
        duplicate = self.settings.duplicate_url
        where = f"duplicate this Space ({duplicate})" if duplicate else "run your own copy"
        return (
            "To go on now: paste your own Replicate token under “Your Replicate token” (your "
            "account pays, no limits here), press “Use the simulator” (free, synthetic "
            f"outputs), or {where} with your own token."
        )

    def refusal(
        self,
        visitor: Visitor,
        limit: Limit,
        usage: Usage,
        now: float,
        cost: CostPlan | None = None,
    ) -> QuotaRefused:
        s = self.settings
        midnight = f"at midnight UTC (in {_wait_text(self._midnight_in(now))})"
        if limit == "daily_runs":
            why = (
                f"This Space's token has made its {_runs(s.daily_runs)} for all visitors today. "
                f"The count resets {midnight}."
            )
        elif limit == "daily_budget":
            left = _dollars(self.budget_micros - usage.spent_micros)
            budget = format_usd(s.daily_budget_usd)
            asked = (
                f"This run could cost up to {format_usd(cost.worst.usd or 0.0)} "
                f"({cost.worst.basis}), more than the {left} left of this Space's {budget} "
                "daily budget for all visitors."
                if cost is not None
                else f"This Space's {budget} daily budget for all visitors is spent."
            )
            why = f"{asked} The budget resets {midnight}."
        elif limit == "runs_per_day":
            why = (
                f"You have used your {_runs(self.runs_per_day(visitor))} for today on this "
                f"Space's token. Your count resets {midnight}."
            )
            if not visitor.signed_in and s.oauth and s.user_runs_per_day > s.runs_per_day:
                why += f" Signed-in Hugging Face users get {s.user_runs_per_day} a day."
        elif limit == "runs_per_minute":
            wait = (usage.minute_frees_at or now + 60) - now
            why = (
                f"You can start {_runs(s.runs_per_minute)} a minute on this Space's token; "
                f"the next one is possible in {_wait_text(wait)}."
            )
        elif limit == "network":
            why = (
                f"Addresses of your network ({visitor.network.removeprefix('net:')}, shared by "
                f"many IPv6 addresses) have used their share of this Space's token: "
                f"{s.network_share}× one visitor's limits. Try again later."
            )
        else:
            why = (
                f"You already have {_runs(s.concurrent)} going on this Space's token; start "
                "another when one finishes (or Stop one)."
            )
        headline = f"Limit reached ({LIMIT_NAMES[limit]})."
        return QuotaRefused(
            f"{headline} {why} {self.ways_on()}", title="Limit reached", limit=limit
        )

    async def meter(self, visitor: Visitor) -> str:
        """The visitor's standing, e.g. "12 of 50 runs left today on this Space's token"."""
        s = self.settings
        per_day = self.runs_per_day(visitor)
        if self.store is None or not (per_day or s.daily_runs or self.budget_micros):
            return "No daily limit on this Space's token."
        now = self.clock()
        usage = await asyncio.to_thread(self.store.usage, visitor.key, self._day(now), now)
        money = ""
        if self.budget_micros:
            dollars = _dollars(self.budget_micros - usage.spent_micros)
            money = f"**{dollars} of {format_usd(s.daily_budget_usd)}** left today (all visitors)"
            if not (per_day or s.daily_runs):
                return f"{money} on this Space's token."
        left_everyone = s.daily_runs - usage.all_today if s.daily_runs else None
        if per_day:
            left = per_day - usage.today
            if left_everyone is not None:
                left = min(left, left_everyone)
            text = f"**{max(left, 0)} of {per_day}** runs left today on this Space's token"
        else:
            text = f"**{max(left_everyone or 0, 0)} of {s.daily_runs}** runs left today on this "
            text += "Space's token (shared by all visitors)"
        if visitor.signed_in:
            text += f" for {visitor.label}"
        if money:
            text += f" · {money}"
        return text + "."
