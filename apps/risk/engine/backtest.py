"""Backtesting VaR: exceptions against realised P&L, Kupiec's proportion-of-failures test and
the Basel traffic light.

An exception is a day whose realised P&L is a loss larger than that day's VaR:
pnl[t] < −var[t] (a loss exactly equal to VaR is not an exception).

Kupiec (1995), "Techniques for verifying the accuracy of risk measurement models": with N
exceptions in T days and expected rate p = 1 − c,

    LR = −2·ln[(1 − p)^(T−N)·p^N] + 2·ln[(1 − N/T)^(T−N)·(N/T)^N]  ~  χ²(1),

(0·ln 0 taken as 0); the model is rejected at 95 % when LR > 3.841 (p-value < 0.05).

Basel Committee (1996), "Supervisory framework for the use of backtesting in conjunction with
the internal models approach to market risk capital requirements", Table 2: with X ~
Binomial(T, 1 − c), the green zone holds the exception counts whose cumulative probability
P(X ≤ N) is below 95 %, the yellow zone those below 99.99 %, the red zone the rest. For 250 days
at 99 %: green 0–4, yellow 5–9, red 10 or more, and the capital multiplier's plus factor
0.40, 0.50, 0.65, 0.75, 0.85 for 5…9 exceptions and 1.00 from 10.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import xlogy
from scipy.stats import binom, chi2

from apps.risk.engine.errors import RiskInputError, check_confidence
from apps.risk.engine.inputs import as_float_array

GREEN_BELOW = 0.95
YELLOW_BELOW = 0.9999
# Basel 1996, Table 2 (250 observations, 99 % VaR): plus factor by number of exceptions.
BASEL_PLUS_FACTORS = {5: 0.40, 6: 0.50, 7: 0.65, 8: 0.75, 9: 0.85}
BASEL_OBSERVATIONS = 250
BASEL_CONFIDENCE = 0.99


@dataclass(frozen=True)
class KupiecTest:
    observations: int
    exceptions: int
    expected_rate: float
    observed_rate: float
    lr_statistic: float
    p_value: float

    def rejected(self, significance: float = 0.05) -> bool:
        """Whether the VaR model is rejected at this significance (5 %: LR > 3.841)."""
        return self.p_value < significance


@dataclass(frozen=True)
class TrafficLight:
    """The Basel zone of an exception count. cumulative_probability = P(X ≤ exceptions);
    plus_factor is Basel's add-on for 250 days at 99 % (None for other samples)."""

    zone: str
    exceptions: int
    observations: int
    cumulative_probability: float
    plus_factor: float | None


@dataclass(frozen=True)
class BacktestResult:
    observations: int
    exceptions: int
    exception_days: tuple[int, ...]
    kupiec: KupiecTest
    traffic_light: TrafficLight


def _counts(exceptions: int, observations: int) -> tuple[int, int]:
    for value, what in ((exceptions, "exceptions"), (observations, "observations")):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise RiskInputError(f"{what} must be a whole number of at least 0, got {value!r}")
    if observations < 1 or exceptions > observations:
        raise RiskInputError(
            f"{exceptions} exceptions in {observations} observations is not a possible count"
        )
    return int(exceptions), int(observations)


def kupiec_pof(*, exceptions: int, observations: int, confidence: float) -> KupiecTest:
    """Kupiec's proportion-of-failures likelihood ratio and its χ²(1) p-value."""
    confidence = check_confidence(confidence)
    n, t = _counts(exceptions, observations)
    p = 1.0 - confidence
    observed = n / t
    log_null = (t - n) * np.log1p(-p) + n * np.log(p)
    log_alternative = xlogy(t - n, 1.0 - observed) + xlogy(n, observed)
    statistic = max(0.0, float(2.0 * (log_alternative - log_null)))
    return KupiecTest(t, n, p, observed, statistic, float(chi2.sf(statistic, 1)))


def traffic_light(
    *, exceptions: int, observations: int = BASEL_OBSERVATIONS, confidence: float = 0.99
) -> TrafficLight:
    """The Basel zone by the binomial rule (see the module's docstring)."""
    confidence = check_confidence(confidence)
    n, t = _counts(exceptions, observations)
    cumulative = float(binom.cdf(n, t, 1.0 - confidence))
    zone = "green" if cumulative < GREEN_BELOW else "yellow" if cumulative < YELLOW_BELOW else "red"
    plus = None
    if t == BASEL_OBSERVATIONS and confidence == BASEL_CONFIDENCE:
        plus = 1.0 if zone == "red" else BASEL_PLUS_FACTORS.get(n, 0.0)
    return TrafficLight(zone, n, t, cumulative, plus)


def backtest(
    *, realised_pnl: Sequence[float], var: Sequence[float], confidence: float
) -> BacktestResult:
    """Exceptions of daily VaR forecasts (`var[t]`, a positive loss, made for day t) against
    the P&L realised on day t, with Kupiec's test and the traffic light."""
    confidence = check_confidence(confidence)
    pnl = as_float_array(realised_pnl, "realised P&L", 1)
    forecasts = as_float_array(var, "VaR forecasts", 1)
    if pnl.size != forecasts.size or pnl.size == 0:
        raise RiskInputError(
            f"{pnl.size} realised P&L values for {forecasts.size} VaR forecasts: "
            "a backtest needs one of each per day, and at least one day"
        )
    for values, what in ((pnl, "realised P&L"), (forecasts, "VaR forecast")):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise RiskInputError(f"the {what} of day {int(bad[0])} is not a finite number")
    days = np.flatnonzero(pnl < -forecasts)
    exceptions = int(days.size)
    return BacktestResult(
        observations=pnl.size,
        exceptions=exceptions,
        exception_days=tuple(int(day) for day in days),
        kupiec=kupiec_pof(exceptions=exceptions, observations=pnl.size, confidence=confidence),
        traffic_light=traffic_light(
            exceptions=exceptions, observations=pnl.size, confidence=confidence
        ),
    )
