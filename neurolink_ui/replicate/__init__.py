"""The shared async Replicate predictions module. No Gradio here."""

from .errors import *  # noqa: F403
from .types import (
    TERMINAL_STATUSES,
    Account,
    Completed,
    ModelRef,
    Prediction,
    PredictionEvent,
    Progress,
    TextDelta,
)

__all__ = [  # noqa: RUF022
    "TERMINAL_STATUSES", "Account", "Completed", "ModelRef", "Prediction", "PredictionEvent",
    "Progress", "TextDelta",
]
