"""Retry decisions and delays: exponential backoff with full jitter, Retry-After, "resets in ~Ns".

Two kinds of request are retried differently. Reads (GETs, downloads) are idempotent and retry on
429, 5xx and transport errors. Creates (a paid prediction, an upload) retry only when the server
certainly did not act: 429, or a connection that was never made. A 5xx or a read timeout on a
create may mean the prediction exists, and a second attempt would start (and bill) another one.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

RequestKind = Literal["read", "create"]

_RESETS_IN_RE = re.compile(r"resets\s+in\s+~?\s*(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)

# Errors raised before a single byte of the request left this machine: safe to retry a create.
_NOT_SENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
# Errors a read may retry: anything at the transport level (connect, read, protocol).
_READ_RETRY_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError,)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait. Tests shrink `base_delay` and `max_retry_after`."""

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0  # a server asking for longer than this is not waited for in full

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2**attempt)], attempt from 0."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(attempt, 0)))
        return rand() * ceiling

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """The server's wish when it said one (bounded by `max_retry_after`), else backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return self.backoff(attempt, rand)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as delta-seconds or an HTTP-date; None when absent or unparseable."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None  # NaN → None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def parse_resets_in(detail: str | None) -> float | None:
    """Replicate's throttle detail: "Your rate limit resets in ~30s." → 30.0."""
    if not detail:
        return None
    match = _RESETS_IN_RE.search(detail)
    return float(match.group(1)) if match else None


def retry_after_seconds(
    headers: Mapping[str, str], detail: str | None = None, now: float | None = None
) -> float | None:
    """The wait a 429 asks for: the Retry-After header first, then the detail text."""
    header = parse_retry_after(headers.get("retry-after"), now=now)
    return header if header is not None else parse_resets_in(detail)


def should_retry_status(kind: RequestKind, status: int) -> bool:
    if status == 429:
        return True
    return kind == "read" and status >= 500


def should_retry_error(kind: RequestKind, error: BaseException) -> bool:
    if kind == "create":
        return isinstance(error, _NOT_SENT_ERRORS)
    return isinstance(error, _READ_RETRY_ERRORS)
