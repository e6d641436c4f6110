"""Guarded demo mode's daily budget in dollars (`NEUROLINK_DAILY_BUDGET_USD`): a run is admitted
only when its worst-case cost fits in what is left, atomically in both stores (a real SQLite file,
a real redis-server on loopback), and its estimated cost replaces the reservation afterwards. A
model whose price is not confirmed is refused, or counted at the owner's ceiling."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import TOKEN

from neurolink_ui.config import Settings
from neurolink_ui.quota.budget import run_bounds, worst_case
from neurolink_ui.quota.guard import QuotaGuard
from neurolink_ui.quota.settings import OwnerCaps, QuotaConfigError, QuotaSettings
from neurolink_ui.quota.store import (
    AdmitRequest,
    QuotaStore,
    RedisQuotaStore,
    SQLiteQuotaStore,
)
from neurolink_ui.replicate.schema import InputSchema
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.history_log import HistoryLog
from neurolink_ui.ui.panels.chat import make_chat_handler
from neurolink_ui.ui.panels.image import make_image_handler
from neurolink_ui.ui.panels.music import make_music_handler

DAY = "2026-12-06"
FLUX = "black-forest-labs/flux-schnell"
LLAMA = "meta/meta-llama-3-8b-instruct"
MUSICGEN = "meta/musicgen"


# ---- settings ----------------------------------------------------------------------------------


def test_the_budget_is_read_in_dollars_and_off_by_default() -> None:
    suggested: dict[str, list[str]] = {}
    plain = QuotaSettings.from_env({}, owner_token_set=True, suggested=suggested)
    assert plain.daily_budget_usd == 0 and plain.unknown_price_usd == 0
    env = {"NEUROLINK_DAILY_BUDGET_USD": "5", "NEUROLINK_UNKNOWN_PRICE_USD": "0.25"}
    set_ = QuotaSettings.from_env(env, owner_token_set=True, suggested=suggested)
    assert set_.daily_budget_usd == 5.0 and set_.unknown_price_usd == 0.25 and set_.counts
    with pytest.raises(QuotaConfigError, match="NEUROLINK_DAILY_BUDGET_USD must be a number"):
        QuotaSettings.from_env(
            {"NEUROLINK_DAILY_BUDGET_USD": "$5"}, owner_token_set=True, suggested=suggested
        )


# ---- the stores: reserve, refuse, settle, atomically --------------------------------------------


def _request(visitor: str = "ip:b", cost: int = 0, budget: int = 10_000) -> AdmitRequest:
    return AdmitRequest(
        ticket=uuid.uuid4().hex,
        visitor=visitor,
        day=DAY,
        now=1000.0,
        runs_per_minute=0,
        runs_per_day=0,
        concurrent=0,
        daily_runs=0,
        lease=600.0,
        cost_micros=cost,
        budget_micros=budget,
    )


def _exercise_budget(store: QuotaStore) -> None:
    first = _request("ip:a", cost=4000)
    assert store.admit(first).admitted
    assert store.admit(_request("ip:b", cost=4000)).admitted  # one budget for every visitor
    refused = store.admit(_request("ip:c", cost=4000))
    assert refused.refused == "daily_budget" and refused.usage.spent_micros == 8000
    # The first run cost less than its worst case: its estimate replaces the reservation.
    store.settle("ip:a", first.ticket, DAY, 1000)
    assert store.usage("ip:z", DAY, 1000.0).spent_micros == 5000
    store.settle("ip:a", first.ticket, DAY, 1000)  # settling again changes nothing
    assert store.usage("ip:z", DAY, 1000.0).spent_micros == 5000
    assert store.admit(_request("ip:c", cost=4000)).admitted
    assert store.admit(_request("ip:c", cost=1001)).refused == "daily_budget"
    assert store.admit(_request("ip:c", cost=1000)).admitted  # exactly what is left
    # Another day has its own budget.
    other_day = dataclasses.replace(_request("ip:c", cost=4000), day="2026-12-07")
    assert store.admit(other_day).admitted


def _race(store: QuotaStore, calls: int) -> int:
    """`calls` runs of 1000 micro-dollars at once against a 10,000 budget."""
    barrier = threading.Barrier(calls)

    def one(index: int) -> bool:
        barrier.wait()
        return store.admit(_request(f"ip:r{index}", cost=1000)).admitted

    with ThreadPoolExecutor(calls) as pool:
        return sum(pool.map(one, range(calls)))


def test_sqlite_budget_reserves_refuses_and_settles(tmp_path: Path) -> None:
    store = SQLiteQuotaStore(tmp_path / "state.db")
    _exercise_budget(store)
    store.close()


def test_sqlite_budget_holds_under_simultaneous_runs(tmp_path: Path) -> None:
    store = SQLiteQuotaStore(tmp_path / "state.db")
    assert _race(store, 40) == 10
    other = SQLiteQuotaStore(tmp_path / "state.db")  # another process sees the same spend
    assert other.usage("ip:any", DAY, 1000.0).spent_micros == 10_000
    store.close()
    other.close()


def test_a_state_file_from_before_the_budget_opens_and_counts_dollars(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = SQLiteQuotaStore.SCHEMA.replace(",\n        usd_micros INTEGER NOT NULL DEFAULT 0", "")
    assert "usd_micros" not in old
    with sqlite3.connect(path) as db:
        db.executescript(old)
        db.execute(
            "INSERT INTO runs (ticket, visitor, day, started, lease_until) VALUES (?, ?, ?, ?, ?)",
            ("t-old", "ip:old", DAY, 1000.0, 1600.0),
        )
    store = SQLiteQuotaStore(path)
    usage = store.usage("ip:old", DAY, 1000.0)
    assert usage.today == 1 and usage.spent_micros == 0  # an old run: no dollars recorded
    assert store.admit(_request(cost=9000)).admitted
    assert store.admit(_request(cost=2000)).refused == "daily_budget"
    store.close()


@pytest.fixture
def redis_store(redis_url: str) -> Iterator[RedisQuotaStore]:
    store = RedisQuotaStore(redis_url, prefix=f"b{uuid.uuid4().hex[:6]}:")
    yield store
    store.close()


def test_redis_budget_reserves_refuses_and_settles(redis_store: RedisQuotaStore) -> None:
    _exercise_budget(redis_store)


def test_redis_budget_holds_under_simultaneous_runs(
    redis_store: RedisQuotaStore, redis_url: str
) -> None:
    assert _race(redis_store, 40) == 10
    replica = RedisQuotaStore(redis_url, prefix=redis_store.prefix)  # another replica
    assert replica.usage("ip:any", DAY, 1000.0).spent_micros == 10_000
    assert replica.admit(_request(cost=1)).refused == "daily_budget"
    replica.close()


# ---- a run's worst case --------------------------------------------------------------------------


def _schema(**properties: dict) -> InputSchema:
    return InputSchema.from_openapi(
        {"components": {"schemas": {"Input": {"type": "object", "properties": properties}}}}
    )


def test_worst_case_comes_from_the_input_as_clamped() -> None:
    from neurolink_ui.catalog.prices import (
        ByHardware,
        Hardware,
        PerImage,
        PerOutputSecond,
        PerTokens,
    )

    images = _schema(num_outputs={"type": "integer", "default": 1, "maximum": 4})
    assert worst_case(PerImage(0.003), run_bounds(images, {"num_outputs": 4})).usd == pytest.approx(0.012)  # fmt: skip
    assert worst_case(PerImage(0.003), run_bounds(images, {})).usd == pytest.approx(0.003)
    video = _schema(
        num_frames={"type": "integer", "default": 81},
        frames_per_second={"type": "integer", "default": 16},
    )
    seconds = worst_case(PerOutputSecond(0.1, "video"), run_bounds(video, {}))
    assert seconds.usd == pytest.approx(81 / 16 * 0.1) and seconds.basis.startswith("at most")
    chat = _schema(prompt={"type": "string"}, max_tokens={"type": "integer", "default": 512})
    tokens = worst_case(PerTokens(1.0, 2.0), run_bounds(chat, {"prompt": "héllo"}))
    assert tokens.usd == pytest.approx((6 * 1.0 + 512 * 2.0) / 1e6)  # UTF-8 bytes bound tokens
    no_limit = _schema(prompt={"type": "string"})
    assert not worst_case(PerTokens(1, 1), run_bounds(no_limit, {"prompt": "x"})).known
    hardware = {"gpu-t4": Hardware("gpu-t4", "T4", 0.000225)}
    deadline = worst_case(ByHardware("gpu-t4"), run_bounds(no_limit, {}, seconds=300), hardware)
    assert deadline.usd == pytest.approx(300 * 0.000225)


# ---- through the run core, against the simulator --------------------------------------------------


@pytest.fixture
async def budget_ctx(simulator, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An app context on the owner's token with only a dollar budget on (and what it reserves
    and settles kept in a fresh SQLite file, or the given store)."""
    made: list[AppContext] = []

    def create(store: QuotaStore | None = None, **changes: object) -> AppContext:
        base = Settings.from_env({"REPLICATE_API_TOKEN": TOKEN}).quota
        quota = QuotaSettings(
            enabled=True,
            allowed=base.allowed,
            max_seconds=60,
            caps=OwnerCaps(),
            state_db=tmp_path / f"{len(made)}-state.db",
            **changes,  # type: ignore[arg-type]
        )
        settings = Settings(api_token=TOKEN, base_url=simulator.base_url, quota=quota)
        ctx = AppContext.create(settings, outputs_dir=tmp_path / "out")
        if store is not None:
            assert ctx.quota is not None
            ctx.quota.close()
            ctx.quota = QuotaGuard(quota, store)
        made.append(ctx)
        return ctx

    yield create
    for ctx in made:
        await ctx.aclose()


def _creates(simulator) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for r in simulator.requests if r.method == "POST" and r.path.endswith("/predictions"))  # fmt: skip


def _spent(ctx: AppContext) -> int:
    assert ctx.quota is not None and ctx.quota.store is not None
    day = ctx.quota._day(ctx.quota.clock())
    return ctx.quota.store.usage("any", day, ctx.quota.clock()).spent_micros


async def _refused_budget_run(ctx: AppContext, simulator) -> None:  # type: ignore[no-untyped-def]
    image = make_image_handler(ctx)
    log = HistoryLog()
    for i in range(3):  # $0.003 each: $0.009 of $0.01
        updates = [u async for u in image(f"fox {i}", FLUX, generations=log)]
        assert "≈ $0.003" in updates[-1][-1]
    assert _spent(ctx) == 9000  # each run's estimate replaced its reservation
    with pytest.raises(Exception) as refused:
        [u async for u in image("one too many", FLUX, generations=log)]
    message = str(refused.value)
    assert "Limit reached (dollars per day for all visitors)" in message
    assert "could cost up to $0.003 (at most 1 image × $0.003)" in message
    assert "more than the $0.001 left of this Space's $0.01 daily budget" in message
    assert "resets at midnight UTC" in message and "your own Replicate token" in message
    assert _creates(simulator) == 3  # refused before any request


async def test_the_budget_refuses_a_run_that_would_exceed_it_sqlite(budget_ctx, simulator) -> None:  # type: ignore[no-untyped-def]
    await _refused_budget_run(budget_ctx(daily_budget_usd=0.01), simulator)


async def test_the_budget_refuses_a_run_that_would_exceed_it_redis(  # type: ignore[no-untyped-def]
    budget_ctx, simulator, redis_store
) -> None:
    await _refused_budget_run(budget_ctx(redis_store, daily_budget_usd=0.01), simulator)


async def test_the_estimate_replaces_the_worst_case_afterwards(budget_ctx, simulator) -> None:  # type: ignore[no-untyped-def]
    """A chat run reserves its token limit's worth and is charged what its metrics say."""
    ctx = budget_ctx(daily_budget_usd=0.01)
    log = HistoryLog()
    [u async for u in make_chat_handler(ctx)("Explain tides", [], model=LLAMA, generations=log)]
    actual = log.entries[0].cost_usd
    assert actual is not None and 0 < actual < 4096 * 0.25 / 1e6  # below its token limit's worth
    assert _spent(ctx) == math.ceil(round(actual * 1e6, 6))


async def test_an_unknown_price_is_refused_under_a_budget(budget_ctx, simulator) -> None:  # type: ignore[no-untyped-def]
    ctx = budget_ctx(daily_budget_usd=1.0)
    with pytest.raises(Exception) as refused:
        [u async for u in make_music_handler(ctx)("lofi", 5, model=MUSICGEN)]
    message = str(refused.value)
    assert f"{MUSICGEN} cannot run within this Space's daily dollar budget" in message
    assert "an unknown price could be any amount" in message
    assert _creates(simulator) == 0 and _spent(ctx) == 0


async def test_an_unknown_price_counts_at_the_owners_ceiling(budget_ctx, simulator) -> None:  # type: ignore[no-untyped-def]
    ctx = budget_ctx(daily_budget_usd=1.0, unknown_price_usd=0.4)
    music = make_music_handler(ctx)
    for _ in range(2):
        updates = [u async for u in music("lofi", 5, model=MUSICGEN)]
        assert "cost unknown" in updates[-1][-1]
    assert _spent(ctx) == 800_000  # an unknown cost keeps the ceiling it reserved
    with pytest.raises(Exception, match=r"counted at \$0\.40"):
        [u async for u in music("lofi", 5, model=MUSICGEN)]
    assert _creates(simulator) == 2


async def test_the_meter_shows_the_dollars_left(budget_ctx, simulator) -> None:  # type: ignore[no-untyped-def]
    from neurolink_ui.ui.quota import meter_markdown

    ctx = budget_ctx(daily_budget_usd=0.01, runs_per_day=5)
    assert "· **$0.01 of $0.01** left today (all visitors)" in await meter_markdown(ctx, None, None, None)  # fmt: skip
    [u async for u in make_image_handler(ctx)("a fox", FLUX)]
    assert "**$0.007 of $0.01** left today" in await meter_markdown(ctx, None, None, None)
    only = budget_ctx(daily_budget_usd=2.5)
    assert await meter_markdown(only, None, None, None) == (
        "🎟️ **$2.50 of $2.50** left today (all visitors) on this Space's token."
    )
