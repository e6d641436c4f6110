"""A test-time monitor of every asyncio event loop in this process: which callbacks held their loop.

asyncio's debug mode (PYTHONASYNCIODEBUG=1, `slow_callback_duration` 0.1 s) logs any callback that
ran 100 ms or more. The monitor takes the same measure for every loop of the process — the test's
own and the launched app's server loop alike — and adds the loop thread's CPU time for each slow
callback, so that a callback that *worked* 100 ms on the loop fails the test while one that only
waited for a busy CI machine's CPU is reported but not failed. A callback that holds its loop for
a whole second fails whatever it did: no visitor may wait that long for another's work.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SLOW_CALLBACK = 0.1  # asyncio's own slow_callback_duration default
HELD_TOO_LONG = 1.0


@dataclass(frozen=True)
class SlowCallback:
    callback: str
    wall: float
    cpu: float
    thread: str

    @property
    def blocked(self) -> bool:
        """It worked on the loop (CPU) for SLOW_CALLBACK or more, or held it HELD_TOO_LONG."""
        return self.cpu >= SLOW_CALLBACK or self.wall >= HELD_TOO_LONG

    def __str__(self) -> str:
        return f"{self.callback} held {self.thread}'s loop {self.wall:.3f} s ({self.cpu:.3f} s CPU)"


@dataclass
class LoopMonitor:
    slow: list[SlowCallback] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def blocking(self) -> list[SlowCallback]:
        with self._lock:
            return [entry for entry in self.slow if entry.blocked]

    def record(self, entry: SlowCallback) -> None:
        with self._lock:
            self.slow.append(entry)


@contextmanager
def loop_monitor() -> Iterator[LoopMonitor]:
    """Measure every callback any event loop of this process runs while the block runs."""
    monitor = LoopMonitor()
    original: Callable[[asyncio.Handle], Any] = asyncio.Handle._run

    def measured(handle: asyncio.Handle) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(handle)
        finally:
            took = time.perf_counter() - wall
            if took >= SLOW_CALLBACK:
                monitor.record(
                    SlowCallback(
                        repr(handle)[:300],
                        took,
                        time.thread_time() - cpu,
                        threading.current_thread().name,
                    )
                )

    asyncio.Handle._run = measured  # type: ignore[method-assign]
    try:
        yield monitor
    finally:
        asyncio.Handle._run = original  # type: ignore[method-assign]
