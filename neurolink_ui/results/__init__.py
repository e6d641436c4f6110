"""Results that last: generations kept in SQLite plus a files folder, and their share ids."""

from .store import (
    NewResult,
    ResultStore,
    StoredResult,
    StoreFull,
    new_history_id,
    valid_history_id,
    valid_share_id,
)

__all__ = [
    "NewResult",
    "ResultStore",
    "StoreFull",
    "StoredResult",
    "new_history_id",
    "valid_history_id",
    "valid_share_id",
]
