"""The kept results: one SQLite file plus a folder of output files beside it (no Gradio).

A result is one generation as it happened: the full input (never shortened, so its code reruns
it), the model and version, times, notes, its output files, copied out of the session's output
folder (which expires sooner), and the files its input was given (an input image, a portrait, a
narration), so a shared view shows them and a Remix starts from them again. Results belong to a
History id (a random id a browser keeps); the database keeps only its digest, so a copy of the
file cannot impersonate anyone. Sharing gives a result a second random id, the only one a link
carries.

Every id that comes from outside is checked against its format before any query, and never
becomes a path: a result's folder is named by its own server-made id.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import secrets
import shutil
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .database import (
    Database,
    PostgresDatabase,
    SQLiteDatabase,
    StoreUnavailable,
    Transaction,
)

log = logging.getLogger("neurolink_ui.results")

DAY = 86400.0
DEFAULT_TTL = 7 * DAY
DEFAULT_MAX_PER_HISTORY = 100
DEFAULT_DISK_CAP = 10 * 1024**3
DEFAULT_HISTORY_BYTES = 512 * 1024**2  # one History id's share of the store
SIMULATED_SHARE = 10  # simulator results get 1/10 of the disk cap unless told otherwise
MAX_TEXT_CHARS = 1_000_000  # a chat answer or prompt kept at most this long
MAX_INPUT_JSON = 2_000_000  # characters of an input's JSON
MAX_NOTES = 20
PROMPT_FILE_CHARS = 1000  # a longer prompt is also kept as prompt.txt, a download
PROMPT_FILE = "prompt.txt"
INPUTS_FOLDER = "inputs"  # a result's input files, beside its outputs
MAX_INPUT_FILES = 20

_HISTORY_ID = re.compile(r"[A-Za-z0-9_-]{22,64}")
_SHARE_ID = re.compile(r"[A-Za-z0-9_-]{32,64}")
_RESULT_ID = re.compile(r"[0-9a-f]{32}")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def new_history_id() -> str:
    """A browser's History id: 144 random bits, URL-safe."""
    return secrets.token_urlsafe(18)


def valid_history_id(value: object) -> str | None:
    """`value` when it is a well-formed History id, else None (the caller makes a new one)."""
    return value if isinstance(value, str) and _HISTORY_ID.fullmatch(value) else None


def valid_share_id(value: object) -> str | None:
    return value if isinstance(value, str) and _SHARE_ID.fullmatch(value) else None


def valid_result_id(value: object) -> str | None:
    return value if isinstance(value, str) and _RESULT_ID.fullmatch(value) else None


def _owner_key(history_id: str) -> str:
    return hashlib.sha256(history_id.encode()).hexdigest()


def safe_file_name(name: str, index: int) -> str:
    """A kept file's name: its position, then the original's name made plain (no dotfiles)."""
    stem = _UNSAFE_NAME.sub("_", Path(name).name).strip("._")[:80] or "output"
    return f"{index:02d}-{stem}"


@dataclass(frozen=True)
class NewResult:
    """One generation to keep, as the recording path hands it over."""

    kind: str
    model: str
    version: str | None = None
    prompt: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    file_fields: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()  # outputs to copy in
    input_files: tuple[tuple[str, Path], ...] = ()  # (input field, file) to copy in
    file_labels: tuple[str, ...] = ()  # a caption per output file (a compare: its cell's model)
    text: str = ""
    notes: tuple[str, ...] = ()
    predict_time: float | None = None
    wall_time: float = 0.0
    cold_boot: bool | None = None
    prediction_id: str = ""
    simulated: bool = False  # ran on the simulator: kept apart, never pushes real results out
    cost_usd: float | None = None  # estimated cost in US dollars (None: unknown)
    cost_basis: str = ""  # how it was estimated, or why it is unknown


@dataclass(frozen=True)
class StoredResult:
    """A kept result. `files` are absolute paths inside the store's files folder."""

    id: str
    kind: str
    model: str
    version: str | None
    prompt: str
    input: dict[str, Any]
    file_fields: tuple[str, ...]
    files: tuple[Path, ...]
    text: str
    notes: tuple[str, ...]
    predict_time: float | None
    wall_time: float
    cold_boot: bool | None
    prediction_id: str
    created_at: float
    share_id: str | None
    size: int  # bytes it takes: its files and its row's text (prompt, input JSON, answer, notes)
    # The input's files by field (absolute paths in the result's `inputs` folder).
    input_files: dict[str, tuple[Path, ...]] = field(default_factory=dict)
    file_labels: tuple[str, ...] = ()  # one per file, or none
    simulated: bool = False
    cost_usd: float | None = None  # estimated cost in US dollars (None: unknown, or older)
    cost_basis: str = ""  # how it was estimated, or why it is unknown

    def file_label(self, index: int) -> str | None:
        return self.file_labels[index] if index < len(self.file_labels) else None

    @property
    def prompt_file(self) -> Path | None:
        """The full prompt as a file, kept beside the outputs when it is long."""
        if len(self.prompt) <= PROMPT_FILE_CHARS or not self.files_dir or not self.prompt_kept:
            return None
        return self.files_dir / PROMPT_FILE

    files_dir: Path | None = None
    prompt_kept: bool = True  # its prompt file is the one recorded (see ResultStore's checks)


class ResultStore:
    """Results in `root/results.db`, their files in `root/files/<result id>/`.

    A result's bytes are its files plus its row's text (prompt, input JSON, answer, notes). Caps:
    `ttl` seconds (0 keeps them); per History id at most `max_per_history` results and
    `max_bytes_per_history` bytes (its own oldest go first: one History cannot take the others'
    room); simulator results at most `simulated_disk_cap` bytes among themselves (they never push
    a real result out); real results at most `disk_cap` bytes in all — the oldest unshared ones go
    first, and a shared result is never removed for another History's run before its TTL: when
    only those are left, the new result is not kept. Thread-safe: Gradio calls it from its worker
    threads and the event loop.
    """

    SCHEMA = SQLiteDatabase.SCHEMA  # the SQLite table as first released (tests build old files)

    def __init__(
        self,
        root: Path,
        *,
        ttl: float = DEFAULT_TTL,
        max_per_history: int = DEFAULT_MAX_PER_HISTORY,
        disk_cap: int = DEFAULT_DISK_CAP,
        max_bytes_per_history: int = DEFAULT_HISTORY_BYTES,
        simulated_disk_cap: int | None = None,
        temporary: bool = False,
        database_url: str | None = None,
        on_remove: Callable[[Path], None] | None = None,
    ) -> None:
        self.root = root.expanduser()
        self.temporary = temporary  # no data folder configured: kept for this process only
        # Called with each removed result's files and the outputs they were copied from, before
        # the files go: the app removes those outputs and the web server's cached copies.
        self.on_remove = on_remove
        self.files_root = self.root / "files"
        self.ttl = ttl
        self.max_per_history = max_per_history
        self.disk_cap = disk_cap
        self.max_bytes_per_history = max_bytes_per_history
        self.simulated_disk_cap = (
            disk_cap // SIMULATED_SHARE if simulated_disk_cap is None else simulated_disk_cap
        )
        try:
            self.files_root.mkdir(parents=True, exist_ok=True)
            self.root = self.root.resolve()
            self.files_root = self.files_root.resolve()
            self._db: Database = (
                PostgresDatabase(database_url)
                if database_url
                else SQLiteDatabase(self.root / "results.db", _ROW_BYTES)
            )
        except (OSError, sqlite3.Error) as exc:
            if isinstance(exc, StoreUnavailable):
                raise ValueError(str(exc)) from None
            raise ValueError(
                f"NEUROLINK_DATA_DIR: cannot keep results in {self.root} ({exc}); point it at a "
                "writable folder"
            ) from None
        self.shared_database = bool(database_url)

    def __deepcopy__(self, memo: dict[int, Any]) -> ResultStore:
        # A gr.State default holding the store is deep-copied per session: all share this one.
        return self

    def close(self) -> None:
        """Close the database; a temporary store's folder is removed with everything in it."""
        self._db.close()
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    def _transaction(self) -> contextlib.AbstractContextManager[Transaction]:
        return self._db.transaction()

    # ---- writing -------------------------------------------------------------------------------

    def add(self, history_id: str, new: NewResult, now: float | None = None) -> StoredResult:
        """Keep `new` for `history_id`: its files copied in, then the row; caps enforced."""
        owner = _owner_key(_checked_history_id(history_id))
        result_id = secrets.token_hex(16)
        folder = self.files_root / result_id
        folder.mkdir()
        names: list[str] = []
        checks: dict[str, tuple[int, str]] = {}  # each file's size and SHA-256, by its place
        size = 0
        try:
            for index, source in enumerate(new.files):
                target = folder / safe_file_name(source.name, index)
                _link_or_copy(source, target)
                names.append(target.name)
                size += target.stat().st_size
                checks[target.name] = _fingerprint(target)
            inputs: dict[str, list[str]] = {}
            for index, (name, source) in enumerate(new.input_files[:MAX_INPUT_FILES]):
                if not source.is_file():  # an upload the web server already removed
                    continue
                (folder / INPUTS_FOLDER).mkdir(exist_ok=True)
                target = folder / INPUTS_FOLDER / safe_file_name(source.name, index)
                _link_or_copy(source, target)
                inputs.setdefault(str(name)[:100], []).append(target.name)
                size += target.stat().st_size
                checks[f"{INPUTS_FOLDER}/{target.name}"] = _fingerprint(target)
            prompt = new.prompt[:MAX_TEXT_CHARS]
            if len(prompt) > PROMPT_FILE_CHARS:
                (folder / PROMPT_FILE).write_text(prompt, encoding="utf-8")
                size += (folder / PROMPT_FILE).stat().st_size
                checks[PROMPT_FILE] = _fingerprint(folder / PROMPT_FILE)
            row = {
                "id": result_id,
                "owner": owner,
                "kind": new.kind[:20],
                "model": new.model[:300],
                "version": (new.version or None) and str(new.version)[:100],
                "prompt": prompt,
                "input": _bounded_json(new.input),
                "file_fields": json.dumps(list(new.file_fields)[:50]),
                "files": json.dumps(names),
                # Where the outputs were copied from (never shown): a Delete removes them too.
                "sources": json.dumps([str(p) for p in new.files]),
                "text": new.text[:MAX_TEXT_CHARS],
                "notes": json.dumps([str(n)[:2000] for n in new.notes[:MAX_NOTES]]),
                "predict_time": new.predict_time,
                "wall_time": float(new.wall_time),
                "cold_boot": None if new.cold_boot is None else int(new.cold_boot),
                "prediction_id": new.prediction_id[:100],
                "created_at": time.time() if now is None else now,
                "share_id": None,
                "size": size,
                "input_files": json.dumps(inputs),
                "file_labels": json.dumps([str(x)[:200] for x in new.file_labels[: len(names)]]),
                "simulated": int(bool(new.simulated)),
                "cost_usd": _finite_or_none(new.cost_usd),
                "cost_basis": str(new.cost_basis)[:500],
                "file_checks": json.dumps(checks),
            }
            row["db_bytes"] = sum(len(str(row[name]).encode("utf-8")) for name in _TEXT_COLUMNS)
            refused, kept = self._keep_within_caps(row, stamp=now is None)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if refused:
            raise StoreFull(f"This result was not kept: {refused}")
        assert kept is not None
        # As it was kept (a newer result of this History may push it out at once, on any
        # replica: its own oldest go first).
        return self._stored(kept)

    def share(self, history_id: str, result_id: str) -> str | None:
        """The share id of this History's result (made on first call), None if it has none."""
        owner = _owner_key(_checked_history_id(history_id))
        if not valid_result_id(result_id):
            return None
        # Only a result without one gets a share id, in one statement: two replicas sharing
        # it at once give both clicks the same link, and a Delete in between leaves none.
        with self._transaction() as tx:
            tx.execute(
                "UPDATE results SET share_id = ? WHERE id = ? AND owner = ? AND share_id IS NULL",
                (secrets.token_urlsafe(24), result_id, owner),  # 192 random bits
            )
            rows = tx.execute(
                "SELECT share_id FROM results WHERE id = ? AND owner = ?", (result_id, owner)
            )
        return str(rows[0][0]) if rows and rows[0][0] else None

    def delete(self, history_id: str, result_id: str) -> bool:
        """Remove this History's result and its files; False when it has no such result."""
        owner = _owner_key(_checked_history_id(history_id))
        if not valid_result_id(result_id):
            return False
        return self._remove("id = ? AND owner = ?", (result_id, owner)) > 0

    def clear(self, history_id: str) -> int:
        """Remove every result of this History; returns how many."""
        owner = _owner_key(_checked_history_id(history_id))
        return self._remove("owner = ?", (owner,))

    def sweep(self, now: float | None = None) -> int:
        """Remove results older than the TTL (none when it is 0) and stray folders. One sweep
        at a time across every replica sharing the database: while another runs, this one
        returns 0 at once (each expired result is removed once, by whichever got the lock)."""
        removed = 0
        with self._db.exclusive("sweep") as mine:
            if not mine:
                return 0
            if self.ttl > 0:
                cutoff = (time.time() if now is None else now) - self.ttl
                removed = self._remove("created_at < ?", (cutoff,))
            self._remove_orphans()
        if removed:
            log.info("removed %d expired result(s)", removed)
        return removed

    # ---- reading -------------------------------------------------------------------------------

    def list(self, history_id: str, limit: int | None = None) -> list[StoredResult]:
        """This History's results, newest first."""
        owner = _owner_key(_checked_history_id(history_id))
        rows = self._db.query(
            f"SELECT {self._COLUMNS} FROM results WHERE owner = ? "
            f"ORDER BY created_at DESC, {self._db.tie} DESC "
            "LIMIT ?",
            (owner, limit if limit is not None else self.max_per_history),
        )
        return [self._stored(row) for row in rows]

    def get(self, history_id: str, result_id: str) -> StoredResult | None:
        owner = _owner_key(_checked_history_id(history_id))
        if not valid_result_id(result_id):
            return None
        return self._get_where("id = ? AND owner = ?", (result_id, owner))

    def shared(self, share_id: object) -> StoredResult | None:
        """The result shared under `share_id` (any string a visitor sent), or None."""
        checked = valid_share_id(share_id)
        if checked is None:
            return None
        return self._get_where("share_id = ?", (checked,))

    def count(self, history_id: str) -> int:
        owner = _owner_key(_checked_history_id(history_id))
        [(n,)] = self._db.query("SELECT count(*) FROM results WHERE owner = ?", (owner,))
        return int(n)

    def disk_usage(self, simulated: bool | None = None) -> int:
        """Bytes of every result (files and rows), or of the simulator's or the real ones."""
        where, args = ("", ()) if simulated is None else ("WHERE simulated = ?", (int(simulated),))
        [(total,)] = self._db.query(
            f"SELECT coalesce(sum(size + db_bytes), 0) FROM results {where}", args
        )
        return int(total)

    def history_usage(self, history_id: str) -> int:
        owner = _owner_key(_checked_history_id(history_id))
        [(total,)] = self._db.query(
            "SELECT coalesce(sum(size + db_bytes), 0) FROM results WHERE owner = ?", (owner,)
        )
        return int(total)

    # ---- internals -----------------------------------------------------------------------------

    _COLUMNS = (
        "id, owner, kind, model, version, prompt, input, file_fields, files, text, notes, "
        "predict_time, wall_time, cold_boot, prediction_id, created_at, share_id, "
        "size + db_bytes, input_files, file_labels, simulated, cost_usd, cost_basis, "
        "file_checks"
    )

    def _get_where(self, where: str, args: tuple[Any, ...]) -> StoredResult | None:
        rows = self._db.query(f"SELECT {self._COLUMNS} FROM results WHERE {where}", args)
        return self._stored(rows[0]) if rows else None

    def _stored(self, row: tuple[Any, ...]) -> StoredResult:
        (rid, _owner, kind, model, version, prompt, input_json, file_fields, files, text, notes,
         predict_time, wall_time, cold_boot, prediction_id, created_at, share_id, size,
         input_files, file_labels, simulated, cost_usd, cost_basis, file_checks) = row  # fmt: skip
        folder = self.files_root / rid
        inputs = folder / INPUTS_FOLDER
        checks = _Checks(folder, json.loads(file_checks))
        labels = json.loads(file_labels)
        # Only the files whose bytes are this result's own (see _Checks), each with its caption.
        outputs = [
            (folder / name, labels[index] if index < len(labels) else None)
            for index, name in enumerate(json.loads(files))
            if checks.verified(name)
        ]
        return StoredResult(
            id=rid,
            kind=kind,
            model=model,
            version=version,
            prompt=prompt,
            input=json.loads(input_json),
            file_fields=tuple(json.loads(file_fields)),
            files=tuple(path for path, _ in outputs),
            text=text,
            notes=tuple(json.loads(notes)),
            predict_time=predict_time,
            wall_time=wall_time,
            cold_boot=None if cold_boot is None else bool(cold_boot),
            prediction_id=prediction_id,
            created_at=created_at,
            share_id=share_id,
            size=size,
            files_dir=folder,
            input_files={
                input_name: tuple(
                    inputs / name for name in names if checks.verified(f"{INPUTS_FOLDER}/{name}")
                )
                for input_name, names in json.loads(input_files).items()
            },
            file_labels=tuple(label for _, label in outputs if label is not None),
            prompt_kept=len(prompt) <= PROMPT_FILE_CHARS or checks.verified(PROMPT_FILE),
            simulated=bool(simulated),
            cost_usd=cost_usd,
            cost_basis=cost_basis,
        )

    def _remove(self, where: str, args: tuple[Any, ...]) -> int:
        # One statement deletes and reports: of two replicas removing the same row (two sweeps,
        # a Delete during a sweep), only the one whose DELETE took it removes its files.
        with self._transaction() as tx:
            rows = tx.execute(f"DELETE FROM results WHERE {where} RETURNING id, sources", args)
        removed = [(str(rid), json.loads(sources)) for rid, sources in rows]
        self._remove_files(removed)
        return len(removed)

    @staticmethod
    def _delete_rows(
        tx: Transaction, ids: builtins.list[str]
    ) -> builtins.list[tuple[str, builtins.list[str]]]:
        """Delete these rows; returns each deleted one's id and the outputs it was copied from
        (a row another replica removed first is not in it)."""
        removed = []
        for result_id in ids:
            for rid, sources in tx.execute(
                "DELETE FROM results WHERE id = ? RETURNING id, sources", (result_id,)
            ):
                removed.append((str(rid), json.loads(sources)))
        return removed

    def _remove_files(self, removed: Iterable[tuple[str, builtins.list[str]]]) -> None:
        for result_id, sources in removed:
            if not valid_result_id(result_id):  # server-made; checked anyway before rmtree
                continue
            folder = self.files_root / result_id
            if self.on_remove is not None:
                for path in [*_files_in(folder), *(Path(s) for s in sources)]:
                    try:
                        self.on_remove(path)
                    except Exception:  # one file must not keep the others
                        log.exception("could not remove a copy of a deleted result's file")
            shutil.rmtree(folder, ignore_errors=True)

    def _keep_within_caps(
        self, row: dict[str, Any], stamp: bool
    ) -> tuple[str | None, tuple[Any, ...] | None]:
        """Insert `row`, then enforce the caps, in one transaction under the caps' lock: after
        `owner` kept result `added`: its own count and bytes first (its oldest go),
        then the pool the result went to (simulator or real), oldest unshared first; a shared
        result of another History stays until its TTL. When `added` itself cannot stay (larger
        than a History's share, or only others' shared results left), it goes — its row and
        copies only, never the session outputs it was copied from — and the reason is returned."""
        with self._transaction() as tx:
            # Caps are counted in the database, by one replica at a time: two runs finishing
            # on two replicas cannot both see room for one more.
            tx.lock("caps")
            if stamp:  # its time taken under the lock: the newest row is the latest committed
                row["created_at"] = time.time()
            tx.execute(
                f"INSERT INTO results ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                tuple(row.values()),
            )
            owner, simulated, added = str(row["owner"]), bool(row["simulated"]), str(row["id"])
            refused: str | None = None
            mine = tx.execute(
                "SELECT id, size + db_bytes FROM results WHERE owner = ? "
                f"ORDER BY created_at DESC, {self._db.tie} DESC",
                (owner,),
            )
            over: builtins.list[str] = []
            used = 0
            for index, (rid, size) in enumerate(mine):
                used += size
                keep_count = index < self.max_per_history
                keep_bytes = not self.max_bytes_per_history or used <= self.max_bytes_per_history
                if not (keep_count and keep_bytes) and index > 0:
                    over.append(rid)
                    used -= size
            if mine and self.max_bytes_per_history and mine[0][1] > self.max_bytes_per_history:
                refused = (
                    f"it takes {mine[0][1]:,} bytes, more than one History may keep "
                    f"({self.max_bytes_per_history:,})."
                )
            cap = self.simulated_disk_cap if simulated else self.disk_cap
            pool = tx.execute(
                "SELECT id, size + db_bytes, owner, share_id FROM results WHERE simulated = ? "
                f"ORDER BY share_id IS NOT NULL, created_at, {self._db.tie}",
                (int(simulated),),
            )
            total = sum(size for rid, size, _, _ in pool if rid not in over)
            for rid, size, row_owner, share_id in pool:
                if total <= cap or refused:
                    break
                if rid in over or rid == added or (share_id and row_owner != owner):
                    continue
                over.append(rid)
                total -= size
            if total > cap and not refused:
                own = next((size for rid, size, _, _ in pool if rid == added), 0)
                refused = (
                    f"it takes {own:,} bytes, more than the whole store may keep ({cap:,})."
                    if own > cap
                    else "the results store is full of other visitors' shared results."
                )
            if refused:
                tx.execute("DELETE FROM results WHERE id = ?", (added,))
            removed = self._delete_rows(tx, over)
            kept = tx.execute(f"SELECT {self._COLUMNS} FROM results WHERE id = ?", (added,))
        if over:
            log.info("results over their caps: removed %d", len(over))
        self._remove_files(removed)
        if refused:  # its own copies only: the session still shows its outputs
            shutil.rmtree(self.files_root / added, ignore_errors=True)
        return refused, kept[0] if kept else None

    def _remove_orphans(self) -> None:
        """Folders without a row (a crash between copying and recording) go too."""
        # Called under the sweep's lock: one replica at a time looks at the shared folder.
        known = {r[0] for r in self._db.query("SELECT id FROM results")}
        for folder in self.files_root.iterdir():
            # A folder being filled right now (on any replica) has no row yet: only older ones
            # are strays.
            if folder.name not in known and time.time() - folder.stat().st_mtime > 3600:
                self._remove_files([(folder.name, [])])


class StoreFull(ValueError):
    """The new result did not fit: only other Histories' shared results were left to remove."""


# What a row's text takes (bytes): counted with its files toward every cap.
_TEXT_COLUMNS = ("prompt", "input", "text", "notes", "file_fields", "files", "sources")
_ROW_BYTES = " + ".join(f"length(CAST({name} AS BLOB))" for name in _TEXT_COLUMNS)


def _checked_history_id(history_id: str) -> str:
    checked = valid_history_id(history_id)
    if checked is None:
        raise ValueError("not a History id")
    return checked


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def _bounded_json(value: dict[str, Any]) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > MAX_INPUT_JSON:
        return json.dumps({"_note": f"input of {len(text):,} characters not kept"})
    return text


def _files_in(folder: Path) -> list[Path]:
    """Every file of a result's folder: its outputs and its `inputs`."""
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


def _fingerprint(path: Path) -> tuple[int, str]:
    """A kept file's size and SHA-256 (remembered: reading it back needs no second pass)."""
    info = path.stat()
    digest = _file_digest(path)
    _remember(path, info, digest)
    return info.st_size, digest


def _file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# Digests this process has computed, by file identity (path, inode, size, modification time):
# a file read again unchanged is not hashed again.
_DIGESTS: dict[tuple[str, int, int, int], str] = {}
_DIGESTS_LOCK = threading.Lock()
_MAX_DIGESTS = 4096


def _identity(path: Path, info: os.stat_result) -> tuple[str, int, int, int]:
    return (str(path), info.st_ino, info.st_size, info.st_mtime_ns)


def _remember(path: Path, info: os.stat_result, digest: str) -> None:
    with _DIGESTS_LOCK:
        if len(_DIGESTS) >= _MAX_DIGESTS:
            _DIGESTS.pop(next(iter(_DIGESTS)))
        _DIGESTS[_identity(path, info)] = digest


class _Checks:
    """Whether a file of a result's folder is the one that result recorded.

    The folder may be shared by replicas (or restored, or tampered with): a file is handed out
    only when it is a regular file (no link out of the folder) at its recorded place and, when
    the row recorded them (every result since file checks exist), its size and SHA-256 match.
    A row from before checks is trusted by place only."""

    def __init__(self, folder: Path, recorded: object) -> None:
        self.folder = folder
        self.recorded = recorded if isinstance(recorded, dict) else {}

    def verified(self, place: str) -> bool:
        path = self.folder / place
        try:
            info = path.lstat()
        except OSError:
            return False
        if not stat.S_ISREG(info.st_mode):
            return False
        if not self.recorded:
            return True
        expected = self.recorded.get(place)
        if not (isinstance(expected, list) and len(expected) == 2):
            return False
        size, digest = expected
        if info.st_size != size:
            return False
        with _DIGESTS_LOCK:
            known = _DIGESTS.get(_identity(path, info))
        if known is None:
            try:
                known = _file_digest(path)
            except OSError:
                return False
            _remember(path, info, known)
        if known != digest:
            log.warning("a kept file does not match its result's record; not served: %s", path)
            return False
        return True


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link when both are on one file system (instant, no extra space), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
