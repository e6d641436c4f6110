"""One small exception hierarchy, built from Replicate's problem+json bodies.

Every message is written for the person who has to act on it; none ever contains the API token.
"""

from __future__ import annotations

from typing import Any

TOKEN_HELP = (
    "Set REPLICATE_API_TOKEN (or paste a token in the app); create or rotate tokens at "
    "https://replicate.com/account/api-tokens."
)
REF_FORMS = "Use `owner/name` for official models or `owner/name:version` for any model"


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


class BlockedAddressError(DownloadError):
    """An output URL pointed somewhere we refuse to fetch from (private network, plain http)."""

    default_title = "Download refused"
