"""What a running prediction's logs say: tqdm percent and the last few lines."""

from __future__ import annotations

import re

# tqdm bars: " 40%|████      | 20/50 [00:01<00:01, 17.15it/s]"
_PERCENT_RE = re.compile(r"(\d{1,3}(?:\.\d+)?)%\|")
_COUNT_RE = re.compile(r"\|\s*(\d+)/(\d+)\s*\[")

LOG_TAIL_LINES = 5


def _lines(logs: str) -> list[str]:
    # tqdm redraws with \r; each redraw is a line of its own for our purposes.
    return [line.rstrip() for line in re.split(r"[\r\n]+", logs or "") if line.strip()]


def parse_percent(logs: str | None) -> float | None:
    """Percent (0–100) of the last tqdm bar in the logs, None when there is none."""
    return _percent(_lines(logs or ""))


def log_tail(logs: str | None, lines: int = LOG_TAIL_LINES) -> tuple[str, ...]:
    """The last `lines` non-empty log lines."""
    return _tail(_lines(logs or ""), lines)


def summarize(logs: str | None) -> tuple[float | None, tuple[str, ...]]:
    """`parse_percent` and `log_tail` of the same logs, split into lines once: a running
    prediction's whole log is read again at every progress tick."""
    split = _lines(logs or "")
    return _percent(split), _tail(split, LOG_TAIL_LINES)


def _percent(lines: list[str]) -> float | None:
    for line in reversed(lines):
        count = _COUNT_RE.search(line)
        if count and "%|" in line and int(count.group(2)) > 0:
            return min(100.0, 100.0 * int(count.group(1)) / int(count.group(2)))
        percent = _PERCENT_RE.search(line)
        if percent:
            return min(100.0, float(percent.group(1)))
    return None


def _tail(lines: list[str], count: int) -> tuple[str, ...]:
    return tuple(lines[-count:]) if count > 0 else ()
