"""Numbers from environment variables, for the settings readers (`config`, `quota.settings`):
a bad value stops the start-up with a message naming the variable, what it takes and what it got."""

from __future__ import annotations

import math
from collections.abc import Mapping

LARGEST_LIMIT = 10**9  # a limit where 0 disables it: anything larger is surely a typo


def env_number(
    env: Mapping[str, str],
    key: str,
    default: float,
    *,
    unit: str = "",
    whole: bool = False,
    zero_disables: bool = False,
    error: type[ValueError] = ValueError,
) -> float:
    """`key`'s value (`default` when unset or blank): a positive, finite number of `unit`, or with
    `zero_disables` one from 0 to 10^9, where 0 turns the limit off. `whole`: an integer.
    A bad value raises `error`."""
    raw = env.get(key, "").strip()
    if not raw:
        return default
    what = ("a whole number" if whole else "a number") + (f" of {unit}" if unit else "")
    disables = " (0 disables it)" if zero_disables else ""
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise error(f"{key} must be {what}{disables}, got {raw!r}") from None
    if zero_disables:
        if not 0 <= value <= LARGEST_LIMIT:
            raise error(f"{key} must be {what} from 0 to 10^9{disables}, got {raw!r}")
    elif not math.isfinite(value) or value <= 0:
        raise error(f"{key} must be a positive number of {unit}, got {raw!r}")
    return value
