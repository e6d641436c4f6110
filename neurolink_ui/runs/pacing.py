"""How often a run's events are worth a page update. Pure: no Gradio, no clock of its own."""

from __future__ import annotations

from dataclasses import dataclass

from ..replicate.types import Progress


@dataclass
class UpdatePacer:
    """At most one page update per `interval` seconds, whatever the rate of events.

    Every update makes the browser re-render the whole growing answer; at hundreds of tokens a
    second the page froze and Stop waited for the stream to end. Events in between are not
    lost: the next update shows everything accumulated since the last.
    """

    interval: float = 0.1
    _last: float | None = None

    def ready(self, now: float) -> bool:
        if self._last is None or now - self._last >= self.interval:
            self._last = now
            return True
        return False


@dataclass
class ProgressThrottle:
    """Which Progress events are worth a page update.

    Every update costs the app CPU (Gradio post-processes each output), so under load the page
    gets a new status when it says something new: another status, five more percent, a new log
    line, or a second more elapsed.
    """

    min_interval: float = 1.0
    _last: Progress | None = None

    def should_show(self, event: Progress) -> bool:
        last = self._last
        if (
            last is None
            or event.status != last.status
            or event.log_tail[-1:] != last.log_tail[-1:]
            or (event.percent or 0) - (last.percent or 0) >= 5
            or event.elapsed - last.elapsed >= self.min_interval
        ):
            self._last = event
            return True
        return False
