"""The session's History log (the run core's ResultSink) and how panels wire to it: the History
id a browser keeps, the count whose change re-renders the History tab, share links' addresses."""

from __future__ import annotations

import itertools
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from ..costs import SessionCosts
from ..results import (
    NewResult,
    ResultStore,
    StoredResult,
    StoreFull,
    new_history_id,
    valid_history_id,
)

MAX_HISTORY = 50
log = logging.getLogger("neurolink_ui.ui")


@dataclass
class HistoryLog:
    """This browser's generations, newest first, kept in the app's ResultStore.

    One object per session (a `gr.State` default is deep-copied per session — the store is
    shared, never copied — and Gradio hands a State's value to events by reference), so panels
    running at the same time each add their record and none overwrites another's. Panels never
    output the log itself: a private step after each of their events outputs `count`, whose
    change re-renders History. It is the run core's ResultSink: `add` runs in a worker thread.

    `history_id` is the browser's History id (BrowserState, checked at page load); a session
    without one (an API client) gets a fresh one at its first generation. Without a store
    (handlers called directly), or when keeping fails, results stay in `entries` for the
    session's life.
    """

    store: ResultStore | None = None
    history_id: str | None = None
    entries: list[StoredResult] = field(default_factory=list)
    count: int = 0  # changes at every add, delete and clear: History re-renders
    last_kept: str | None = None  # the id of the result the latest add kept (None: not kept)
    costs: SessionCosts = field(default_factory=SessionCosts)  # what this session's runs cost
    # The Chat conversation on screen, one entry per user turn: the id of the result that kept
    # it (None: not kept, a stopped turn). The browser keeps it, so a reload shows the
    # conversation again (panels/chat.py).
    chat_turns: list[str | None] = field(default_factory=list)

    def chat_turn(self, turns_before: int, kept: str | None) -> None:
        """A Chat turn ended after `turns_before` earlier user turns (a Retry's are fewer than
        the conversation had: the turns after it are gone); `kept` is its result's id."""
        earlier = (self.chat_turns + [None] * turns_before)[:turns_before]
        self.chat_turns = [*earlier, kept]

    def add(self, record: NewResult) -> str | None:
        """Record a finished run as the newest generation; the kept result's id, or None."""
        kept = None
        if self.store is not None:
            if self.history_id is None:
                self.history_id = new_history_id()
            try:
                kept = self.store.add(self.history_id, record)
            except StoreFull as exc:  # others' shared results fill the store: one line
                log.warning("%s", exc)
            except (OSError, ValueError, sqlite3.Error):
                # The outputs are still in the session's folder: shown from there for now.
                log.exception("could not keep a result; it stays in this session only")
        if kept is None:
            self.entries.insert(0, unkept_result(record))
            del self.entries[MAX_HISTORY:]
        self.last_kept = kept.id if kept is not None else None
        self.count += 1
        return self.last_kept

    def shown(self) -> list[StoredResult]:
        """What History shows: the kept results, then this session's unkept ones."""
        kept: list[StoredResult] = []
        if self.store is not None and self.history_id is not None:
            kept = self.store.list(self.history_id, MAX_HISTORY)
        return sorted([*kept, *self.entries], key=lambda r: r.created_at, reverse=True)[
            :MAX_HISTORY
        ]

    def delete(self, result_id: str) -> bool:
        removed = False
        if self.store is not None and self.history_id is not None:
            removed = self.store.delete(self.history_id, result_id)
        self.count += 1
        return removed

    def clear(self) -> int:
        removed = len(self.entries)
        self.entries.clear()
        if self.store is not None and self.history_id is not None:
            removed += self.store.clear(self.history_id)
        self.count += 1
        return removed

    def share(self, result_id: str) -> str | None:
        if self.store is None or self.history_id is None:
            return None
        return self.store.share(self.history_id, result_id)


def unkept_result(record: NewResult) -> StoredResult:
    """A run that could not be kept, shown from the session's own files (no id: no Share)."""
    input_files: dict[str, tuple[Path, ...]] = {}
    for name, path in record.input_files:
        input_files[name] = (*input_files.get(name, ()), path)
    return StoredResult(
        id="",
        kind=record.kind,
        model=record.model,
        version=record.version,
        prompt=record.prompt,
        input=record.input,
        file_fields=record.file_fields,
        files=record.files,
        text=record.text,
        notes=record.notes,
        predict_time=record.predict_time,
        wall_time=record.wall_time,
        cold_boot=record.cold_boot,
        prediction_id=record.prediction_id,
        created_at=time.time(),
        share_id=None,
        size=0,
        input_files=input_files,
        file_labels=record.file_labels,
        simulated=record.simulated,
        cost_usd=record.cost_usd,
        cost_basis=record.cost_basis,
    )


@dataclass(frozen=True)
class HistoryHandles:
    """What a panel wires to record a generation: the log (an input) and its counter; the
    browser's History id, which the page load hands to the log (`open_history`); whether this
    page has the History tab open, and its drawing ticket (`shown`: a new value redraws it)."""

    log: gr.State
    count: gr.Number
    browser_id: gr.BrowserState
    open: gr.State
    shown: gr.Number

    @property
    def counts(self) -> list[gr.Number]:
        """What a change of the log writes, from inside the History tab: the count and, since
        the tab is open, a new drawing ticket (which redraws it)."""
        return [self.count, self.shown]


_tickets = itertools.count(1)


def drawing_ticket() -> int:
    """A value the `shown` ticket never had: writing it redraws History."""
    return next(_tickets)


def recount(log: HistoryLog | None, is_open: bool | None) -> tuple[int, Any]:
    """The log's count, and the open History tab's redraw. A closed tab is not redrawn (each
    drawing builds every card: ~20 ms of the server's CPU apiece, and the page's work to mount
    them): leaving it drew a placeholder (`track_history_tab`), and opening it draws it anew."""
    count = log.count if log else 0
    return count, (drawing_ticket() if is_open else gr.skip())


def refresh_after(event: Any, history: HistoryHandles) -> None:
    """When a panel's event has ended, its new entry (if any) shows in History: the count
    changes, which re-renders the tab if it is open. A separate private step, so the panels'
    API results and their streamed updates carry nothing of History."""
    event.then(
        recount,
        [history.log, history.open],
        history.counts,
        api_visibility="private",
        queue=False,
        show_progress="hidden",
    )


def track_history_tab(
    history: HistoryHandles, history_tab: gr.Tab, other_tabs: Sequence[gr.Tab]
) -> None:
    """Whether this page has History open, and a drawing on every change of it: selecting
    History (a click, or the server's choice) draws its cards; selecting any other tab draws a
    placeholder in their place, so cards that later runs made stale are never shown (or
    clicked) while the tab opens again. One event writes both, so the drawing it triggers reads
    the state it was for."""
    quiet: dict[str, Any] = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
    outputs = [history.open, history.shown]
    history_tab.select(lambda: (True, drawing_ticket()), None, outputs, **quiet)

    def left(was_open: bool | None) -> tuple[bool, Any]:
        # Only when History was open: the page selects its first tab as it loads, and nothing
        # is drawn on page load.
        return False, (drawing_ticket() if was_open else gr.skip())

    gr.on([tab.select for tab in other_tabs], left, [history.open], outputs, **quiet)


HISTORY_STORAGE_KEY = "neurolink-history-id"
# BrowserState encrypts with a secret that is public anyway (GET /config); a fixed one lets the
# id be read back after a restart (a random one changes with every process).
HISTORY_SECRET = "neurolink-history-id-v1"


def history_state(
    time_to_live: float | None = None, store: ResultStore | None = None
) -> HistoryHandles:
    return HistoryHandles(
        log=gr.State(HistoryLog(store=store), time_to_live=time_to_live),
        count=gr.Number(value=0, visible="hidden", label="Generations", interactive=False),
        browser_id=gr.BrowserState("", storage_key=HISTORY_STORAGE_KEY, secret=HISTORY_SECRET),
        open=gr.State(False),
        shown=gr.Number(value=0, visible="hidden", label="Generations shown", interactive=False),
    )


def open_history(stored: object, log: HistoryLog | None) -> str:
    """At page load: this browser's History id (a new one when it has none or sent a bad one:
    it is checked, never trusted), handed to the session's log. History shows its entries when
    the tab opens (not now: the Advanced forms render at page load)."""
    history_id = valid_history_id(stored) or new_history_id()
    if log is not None:
        log.history_id = history_id
    return history_id


def bind_history(demo: gr.Blocks, history: HistoryHandles) -> None:
    demo.load(
        open_history,
        [history.browser_id, history.log],
        [history.browser_id],
        api_visibility="private",
        show_progress="hidden",
        queue=False,
    )


def app_url(request: gr.Request | None) -> str:
    """The page's public address (behind a proxy too), as Gradio works it out for its files;
    empty when unknown (a share link is then relative)."""
    raw = getattr(request, "request", None) if request is not None else None
    if raw is None:
        return ""
    from gradio import route_utils

    try:
        # The route the event came by (queue/join, run/predict…), which the origin is before.
        path = str(raw.url.path)
        route = path[path.find("/gradio_api/") :] if "/gradio_api/" in path else path
        root_path = getattr(getattr(raw, "app", None), "root_path", None)
        return route_utils.get_root_url(request=raw, route_path=route, root_path=root_path)
    except (ValueError, AttributeError):
        return ""


def share_url(base: str, share_id: str) -> str:
    return f"{base}/?result={share_id}"
