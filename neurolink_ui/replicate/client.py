"""ReplicateClient: one pooled httpx.AsyncClient for everyone, the API token passed per call.

The client never stores a token: two people with different tokens share the connection pool, and
nothing a token touches (messages, logs, reprs) ever contains it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import logging
import math
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from httpx_sse import aconnect_sse

from . import files
from .errors import (
    REF_FORMS,
    TOKEN_HELP,
    AuthenticationError,
    InsufficientCreditError,
    InvalidInputError,
    ModelNotFoundError,
    PredictionAbortedError,
    PredictionCanceledError,
    PredictionError,
    PredictionFailedError,
    PredictionTimeoutError,
    RateLimitError,
    ReplicateError,
    UpstreamError,
)
from .netguard import GuardedTransport
from .outputs import Downloader, normalize_output
from .progress import log_tail, summarize
from .retry import (
    RequestKind,
    RetryPolicy,
    retry_after_seconds,
    should_retry_error,
    should_retry_status,
)
from .schema import ModelInfo
from .types import Account, Completed, ModelRef, Prediction, PredictionEvent, Progress, TextDelta

if TYPE_CHECKING:
    from neurolink_ui.config import Settings

log = logging.getLogger("neurolink_ui.replicate")

DEFAULT_BASE_URL = "https://api.replicate.com"
BILLING_URL = "https://replicate.com/account/billing#billing"
USER_AGENT = "neurolink-ui/0.1 (+httpx)"
# Seconds between polls when no stream says `done`: quick while most predictions end (every
# 0.5 s for the first ~10 s, as often as the official client), then growing to a few seconds.
DEFAULT_POLL_SCHEDULE: tuple[float, ...] = (0.25, *(0.5,) * 19, 1.0, 1.0, 2.0, 3.0)
MAX_CONNECTIONS = 1024
WAITING = "waiting"  # Progress status while a held create has not answered yet
PROGRESS_TICK = 0.5  # seconds between Progress events while nothing else happens
# Replicate's clock and ours may differ; a held create's prediction is looked up this far back.
_CLOCK_SKEW = 30.0
_HELD_LOOKUP_BUDGET = 0.9  # seconds to find a held create's prediction after Stop

ProgressCallback = Callable[[PredictionEvent], Awaitable[None] | None]


# ---- errors from responses -----------------------------------------------------------------


def _problem(body: Any) -> tuple[str | None, str]:
    if isinstance(body, dict):
        title = body.get("title")
        detail = body.get("detail")
        return (str(title) if title else None), (str(detail) if detail else "")
    if isinstance(body, str):
        return None, body.strip()[:500]
    return None, ""


def error_from_response(
    status: int,
    body: Any,
    *,
    retry_after: float | None = None,
    model: str | None = None,
) -> ReplicateError:
    """The errors.py class and an actionable message for an error response.

    `model` names the model the request was about (a 404 then means the model is unknown).
    """
    title, detail = _problem(body)
    said = f" Replicate said: {detail}" if detail else ""
    if status == 401:
        return AuthenticationError(
            f"Replicate rejected the API token (HTTP 401).{said} {TOKEN_HELP}",
            status=status, title=title, detail=detail,
        )  # fmt: skip
    if status == 403:
        return AuthenticationError(
            f"This API token is not permitted to do that (HTTP 403).{said} {TOKEN_HELP}",
            status=status, title=title, detail=detail,
        )  # fmt: skip
    if status == 402:
        return InsufficientCreditError(
            f"Insufficient credit to run this model. Add credit or a payment method at "
            f"{BILLING_URL}, then try again.{said}",
            status=status, title=title, detail=detail,
        )  # fmt: skip
    if status == 404 and model:
        return ModelNotFoundError(
            f"Model '{model}' was not found (or this token cannot see it). {REF_FORMS}: official "
            "models run by name, community models need a version.",
            status=status, title=title, detail=detail,
        )  # fmt: skip
    if status == 422:
        fields = body.get("invalid_fields") if isinstance(body, dict) else None
        fields = [f for f in fields if isinstance(f, dict)] if isinstance(fields, list) else []
        problems = [
            f"- {f.get('field', 'input')}: {f.get('description') or f.get('type', 'invalid')}"
            for f in fields
        ]
        listing = "\n".join(problems) if problems else (detail or "no details given")
        return InvalidInputError(
            f"{title or 'Invalid input'}" + (f" for '{model}'" if model else "") + f":\n{listing}",
            invalid_fields=fields, status=status, title=title, detail=detail,
        )  # fmt: skip
    if status == 413:
        return InvalidInputError(
            f"The file is too large for Replicate (files must be under 100 MB).{said}",
            status=status, title=title, detail=detail,
        )  # fmt: skip
    if status == 429:
        wait = f" Try again in about {math.ceil(retry_after)} s." if retry_after else ""
        return RateLimitError(
            f"Replicate is rate limiting this token.{wait}{said}",
            retry_after=retry_after, status=status, title=title, detail=detail,
        )  # fmt: skip
    if status >= 500:
        return UpstreamError(
            f"Replicate failed upstream (HTTP {status}); this is on their side, try again "
            f"shortly.{said}",
            status=status, title=title, detail=detail,
        )  # fmt: skip
    return ReplicateError(
        f"Replicate answered HTTP {status}.{said}", status=status, title=title, detail=detail
    )


def prediction_error(prediction: Prediction) -> PredictionError:
    """The error for a prediction that ended without succeeding."""
    tail = log_tail(prediction.logs)
    logs = ("\nLast log lines:\n" + "\n".join(tail)) if tail else ""
    where = f" ({prediction.web_url})"
    if prediction.status == "canceled":
        return PredictionCanceledError(
            f"Prediction {prediction.id} was canceled{where}.", prediction=prediction
        )
    if prediction.status == "aborted":
        return PredictionAbortedError(
            f"Prediction {prediction.id} was aborted before it started (its deadline passed); "
            f"it was not billed{where}.",
            prediction=prediction,
        )
    reason = prediction.error or "no error message"
    return PredictionFailedError(
        f"Prediction {prediction.id} failed: {reason}{where}{logs}",
        prediction=prediction,
        detail=prediction.error,
    )


# ---- helpers -------------------------------------------------------------------------------


def token_id(token: str) -> str:
    """A stable, non-reversible name for a token (cache keys, logs)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


def _checked_token(token: str | None) -> str:
    value = (token or "").strip()
    if not value:
        raise AuthenticationError(f"No Replicate API token. {TOKEN_HELP}", status=0)
    if not re.fullmatch(r"[\x21-\x7e]+", value):
        # Never echo it: httpx would put an illegal header value into its error message.
        raise AuthenticationError(
            f"The API token contains spaces or control characters. {TOKEN_HELP}", status=0
        )
    return value


def parse_timestamp(value: str | None) -> float | None:
    """RFC 3339 with 0–9 fractional digits (Replicate's) → epoch seconds."""
    if not value:
        return None
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$", value)
    if not match:
        return None
    base = datetime.fromisoformat(match[1] + (match[3] or "Z"))  # no offset means UTC
    fraction = float("0." + match[2]) if match[2] else 0.0
    return base.timestamp() + fraction


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_normal(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _is_filled(output: Any) -> bool:
    return output not in (None, "", [], {})


@dataclass
class _Run:
    """State of one prediction run inside `events()`."""

    ref: ModelRef
    version: str | None
    input: dict[str, Any]
    token: str
    started: float = field(default_factory=time.monotonic)
    sent_at: float = field(default_factory=time.time)  # wall clock, for the held-create lookup
    prediction: Prediction | None = None
    create_task: asyncio.Task[Prediction] | None = None
    delivered: str = ""
    logs: str = ""
    finished: bool = False

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


# ---- the client ----------------------------------------------------------------------------


class ReplicateClient:
    """Async access to Replicate's predictions API; see docs/ARCHITECTURE.md for the contract."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        poll_cap: float = 300.0,
        sync_wait: int = 60,
        schema_ttl: float = 600.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_retries: int = 4,
        *,
        retry_base_delay: float = 0.5,
        max_retry_after: float = 60.0,
        poll_schedule: tuple[float, ...] = DEFAULT_POLL_SCHEDULE,
        cancel_timeout: float = 2.0,
        download_transport: httpx.AsyncBaseTransport | None = None,
        download_timeout: float = 120.0,
        size_caps: dict[str, int] | None = None,
    ) -> None:
        if not 1 <= int(sync_wait) <= 60:
            raise ValueError("sync_wait must be between 1 and 60 seconds")
        self.base_url = base_url.strip().rstrip("/")
        self.poll_cap = float(poll_cap)
        self.sync_wait = int(sync_wait)
        self.schema_ttl = float(schema_ttl)
        self.poll_schedule = poll_schedule or DEFAULT_POLL_SCHEDULE
        self.cancel_timeout = cancel_timeout
        self.retry = RetryPolicy(
            max_retries=max_retries, base_delay=retry_base_delay, max_retry_after=max_retry_after
        )
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(30.0, connect=5.0, pool=10.0),
            # A held `Prefer: wait` create keeps its connection up to a minute, so the pool must
            # hold one per prediction in flight across every user. Idle connections expire
            # before a typical server's 5 s keep-alive, so no request rides a closing one.
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=64, keepalive_expiry=4.0
            ),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,  # no proxy from the environment between us and the API
        )
        self._downloads = httpx.AsyncClient(
            transport=download_transport or GuardedTransport(self.base_url),
            timeout=httpx.Timeout(30.0, connect=10.0),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,  # followed by hand, each hop re-checked by the guard
        )
        self._downloader = Downloader(
            self._downloads, size_caps=size_caps, retry=self.retry, timeout=download_timeout
        )
        self._models: dict[tuple[str, str], tuple[float, ModelInfo]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._live_ids: set[str] = set()  # predictions of runs in progress (never cancel others')

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ReplicateClient:
        options: dict[str, Any] = {
            "base_url": settings.base_url,
            "poll_cap": settings.poll_cap,
            "sync_wait": settings.sync_wait,
        }
        options.update(overrides)
        return cls(**options)

    def __repr__(self) -> str:
        return f"ReplicateClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> ReplicateClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._background:
            await asyncio.wait(self._background, timeout=self.cancel_timeout)
            for task in self._background:
                task.cancel()
        await self._http.aclose()
        await self._downloads.aclose()

    @property
    def size_caps(self) -> dict[str, int]:
        return self._downloader.size_caps

    # ---- HTTP ----------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        token: str,
        kind: RequestKind = "read",
        model: str | None = None,
        headers: dict[str, str] | None = None,
        request_timeout: httpx.Timeout | None = None,
        retries: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """One API call with retries; the JSON body, or the mapped error."""
        secret = _checked_token(token)
        sent_headers = {"Authorization": f"Bearer {secret}", **(headers or {})}
        max_retries = self.retry.max_retries if retries is None else retries
        options: dict[str, Any] = dict(kwargs)
        if request_timeout is not None:
            options["timeout"] = request_timeout
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = await self._http.request(method, path, headers=sent_headers, **options)
            except httpx.HTTPError as exc:
                if attempt >= max_retries or not should_retry_error(kind, exc):
                    raise self._transport_error(exc, method, path, kind) from None
                reason = type(exc).__name__
            else:
                status = response.status_code
                if status < 400:
                    if status == 204 or not response.content:
                        return {}
                    try:
                        return response.json()
                    except ValueError:
                        raise UpstreamError(
                            f"Replicate sent an unreadable answer to {method} {path} "
                            f"(HTTP {status}).",
                            status=status,
                        ) from None
                body = self._body(response)
                _, detail = _problem(body)
                if status == 429:
                    retry_after = retry_after_seconds(response.headers, detail)
                if attempt >= max_retries or not should_retry_status(kind, status):
                    raise error_from_response(status, body, retry_after=retry_after, model=model)
                reason = f"HTTP {status}"
            delay = self.retry.delay(attempt, retry_after)
            log.info(
                "retrying %s %s after %s in %.2f s (attempt %d of %d)",
                method, path, reason, delay, attempt + 1, max_retries,
            )  # fmt: skip
            await asyncio.sleep(delay)
            attempt += 1

    @staticmethod
    def _body(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return response.text

    def _transport_error(
        self, exc: httpx.HTTPError, method: str, path: str, kind: RequestKind
    ) -> ReplicateError:
        name = type(exc).__name__
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return UpstreamError(
                f"Could not reach {self.base_url} ({name}). Check the network and "
                "REPLICATE_BASE_URL.",
            )
        if isinstance(exc, httpx.TimeoutException):
            extra = (
                " The prediction may have been created anyway: check "
                "https://replicate.com/predictions before retrying."
                if kind == "create"
                else ""
            )
            return UpstreamError(f"{self.base_url} did not answer {method} {path} in time.{extra}")
        return UpstreamError(f"Talking to {self.base_url} failed on {method} {path} ({name}).")

    # ---- account, models -------------------------------------------------------------------

    async def get_account(self, *, token: str) -> Account:
        data = await self._request("GET", "/v1/account", token=token)
        return Account(
            type=str(data.get("type") or "user"),
            username=str(data.get("username") or ""),
            name=str(data.get("name") or ""),
        )

    async def get_model(self, ref: ModelRef | str, *, token: str) -> ModelInfo:
        """The model's schema and flags, cached per (ref, token) for `schema_ttl` seconds."""
        model_ref = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
        key = (str(model_ref), token_id(_checked_token(token)))
        cached = self._models.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        base = f"/v1/models/{model_ref.owner}/{model_ref.name}"
        model_json = await self._request("GET", base, token=token, model=str(model_ref))
        version_json = None
        if model_ref.version:
            version_json = await self._request(
                "GET", f"{base}/versions/{model_ref.version}", token=token, model=str(model_ref)
            )
        info = ModelInfo.from_model_json(model_json, version_json)
        self._models[key] = (time.monotonic() + self.schema_ttl, info)
        return info

    # ---- predictions -----------------------------------------------------------------------

    async def create_prediction(
        self,
        ref: ModelRef | str,
        input: dict[str, Any],
        *,
        token: str,
        wait: int | None = None,
        cancel_after: float | None = None,
        version: str | None = None,
    ) -> Prediction:
        """POST the prediction: by name for official models, with `version` otherwise.

        `version` overrides the ref's (a community model's latest version); `wait` sends
        `Prefer: wait=N`; `cancel_after` sends `Cancel-After` (default: the poll cap).
        """
        model_ref = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
        chosen = version or model_ref.version
        headers: dict[str, str] = {}
        if cancel_after != 0:  # an explicit 0 sends no deadline
            seconds = self.poll_cap if cancel_after is None else cancel_after
            headers["Cancel-After"] = f"{max(5, math.ceil(seconds))}s"
        timeout: httpx.Timeout | None = None
        if wait:
            wait = max(1, min(60, int(wait)))
            headers["Prefer"] = f"wait={wait}"
            timeout = httpx.Timeout(30.0, connect=5.0, pool=10.0, read=wait + 10.0)
        if chosen:
            path, body = "/v1/predictions", {"version": chosen, "input": input}
        else:
            path, body = (
                f"/v1/models/{model_ref.owner}/{model_ref.name}/predictions",
                {"input": input},
            )
        log.debug("create prediction %s (wait=%s)", model_ref, wait)
        data = await self._request(
            "POST", path, token=token, kind="create", model=str(model_ref), json=body,
            headers=headers, request_timeout=timeout,
        )  # fmt: skip
        return Prediction.from_json(data)

    async def get_prediction(self, prediction_id: str, *, token: str) -> Prediction:
        data = await self._request("GET", f"/v1/predictions/{prediction_id}", token=token)
        return Prediction.from_json(data)

    async def cancel_prediction(
        self, prediction_id: str, *, token: str, retries: int | None = None
    ) -> Prediction:
        # Cancel is idempotent: retried like a read.
        data = await self._request(
            "POST", f"/v1/predictions/{prediction_id}/cancel", token=token, retries=retries
        )
        return Prediction.from_json(data)

    async def list_predictions(
        self, *, token: str, created_after: float | None = None
    ) -> list[Prediction]:
        """The first page (newest first)."""
        params = {"created_after": _rfc3339(created_after)} if created_after else None
        data = await self._request("GET", "/v1/predictions", token=token, params=params)
        results = data.get("results") if isinstance(data, dict) else None
        return [Prediction.from_json(r) for r in results or [] if isinstance(r, dict)]

    # ---- files -----------------------------------------------------------------------------

    async def upload_file(
        self,
        data: bytes,
        *,
        token: str,
        filename: str = "upload",
        content_type: str = "application/octet-stream",
    ) -> str:
        """POST /v1/files; the `urls.get` to put into an input."""
        body = await self._request(
            "POST", "/v1/files", token=token, kind="create",
            files={"content": (filename, data, content_type)},
        )  # fmt: skip
        url = (body.get("urls") or {}).get("get") if isinstance(body, dict) else None
        if not url:
            raise UpstreamError("Replicate accepted the upload but returned no file URL.")
        return str(url)

    async def prepare_input(self, input: dict[str, Any], *, token: str) -> dict[str, Any]:
        """File values (bytes, paths, PIL images, file objects) → data: URL or uploaded URL."""

        async def upload(data: bytes, filename: str, content_type: str) -> str:
            return await self.upload_file(
                data, token=token, filename=filename, content_type=content_type
            )

        return await files.prepare_input(input, upload)

    async def download_outputs(
        self, output: Any, dest_dir: str | os.PathLike[str], kind: str = "file"
    ) -> list[Path]:
        """Every file of an output, guarded, streamed to disk under the kind's size cap."""
        return await self._downloader.download_outputs(output, dest_dir, kind)

    # ---- running ---------------------------------------------------------------------------

    async def run(
        self,
        ref: ModelRef | str,
        input: dict[str, Any],
        *,
        token: str,
        on_progress: ProgressCallback | None = None,
        stream: bool | None = None,
    ) -> Prediction:
        """`events()` consumed; `on_progress` gets every Progress and TextDelta."""
        result: Prediction | None = None
        async with contextlib.aclosing(
            self.events(ref, input, token=token, stream=stream)
        ) as events:
            async for event in events:
                if isinstance(event, Completed):
                    result = event.prediction
                elif on_progress is not None:
                    outcome = on_progress(event)
                    if inspect.isawaitable(outcome):
                        await outcome
        if result is None:  # pragma: no cover - events() always ends in Completed or raises
            raise ReplicateError("The prediction ended without a result.")
        return result

    async def events(
        self,
        ref: ModelRef | str,
        input: dict[str, Any],
        *,
        token: str,
        stream: bool | None = None,
    ) -> AsyncIterator[PredictionEvent]:
        """Run a prediction: Progress while it runs, TextDeltas in order, then one Completed.

        Cancelling the consumer or closing this generator cancels the prediction at Replicate
        (shielded, bounded by `cancel_timeout`) before the cancellation goes on.
        """
        model_ref = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
        secret = _checked_token(token)
        info: ModelInfo | None = None
        if model_ref.version is None or stream is None:
            info = await self.get_model(model_ref, token=secret)
        version = model_ref.version or (info.version_id if info and not info.is_official else None)
        streaming = stream if stream is not None else bool(info and info.streams)
        prepared = await self.prepare_input(input, token=secret)
        run = _Run(ref=model_ref, version=version, input=_json_normal(prepared), token=secret)
        try:
            async with contextlib.aclosing(self._execute(run, streaming)) as steps:
                async for event in steps:
                    yield event
            run.finished = True
        except BaseException:
            # Stop, a closed tab, aclose(), or an error of ours: stop the billing first.
            await self._abandon(run)
            raise
        finally:
            if run.prediction is not None:
                self._live_ids.discard(run.prediction.id)

    async def _execute(self, run: _Run, streaming: bool) -> AsyncIterator[PredictionEvent]:
        wait = None if streaming else max(1, min(self.sync_wait, math.ceil(self.poll_cap)))
        run.started, run.sent_at = time.monotonic(), time.time()
        create = self.create_prediction(
            run.ref, run.input, token=run.token, wait=wait, version=run.version
        )
        run.create_task = asyncio.ensure_future(create)
        while True:
            done, _ = await asyncio.wait({run.create_task}, timeout=PROGRESS_TICK)
            if done:
                break
            # A held `Prefer: wait` create says nothing until it returns: starting or running.
            yield run.progress(WAITING)
        prediction = run.create_task.result()
        run.prediction = prediction
        self._live_ids.add(prediction.id)
        yield run.progress()

        if wait and not prediction.is_terminal and self._sync_complete(prediction, run, wait):
            prediction = replace(prediction, status="succeeded")
            run.prediction = prediction
        elif prediction.stream_url and not prediction.is_terminal:
            # Text models stream their tokens; file models' streams still say `done` the moment
            # the prediction ends, which beats any polling schedule.
            stream = self._stream(run, prediction.stream_url, text=streaming)
            async with contextlib.aclosing(stream) as streamed:
                async for event in streamed:
                    yield event
            if not run.prediction.is_terminal:
                # Read the final state now, not one poll interval later.
                run.prediction = await self.get_prediction(run.prediction.id, token=run.token)
        if not run.prediction.is_terminal:
            async with contextlib.aclosing(self._poll(run)) as polled:
                async for event in polled:
                    yield event
        final = run.prediction
        if final.status != "succeeded":
            run.finished = True
            raise prediction_error(final)
        text = normalize_output(final.output)
        if text.text is not None and not text.file_urls:
            rest = self._undelivered(run.delivered, text.text)
            if rest:
                run.delivered += rest
                yield TextDelta(rest)
        run.finished = True
        yield Completed(final)

    @staticmethod
    def _sync_complete(prediction: Prediction, run: _Run, wait: int) -> bool:
        """A held create that came back early with output is done (Replicate's sync mode).

        One that came back because the wait window ran out may hold partial output: poll it.
        """
        return _is_filled(prediction.output) and run.elapsed < wait - 0.5

    @staticmethod
    def _undelivered(delivered: str, full: str) -> str:
        if not full.startswith(delivered):
            log.warning("streamed text differs from the final output; sending the rest by length")
        return full[len(delivered) :]

    async def _poll(self, run: _Run) -> AsyncIterator[PredictionEvent]:
        assert run.prediction is not None
        index = 0
        while not run.prediction.is_terminal:
            remaining = self.poll_cap - run.elapsed
            if remaining <= 0:
                await self._timeout(run)
            delay = min(self.poll_schedule[min(index, len(self.poll_schedule) - 1)], remaining)
            index += 1
            deadline = time.monotonic() + delay
            while (left := deadline - time.monotonic()) > 0:
                await asyncio.sleep(min(PROGRESS_TICK, left))
                if deadline - time.monotonic() > 0.05:
                    yield run.progress()
            before = run.prediction.status
            run.prediction = await self.get_prediction(run.prediction.id, token=run.token)
            if run.prediction.status != before:
                log.debug("prediction %s is %s", run.prediction.id, run.prediction.status)
            yield run.progress()

    async def _timeout(self, run: _Run) -> None:
        assert run.prediction is not None
        waited = run.elapsed
        await self._cancel_known(run.prediction.id, run.token)
        run.finished = True
        raise PredictionTimeoutError(
            f"Prediction {run.prediction.id} did not finish within {self.poll_cap:g} s (waited "
            f"{waited:.1f} s) and was canceled. See {run.prediction.web_url}.",
            prediction=run.prediction,
        )

    async def _stream(
        self, run: _Run, url: str, *, text: bool = True
    ) -> AsyncIterator[PredictionEvent]:
        """Follow the SSE stream to `done`: text as it arrives (file URLs are not text).

        On a drop, leaves the rest to polling (`_poll`)."""
        assert run.prediction is not None
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        reader = asyncio.ensure_future(self._read_stream(url, queue))
        status = run.prediction.status
        try:
            while True:
                if run.elapsed >= self.poll_cap:
                    await self._timeout(run)
                try:
                    name, data = await asyncio.wait_for(queue.get(), PROGRESS_TICK)
                except TimeoutError:
                    yield run.progress(status)
                    continue
                if name == "output":
                    status = "processing"
                    if data and text:
                        run.delivered += data
                        yield TextDelta(data)
                elif name == "logs":
                    run.logs += data + "\n"
                    yield run.progress(status)
                elif name == "error":
                    run.prediction = replace(
                        run.prediction, status="failed", error=data, logs=run.logs
                    )
                    run.finished = True
                    raise prediction_error(run.prediction)
                elif name == "done":
                    if data == "canceled":
                        run.prediction = replace(run.prediction, status="canceled")
                        run.finished = True
                        raise prediction_error(run.prediction)
                    return  # finished: polling fetches the final prediction
                else:  # dropped or unavailable: the finished prediction fills in the rest
                    log.info("stream of %s ended early (%s); polling", run.prediction.id, data)
                    return
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader

    async def _read_stream(self, url: str, queue: asyncio.Queue[tuple[str, str]]) -> None:
        last_id = ""
        try:
            # A capability URL: no Authorization (as the JS and Go clients do).
            async with aconnect_sse(
                self._http, "GET", url, timeout=httpx.Timeout(30.0, connect=5.0, read=None)
            ) as source:
                if source.response.status_code >= 400:
                    await queue.put(("unavailable", f"HTTP {source.response.status_code}"))
                    return
                async for event in source.aiter_sse():
                    last_id = event.id or last_id
                    if event.event in ("output", "logs"):
                        await queue.put((event.event, event.data))
                    elif event.event == "error":
                        await queue.put(("error", self._sse_detail(event.data)))
                    elif event.event == "done":
                        await queue.put(("done", self._sse_reason(event.data)))
                        return
            await queue.put(("dropped", f"closed without done after id {last_id or '-'}"))
        except Exception as exc:  # any failure (HTTP, a body that isn't SSE) means: poll
            await queue.put(("dropped", f"{type(exc).__name__} after id {last_id or '-'}"))

    @staticmethod
    def _sse_detail(data: str) -> str:
        with contextlib.suppress(ValueError):
            parsed = json.loads(data)
            if isinstance(parsed, dict) and parsed.get("detail"):
                return str(parsed["detail"])
        return data or "the model reported an error"

    @staticmethod
    def _sse_reason(data: str) -> str:
        with contextlib.suppress(ValueError):
            parsed = json.loads(data or "{}")
            if isinstance(parsed, dict):
                return str(parsed.get("reason") or "")
        return ""

    # ---- cancellation ----------------------------------------------------------------------

    async def _abandon(self, run: _Run) -> None:
        """Cancel the run's prediction at Replicate, shielded and time-bounded."""
        if run.finished:
            return
        if run.prediction is not None and run.prediction.is_terminal:
            return
        job = self._detached(self._cancel_run(run))
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(job), timeout=self.cancel_timeout)

    def _detached(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _cancel_run(self, run: _Run) -> None:
        if run.prediction is not None:
            await self._cancel_known(run.prediction.id, run.token)
            return
        create = run.create_task
        if create is None:
            return
        if create.done():
            await self._cancel_when_created(run)
            return
        # The create is still held open (Prefer: wait): its id is unknown. Whatever it returns
        # later is canceled too; meanwhile find it in the list of predictions.
        self._detached(self._cancel_when_created(run))
        await self._cancel_held(run)

    async def _cancel_known(self, prediction_id: str, token: str) -> None:
        try:
            await asyncio.wait_for(
                self.cancel_prediction(prediction_id, token=token, retries=1),
                timeout=self.cancel_timeout,
            )
            log.info("canceled prediction %s", prediction_id)
        except (ReplicateError, TimeoutError) as exc:
            log.warning("could not cancel prediction %s: %s", prediction_id, exc)

    async def _cancel_when_created(self, run: _Run) -> None:
        """Cancel what the create returns, once it returns (unless it failed or has ended)."""
        assert run.create_task is not None
        try:
            prediction = await run.create_task
        except BaseException:
            return
        if not prediction.is_terminal:
            await self._cancel_known(prediction.id, run.token)

    async def _cancel_held(self, run: _Run) -> None:
        """Find the held create's prediction by model, input and time; cancel it."""
        give_up = time.monotonic() + _HELD_LOOKUP_BUDGET
        while True:
            try:
                candidates = await self.list_predictions(
                    token=run.token, created_after=run.sent_at - _CLOCK_SKEW
                )
            except ReplicateError as exc:
                log.warning("could not list predictions to cancel a held create: %s", exc)
                candidates = []
            matches = self._held_matches(run, candidates)
            for prediction in matches:
                await self._cancel_known(prediction.id, run.token)
            if matches or time.monotonic() >= give_up:
                if not matches:
                    log.warning("held create not found; Cancel-After will end it")
                return
            await asyncio.sleep(0.1)

    def _held_matches(self, run: _Run, predictions: list[Prediction]) -> list[Prediction]:
        """Our held create among the newest predictions: still running, created after we sent
        it (allowing for clock skew), not another live run's, same version (when pinned)."""

        def plausible(p: Prediction) -> bool:
            created = parse_timestamp(p.created_at)
            if p.is_terminal or p.id in self._live_ids:
                return False
            if created is not None and created < run.sent_at - _CLOCK_SKEW:
                return False
            return not run.version or p.version == run.version

        plausible_ones = [p for p in predictions if plausible(p)]
        exact = [p for p in plausible_ones if p.input == run.input]
        if exact:
            return exact[:1]
        # Inputs may come back rewritten (uploaded data URLs): a single candidate of the same
        # model is still ours (official models may report an internal model name: no match).
        same_model = [p for p in plausible_ones if p.model == run.ref.slug]
        return same_model if len(same_model) == 1 else []
