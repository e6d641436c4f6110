"""One small exception hierarchy, built from Replicate's problem+json bodies.

Every message is written for the person who has to act on it; none ever contains the API token.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from .progress import log_tail

TOKEN_HELP = (
    "Set REPLICATE_API_TOKEN (or paste a token in the app); create or rotate tokens at "
    "https://replicate.com/account/api-tokens."
)
REF_FORMS = (
    "Use `owner/name` for official models, `owner/name:version` for any model or "
    "`deployment:owner/name` for one of your deployments"
)
BILLING_URL = "https://replicate.com/account/billing#billing"


class ReplicateError(Exception):
    """An error from Replicate or from talking to it.

    `status` is the HTTP status (0 when there was no response), `title` and `detail` come from the
    problem+json body where there was one; `str(error)` is the actionable message.
    """

    default_title = "Replicate error"

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        title: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.title = title or self.default_title
        self.detail = detail or ""

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(status={self.status}, title={self.title!r}, message={self.message!r})"


class InvalidModelRefError(ReplicateError, ValueError):
    default_title = "Invalid model reference"

    def __init__(self, ref: str) -> None:
        shown = ref if ref else "(empty)"
        super().__init__(
            f"'{shown}' is not a model reference. {REF_FORMS}, "
            "e.g. `black-forest-labs/flux-schnell` or `meta/musicgen:671ac645…`."
        )
        self.ref = ref


class InvalidRequestError(ReplicateError, ValueError):
    """A request refused before it is sent (an empty or huge query, a malformed slug)."""

    default_title = "Invalid request"


class SchemaTooComplexError(ReplicateError, ValueError):
    """A model's `openapi_schema` refused unread: its `$ref`/`allOf` references would take more
    work (or nest deeper) than any real schema does — a hostile schema, never a slow one."""

    default_title = "Model schema refused"


class AuthenticationError(ReplicateError):
    default_title = "Invalid API token"


class InsufficientCreditError(ReplicateError):
    default_title = "Insufficient credit"


class ModelNotFoundError(ReplicateError):
    default_title = "Model not found"


class InvalidInputError(ReplicateError):
    default_title = "Invalid input"

    def __init__(
        self, message: str, *, invalid_fields: list[dict[str, Any]] | None = None, **kw: Any
    ):
        super().__init__(message, **kw)
        self.invalid_fields = invalid_fields or []


class RateLimitError(ReplicateError):
    default_title = "Rate limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class UpstreamError(ReplicateError):
    """Replicate answered 5xx, or could not be reached at all (status 0)."""

    default_title = "Replicate unavailable"


class PredictionError(ReplicateError):
    """A prediction that ended without output; carries the prediction."""

    def __init__(self, message: str, *, prediction: Any = None, **kw: Any):
        super().__init__(message, **kw)
        self.prediction = prediction


class PredictionFailedError(PredictionError):
    default_title = "Prediction failed"


class PredictionCanceledError(PredictionError):
    default_title = "Prediction canceled"


class PredictionAbortedError(PredictionError):
    default_title = "Prediction aborted"


class PredictionTimeoutError(PredictionError):
    default_title = "Prediction timed out"


class DownloadError(ReplicateError):
    default_title = "Download failed"

    def __init__(self, message: str, *, url: str = "", **kw: Any):
        super().__init__(message, **kw)
        self.url = url


class DownloadBudgetError(DownloadError):
    """The first output file alone would pass the download budget the caller gave this
    prediction (`budget` bytes: a session's room on disk, or the client's per-prediction cap).
    Its own type, so a caller never has to read the message to tell it from a size cap."""

    def __init__(self, message: str, *, budget: int, url: str = "", **kw: Any):
        super().__init__(message, url=url, **kw)
        self.budget = budget


class OutputTooLargeError(DownloadError):
    """One output file is larger than the size cap for its kind (image, video, audio, file)."""


class BlockedAddressError(DownloadError):
    """An output URL pointed somewhere we refuse to fetch from (private network, plain http)."""

    default_title = "Download refused"


# ---- errors built from responses and finished predictions ---------------------------------


def problem_fields(body: Any) -> tuple[str | None, str]:
    """`title` and `detail` of a problem+json body (or the start of a text body)."""
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
    title, detail = problem_fields(body)
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
    if status == 404 and model and model.startswith("deployment:"):
        return ModelNotFoundError(
            f"Deployment '{model.removeprefix('deployment:')}' was not found (or this token "
            "cannot see it): a deployment belongs to the account whose token runs it. "
            f"{REF_FORMS}.",
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


class EndedPrediction(Protocol):
    """What an error needs of a prediction that ended (`types.Prediction` is one): declared here
    so that errors.py stays below types.py, whose ModelRef raises InvalidModelRefError."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def logs(self) -> str: ...
    @property
    def web_url(self) -> str: ...


def prediction_error(prediction: EndedPrediction) -> PredictionError:
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
