"""Processes opening one SQLite file at the same moment (replicas on one volume, a restart
overlapping the old process) all start: both stores, from a file of an older release."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from neurolink_ui.quota.store import SQLiteQuotaStore
from neurolink_ui.results.database import SQLiteDatabase
from neurolink_ui.results.store import _ROW_BYTES
from neurolink_ui.sqlite_files import _statements

OPENERS = 6
# A round fails on the old code only now and then (SQLite's "database is locked" on the switch to
# WAL, or "duplicate column name"); 30 rounds failed in 4 of 5 tries of each store.
ROUNDS = 30


def old_results_file(path: Path) -> None:
    """A results file from before the added columns, in SQLite's default (rollback) journal."""
    with sqlite3.connect(path) as old:
        old.executescript(SQLiteDatabase.SCHEMA)
        for column in SQLiteDatabase.ADDED_COLUMNS:
            if column in SQLiteDatabase.SCHEMA:
                old.execute(f"ALTER TABLE results DROP COLUMN {column}")
    old.close()


def old_quota_file(path: Path) -> None:
    """A run-count file from before the migrations' columns."""
    with sqlite3.connect(path) as old:
        old.executescript(SQLiteQuotaStore.SCHEMA)
        for column in SQLiteQuotaStore.ADDED_COLUMNS:
            old.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    old.close()


def open_results(path: Path) -> None:
    SQLiteDatabase(path, _ROW_BYTES).close()


def open_quota(path: Path) -> None:
    SQLiteQuotaStore(path)


@pytest.mark.parametrize(
    ("make_old", "open_it", "table", "added"),
    [
        (old_results_file, open_results, "results", set(SQLiteDatabase.ADDED_COLUMNS)),
        (old_quota_file, open_quota, "runs", set(SQLiteQuotaStore.ADDED_COLUMNS)),
        (lambda path: None, open_results, "results", set(SQLiteDatabase.ADDED_COLUMNS)),
        (lambda path: None, open_quota, "runs", set(SQLiteQuotaStore.ADDED_COLUMNS)),
    ],
    ids=["results-old-file", "quota-old-file", "results-new-file", "quota-new-file"],
)
def test_processes_opening_one_file_at_once_all_start(
    tmp_path: Path,
    make_old: Callable[[Path], None],
    open_it: Callable[[Path], None],
    table: str,
    added: set[str],
) -> None:
    for round_ in range(ROUNDS):
        path = tmp_path / f"{table}-{round_}.db"
        make_old(path)
        start = threading.Barrier(OPENERS)
        failures: list[BaseException] = []

        def opener(
            path: Path = path,
            start: threading.Barrier = start,
            failures: list[BaseException] = failures,
        ) -> None:
            start.wait()
            try:
                open_it(path)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=opener) for _ in range(OPENERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert failures == [], f"round {round_}"
        with sqlite3.connect(path) as db:
            columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            assert added <= columns
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()


def test_a_schema_is_split_into_whole_statements_never_inside_a_string() -> None:
    script = """
    CREATE TABLE t (a TEXT NOT NULL DEFAULT 'x; y');
    CREATE INDEX t_a ON t (a);
    """
    assert _statements(script) == [
        "CREATE TABLE t (a TEXT NOT NULL DEFAULT 'x; y');",
        "CREATE INDEX t_a ON t (a);",
    ]
