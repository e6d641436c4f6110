"""Opening a SQLite file that other processes may be opening at the same moment (replicas on one
volume, a restart overlapping the old process, the results and quota stores of one app): the
one place that switches a file to WAL and upgrades its tables. No Gradio here; blocking, so it
runs at start-up or in worker threads, never on the event loop.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping

BUSY_TIMEOUT_S = 30.0  # the stores' connections wait as long for another writer


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def use_wal(db: sqlite3.Connection, *, timeout: float = BUSY_TIMEOUT_S) -> None:
    """Switch the file to write-ahead logging. SQLite answers a switch that meets another
    connection's lock with "database is locked" at once, without waiting as its busy timeout
    would (six processes opening one new file together: one or two failed to start), so the
    switch is tried again, with a growing pause, until `timeout`."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            mode = db.execute("PRAGMA journal_mode").fetchone()
            if mode and str(mode[0]).lower() == "wal":
                return
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def upgrade(
    db: sqlite3.Connection, schema: str, step: Callable[[sqlite3.Connection], None]
) -> None:
    """Create what `schema` makes if missing, then run `step` (adding the columns a file from an
    older release lacks), all under SQLite's write lock: two processes opening one file at once
    both saw a column missing and both added it, and the second failed to start ("duplicate
    column name"). The statements run one by one inside the transaction (`executescript` would
    commit first)."""
    use_wal(db)
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in _statements(schema):
            db.execute(statement)
        step(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def add_columns(db: sqlite3.Connection, table: str, columns: Mapping[str, str]) -> frozenset[str]:
    """Add each of `columns` (name → definition) that `table` lacks, in a file from an older
    release (SQLite's upgrade path is by column; existing rows get the default). Returns the
    names it added. Run it inside `upgrade`'s step, under the write lock."""
    present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    added = frozenset(name for name in columns if name not in present)
    for name in columns:
        if name in added:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {columns[name]}")
    return added


def _statements(script: str) -> list[str]:
    """`script`'s statements, split where SQLite says one is complete (never inside a string)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
