"""The one exception the engine raises for bad input, and the checks every entry point shares."""

import math
from collections.abc import Sequence


class RiskInputError(ValueError):
    """Input no risk figure can be computed from; the message names the culprit (a factor, a
    parameter) so that the caller can show it as it is."""


def check_confidence(confidence: float) -> float:
    """A confidence level strictly between 0 and 1 (0.99 for 99 %)."""
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        raise RiskInputError(f"confidence must be a number, got {confidence!r}") from None
    if not 0.0 < value < 1.0:  # also refuses NaN
        raise RiskInputError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    return value


def check_positive_int(value: int, what: str) -> int:
    """A whole number of at least 1 (a horizon in days, a window, a number of paths)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RiskInputError(f"{what} must be a whole number of at least 1, got {value!r}")
    return value


def check_decay(decay: float, what: str) -> float:
    """A decay factor λ strictly between 0 and 1 (0.94 for RiskMetrics' daily EWMA)."""
    try:
        value = float(decay)
    except (TypeError, ValueError):
        raise RiskInputError(f"{what} must be a number, got {decay!r}") from None
    if not 0.0 < value < 1.0:
        raise RiskInputError(f"{what} must lie strictly between 0 and 1, got {decay!r}")
    return value


def quoted(names: Sequence[str], limit: int = 5) -> str:
    """'A', 'B', 'C' and 4 more: names for a message, never an endless list."""
    shown = ", ".join(repr(name) for name in names[:limit])
    more = len(names) - limit
    return f"{shown} and {more} more" if more > 0 else shown


def finite_or_error(value: float, what: str) -> float:
    """A finite float, or RiskInputError naming `what`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RiskInputError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise RiskInputError(f"{what} must be a finite number, got {value!r}")
    return number
