"""The runs a session has in progress, by key (a panel's name or a Compare cell's key): what its
Stop cancels. No Gradio: the run core reads it, the page's Stop handler writes it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class LiveRuns:
    """One object per session (a `gr.State`), shared by reference like the History log.

    The one Stop rule, for every entry point: Stop marks the key `stopping`; the Stop handler
    cancels the prediction whose id is known, and the run core cancels a prediction whose id
    arrives after Stop was pressed the moment it arrives.
    """

    running: dict[str, str] = field(default_factory=dict)  # key → prediction id
    stopping: set[str] = field(default_factory=set)  # keys whose Stop was clicked
    active: set[str] = field(default_factory=set)  # keys whose run has not ended
    canceled: set[str] = field(default_factory=set)  # prediction ids whose cancel was sent

    def start(self, key: str) -> None:
        self.finish(key)
        self.active.add(key)

    def track(self, key: str, prediction_id: str) -> None:
        if prediction_id:
            self.running[key] = prediction_id

    def ended_run(self, key: str) -> None:
        """The prediction has ended: a late Stop has nothing left to cancel."""
        self.running.pop(key, None)

    def finish(self, key: str) -> None:
        prediction_id = self.running.pop(key, None)
        if prediction_id:
            self.canceled.discard(prediction_id)
        self.stopping.discard(key)
        self.active.discard(key)

    def is_stopping(self, key: str) -> bool:
        return key in self.stopping

    def is_running(self, key: str) -> bool:
        return key in self.active

    async def ended(self, key: str, within: float) -> bool:
        """Whether the key's run ends within `within` seconds."""
        deadline = time.monotonic() + within
        while key in self.active:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True


@contextmanager
def live_run(live: LiveRuns | None, key: str) -> Iterator[None]:
    """Marks the key's run in progress while the block runs (a handler's whole run, so its
    last update is out before Stop reads it as ended)."""
    if live is None:
        yield
        return
    live.start(key)
    try:
        yield
    finally:
        live.finish(key)
