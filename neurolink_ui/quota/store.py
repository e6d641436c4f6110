"""Where run counts live: an SQLite file (one host, survives restarts) or Redis (shared by replicas).

Every admission is one atomic step — count, compare and record together (an SQLite
`BEGIN IMMEDIATE` transaction, a Redis Lua script) — so simultaneous runs can never all see room
for one more. Runs hold a concurrency slot until released, or until their lease runs out if the
process died. The day's dollar budget is kept the same way, in micro-dollars: an admission
reserves the run's worst-case cost, and `settle` replaces the reservation with the run's
estimated cost once it is known (a run never settled keeps its worst case). Blocking calls: the
guard runs them in a worker thread. No Gradio here.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Protocol, get_args
from urllib.parse import urlsplit, urlunsplit

from ..sqlite_files import BUSY_TIMEOUT_S, add_columns, upgrade
from .settings import QuotaConfigError

Limit = Literal[
    "daily_runs", "daily_budget", "runs_per_day", "runs_per_minute", "concurrent", "network"
]
_LIMITS_BY_NAME: dict[str, Limit] = {name: name for name in get_args(Limit)}
MINUTE = 60.0


@dataclass(frozen=True)
class AdmitRequest:
    """One run asking for room. A limit of 0 is no limit."""

    ticket: str
    visitor: str
    day: str  # the UTC day, YYYY-MM-DD
    now: float  # epoch seconds
    runs_per_minute: int
    runs_per_day: int
    concurrent: int
    daily_runs: int
    lease: float  # seconds a slot is held at most if never released
    cost_micros: int = 0  # the run's worst-case cost, reserved when it is admitted
    budget_micros: int = 0  # the day's budget for every visitor together (0: none)
    network: str = ""  # the visitor's IPv6 /48 ("" for none), counted as well
    network_share: int = 0  # the /48 may have this many times a visitor's limits; 0: no limit

    def network_limit(self, visitor_limit: int) -> int:
        """A /48's limit for one of a visitor's (0: none)."""
        return visitor_limit * self.network_share if self.network else 0


@dataclass(frozen=True)
class Usage:
    """A visitor's counts at one moment, and the oldest start/lease that will free room."""

    today: int  # this visitor's runs today
    all_today: int  # every visitor's runs today
    last_minute: int
    running: int
    minute_frees_at: float | None = None
    slot_frees_at: float | None = None
    spent_micros: int = 0  # every visitor's runs today: settled costs and open reservations
    network_today: int = 0  # the visitor's /48, all its /64s together
    network_last_minute: int = 0
    network_running: int = 0


@dataclass(frozen=True)
class Admission:
    admitted: bool
    usage: Usage
    refused: Limit | None = None


def first_refusal(request: AdmitRequest, usage: Usage) -> Limit | None:
    """The limit a new run would break, longest wait first (ADMIT_SCRIPT has the same order)."""
    if request.daily_runs and usage.all_today >= request.daily_runs:
        return "daily_runs"
    if request.budget_micros and usage.spent_micros + request.cost_micros > request.budget_micros:
        return "daily_budget"
    if request.runs_per_day and usage.today >= request.runs_per_day:
        return "runs_per_day"
    if request.runs_per_minute and usage.last_minute >= request.runs_per_minute:
        return "runs_per_minute"
    if request.concurrent and usage.running >= request.concurrent:
        return "concurrent"
    for used, limit in (
        (usage.network_today, request.runs_per_day),
        (usage.network_last_minute, request.runs_per_minute),
        (usage.network_running, request.concurrent),
    ):
        shared = request.network_limit(limit)
        if shared and used >= shared:
            return "network"
    return None


class QuotaStore(Protocol):
    def admit(self, request: AdmitRequest) -> Admission: ...
    def release(self, visitor: str, ticket: str, network: str = "") -> None: ...
    def settle(self, visitor: str, ticket: str, day: str, micros: int) -> None: ...
    def usage(self, visitor: str, day: str, now: float, network: str = "") -> Usage: ...
    def close(self) -> None: ...


class SQLiteQuotaStore:
    """One row per admitted run; counts are queries inside an immediate (write-locked) transaction."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS runs (
        ticket TEXT PRIMARY KEY,
        visitor TEXT NOT NULL,
        day TEXT NOT NULL,
        started REAL NOT NULL,
        lease_until REAL NOT NULL,
        running INTEGER NOT NULL DEFAULT 1,
        usd_micros INTEGER NOT NULL DEFAULT 0,
        network TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX IF NOT EXISTS runs_by_visitor ON runs (visitor, day);
    CREATE INDEX IF NOT EXISTS runs_by_day ON runs (day);
    """
    # Files from before a column existed gain it (existing rows: no cost, no network).
    ADDED_COLUMNS: ClassVar[dict[str, str]] = {
        "usd_micros": "INTEGER NOT NULL DEFAULT 0",
        "network": "TEXT NOT NULL DEFAULT ''",
    }
    NETWORK_INDEX = "CREATE INDEX IF NOT EXISTS runs_by_network ON runs (network, day)"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = self._connect()
            try:
                upgrade(db, self.SCHEMA, self._migrate)
            finally:
                db.close()
        except (OSError, sqlite3.Error) as exc:
            raise QuotaConfigError(
                f"NEUROLINK_STATE_DB: cannot use {path} for run counts ({exc}); point it (or "
                "NEUROLINK_DATA_DIR) at a writable folder"
            ) from None
        self._local = threading.local()

    @classmethod
    def _migrate(cls, db: sqlite3.Connection) -> None:
        add_columns(db, "runs", cls.ADDED_COLUMNS)
        db.execute(cls.NETWORK_INDEX)

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: transactions are begun explicitly, as IMMEDIATE.
        return sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    @staticmethod
    def _usage(db: sqlite3.Connection, visitor: str, day: str, now: float, network: str) -> Usage:
        all_today, spent = db.execute(
            "SELECT count(*), coalesce(sum(usd_micros), 0) FROM runs WHERE day = ?", (day,)
        ).fetchone()
        (today,) = db.execute(
            "SELECT count(*) FROM runs WHERE visitor = ? AND day = ?", (visitor, day)
        ).fetchone()
        last_minute, oldest = db.execute(
            "SELECT count(*), min(started) FROM runs WHERE visitor = ? AND started > ?",
            (visitor, now - MINUTE),
        ).fetchone()
        running, soonest = db.execute(
            "SELECT count(*), min(lease_until) FROM runs "
            "WHERE visitor = ? AND running = 1 AND lease_until > ?",
            (visitor, now),
        ).fetchone()
        network_today = network_last_minute = network_running = 0
        if network:
            (network_today,) = db.execute(
                "SELECT count(*) FROM runs WHERE network = ? AND day = ?", (network, day)
            ).fetchone()
            network_last_minute, network_running = db.execute(
                "SELECT coalesce(sum(started > ?), 0), "
                "coalesce(sum(running = 1 AND lease_until > ?), 0) "
                "FROM runs WHERE network = ? AND day >= date(?, '-1 day')",
                (now - MINUTE, now, network, day),
            ).fetchone()
        return Usage(
            today=today,
            all_today=all_today,
            last_minute=last_minute,
            running=running,
            minute_frees_at=oldest + MINUTE if oldest is not None else None,
            slot_frees_at=soonest,
            spent_micros=int(spent),
            network_today=network_today,
            network_last_minute=network_last_minute,
            network_running=network_running,
        )

    def admit(self, request: AdmitRequest) -> Admission:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            # Yesterday's rows still serve the sliding minute; older ones serve nothing.
            db.execute("DELETE FROM runs WHERE day < date(?, '-1 day')", (request.day,))
            usage = self._usage(db, request.visitor, request.day, request.now, request.network)
            refused = first_refusal(request, usage)
            if refused is None:
                db.execute(
                    "INSERT INTO runs "
                    "(ticket, visitor, day, started, lease_until, usd_micros, network) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        request.ticket,
                        request.visitor,
                        request.day,
                        request.now,
                        request.now + request.lease,
                        request.cost_micros,
                        request.network,
                    ),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Admission(refused is None, usage, refused)

    def release(self, visitor: str, ticket: str, network: str = "") -> None:
        self._db().execute(
            "UPDATE runs SET running = 0 WHERE ticket = ? AND visitor = ?", (ticket, visitor)
        )

    def settle(self, visitor: str, ticket: str, day: str, micros: int) -> None:
        """The run's cost, in place of what its admission reserved (one statement: atomic)."""
        self._db().execute(
            "UPDATE runs SET usd_micros = ? WHERE ticket = ? AND visitor = ? AND day = ?",
            (max(int(micros), 0), ticket, visitor, day),
        )

    def usage(self, visitor: str, day: str, now: float, network: str = "") -> Usage:
        return self._usage(self._db(), visitor, day, now, network)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


# KEYS: visitor's day counter, everyone's day counter, visitor's starts (zset), visitor's slots
# (zset by lease end), the day's micro-dollars (everyone), the day's reservation per ticket (hash),
# then the visitor's /48: its day counter, starts and slots. ARGV: now, ticket, per-minute,
# per-day, concurrent, daily, lease, day ttl, cost, budget, the /48's share (0: not counted).
# Returns {refused or "", today, all_today, last_minute, running, oldest start, soonest lease,
# spent micro-dollars, the /48's today, last minute, running}.
ADMIT_SCRIPT = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 60)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local today = tonumber(redis.call('GET', KEYS[1]) or '0')
local all_today = tonumber(redis.call('GET', KEYS[2]) or '0')
local last_minute = redis.call('ZCARD', KEYS[3])
local running = redis.call('ZCARD', KEYS[4])
local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')[2] or ''
local soonest = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')[2] or ''
local spent = tonumber(redis.call('GET', KEYS[5]) or '0')
local per_minute, per_day = tonumber(ARGV[3]), tonumber(ARGV[4])
local concurrent, daily = tonumber(ARGV[5]), tonumber(ARGV[6])
local cost, budget = tonumber(ARGV[9]), tonumber(ARGV[10])
local share = tonumber(ARGV[11])
local net_today, net_minute, net_running = 0, 0, 0
if share > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now - 60)
  redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', now)
  net_today = tonumber(redis.call('GET', KEYS[7]) or '0')
  net_minute = redis.call('ZCARD', KEYS[8])
  net_running = redis.call('ZCARD', KEYS[9])
end
local refused = ''
if daily > 0 and all_today >= daily then refused = 'daily_runs'
elseif budget > 0 and spent + cost > budget then refused = 'daily_budget'
elseif per_day > 0 and today >= per_day then refused = 'runs_per_day'
elseif per_minute > 0 and last_minute >= per_minute then refused = 'runs_per_minute'
elseif concurrent > 0 and running >= concurrent then refused = 'concurrent'
elseif share > 0 and per_day > 0 and net_today >= per_day * share then refused = 'network'
elseif share > 0 and per_minute > 0 and net_minute >= per_minute * share then refused = 'network'
elseif share > 0 and concurrent > 0 and net_running >= concurrent * share then refused = 'network'
end
if refused == '' then
  local lease, day_ttl = tonumber(ARGV[7]), tonumber(ARGV[8])
  redis.call('INCR', KEYS[1]); redis.call('EXPIRE', KEYS[1], day_ttl)
  redis.call('INCR', KEYS[2]); redis.call('EXPIRE', KEYS[2], day_ttl)
  redis.call('ZADD', KEYS[3], now, ARGV[2]); redis.call('EXPIRE', KEYS[3], 120)
  redis.call('ZADD', KEYS[4], now + lease, ARGV[2])
  redis.call('EXPIRE', KEYS[4], math.ceil(lease) + 60)
  if cost > 0 then
    redis.call('INCRBY', KEYS[5], ARGV[9]); redis.call('EXPIRE', KEYS[5], day_ttl)
    redis.call('HSET', KEYS[6], ARGV[2], ARGV[9]); redis.call('EXPIRE', KEYS[6], day_ttl)
  end
  if share > 0 then
    redis.call('INCR', KEYS[7]); redis.call('EXPIRE', KEYS[7], day_ttl)
    redis.call('ZADD', KEYS[8], now, ARGV[2]); redis.call('EXPIRE', KEYS[8], 120)
    redis.call('ZADD', KEYS[9], now + lease, ARGV[2])
    redis.call('EXPIRE', KEYS[9], math.ceil(lease) + 60)
  end
end
return {refused, today, all_today, last_minute, running, oldest, soonest, string.format('%d', spent),
  net_today, net_minute, net_running}
"""
# KEYS: the day's micro-dollars, the day's reservation per ticket. ARGV: ticket, its cost.
# The ticket's reservation becomes its cost and the day's total moves by the difference (once:
# an unknown ticket, or one settled already at that cost, changes nothing).
SETTLE_SCRIPT = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
local delta = tonumber(ARGV[2]) - tonumber(old)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if delta ~= 0 then redis.call('INCRBY', KEYS[1], string.format('%d', delta)) end
return 1
"""
DAY_TTL = 3 * 86_400


def redacted(url: str) -> str:
    """A Redis URL fit for a message: no password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisQuotaStore:
    """Counts shared by every replica: day counters and sorted sets, admitted by one Lua script."""

    def __init__(self, url: str, *, prefix: str = "neurolink:quota:") -> None:
        import redis

        self.prefix = prefix
        try:
            self._redis = redis.Redis.from_url(
                url, socket_connect_timeout=3.0, socket_timeout=5.0, decode_responses=True
            )
            self._redis.ping()
        except (redis.RedisError, ValueError) as exc:
            raise QuotaConfigError(
                f"NEUROLINK_REDIS_URL: cannot reach Redis at {redacted(url)} ({exc}); start it, "
                "fix the URL, or unset NEUROLINK_REDIS_URL to keep counts in SQLite"
            ) from None
        self._admit = self._redis.register_script(ADMIT_SCRIPT)
        self._settle = self._redis.register_script(SETTLE_SCRIPT)

    def _keys(self, visitor: str, day: str, network: str = "") -> list[str]:
        p = self.prefix
        net = network or "net:-"  # no /48: keys the script never touches (its share is 0)
        return [
            f"{p}day:{day}:{visitor}",
            f"{p}day:{day}",
            f"{p}min:{visitor}",
            f"{p}run:{visitor}",
            *self._budget_keys(day),
            f"{p}day:{day}:{net}",
            f"{p}min:{net}",
            f"{p}run:{net}",
        ]

    def _budget_keys(self, day: str) -> list[str]:
        return [f"{self.prefix}usd:{day}", f"{self.prefix}usdrun:{day}"]

    @staticmethod
    def _usage(values: list[object]) -> Usage:
        oldest, soonest = str(values[5] or ""), str(values[6] or "")
        return Usage(
            today=int(str(values[1])),
            all_today=int(str(values[2])),
            last_minute=int(str(values[3])),
            running=int(str(values[4])),
            minute_frees_at=float(oldest) + MINUTE if oldest else None,
            slot_frees_at=float(soonest) if soonest else None,
            spent_micros=int(float(str(values[7] or 0))),
            network_today=int(str(values[8])),
            network_last_minute=int(str(values[9])),
            network_running=int(str(values[10])),
        )

    def admit(self, request: AdmitRequest) -> Admission:
        args: list[str | int | float] = [
            request.now,
            request.ticket,
            request.runs_per_minute,
            request.runs_per_day,
            request.concurrent,
            request.daily_runs,
            request.lease,
            DAY_TTL,
            int(request.cost_micros),
            int(request.budget_micros),
            request.network_share if request.network else 0,
        ]
        keys = self._keys(request.visitor, request.day, request.network)
        values = self._admit(keys=keys, args=args)
        refused = self._refusal(str(values[0]))
        return Admission(refused is None, self._usage(values), refused)

    @staticmethod
    def _refusal(name: str) -> Limit | None:
        """ADMIT_SCRIPT's first value: '' (admitted) or the limit that refused the run."""
        if not name:
            return None
        limit = _LIMITS_BY_NAME.get(name)
        if limit is None:  # the script and Limit have drifted apart: never admit on a guess
            raise RuntimeError(f"the quota script refused a run for an unknown limit {name!r}")
        return limit

    def release(self, visitor: str, ticket: str, network: str = "") -> None:
        self._redis.zrem(f"{self.prefix}run:{visitor}", ticket)
        if network:
            self._redis.zrem(f"{self.prefix}run:{network}", ticket)

    def settle(self, visitor: str, ticket: str, day: str, micros: int) -> None:
        self._settle(keys=self._budget_keys(day), args=[ticket, max(int(micros), 0)])

    def usage(self, visitor: str, day: str, now: float, network: str = "") -> Usage:
        keys = self._keys(visitor, day, network)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(keys[0])
            pipe.get(keys[1])
            pipe.zcount(keys[2], f"({now - MINUTE}", "+inf")
            pipe.zcount(keys[3], f"({now}", "+inf")
            pipe.zrangebyscore(keys[2], f"({now - MINUTE}", "+inf", start=0, num=1, withscores=True)
            pipe.zrangebyscore(keys[3], f"({now}", "+inf", start=0, num=1, withscores=True)
            pipe.get(keys[4])
            pipe.get(keys[6])
            pipe.zcount(keys[7], f"({now - MINUTE}", "+inf")
            pipe.zcount(keys[8], f"({now}", "+inf")
            (today, all_today, last_minute, running, oldest, soonest, spent, net_today, net_minute,
             net_running) = pipe.execute()  # fmt: skip
        return Usage(
            today=int(today or 0),
            all_today=int(all_today or 0),
            last_minute=int(last_minute),
            running=int(running),
            minute_frees_at=oldest[0][1] + MINUTE if oldest else None,
            slot_frees_at=soonest[0][1] if soonest else None,
            spent_micros=int(spent or 0),
            network_today=int(net_today or 0) if network else 0,
            network_last_minute=int(net_minute) if network else 0,
            network_running=int(net_running) if network else 0,
        )

    def close(self) -> None:
        self._redis.close()


def open_store(state_db: Path | None, redis_url: str | None) -> QuotaStore:
    """Redis when a URL is given (checked now, so a bad one stops the start), else SQLite."""
    if redis_url:
        return RedisQuotaStore(redis_url)
    if state_db is None:
        raise QuotaConfigError("NEUROLINK_STATE_DB: no place to keep run counts")
    return SQLiteQuotaStore(state_db)
