"""How often a run's events are worth a page update. Pure: no Gradio, no clock of its own."""

from __future__ import annotations

from dataclasses import dataclass

from ..replicate.types import Progress

TEXT_UPDATES_PER_SECOND = 10  # what one page's streamed text gets, however many streams it has


def text_update_interval(streams: int = 1) -> float:
    """Seconds between text updates of one of `streams` answers streaming on the same page at
    once (Compare's cells): together they make the page re-render no more often than one answer
    does. Four cells at ten updates a second each made main-thread tasks of 105–270 ms."""
    return max(1, streams) / TEXT_UPDATES_PER_SECOND


@dataclass
class UpdatePacer:
    """At most one page update per `interval` seconds, whatever the rate of events.

    Every update makes the browser re-render the whole growing answer; at hundreds of tokens a
    second the page froze and Stop waited for the stream to end. Events in between are not
    lost: the next update shows everything accumulated since the last.
    """

    interval: float = 1 / TEXT_UPDATES_PER_SECOND
    _last: float | None = None

    def ready(self, now: float) -> bool:
        if self._last is None or now - self._last >= self.interval:
            self._last = now
            return True
        return False


@dataclass
class ProgressThrottle:
    """Which Progress events are worth a page update: those that say something a person can see.

    Every update costs the app CPU (Gradio post-processes each output, and a 2 s image run used
    to send 11), so the page gets a new status only when it can be read: another status, but
    not within `min_gap` of the last update (a status replaced after a fraction of a second is
    never read; the next event shows the status then current), else at most one update per
    `min_interval` (the elapsed time, the newest log line and percent all move on together).
    `shown_at`: the elapsed time of an update the page just had (the run's "Sending" line).
    """

    min_interval: float = 1.0
    min_gap: float = 0.3
    shown_at: float | None = None
    _status: str | None = None

    def should_show(self, event: Progress) -> bool:
        if self.shown_at is not None:
            gap = event.elapsed - self.shown_at
            new_status = event.status != self._status
            if gap < (self.min_gap if new_status else self.min_interval):
                return False
        self.shown_at, self._status = event.elapsed, event.status
        return True
