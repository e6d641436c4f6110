"""ResultStore on a real PostgreSQL server (tests/conftest.py postgres_server): two store
instances on one database and one files folder are two replicas. What one keeps, shares,
deletes or sweeps, the other sees; caps are the deployment's; migrations run once; files are
handed out only when their bytes are the result's own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import new_database
from helpers import until

from neurolink_ui.results import NewResult, ResultStore, StoreFull, new_history_id
from neurolink_ui.results.database import MIGRATIONS, PostgresDatabase, lock_key

pytestmark = pytest.mark.slow  # a PostgreSQL server (one per test worker)


def output(folder: Path, name: str, data: bytes = b"\x89PNG fake image bytes") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def image(files: tuple[Path, ...], prompt: str = "a red fox", simulated: bool = False) -> NewResult:
    return NewResult(
        kind="image",
        model="black-forest-labs/flux-schnell",
        prompt=prompt,
        input={"prompt": prompt},
        files=files,
        wall_time=1.0,
        simulated=simulated,
    )


@pytest.fixture
def database(postgres_server: str) -> str:
    return new_database(postgres_server)


@pytest.fixture
def replicas(database: str, tmp_path: Path) -> Iterator[Callable[..., ResultStore]]:
    """Opens stores on one database and one shared data folder (each one a replica)."""
    opened: list[ResultStore] = []

    def open_replica(**caps: Any) -> ResultStore:
        store = ResultStore(tmp_path / "shared", database_url=database, **caps)
        opened.append(store)
        return store

    yield open_replica
    for store in opened:
        store.close()


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return results


def test_replicas_share_history_share_links_and_deletes(
    replicas: Callable[..., ResultStore], tmp_path: Path
) -> None:
    a, b = replicas(), replicas()
    me = new_history_id()
    kept = a.add(me, image((output(tmp_path / "session", "out.png"),)))
    [seen] = b.list(me)  # the same History id's list, on the other replica
    assert (seen.id, seen.prompt) == (kept.id, "a red fox")
    assert seen.files[0].read_bytes() == b"\x89PNG fake image bytes"

    share_id = a.share(me, kept.id)
    assert share_id is not None and b.share(me, kept.id) == share_id  # one link, not two
    opened = b.shared(share_id)
    assert opened is not None and [p.name for p in opened.files] == ["00-out.png"]

    assert b.delete(me, kept.id)  # Delete on B
    assert a.list(me) == [] and a.shared(share_id) is None and a.get(me, kept.id) is None
    assert not (a.files_root / kept.id).exists()
    assert not a.delete(me, kept.id)  # already gone: nothing removed twice


def test_two_shares_at_once_give_one_link(
    replicas: Callable[..., ResultStore], tmp_path: Path
) -> None:
    a, b = replicas(), replicas()
    me = new_history_id()
    kept = a.add(me, image((output(tmp_path / "s", "x.png"),)))
    first, second = at_once(lambda: a.share(me, kept.id), lambda: b.share(me, kept.id))
    assert first == second and first is not None


def test_two_sweeps_at_once_remove_each_expired_result_once(
    replicas: Callable[..., ResultStore], tmp_path: Path
) -> None:
    removed: list[Path] = []
    a = replicas(ttl=60.0, on_remove=removed.append)
    b = replicas(ttl=60.0, on_remove=removed.append)
    me = new_history_id()
    old = [
        a.add(me, image((output(tmp_path / "s", f"{i}.png"),)), now=1000.0 + i) for i in range(8)
    ]
    fresh = b.add(me, image((output(tmp_path / "s", "new.png"),)))
    counts = at_once(lambda: a.sweep(), lambda: b.sweep())
    assert sum(counts) == len(old)  # each expired result removed once, by one of them
    assert [r.id for r in a.list(me)] == [fresh.id]
    # Each removed result's file (and the output it came from) handed to on_remove once.
    kept_copies = [p for p in removed if p.is_relative_to(a.files_root)]
    assert len(kept_copies) == len(set(kept_copies)) == len(old)
    # Even without the sweep's lock, a row is deleted by one statement only: a second sweep
    # over the same rows finds nothing.
    assert a.sweep() == 0 and b.sweep() == 0


def test_one_sweep_at_a_time_across_replicas(
    replicas: Callable[..., ResultStore], database: str, tmp_path: Path
) -> None:
    a = replicas(ttl=60.0)
    me = new_history_id()
    a.add(me, image((output(tmp_path / "s", "old.png"),)), now=1000.0)
    # Another replica holds the sweep's lock (a session-level advisory lock on its connection).
    with psycopg.connect(database, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (lock_key("sweep"),))
        assert a.sweep() == 0 and len(a.list(me)) == 1  # it does not wait, nor sweep twice
    # The other replica died (its connection closed): the server frees its lock once that
    # connection's backend has ended, and the next sweep runs.
    until(lambda: a.sweep() == 1, 10, "the next sweep after the lock's holder died")
    assert a.list(me) == []


def test_a_cap_reached_through_one_replica_refuses_on_the_other(
    replicas: Callable[..., ResultStore], tmp_path: Path
) -> None:
    # Room for about two results in all; a shared result of another History is never removed.
    a = replicas(disk_cap=2_000, max_bytes_per_history=10**6)
    b = replicas(disk_cap=2_000, max_bytes_per_history=10**6)
    sharer, stranger = new_history_id(), new_history_id()
    for name in ("1.png", "2.png"):
        kept = a.add(sharer, image((output(tmp_path / "s", name, b"x" * 700),)))
        assert a.share(sharer, kept.id)
    with pytest.raises(StoreFull, match="full of other visitors' shared results"):
        b.add(stranger, image((output(tmp_path / "s", "3.png", b"y" * 700),)))
    assert b.count(stranger) == 0 and a.disk_usage() <= 2_000
    assert len(list((tmp_path / "shared" / "files").iterdir())) == 2  # its copy went too


def test_runs_finishing_at_once_on_two_replicas_stay_within_the_caps(
    replicas: Callable[..., ResultStore], tmp_path: Path
) -> None:
    a = replicas(max_per_history=3)
    b = replicas(max_per_history=3)
    me = new_history_id()
    files = [output(tmp_path / "s", f"{i}.png") for i in range(8)]
    at_once(
        *(lambda s=s, f=f: s.add(me, image((f,))) for s, f in zip([a, b] * 4, files, strict=True))
    )
    assert a.count(me) == 3 and len(b.list(me)) == 3
    assert len(list((tmp_path / "shared" / "files").iterdir())) == 3  # the others' files went


def test_a_file_changed_in_the_shared_folder_is_not_handed_out(
    replicas: Callable[..., ResultStore], tmp_path: Path
) -> None:
    a, b = replicas(), replicas()
    me = new_history_id()
    first = output(tmp_path / "s", "a.png", b"first image bytes")
    second = output(tmp_path / "s", "b.png", b"other image bytes")
    kept = a.add(me, image((first, second), prompt="a long prompt " * 100))
    share_id = a.share(me, kept.id)
    assert share_id and kept.prompt_file is not None
    kept.prompt_file.write_text("someone else's words", encoding="utf-8")
    shown = b.shared(share_id)
    assert shown is not None and shown.prompt_file is None  # the row's prompt, not that file
    [one, two] = kept.files
    one.unlink()
    one.write_bytes(b"first image BYTES")  # same size, other bytes
    two.unlink()
    two.symlink_to(second)  # a link out of the folder, to the right bytes
    opened = b.shared(share_id)
    assert opened is not None and opened.files == ()
    (kept.files_dir or tmp_path).joinpath("00-a.png").unlink()
    (kept.files_dir or tmp_path).joinpath("00-a.png").write_bytes(b"first image bytes")
    reopened = b.shared(share_id)
    assert reopened is not None and [p.name for p in reopened.files] == ["00-a.png"]


def test_text_postgres_cannot_hold_is_kept_readable(
    replicas: Callable[..., ResultStore],
) -> None:
    a = replicas()
    me = new_history_id()
    kept = a.add(me, NewResult(kind="chat", model="o/m", prompt="a\x00b", text="c\x00d"))
    assert (kept.prompt, kept.text) == ("a\ufffdb", "c\ufffdd")


def test_replicas_starting_together_migrate_once_and_an_older_schema_upgrades(
    database: str, tmp_path: Path
) -> None:
    # A database left at version 1 (before file checks), with a row in it.
    me = new_history_id()
    import hashlib

    with psycopg.connect(database) as conn:
        conn.execute(
            "CREATE TABLE neurolink_migrations (version INTEGER PRIMARY KEY, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for statement in MIGRATIONS[0][1]:
            conn.execute(statement)
        conn.execute("INSERT INTO neurolink_migrations (version) VALUES (1)")
        conn.execute(
            "INSERT INTO results (id, owner, kind, model, prompt, input, file_fields, files, "
            "sources, text, notes, wall_time, prediction_id, created_at, size) VALUES "
            "(%s, %s, 'image', 'o/m', 'an old fox', '{}', '[]', '[\"00-old.png\"]', '[]', '', "
            "'[]', 1.0, '', extract(epoch from now()), 3)",
            ("0" * 32, hashlib.sha256(me.encode()).hexdigest()),
        )
    output(tmp_path / "shared" / "files" / ("0" * 32), "00-old.png", b"old")
    opened = at_once(
        *(lambda: PostgresDatabase(database) for _ in range(3))  # three replicas start at once
    )
    assert sorted(v for db in opened for v in db.applied) == [2]  # version 2, applied once
    for db in opened:
        db.close()
    store = ResultStore(tmp_path / "shared", database_url=database)
    [old] = store.list(me)  # a row from before file checks: trusted by its place
    assert old.prompt == "an old fox" and [p.name for p in old.files] == ["00-old.png"]
    store.close()


def test_connections_the_server_dropped_are_replaced(
    replicas: Callable[..., ResultStore], database: str, tmp_path: Path
) -> None:
    """A database restart or failover ends every connection: the next call reconnects."""
    a = replicas()
    me = new_history_id()
    kept = a.add(me, image((output(tmp_path / "s", "x.png"),)))
    with psycopg.connect(database, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    assert ended and all(row[0] for row in ended)  # the store's pooled connection(s)
    assert [r.id for r in a.list(me)] == [kept.id]


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    from helpers import free_port

    url = f"postgresql://neurolink:secret@127.0.0.1:{free_port()}/neurolink"
    with pytest.raises(ValueError, match="NEUROLINK_DATABASE_URL: cannot use PostgreSQL") as info:
        ResultStore(tmp_path, database_url=url)
    assert "secret" not in str(info.value) and "***" in str(info.value)
