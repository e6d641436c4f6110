"""The terminal: results on stdout; progress, notes and errors on stderr."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from ..config import Settings
from ..pipeline import progress_phase
from ..replicate.types import Progress

PLAIN_PROGRESS_EVERY = 5.0  # seconds between unchanged progress lines when stderr is not a TTY


def describe_progress(event: Progress) -> str:
    phase = progress_phase(event.status, event.elapsed, event.percent)  # the panels' words
    percent = f" {phase.percent:.0f}%" if phase.percent is not None else ""
    line = f"{phase.name.lower()}{percent} · {event.elapsed:.1f}s"
    if event.log_tail:
        line += f" · {event.log_tail[-1].strip()}"
    return line


@dataclass
class Console:
    """stdout for results; stderr for progress (one redrawn line on a TTY, plain lines when not),
    notes and errors."""

    out: TextIO
    err: TextIO
    live: bool
    _shown: int = 0
    _last_key: tuple[str, int | None] | None = None
    _last_time: float = 0.0
    _announced: set[str] = field(default_factory=set)
    _text_started: bool = False

    @classmethod
    def for_process(cls) -> Console:
        return cls(sys.stdout, sys.stderr, live=sys.stderr.isatty())

    def progress(self, event: Progress) -> None:
        if event.prediction_id and event.prediction_id not in self._announced:
            self._announced.add(event.prediction_id)
            self.note(f"prediction {event.prediction_id}", prefix="")
        line = describe_progress(event)
        if self.live:
            if self._text_started:
                return  # the streamed text owns the terminal now
            width = max(20, shutil.get_terminal_size().columns - 1)
            line = line[:width]
            self.err.write("\r" + line + " " * max(0, self._shown - len(line)))
            self.err.flush()
            self._shown = len(line)
            return
        bucket = None if event.percent is None else int(event.percent // 10)
        # A new phase (a start becoming a cold boot) or a tenth more done is a new line.
        key = (progress_phase(event.status, event.elapsed, event.percent).name, bucket)
        now = time.monotonic()
        if key != self._last_key or now - self._last_time >= PLAIN_PROGRESS_EVERY:
            self._last_key, self._last_time = key, now
            print(line, file=self.err, flush=True)

    def text(self, piece: str) -> None:
        if not self._text_started:
            self.clear()
            self._text_started = True
        self.out.write(piece)
        self.out.flush()

    def clear(self) -> None:
        if self.live and self._shown:
            self.err.write("\r" + " " * self._shown + "\r")
            self.err.flush()
            self._shown = 0

    def note(self, message: str, prefix: str = "note: ") -> None:
        self.clear()
        print(f"{prefix}{message}", file=self.err, flush=True)

    def error(self, message: str) -> None:
        self.note(message, prefix="error: ")


def settings_from_env(console: Console) -> Settings | None:
    """The settings, or None after saying which environment variable is wrong."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        console.error(str(exc))
        return None
