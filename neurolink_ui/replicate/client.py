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
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import httpx

from . import files
from .errors import (
    TOKEN_HELP,
    AuthenticationError,
    ModelNotFoundError,
    ReplicateError,
    UpstreamError,
    error_from_response,
    problem_fields,
)
from .netguard import GuardedTransport
from .outputs import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FILES,
    DownloadedFiles,
    Downloader,
)
from .retry import (
    RequestKind,
    RetryPolicy,
    retry_after_seconds,
    should_retry_error,
    should_retry_status,
)
from .run import PredictionRun
from .schema import ModelInfo
from .timing import ModelTimes
from .types import Account, Completed, Deployment, ModelRef, Prediction, PredictionEvent

if TYPE_CHECKING:
    from neurolink_ui.config import Settings

log = logging.getLogger("neurolink_ui.replicate")

DEFAULT_BASE_URL = "https://api.replicate.com"
USER_AGENT = "neurolink-ui/0.1 (+httpx)"
# Seconds between polls when no stream says `done`: quick while most predictions end (every
# 0.5 s for the first ~10 s, as often as the official client), then growing to a few seconds.
DEFAULT_POLL_SCHEDULE: tuple[float, ...] = (0.25, *(0.5,) * 19, 1.0, 1.0, 2.0, 3.0)
MAX_CONNECTIONS = 1024
# The most an API answer may hold (a model with a huge schema is a few MB); past it, refused.
MAX_JSON_BODY = 32 * 1024 * 1024
# What a prediction id may look like before it is put into a path (the body is not trusted).
_PREDICTION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
# A deployment's release names its version: put into a path only when it looks like one.
_VERSION_ID = re.compile(r"[A-Za-z0-9]{1,128}")

ProgressCallback = Callable[[PredictionEvent], Awaitable[None] | None]


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


@dataclass(frozen=True)
class TextBody:
    """A text/plain answer, cut at the request's byte cap (`truncated` then True)."""

    text: str
    truncated: bool


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body, and whether that was all of it."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], False
    return b"".join(chunks), True


def _error_body(content: bytes) -> Any:
    """An error answer's problem+json, or its text."""
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return content.decode("utf-8", "replace")


def _json_normal(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


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
        self.run_times = ModelTimes()  # each model's recent times: when to poll (timing.py)
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
            "max_output_files": settings.max_output_files,
            "max_output_bytes": settings.max_output_bytes,
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
        max_body: int = MAX_JSON_BODY,
        text: bool = False,
        **kwargs: Any,
    ) -> Any:
        """One API call with retries; the JSON body, or the mapped error.

        `retries` bounds the attempts; `retry_for` (seconds) keeps retrying past that bound until
        so long after the first attempt (reads of a prediction whose result must not be lost).
        The body is read streamed and never past `max_body` bytes (the API's answers are not
        trusted to be small): a larger JSON body is an UpstreamError; with `text=True` the
        answer is a `TextBody`, cut at `max_body` with `truncated` set.
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
                request = self._http.build_request(method, path, headers=sent_headers, **options)
                response = await self._http.send(request, stream=True)
                try:
                    content, complete = await _read_capped(response, max_body)
                finally:
                    await response.aclose()
            except httpx.HTTPError as exc:
                if not may_retry or not should_retry_error(kind, exc):
                    raise self._transport_error(exc, method, path, kind) from None
                reason = type(exc).__name__
            else:
                status = response.status_code
                if status < 400:
                    if text:
                        return TextBody(content.decode("utf-8", "replace"), not complete)
                    if status == 204 or not content:
                        return {}
                    if not complete:
                        raise UpstreamError(
                            f"Replicate's answer to {method} {path} is larger than "
                            f"{max_body // 1024} KB; refusing to read it.",
                            status=status,
                        )
                    try:
                        return json.loads(content)
                    except (ValueError, RecursionError):
                        raise UpstreamError(
                            f"Replicate sent an unreadable answer to {method} {path} "
                            f"(HTTP {status}).",
                            status=status,
                        ) from None
                body = _error_body(content)
                _, detail = problem_fields(body)
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
        """The model's schema and flags, cached per (ref, token) for `schema_ttl` seconds.

        For a deployment (`deployment:owner/name`): the schema of the model version its current
        release runs, with `deployment` set (`get_deployment`)."""
        model_ref = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
        key = (str(model_ref), token_id(_checked_token(token)))
        cached = self._models.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        if model_ref.deployment:
            info = await self._deployment_model(model_ref, token=token)
        else:
            info = await self._model_version(model_ref, token=token)
        self._models[key] = (time.monotonic() + self.schema_ttl, info)
        return info

    async def _model_version(self, model_ref: ModelRef, *, token: str) -> ModelInfo:
        base = f"/v1/models/{model_ref.owner}/{model_ref.name}"
        model_json = await self._request("GET", base, token=token, model=str(model_ref))
        version_json = None
        if model_ref.version:
            version_json = await self._request(
                "GET", f"{base}/versions/{model_ref.version}", token=token, model=str(model_ref)
            )
        return ModelInfo.from_model_json(model_json, version_json)

    async def get_deployment(self, ref: ModelRef | str, *, token: str) -> Deployment:
        """`GET /v1/deployments/{owner}/{name}`: the model and version its current release runs.
        A release that names no usable model or version is an UpstreamError."""
        model_ref = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
        path = f"/v1/deployments/{model_ref.owner}/{model_ref.name}"
        data = await self._request("GET", path, token=token, model=str(model_ref))
        data = data if isinstance(data, dict) else {}
        release = data.get("current_release")
        release = release if isinstance(release, dict) else {}
        model, version = release.get("model"), release.get("version")
        try:
            runs = ModelRef.parse(model) if isinstance(model, str) else None
        except ReplicateError:
            runs = None
        if (
            runs is None
            or runs.version
            or runs.deployment
            or not isinstance(version, str)
            or not _VERSION_ID.fullmatch(version)
        ):
            raise UpstreamError(
                f"Deployment {model_ref.slug} has no usable current release (it names no model "
                "and version); check it at https://replicate.com/deployments."
            )
        configuration = release.get("configuration")
        configuration = configuration if isinstance(configuration, dict) else {}
        number, hardware = release.get("number"), configuration.get("hardware")
        return Deployment(
            owner=model_ref.owner,
            name=model_ref.name,
            model=runs.slug,
            version=version,
            release=number if isinstance(number, int) and not isinstance(number, bool) else None,
            hardware=hardware[:100] if isinstance(hardware, str) else "",
        )

    async def _deployment_model(self, model_ref: ModelRef, *, token: str) -> ModelInfo:
        """A deployment's model: the schema of the version its release runs (an official model,
        which shows no versions, gives its latest schema)."""
        deployment = await self.get_deployment(model_ref, token=token)
        runs = ModelRef.parse(f"{deployment.model}:{deployment.version}")
        try:
            info = await self._model_version(runs, token=token)
        except ModelNotFoundError:
            info = await self._model_version(ModelRef.parse(deployment.model), token=token)
            if not info.is_official:
                raise
        release = f"release {deployment.release}" if deployment.release is not None else "release"
        on = f" on {deployment.hardware}" if deployment.hardware else ""
        about = f"Deployment {deployment.slug} of {deployment.model} ({release}{on})."
        return replace(
            info,
            ref=str(model_ref),
            is_official=False,
            version_id=deployment.version,
            description=f"{about} {info.description}".strip(),
            deployment=deployment,
        )

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
        """POST the prediction: by name for official models, with `version` otherwise, and to
        the deployment's own route for a deployment (its release pins the version).

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
        body: dict[str, Any]
        if model_ref.deployment:
            path, body = (
                f"/v1/deployments/{model_ref.owner}/{model_ref.name}/predictions",
                {"input": input},
            )
        elif chosen:
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

    def url_refusal(self, url: str) -> str | None:
        """Why the client's URL policy (netguard) refuses a URL the API handed back, judged
        without connecting or resolving (None: allowed so far; a fetch is vetted again)."""
        return self._guard.refusal(url)

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
        info: ModelInfo | None = None,
        deadline: float | None = None,
    ) -> AsyncGenerator[PredictionEvent, None]:
        """Run a prediction: Progress while it runs, TextDeltas in order, then one Completed.

        `info`: the model, when the caller has fetched it already (not fetched again).
        `deadline`: seconds the prediction may take from its create: sent as `Cancel-After`
        and waited for (then canceled, PredictionTimeoutError); default the client's poll cap.
        The run core passes each model's own (`neurolink_ui.deadlines`).

        The create is not held (no `Prefer: wait`), so the prediction's id is known at once:
        progress flows from the first second and Stop can always name the prediction to cancel.
        Cancelling the consumer or closing this generator cancels the prediction at Replicate
        (shielded, bounded by `cancel_timeout`) before the cancellation goes on; only a
        prediction this run created is ever canceled, and never one known to have ended.
        """
        model_ref = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
        secret = _checked_token(token)
        if info is None and (model_ref.version is None or stream is None):
            info = await self.get_model(model_ref, token=secret)
        version = info.run_version(model_ref) if info is not None else model_ref.version
        streaming = stream if stream is not None else bool(info and info.streams)
        prepared = await self.prepare_input(input, token=secret)
        run = PredictionRun(
            self,
            model_ref,
            version,
            _json_normal(prepared),
            secret,
            streaming=streaming,
            deadline=self.poll_cap if deadline is None else float(deadline),
        )
        async with contextlib.aclosing(run.events()) as steps:
            async for event in steps:
                yield event

    # ---- what a run (run.py) uses ----------------------------------------------------------

    @property
    def guarded_http(self) -> httpx.AsyncClient:
        """The client for URLs the API hands back (streams, files): guarded by netguard."""
        return self._downloads

    def detach(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run `coro` to its end even if the caller is cancelled (aclose() waits for it)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def cancel_quietly(self, prediction_id: str, *, token: str) -> None:
        """Cancel, bounded by `cancel_timeout`; a failure is logged, not raised (Cancel-After
        still ends the prediction)."""
        try:
            await asyncio.wait_for(
                self.cancel_prediction(prediction_id, token=token, retries=1),
                timeout=self.cancel_timeout,
            )
            log.info("canceled prediction %s", prediction_id)
        except (ReplicateError, TimeoutError) as exc:
            log.warning("could not cancel prediction %s: %s", prediction_id, exc)
