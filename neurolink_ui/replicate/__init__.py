"""The shared async Replicate predictions module. No Gradio here."""

from .client import ReplicateClient, token_id
from .errors import *  # noqa: F403
from .errors import error_from_response, prediction_error
from .files import DATA_URL_LIMIT, prepare_input
from .netguard import GuardedTransport, classify_address
from .outputs import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FILES,
    DEFAULT_SIZE_CAPS,
    DownloadedFiles,
    NormalizedOutput,
    normalize_output,
    sniff_type,
)
from .progress import log_tail, parse_percent
from .retry import RetryPolicy, parse_resets_in, parse_retry_after
from .schema import InputField, InputSchema, ModelInfo
from .types import (
    TERMINAL_STATUSES,
    Account,
    Completed,
    ModelExample,
    ModelRef,
    Prediction,
    PredictionEvent,
    Progress,
    TextDelta,
)

__all__ = [  # noqa: RUF022
    "TERMINAL_STATUSES",
    "Account",
    "Completed",
    "ModelExample",
    "ModelRef",
    "Prediction",
    "PredictionEvent",
    "Progress",
    "TextDelta",
    "ReplicateClient",
    "error_from_response",
    "prediction_error",
    "token_id",
    "DATA_URL_LIMIT",
    "prepare_input",
    "GuardedTransport",
    "classify_address",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FILES",
    "DEFAULT_SIZE_CAPS",
    "DownloadedFiles",
    "NormalizedOutput",
    "normalize_output",
    "sniff_type",
    "log_tail",
    "parse_percent",
    "RetryPolicy",
    "parse_resets_in",
    "parse_retry_after",
    "InputField",
    "InputSchema",
    "ModelInfo",
]
