"""One prediction from create to result: the state machine behind `ReplicateClient.events()`.

Create (not held: the id comes back at once; `Cancel-After` is the run's deadline) → follow
`urls.stream` (text, log lines, `done`; an `error` event ends the run at once with its message,
as both official clients do) and read the final state, or poll → Completed, or the error of how
it ended. A run waits for its prediction as long as its deadline, no longer. On Stop only the
prediction this run created is canceled, and never one known to have ended. The client keeps the
HTTP side (requests, retries, the URL guard); this module decides what to ask and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import httpx
from httpx_sse import aconnect_sse

from .errors import (
    BlockedAddressError,
    PredictionError,
    PredictionTimeoutError,
    prediction_error,
)
from .outputs import normalize_output
from .progress import summarize
from .timing import ModelTimes, informed_delays
from .types import Completed, ModelRef, Prediction, PredictionEvent, Progress, TextDelta

log = logging.getLogger("neurolink_ui.replicate")

PROGRESS_TICK = 0.5  # seconds between Progress events while nothing else happens
# A read of a prediction this run created (poll, final read) retries network errors and 5xx for
# this long (bounded by the run's cap): the prediction may be billed, its result must not be lost.
READ_RETRY_WINDOW = 60.0
# A prediction found canceled this close to its deadline was canceled by it (Replicate counts
# from its create, a little after this run's start; clocks wake a hair early).
DEADLINE_SLACK = 0.5


class RunBackend(Protocol):
    """What a run needs of the client that starts it (`ReplicateClient` is the one): declared here
    so that run.py sits below client.py, which builds runs, instead of the two importing each
    other."""

    poll_cap: float  # seconds a prediction may run when the run names no deadline
    poll_schedule: tuple[float, ...]
    cancel_timeout: float
    run_times: ModelTimes  # each model's recent times: when to poll (timing.py)

    @property
    def guarded_http(self) -> httpx.AsyncClient:
        """The netguard-guarded client for URLs the API hands back (the stream)."""
        ...

    async def create_prediction(
        self,
        ref: ModelRef,
        input: dict[str, Any],
        *,
        token: str,
        version: str | None = None,
        cancel_after: float | None = None,
    ) -> Prediction: ...

    async def get_prediction(
        self, prediction_id: str, *, token: str, retry_for: float | None = None
    ) -> Prediction: ...

    async def cancel_quietly(self, prediction_id: str, *, token: str) -> None: ...

    def detach(self, coro: Awaitable[Any]) -> asyncio.Task[Any]: ...


@dataclass
class PredictionRun:
    """State of one run; `events()` drives it."""

    client: RunBackend = field(repr=False)
    ref: ModelRef
    version: str | None
    input: dict[str, Any]
    token: str = field(repr=False)
    streaming: bool = False
    # Seconds the prediction may take from its create: its `Cancel-After`, and how long this run
    # waits for it (then cancels it and says so). Also bounds the read retries.
    deadline: float = 300.0
    started: float = field(default_factory=time.monotonic)
    prediction: Prediction | None = None
    create_task: asyncio.Task[Prediction] | None = None
    delivered: str = ""
    logs: str = ""
    ended: bool = False
    """Known to have ended (a terminal status, or the stream's `done`): nothing left to cancel."""

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def progress(self, status: str | None = None) -> Progress:
        prediction = self.prediction
        percent, tail = summarize(prediction.logs if prediction and prediction.logs else self.logs)
        return Progress(
            prediction_id=prediction.id if prediction else "",
            status=status or (prediction.status if prediction else "starting"),
            elapsed=round(self.elapsed, 3),
            percent=percent,
            log_tail=tail,
        )

    async def events(self) -> AsyncGenerator[PredictionEvent, None]:
        """Progress while it runs, TextDeltas in order, then one Completed.

        Cancelling the consumer or closing this generator cancels the prediction at Replicate
        (shielded, bounded by the client's `cancel_timeout`) before the cancellation goes on.
        """
        try:
            async with contextlib.aclosing(self._execute()) as steps:
                async for event in steps:
                    yield event
        except BaseException:
            # Stop, a closed tab, aclose(), or an error of ours: stop the billing first.
            await self._abandon()
            raise

    async def _execute(self) -> AsyncGenerator[PredictionEvent, None]:
        self.started = time.monotonic()
        create = self.client.create_prediction(
            self.ref,
            self.input,
            token=self.token,
            version=self.version,
            cancel_after=self.deadline,
        )
        # A task of its own: a Stop while it is in flight lets it finish, then cancels its id.
        self.create_task = asyncio.ensure_future(create)
        while True:
            done, _ = await asyncio.wait({self.create_task}, timeout=PROGRESS_TICK)
            if done:
                break
            yield self.progress()
        self.prediction = self.create_task.result()
        self.ended = self.prediction.is_terminal
        yield self.progress()

        stream_url = self.prediction.stream_url
        if stream_url and not self.ended:
            # Text models stream their tokens; file models' streams carry log lines and say
            # `done` the moment the prediction ends, which beats any polling schedule.
            async with contextlib.aclosing(self._stream(stream_url)) as streamed:
                async for event in streamed:
                    yield event
            if not self.prediction.is_terminal:
                # Read the final state now, not one poll interval later.
                self.prediction = await self._read()
        if not self.prediction.is_terminal:
            async with contextlib.aclosing(self._poll()) as polled:
                async for event in polled:
                    yield event
        final = self.prediction
        self.ended = True
        self.client.run_times.record(str(self.ref), final)
        if final.status == "canceled" and self.elapsed >= self.deadline - DEADLINE_SLACK:
            # Replicate's own Cancel-After ended it (a Stop comes before the deadline).
            raise self._timed_out(final, self.elapsed)
        if final.status != "succeeded":
            raise prediction_error(final)
        text = normalize_output(final.output)
        if text.text is not None and not text.file_urls:
            rest = self._undelivered(text.text)
            if rest:
                self.delivered += rest
                yield TextDelta(rest)
        yield Completed(final)

    def _undelivered(self, full: str) -> str:
        if not full.startswith(self.delivered):
            log.warning("streamed text differs from the final output; sending the rest by length")
        return full[len(self.delivered) :]

    async def _read(self) -> Prediction:
        """The prediction, read again; network errors and 5xx are retried for up to
        READ_RETRY_WINDOW seconds, bounded by what is left of the run's cap."""
        assert self.prediction is not None
        window = min(READ_RETRY_WINDOW, max(self.deadline - self.elapsed, 0.0))
        prediction = await self.client.get_prediction(
            self.prediction.id, token=self.token, retry_for=window
        )
        self.ended = self.ended or prediction.is_terminal
        return prediction

    async def _poll(self) -> AsyncGenerator[PredictionEvent, None]:
        assert self.prediction is not None
        schedule = self.client.poll_schedule
        # Around the time this model's recent predictions took, then the fixed schedule.
        window = self.client.run_times.window(str(self.ref))
        informed = informed_delays(*window, elapsed=self.elapsed) if window is not None else []
        index = 0
        while not self.prediction.is_terminal:
            remaining = self.deadline - self.elapsed
            if remaining <= 0:
                await self._timeout()
            if index < len(informed):
                step = informed[index]
            else:  # past the informed polls: the fixed schedule, after its first step
                fixed = index - len(informed) + (1 if informed else 0)
                step = schedule[min(fixed, len(schedule) - 1)]
            delay = min(step, remaining)
            index += 1
            until = time.monotonic() + delay
            while (left := until - time.monotonic()) > 0:
                await asyncio.sleep(min(PROGRESS_TICK, left))
                if until - time.monotonic() > 0.05:
                    yield self.progress()
            before = self.prediction.status
            self.prediction = await self._read()
            if self.prediction.status != before:
                log.debug("prediction %s is %s", self.prediction.id, self.prediction.status)
            yield self.progress()

    async def _timeout(self) -> None:
        assert self.prediction is not None
        waited = self.elapsed
        if not self.ended:
            await self.client.cancel_quietly(self.prediction.id, token=self.token)
        self.ended = True
        raise self._timed_out(self.prediction, waited)

    def _timed_out(self, prediction: Prediction, waited: float) -> PredictionTimeoutError:
        return PredictionTimeoutError(
            f"Prediction {prediction.id} did not finish within its deadline of "
            f"{self.deadline:g} s (waited {waited:.1f} s) and was canceled. See "
            f"{prediction.web_url}.",
            prediction=prediction,
        )

    def _failed(self, data: str) -> PredictionError:
        """The stream's `error` event: the prediction failed, with the event's message (its JSON
        `detail`, else its text) and the log lines the stream carried."""
        assert self.prediction is not None
        detail = data.strip()
        with contextlib.suppress(ValueError, RecursionError):
            parsed = json.loads(data)
            if isinstance(parsed, dict) and isinstance(parsed.get("detail"), str):
                detail = parsed["detail"]
        failed = replace(
            self.prediction,
            status="failed",
            error=detail[:2000] or "the stream reported an error",
            logs=self.prediction.logs or self.logs,
        )
        self.prediction = failed
        return prediction_error(failed)

    async def _stream(self, url: str) -> AsyncGenerator[PredictionEvent, None]:
        """Follow the SSE stream to `done`: text as it arrives (file URLs are not text), log
        lines as progress.

        On a drop, or a stream URL the policy refuses, leaves the rest to polling (`_poll`)."""
        assert self.prediction is not None
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        reader = asyncio.ensure_future(self._read_stream(url, queue))
        status = self.prediction.status
        try:
            while True:
                if self.elapsed >= self.deadline:
                    await self._timeout()
                try:
                    name, data = await asyncio.wait_for(queue.get(), PROGRESS_TICK)
                except TimeoutError:
                    yield self.progress(status)
                    continue
                if name in ("output", "logs"):
                    status = "processing"  # the model is running: the boot is over
                if name == "output":
                    if data and self.streaming:
                        self.delivered += data
                        yield TextDelta(data)
                elif name == "logs":
                    self.logs += data + "\n"
                    yield self.progress(status)
                elif name == "error":
                    # Terminal, as in both official clients: the prediction failed. End the run
                    # now with the message, before any further read (`done` follows it).
                    self.ended = True
                    raise self._failed(data)
                elif name == "done":
                    # Ended (succeeded, failed, canceled or aborted): the final read says which,
                    # with the error and logs, and the output.
                    self.ended = True
                    return
                elif name == "refused":
                    log.warning("%s Polling prediction %s instead.", data, self.prediction.id)
                    return
                else:  # dropped or unavailable: the finished prediction fills in the rest
                    log.info("stream of %s ended early (%s); polling", self.prediction.id, data)
                    return
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader

    async def _read_stream(self, url: str, queue: asyncio.Queue[tuple[str, str]]) -> None:
        last_id = ""
        try:
            # A capability URL: no Authorization (as the JS and Go clients do). Through the
            # guarded client: https to a public host, or the API's own origin, nothing else.
            async with aconnect_sse(
                self.client.guarded_http, "GET", url,
                timeout=httpx.Timeout(30.0, connect=5.0, read=None),
            ) as source:  # fmt: skip
                if source.response.status_code >= 400:
                    await queue.put(("unavailable", f"HTTP {source.response.status_code}"))
                    return
                async for event in source.aiter_sse():
                    last_id = event.id or last_id
                    if event.event in ("output", "logs", "error"):
                        await queue.put((event.event, event.data))
                    elif event.event == "done":
                        await queue.put(("done", event.data))
                        return
            await queue.put(("dropped", f"closed without done after id {last_id or '-'}"))
        except BlockedAddressError as exc:
            await queue.put(("refused", f"The stream URL was refused: {exc}"))
        except Exception as exc:  # any failure (HTTP, a body that isn't SSE) means: poll
            await queue.put(("dropped", f"{type(exc).__name__} after id {last_id or '-'}"))

    # ---- cancellation ----------------------------------------------------------------------

    async def _abandon(self) -> None:
        """Cancel the run's prediction at Replicate, shielded and time-bounded."""
        if self.ended:
            return
        job = self.client.detach(self._cancel())
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(job), timeout=self.client.cancel_timeout)

    async def _cancel(self) -> None:
        """Cancel the prediction this run created: the one whose id its create returned.

        A create still in flight is let finish (it is not held, so that is one round trip),
        then its id is canceled at once. Nothing else is ever looked up or canceled."""
        if self.prediction is None:
            if self.create_task is None:
                return
            try:
                self.prediction = await self.create_task
            except BaseException:
                return  # no prediction was made
        if not self.ended and not self.prediction.is_terminal:
            await self.client.cancel_quietly(self.prediction.id, token=self.token)
