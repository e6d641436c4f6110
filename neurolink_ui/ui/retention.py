"""What the app keeps for its visitors, where, and for how long (issue 8, items 1, 4 and 5).

- `OutputStore`: each session's outputs in a folder named by a digest of its session id (a
  visitor chooses that id, so it never becomes a path), a per-session disk cap, and removal of
  outputs — with Gradio's cached copies of them — after the retention period and at shutdown.
- `SessionReaper`: releases a session's server-side state once its page is gone (Gradio keeps it
  until 10,000 newer sessions push it out) or once it has been idle for the session TTL.
- `housekeeping()`: the lifespan that runs both on a schedule while the server is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..modalities.common import InputProblem
from ..results import ResultStore

log = logging.getLogger("neurolink_ui.ui")

DIRECT_SESSION = "direct"  # calls without a Gradio request (the handlers called directly)
# A closed page may reconnect (a network blip) with the same session id: keep it this long.
CLOSED_SESSION_GRACE = 60.0
SWEEP_EVERY_MAX = 60.0


class OutsideOutputs(RuntimeError):
    """A path resolved outside the outputs root: a bug or an attack; nothing is written."""


def session_folder_name(session_hash: str | None) -> str:
    """The folder of a session: a fixed-length hex digest of its id, whatever the id holds."""
    if not session_hash:
        return DIRECT_SESSION
    return hashlib.sha256(session_hash.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _gradio_cache_copy(path: Path, cache_dir: Path) -> Path | None:
    """Where Gradio keeps its copy of an output file it served (a folder named by the file's
    content hash, then the file's name), or None where it kept none."""
    from gradio import processing_utils
    from gradio_client import utils as client_utils

    try:
        digest = processing_utils.hash_file(path)
    except OSError:
        return None
    name = client_utils.strip_invalid_filename_characters(path.name)
    copy = cache_dir / digest / name
    return copy if copy.exists() else None


def _remove_cache_copy(copy: Path, *, older_than: float | None) -> bool:
    # Gradio touches a cached copy each time it hands it out again, so a copy still in use by a
    # newer output of the same bytes is younger than the cut-off and stays.
    try:
        if older_than is not None and copy.stat().st_mtime > older_than:
            return False
        copy.unlink()
    except FileNotFoundError:
        return False
    with contextlib.suppress(OSError):
        copy.parent.rmdir()  # only when empty
    return True


@dataclass
class OutputStore:
    root: Path
    ttl: float
    session_cap_bytes: int
    cache_dir: Path | None = None  # Gradio's cache; None: Gradio's default upload folder
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Cached copies of expired outputs that were handed out too lately to go with them (Gradio
    # copies an output some seconds after it is written on a busy machine, and touches the copy
    # whenever it serves it again). A copy is found from its output's bytes, so once the output
    # is gone only this set remembers it: each sweep removes those that have aged past the TTL.
    _young_copies: set[Path] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root = self.root.resolve()

    @property
    def gradio_cache(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        from gradio.utils import get_upload_folder

        return Path(get_upload_folder())

    def contained(self, path: Path) -> Path:
        """`path` resolved, or OutsideOutputs when it is not under the outputs root."""
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root) or resolved == self.root:
            raise OutsideOutputs(f"refusing to write outside the outputs folder: {resolved}")
        return resolved

    def session_dir(self, session_hash: str | None) -> Path:
        path = self.contained(self.root / session_folder_name(session_hash))
        path.mkdir(exist_ok=True)
        os.utime(path)  # handed out now: the sweep leaves it alone until it has been idle a TTL
        return path

    def usage(self, session_hash: str | None) -> int:
        """Bytes of outputs this session keeps on disk now."""
        folder = self.root / session_folder_name(session_hash)
        total = 0
        for entry in _files(folder):
            with contextlib.suppress(FileNotFoundError):
                total += entry.stat().st_size
        return total

    def room(self, session_hash: str | None) -> int:
        """Bytes this session may still write (0 when it is at or over its cap)."""
        return max(0, self.session_cap_bytes - self.usage(session_hash))

    def refuse_when_full(self, session_hash: str | None) -> None:
        """InputProblem when this session is at its disk cap: a new run would only add to it."""
        used = self.usage(session_hash)
        if used >= self.session_cap_bytes:
            raise InputProblem(
                f"This session keeps {_mb(used)} of outputs on the server, its limit is "
                f"{_mb(self.session_cap_bytes)}, so new runs are refused for now. What you made "
                f"is kept: download it from History. Outputs are removed "
                f"{duration_text(self.ttl)} after they are made, which frees the space."
            )

    def room_note(self, room: int) -> str:
        """The note of a run whose downloads were bounded by the session's room."""
        return (
            f"This session had {_mb(room)} left of its {_mb(self.session_cap_bytes)} disk limit "
            f"for this run's files; outputs are removed {duration_text(self.ttl)} after they are "
            "made, which frees the space."
        )

    def refused_download(self, room: int, url: str) -> InputProblem:
        """The run's first file alone would not fit the session's room: say so, with its link
        (valid at Replicate for an hour), so what was paid for is not lost."""
        where = f" It is still at {url} for about an hour." if url else ""
        return InputProblem(
            f"The output did not fit: this session has {_mb(room)} left of its "
            f"{_mb(self.session_cap_bytes)} disk limit, so it was not downloaded.{where} "
            f"Outputs are removed {duration_text(self.ttl)} after they are made, which frees "
            "the space."
        )

    def forget(self, path: Path) -> None:
        """A file a person deleted (a kept result's, or the output it was copied from): the
        web server's cached copy of it, and the file itself when it lies in the outputs folder."""
        copy = _gradio_cache_copy(path, self.gradio_cache)
        if copy is not None:
            _remove_cache_copy(copy, older_than=None)
        with contextlib.suppress(OutsideOutputs, OSError):
            self.contained(path).unlink(missing_ok=True)

    def sweep(self, now: float | None = None) -> int:
        """Remove outputs older than the TTL, their cached copies and emptied session folders.
        Returns how many output files were removed."""
        cutoff = (time.time() if now is None else now) - self.ttl
        return self._remove(lambda mtime: mtime < cutoff, cache_older_than=cutoff)

    def clear(self) -> int:
        """Remove every output and its cached copy (a clean shutdown)."""
        return self._remove(lambda mtime: True, cache_older_than=None)

    def _remove(self, expired: Callable[[float], bool], *, cache_older_than: float | None) -> int:
        # A session folder goes only when it is empty and itself expired: one a run was just
        # given (and will download into) has a fresh time.
        removed = 0
        cache = self.gradio_cache
        with self._lock:
            for young in list(self._young_copies):
                if _remove_cache_copy(young, older_than=cache_older_than) or not young.exists():
                    self._young_copies.discard(young)
            for folder in [p for p in self.root.iterdir() if p.is_dir()]:
                for entry in _files(folder):
                    try:
                        if not expired(entry.stat().st_mtime):
                            continue
                    except FileNotFoundError:
                        continue
                    copy = _gradio_cache_copy(entry, cache)
                    if copy is not None and not _remove_cache_copy(
                        copy, older_than=cache_older_than
                    ):
                        self._young_copies.add(copy)  # removed by a later sweep, once it ages
                    entry.unlink(missing_ok=True)
                    removed += 1
                with contextlib.suppress(OSError):
                    if expired(folder.stat().st_mtime):
                        folder.rmdir()  # only when empty
        if removed:
            log.info("removed %d expired output file(s) from %s", removed, self.root)
        return removed


def duration_text(seconds: float) -> str:
    """`86400` → "24 hours", `90` → "2 minutes": how long something is kept, for people."""
    if seconds >= 3 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} hours"
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):,.1f} MB"


def _files(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            yield Path(dirpath) / name


# ---- session state -----------------------------------------------------------------------------


def _release_freed_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise, so RSS never falls)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass
class SessionReaper:
    """Drops whole sessions from Gradio's state holder: closed pages after a grace period,
    sessions without a page (API clients that never say goodbye) once idle for `idle_ttl`.

    Gradio itself only empties a closed session's `gr.State` values after an hour and keeps the
    session (a copy of every component's config and the last value of every input) until 10,000
    newer sessions push it out, so memory grew with every visitor (issue 8, item 5).
    """

    idle_ttl: float
    grace: float = CLOSED_SESSION_GRACE
    closed: dict[str, datetime] = field(default_factory=dict)  # session id → when its page went
    # Sessions that never loaded the page (API clients, throwaway ids) go once idle this long.
    pageless_ttl: float | None = None
    has_page: Callable[[str], bool] | None = None
    on_release: Callable[[str], None] | None = None

    def page_closed(self, session_hash: str | None) -> None:
        if session_hash:
            self.closed[session_hash] = datetime.now()

    def reap(self, demo: Any) -> int:
        """Release the sessions that are over; returns how many."""
        holder = getattr(demo, "state_holder", None)
        if holder is None:
            return 0
        now = datetime.now()
        gone: list[str] = []
        for session_hash, closed_at in list(self.closed.items()):
            used = holder.time_last_used.get(session_hash)
            if used is not None and used > closed_at:  # the page came back and is in use
                del self.closed[session_hash]
            elif now - closed_at >= timedelta(seconds=self.grace):
                gone.append(session_hash)
        idle_cutoff = now - timedelta(seconds=self.idle_ttl)
        gone += [sid for sid, used in list(holder.time_last_used.items()) if used < idle_cutoff]
        if self.pageless_ttl is not None and self.has_page is not None:
            pageless_cutoff = now - timedelta(seconds=self.pageless_ttl)
            gone += [
                sid
                for sid, used in list(holder.time_last_used.items())
                if used < pageless_cutoff and not self.has_page(sid)
            ]
        released = 0
        for session_hash in dict.fromkeys(gone):
            self.closed.pop(session_hash, None)
            if self.on_release is not None:
                self.on_release(session_hash)
            if session_hash not in holder.session_data:
                continue
            try:
                holder.delete_state(session_hash)  # runs the states' delete callbacks
            except Exception:  # one bad callback must not keep the session (or stop the sweep)
                log.exception("a delete callback failed while releasing a session")
            with holder.lock:
                holder.session_data.pop(session_hash, None)
                holder.time_last_used.pop(session_hash, None)
            released += 1
        if released:
            _release_freed_memory()
            log.info("released the state of %d ended session(s)", released)
        return released


# ---- the schedule ------------------------------------------------------------------------------


def sweep_interval(
    store: OutputStore, reaper: SessionReaper, results: ResultStore | None = None
) -> float:
    result_ttl = results.ttl if results is not None and results.ttl > 0 else SWEEP_EVERY_MAX
    return max(
        1.0,
        min(
            SWEEP_EVERY_MAX,
            store.ttl / 4,
            reaper.grace / 2,
            reaper.idle_ttl / 4,
            (reaper.pageless_ttl or SWEEP_EVERY_MAX) / 4,
            result_ttl / 4,
        ),
    )


def housekeeping(
    store: OutputStore, reaper: SessionReaper, results: ResultStore | None = None
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """A server lifespan: sweep outputs, sessions and expired results on a schedule; clear
    outputs at shutdown (kept results stay: they outlive the process)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async def loop() -> None:
            interval = sweep_interval(store, reaper, results)
            while True:
                await asyncio.sleep(interval)
                try:
                    await asyncio.to_thread(store.sweep)
                    if results is not None:
                        await asyncio.to_thread(results.sweep)
                    blocks = app.get_blocks() if hasattr(app, "get_blocks") else None
                    if blocks is not None:
                        reaper.reap(blocks)
                except Exception:  # the schedule must outlive one bad sweep
                    log.exception("housekeeping sweep failed")

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(store.clear)
            if results is not None and results.temporary:
                results.close()  # results without a data folder last as long as the server
            with contextlib.suppress(OSError):
                store.root.rmdir()  # only when nothing else is left in it

    return lifespan
