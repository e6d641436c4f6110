"""Where the results' rows live: one SQLite file (one process) or PostgreSQL (every replica).

`ResultStore` speaks one small interface, `Database`: transactions that run statements written
with `?` placeholders, plain reads, a transaction-scoped lock (`Transaction.lock`: the caps are
counted and enforced by one replica at a time) and a deployment-wide try-lock (`Database.
exclusive`: one retention sweep at a time). `SQLiteDatabase` is the embedded default;
`PostgresDatabase` is chosen by `NEUROLINK_DATABASE_URL`. Both are blocking: the store runs in
worker threads, never on the event loop. No Gradio here.

PostgreSQL's schema is a list of versioned migrations; every replica runs the missing ones at
start inside one transaction that holds an advisory lock first, so replicas starting together
apply each migration once and none sees a half-made schema.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit, urlunsplit

from ..sqlite_files import BUSY_TIMEOUT_S, add_columns, upgrade

Row = tuple[Any, ...]


class StoreUnavailable(OSError):
    """The results database failed (unreachable, or a statement failed there)."""


class Transaction(Protocol):
    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Run one statement (`?` placeholders); its rows, if it returns any."""
        ...

    def lock(self, name: str) -> None:
        """Hold `name` until this transaction ends: whoever else asks for it waits."""
        ...


class Database(Protocol):
    # The column that orders rows made in the same instant (insertion order).
    tie: str

    def transaction(self) -> contextlib.AbstractContextManager[Transaction]: ...
    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...
    def exclusive(self, name: str) -> contextlib.AbstractContextManager[bool]:
        """True inside when this caller holds `name` deployment-wide; False when another does
        (it does not wait: the other is doing the same work)."""
        ...

    def close(self) -> None: ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks, from a lock's name."""
    digest = hashlib.sha256(f"neurolink-results:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def redacted(url: str) -> str:
    """A database URL fit for a message: no password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


# ---- SQLite ------------------------------------------------------------------------------------


class _SQLiteTransaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return self._db.execute(sql, tuple(args)).fetchall()

    def lock(self, name: str) -> None:
        """One connection behind a process lock: the transaction already excludes the others."""


class SQLiteDatabase:
    """`results.db` in the store's folder: one connection, one process lock (thread-safe)."""

    tie = "rowid"

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS results (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        kind TEXT NOT NULL,
        model TEXT NOT NULL,
        version TEXT,
        prompt TEXT NOT NULL,
        input TEXT NOT NULL,
        file_fields TEXT NOT NULL,
        files TEXT NOT NULL,
        sources TEXT NOT NULL,
        text TEXT NOT NULL,
        notes TEXT NOT NULL,
        predict_time REAL,
        wall_time REAL NOT NULL,
        cold_boot INTEGER,
        prediction_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        share_id TEXT UNIQUE,
        size INTEGER NOT NULL,
        input_files TEXT NOT NULL DEFAULT '{}',
        file_labels TEXT NOT NULL DEFAULT '[]',
        simulated INTEGER NOT NULL DEFAULT 0,
        db_bytes INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL,
        cost_basis TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX IF NOT EXISTS results_by_owner ON results (owner, created_at);
    CREATE INDEX IF NOT EXISTS results_by_age ON results (created_at);
    """

    # Columns added since the first release: a file made before one gets it (SQLite's upgrade
    # path is by column; its rows get the default).
    ADDED_COLUMNS: ClassVar[dict[str, str]] = {
        "input_files": "TEXT NOT NULL DEFAULT '{}'",
        "file_labels": "TEXT NOT NULL DEFAULT '[]'",
        "simulated": "INTEGER NOT NULL DEFAULT 0",  # older rows: counted as real
        "db_bytes": "INTEGER NOT NULL DEFAULT 0",
        "cost_usd": "REAL",  # older rows: unknown (NULL)
        "cost_basis": "TEXT NOT NULL DEFAULT ''",
        "file_checks": "TEXT NOT NULL DEFAULT '{}'",  # older rows: files checked by place only
    }

    def __init__(self, path: Path, row_bytes_sql: str) -> None:
        self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        upgrade(
            self._db, self.SCHEMA, functools.partial(self._add_columns, row_bytes_sql=row_bytes_sql)
        )
        self._lock = threading.RLock()
        self._sweeping = threading.Lock()

    @classmethod
    def _add_columns(cls, db: sqlite3.Connection, *, row_bytes_sql: str) -> None:
        if "db_bytes" in add_columns(db, "results", cls.ADDED_COLUMNS):
            db.execute(f"UPDATE results SET db_bytes = {row_bytes_sql}")  # older rows, once

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._lock, self._db:
            yield _SQLiteTransaction(self._db)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        held = self._sweeping.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                self._sweeping.release()

    def close(self) -> None:
        with self._lock:
            self._db.close()


# ---- PostgreSQL --------------------------------------------------------------------------------

# Each version's statements, applied in order once per database. Never edit a released one: add
# the next version.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """
            CREATE TABLE results (
                seq BIGINT GENERATED ALWAYS AS IDENTITY,
                id TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                kind TEXT NOT NULL,
                model TEXT NOT NULL,
                version TEXT,
                prompt TEXT NOT NULL,
                input TEXT NOT NULL,
                file_fields TEXT NOT NULL,
                files TEXT NOT NULL,
                sources TEXT NOT NULL,
                text TEXT NOT NULL,
                notes TEXT NOT NULL,
                predict_time DOUBLE PRECISION,
                wall_time DOUBLE PRECISION NOT NULL,
                cold_boot INTEGER,
                prediction_id TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                share_id TEXT UNIQUE,
                size BIGINT NOT NULL,
                input_files TEXT NOT NULL DEFAULT '{}',
                file_labels TEXT NOT NULL DEFAULT '[]',
                simulated INTEGER NOT NULL DEFAULT 0,
                db_bytes BIGINT NOT NULL DEFAULT 0,
                cost_usd DOUBLE PRECISION,
                cost_basis TEXT NOT NULL DEFAULT ''
            )
            """,
            "CREATE INDEX results_by_owner ON results (owner, created_at)",
            "CREATE INDEX results_by_age ON results (created_at)",
        ),
    ),
    # Each kept file's size and SHA-256: a replica serves a file from the shared folder only
    # when its bytes are the ones this result recorded.
    (2, ("ALTER TABLE results ADD COLUMN file_checks TEXT NOT NULL DEFAULT '{}'",)),
)


def _clean(value: Any) -> Any:
    # PostgreSQL's text cannot hold NUL; SQLite's can. A visitor's prompt with one is kept with
    # U+FFFD in its place rather than refused.
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


class _PostgresTransaction:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        cursor = self._conn.execute(sql.replace("?", "%s"), [_clean(a) for a in args])
        return cursor.fetchall() if cursor.description is not None else []

    def lock(self, name: str) -> None:
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(name),))


def migrate(conn: Any) -> list[int]:
    """Apply the missing migrations on `conn` (a psycopg connection), once, whichever replica
    gets the lock first; the versions this call applied."""
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("migrate"),))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS neurolink_migrations "
            "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM neurolink_migrations")}
        for version, statements in MIGRATIONS:
            if version in done:
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO neurolink_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
    return applied


class PostgresDatabase:
    """A psycopg 3 connection pool to the server at `url`; migrations applied at start."""

    tie = "seq"

    def __init__(self, url: str, *, max_connections: int = 8) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self._errors: type[Exception] = psycopg.Error
        self.url = url
        try:
            # One plain connection first: an unreachable server fails at once with its own
            # reason (a pool would retry in the background until its timeout).
            with psycopg.connect(url, connect_timeout=10) as conn:
                self.applied = migrate(conn)
            self._pool = ConnectionPool(
                url,
                min_size=1,
                max_size=max(2, max_connections),
                open=True,
                timeout=30.0,
                # Each connection is checked as it is handed out (one round trip): after the
                # server restarts or fails over, the next call reconnects instead of failing.
                check=ConnectionPool.check_connection,
            )
        except Exception as exc:  # psycopg's and the pool's errors alike
            raise StoreUnavailable(
                f"NEUROLINK_DATABASE_URL: cannot use PostgreSQL at {redacted(url)} ({exc}); "
                "start it, fix the URL, or unset NEUROLINK_DATABASE_URL to keep results in "
                "SQLite"
            ) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                yield _PostgresTransaction(conn)
        except self._errors as exc:
            raise StoreUnavailable(f"the results database failed: {exc}") from exc

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self.transaction() as tx:
            return tx.execute(sql, args)

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        # A session-level advisory lock on a connection held for the whole block: released when
        # the block ends, or by the server when this replica dies.
        try:
            with self._pool.connection() as conn:
                conn.autocommit = True
                try:
                    key = lock_key(name)
                    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                    held = bool(row and row[0])
                    try:
                        yield held
                    finally:
                        if held:
                            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                finally:
                    conn.autocommit = False
        except self._errors as exc:
            raise StoreUnavailable(f"the results database failed: {exc}") from exc

    def close(self) -> None:
        self._pool.close()
