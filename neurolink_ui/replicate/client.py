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
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from httpx_sse import aconnect_sse

from . import files
from .errors import (
    REF_FORMS,
    TOKEN_HELP,
    AuthenticationError,
    BlockedAddressError,
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
from .outputs import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FILES,
    DownloadedFiles,
    Downloader,
    normalize_output,
)
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
PROGRESS_TICK = 0.5  # seconds between Progress events while nothing else happens
# A read of a prediction this run created (poll, final read) retries network errors and 5xx for
# this long (bounded by the run's cap): the prediction may be billed, its result must not be lost.
READ_RETRY_WINDOW = 60.0
# What a prediction id may look like before it is put into a path (the body is not trusted).
_PREDICTION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")

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


def _prediction_path(prediction_id: str) -> str:
    """`/v1/predictions/<id>` on the configured API: never a URL the body named."""
    if not _PREDICTION_ID.fullmatch(prediction_id):
        raise UpstreamError(
            f"Replicate returned an invalid prediction id ({prediction_id[:40]!r}); refusing to "
            "use it in a request."
        )
    return f"/v1/predictions/{prediction_id}"


def _json_normal(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@dataclass
class _Run:
    """State of one prediction run inside `events()`."""

    ref: ModelRef
    version: str | None
    input: dict[str, Any]
    token: str
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


# ---- the client ----------------------------------------------------------------------------


class ReplicateClient:
    """Async access to Replicate's predictions API; see docs/ARCHITECTURE.md for the contract."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        poll_cap: float = 300.0,
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
        max_output_files: int = DEFAULT_MAX_FILES,
        max_output_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        self.poll_cap = float(poll_cap)
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
            # Room for every user's requests at once (and an explicit `Prefer: wait` create
            # holds its connection up to a minute). Idle connections expire
            # before a typical server's 5 s keep-alive, so no request rides a closing one.
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=64, keepalive_expiry=4.0
            ),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,  # no proxy from the environment between us and the API
        )
        # The one URL policy (netguard) for everything the API hands back: output files, streams,
        # uploaded-file URLs. Those go through this guarded client, never the API client.
        self._guard = GuardedTransport(self.base_url)
        self._downloads = httpx.AsyncClient(
            transport=download_transport or self._guard,
            timeout=httpx.Timeout(30.0, connect=10.0),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,  # followed by hand, each hop re-checked by the guard
        )
        self._downloader = Downloader(
            self._downloads, size_caps=size_caps, retry=self.retry, timeout=download_timeout,
            max_files=max_output_files, max_bytes=max_output_bytes,
        )  # fmt: skip
        self._models: dict[tuple[str, str], tuple[float, ModelInfo]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ReplicateClient:
        options: dict[str, Any] = {
            "base_url": settings.base_url,
            "poll_cap": settings.poll_cap,
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
        if self._downloads._transport is not self._guard:  # else closed with the client above
            await self._guard.aclose()

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
        retry_for: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """One API call with retries; the JSON body, or the mapped error.

        `retries` bounds the attempts; `retry_for` (seconds) keeps retrying past that bound until
        so long after the first attempt (reads of a prediction whose result must not be lost).
        """
        secret = _checked_token(token)
        sent_headers = {"Authorization": f"Bearer {secret}", **(headers or {})}
        max_retries = self.retry.max_retries if retries is None else retries
        options: dict[str, Any] = dict(kwargs)
        if request_timeout is not None:
            options["timeout"] = request_timeout
        give_up = time.monotonic() + (retry_for or 0.0)
        attempt = 0
        while True:
            retry_after: float | None = None
            may_retry = attempt < max_retries or time.monotonic() < give_up
            try:
                response = await self._http.request(method, path, headers=sent_headers, **options)
            except httpx.HTTPError as exc:
                if not may_retry or not should_retry_error(kind, exc):
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
                if not may_retry or not should_retry_status(kind, status):
                    raise error_from_response(status, body, retry_after=retry_after, model=model)
                reason = f"HTTP {status}"
            delay = self.retry.delay(attempt, retry_after)
            if attempt >= max_retries:  # retrying on time alone: never past the window
                delay = min(delay, max(give_up - time.monotonic(), 0.0))
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
        prediction = Prediction.from_json(data if isinstance(data, dict) else {})
        _prediction_path(prediction.id)  # an id we could not use later is refused now
        return prediction

    async def get_prediction(
        self, prediction_id: str, *, token: str, retry_for: float | None = None
    ) -> Prediction:
        """The prediction, read from the configured API (never from a URL the body named)."""
        data = await self._request(
            "GET", _prediction_path(prediction_id), token=token, retry_for=retry_for
        )
        prediction = Prediction.from_json(data if isinstance(data, dict) else {})
        if prediction.id != prediction_id:
            raise UpstreamError(
                f"Replicate answered a read of prediction {prediction_id} with another one "
                f"({prediction.id[:40]!r})."
            )
        return prediction

    async def cancel_prediction(
        self, prediction_id: str, *, token: str, retries: int | None = None
    ) -> Prediction:
        # Cancel is idempotent: retried like a read.
        data = await self._request(
            "POST", _prediction_path(prediction_id) + "/cancel", token=token, retries=retries
        )
        return Prediction.from_json(data if isinstance(data, dict) else {})

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
        urls = body.get("urls") if isinstance(body, dict) else None
        url = urls.get("get") if isinstance(urls, dict) else None
        if not isinstance(url, str) or not url:
            raise UpstreamError("Replicate accepted the upload but returned no file URL.")
        # Handed on as input, so fetched later by whoever runs the model: same policy as a fetch.
        await self._guard.vet_url(url)
        return url

    async def prepare_input(self, input: dict[str, Any], *, token: str) -> dict[str, Any]:
        """File values (bytes, paths, PIL images, file objects) → data: URL or uploaded URL."""

        async def upload(data: bytes, filename: str, content_type: str) -> str:
            return await self.upload_file(
                data, token=token, filename=filename, content_type=content_type
            )

        return await files.prepare_input(input, upload)

    async def download_outputs(
        self,
        output: Any,
        dest_dir: str | os.PathLike[str],
        kind: str = "file",
        *,
        max_files: int | None = None,
        max_bytes: int | None = None,
    ) -> DownloadedFiles:
        """The files of an output, guarded, streamed to disk under the kind's size cap.

        At most `max_files` files and `max_bytes` bytes (the client's defaults: 16 files, 512 MB
        per prediction); past a cap the rest come back as `links` with a `note`, and what was
        downloaded is kept.
        """
        return await self._downloader.download_outputs(
            output, dest_dir, kind, max_files=max_files, max_bytes=max_bytes
        )

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
    ) -> AsyncGenerator[PredictionEvent, None]:
        """Run a prediction: Progress while it runs, TextDeltas in order, then one Completed.

        The create is not held (no `Prefer: wait`), so the prediction's id is known at once:
        progress flows from the first second and Stop can always name the prediction to cancel.
        Cancelling the consumer or closing this generator cancels the prediction at Replicate
        (shielded, bounded by `cancel_timeout`) before the cancellation goes on; only a
        prediction this run created is ever canceled, and never one known to have ended.
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
        except BaseException:
            # Stop, a closed tab, aclose(), or an error of ours: stop the billing first.
            await self._abandon(run)
            raise

    async def _execute(self, run: _Run, streaming: bool) -> AsyncGenerator[PredictionEvent, None]:
        run.started = time.monotonic()
        create = self.create_prediction(run.ref, run.input, token=run.token, version=run.version)
        # A task of its own: a Stop while it is in flight lets it finish, then cancels its id.
        run.create_task = asyncio.ensure_future(create)
        while True:
            done, _ = await asyncio.wait({run.create_task}, timeout=PROGRESS_TICK)
            if done:
                break
            yield run.progress()
        run.prediction = run.create_task.result()
        run.ended = run.prediction.is_terminal
        yield run.progress()

        stream_url = run.prediction.stream_url
        if stream_url and not run.ended:
            # Text models stream their tokens; file models' streams carry log lines and say
            # `done` the moment the prediction ends, which beats any polling schedule.
            stream = self._stream(run, stream_url, text=streaming)
            async with contextlib.aclosing(stream) as streamed:
                async for event in streamed:
                    yield event
            if not run.prediction.is_terminal:
                # Read the final state now, not one poll interval later.
                run.prediction = await self._read(run)
        if not run.prediction.is_terminal:
            async with contextlib.aclosing(self._poll(run)) as polled:
                async for event in polled:
                    yield event
        final = run.prediction
        run.ended = True
        if final.status != "succeeded":
            raise prediction_error(final)
        text = normalize_output(final.output)
        if text.text is not None and not text.file_urls:
            rest = self._undelivered(run.delivered, text.text)
            if rest:
                run.delivered += rest
                yield TextDelta(rest)
        yield Completed(final)

    @staticmethod
    def _undelivered(delivered: str, full: str) -> str:
        if not full.startswith(delivered):
            log.warning("streamed text differs from the final output; sending the rest by length")
        return full[len(delivered) :]

    async def _read(self, run: _Run) -> Prediction:
        """The run's prediction, read again; network errors and 5xx are retried for up to
        READ_RETRY_WINDOW seconds, bounded by what is left of the run's cap."""
        assert run.prediction is not None
        window = min(READ_RETRY_WINDOW, max(self.poll_cap - run.elapsed, 0.0))
        prediction = await self.get_prediction(run.prediction.id, token=run.token, retry_for=window)
        run.ended = run.ended or prediction.is_terminal
        return prediction

    async def _poll(self, run: _Run) -> AsyncGenerator[PredictionEvent, None]:
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
            run.prediction = await self._read(run)
            if run.prediction.status != before:
                log.debug("prediction %s is %s", run.prediction.id, run.prediction.status)
            yield run.progress()

    async def _timeout(self, run: _Run) -> None:
        assert run.prediction is not None
        waited = run.elapsed
        if not run.ended:
            await self._cancel_known(run.prediction.id, run.token)
        run.ended = True
        raise PredictionTimeoutError(
            f"Prediction {run.prediction.id} did not finish within {self.poll_cap:g} s (waited "
            f"{waited:.1f} s) and was canceled. See {run.prediction.web_url}.",
            prediction=run.prediction,
        )

    async def _stream(
        self, run: _Run, url: str, *, text: bool = True
    ) -> AsyncGenerator[PredictionEvent, None]:
        """Follow the SSE stream to `done`: text as it arrives (file URLs are not text), log
        lines as progress.

        On a drop, or a stream URL the policy refuses, leaves the rest to polling (`_poll`)."""
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
                if name in ("output", "logs"):
                    status = "processing"  # the model is running: the boot is over
                if name == "output":
                    if data and text:
                        run.delivered += data
                        yield TextDelta(data)
                elif name == "logs":
                    run.logs += data + "\n"
                    yield run.progress(status)
                elif name == "done":
                    # Ended (succeeded, failed, canceled or aborted): the final read says which,
                    # with the error and logs, and the output.
                    run.ended = True
                    return
                elif name == "refused":
                    log.warning("%s Polling prediction %s instead.", data, run.prediction.id)
                    return
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
            # A capability URL: no Authorization (as the JS and Go clients do). Through the
            # guarded client: https to a public host, or the API's own origin, nothing else.
            async with aconnect_sse(
                self._downloads, "GET", url, timeout=httpx.Timeout(30.0, connect=5.0, read=None)
            ) as source:
                if source.response.status_code >= 400:
                    await queue.put(("unavailable", f"HTTP {source.response.status_code}"))
                    return
                async for event in source.aiter_sse():
                    last_id = event.id or last_id
                    if event.event in ("output", "logs"):
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

    async def _abandon(self, run: _Run) -> None:
        """Cancel the run's prediction at Replicate, shielded and time-bounded."""
        if run.ended:
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
        """Cancel the prediction this run created: the one whose id its create returned.

        A create still in flight is let finish (it is not held, so that is one round trip),
        then its id is canceled at once. Nothing else is ever looked up or canceled."""
        if run.prediction is None:
            if run.create_task is None:
                return
            try:
                run.prediction = await run.create_task
            except BaseException:
                return  # no prediction was made
        if not run.ended and not run.prediction.is_terminal:
            await self._cancel_known(run.prediction.id, run.token)

    async def _cancel_known(self, prediction_id: str, token: str) -> None:
        try:
            await asyncio.wait_for(
                self.cancel_prediction(prediction_id, token=token, retries=1),
                timeout=self.cancel_timeout,
            )
            log.info("canceled prediction %s", prediction_id)
        except (ReplicateError, TimeoutError) as exc:
            log.warning("could not cancel prediction %s: %s", prediction_id, exc)
