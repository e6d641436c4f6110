"""Sessions that signed in with their own token are remembered across a restart (issue 20, item
2): an open page whose server restarted is refused, never moved onto the owner's token."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from conftest import TOKEN

from neurolink_ui.config import Settings
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.own_tokens import OwnTokens


def test_a_restarted_server_still_knows_which_pages_signed_in(tmp_path: Path) -> None:
    path = tmp_path / "data" / "own_token_sessions.db"
    before = OwnTokens(path=path)
    before.signed_in("page-with-its-own-token")
    before.signed_in("page-that-signed-out")
    before.signed_out("page-that-signed-out")
    before.close()

    after = OwnTokens(path=path)  # the restarted server: memory empty, the file read
    assert after.lost("page-with-its-own-token", None)  # its run is refused, not owner-paid
    assert not after.lost("page-with-its-own-token", "r8_its_token_again")
    assert not after.lost("page-that-signed-out", None)
    assert not after.lost("a-page-that-never-signed-in", None)
    after.close()
    with sqlite3.connect(path) as db:  # digests of session ids; never a session id or a token
        (stored,) = db.execute("SELECT digest FROM own_token_sessions").fetchone()
    assert "page" not in stored and len(stored) == 32


def test_sessions_past_their_time_are_dropped_at_start(tmp_path: Path) -> None:
    path = tmp_path / "own_token_sessions.db"
    old = OwnTokens(path=path)
    old.signed_in("yesterday")
    old.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE own_token_sessions SET signed_in = signed_in - 3600")
    short = OwnTokens(path=path, ttl=60.0)
    assert not short.lost("yesterday", None) and len(short) == 0
    short.close()


def test_the_app_keeps_them_in_its_data_folder(tmp_path: Path) -> None:
    settings = Settings(api_token=TOKEN, data_dir=tmp_path / "data")
    first = AppContext.create(settings, outputs_dir=tmp_path / "out")
    first.own_tokens.signed_in("an-open-page")
    asyncio.run(first.aclose())
    second = AppContext.create(settings, outputs_dir=tmp_path / "out")
    assert second.own_tokens.lost("an-open-page", None)
    asyncio.run(second.aclose())
