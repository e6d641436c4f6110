"""The sessions that hold a visitor's own token (issue 20, item 2), remembered apart from
Gradio's session state: a run of such a session that arrives without its token — the state was
dropped by a flood of sessions, the reaper or a restart — is refused (TOKEN_LOST), never moved
onto the owner's token."""

from __future__ import annotations

import hashlib
import logging
import queue
import sqlite3
import threading
import time
from collections import OrderedDict
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


def _digest(session_hash: str) -> str:
    return hashlib.sha256(session_hash.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass
class OwnTokens:
    """The sessions that hold a visitor's own token, kept apart from Gradio's session state
    (which a flood of sessions, the reaper or a reload may drop): a run of such a session that
    arrives without its token is refused instead of going to the owner's token.

    With a `path`, the sessions (digests of their ids, never a token) are also kept in an SQLite
    file, so a restarted server still knows that an open page signed in. Reads are from memory
    (loaded once, at start-up); writes go to one background thread, never the event loop."""

    ttl: float = 7 * 86400.0
    max_entries: int = 200_000
    path: Path | None = None
    _sessions: OrderedDict[str, float] = field(default_factory=OrderedDict, repr=False)
    _writes: queue.SimpleQueue[tuple[str, str, float] | None] = field(
        default_factory=queue.SimpleQueue, repr=False
    )
    _writer: threading.Thread | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path)) as db, db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS own_token_sessions "
                "(digest TEXT PRIMARY KEY, signed_in REAL NOT NULL)"
            )
            db.execute(
                "DELETE FROM own_token_sessions WHERE signed_in < ?", (time.time() - self.ttl,)
            )
            rows = db.execute(
                "SELECT digest, signed_in FROM own_token_sessions ORDER BY signed_in DESC LIMIT ?",
                (self.max_entries,),
            ).fetchall()
        for digest, at in reversed(rows):
            self._sessions[digest] = at
        self._writer = threading.Thread(
            target=self._write_all, name="own-token-sessions", daemon=True
        )
        self._writer.start()

    def _write_all(self) -> None:
        assert self.path is not None
        with closing(sqlite3.connect(self.path)) as db:
            while (write := self._writes.get()) is not None:
                what, digest, at = write
                try:
                    with db:
                        if what == "in":
                            db.execute(
                                "INSERT OR REPLACE INTO own_token_sessions VALUES (?, ?)",
                                (digest, at),
                            )
                        else:
                            db.execute("DELETE FROM own_token_sessions WHERE digest = ?", (digest,))
                except sqlite3.Error:  # memory still holds it; only a restart would forget
                    logger.warning("could not keep a signed-in session in %s", self.path)

    def signed_in(self, session_hash: str | None) -> None:
        if not session_hash:
            return
        key = _digest(session_hash)
        at = self._sessions[key] = time.time()
        self._sessions.move_to_end(key)
        while len(self._sessions) > self.max_entries:
            self._sessions.popitem(last=False)
        if self._writer is not None:
            self._writes.put(("in", key, at))

    def signed_out(self, session_hash: str | None) -> None:
        if session_hash:
            key = _digest(session_hash)
            self._sessions.pop(key, None)
            if self._writer is not None:
                self._writes.put(("out", key, 0.0))

    def lost(self, session_hash: str | None, session_token: str | None) -> bool:
        """The session signed in with its own token, and that token is no longer with it."""
        if not session_hash or session_token:
            return False
        at = self._sessions.get(_digest(session_hash))
        return at is not None and time.time() - at < self.ttl

    def close(self) -> None:
        """Write what is pending, then stop the writer (the app's close; tests' restarts)."""
        if self._writer is not None:
            self._writes.put(None)
            self._writer.join(timeout=10)
            self._writer = None

    def __len__(self) -> int:
        return len(self._sessions)


TOKEN_LOST = (
    "This page signed in with your own Replicate token, but the server no longer holds it "
    "(the session was reset or the server restarted), so nothing was run — it would otherwise "
    "have gone to this Space owner's token. Paste your token again under **🔑 Your Replicate "
    "token**, or press **Forget** there to use this Space's default backend."
)
