"""Risk figures of a P&L series (money per period, e.g. a book's daily P&L): volatility,
Sharpe and Sortino ratios, maximum drawdown.

    volatility   = sample standard deviation (divisor n − 1) per period,
    sharpe       = (mean − rf) / volatility · √periods_per_year,
    sortino      = (mean − rf) / downside deviation · √periods_per_year,
                   downside deviation = √(Σₜ min(xₜ − rf, 0)² / n) over all n periods,
    max drawdown = the largest fall of the cumulative P&L from an earlier peak, the cumulative
                   series starting at 0 before the first period (so a first-day loss counts).

rf is a per-period benchmark (0 for money P&L; a per-period risk-free return for a return series).
A ratio whose denominator is zero is None (no variation, or no period below the benchmark).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from apps.risk.engine.errors import RiskInputError, finite_or_error
from apps.risk.engine.inputs import as_float_array


@dataclass(frozen=True)
class PnlStatistics:
    """drawdown_peak and drawdown_trough index the cumulative series [0, x₁, x₁ + x₂, …]:
    0 is the start before the first period, i the end of period i (1-based)."""

    observations: int
    mean: float
    volatility: float
    annualised_volatility: float
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    drawdown_peak: int
    drawdown_trough: int


def pnl_statistics(
    pnl: Sequence[float], *, periods_per_year: float = 252, risk_free: float = 0.0
) -> PnlStatistics:
    """The figures above for a series of at least two periods."""
    values = as_float_array(pnl, "the P&L series", 1)
    if values.size < 2:
        raise RiskInputError("risk figures of a P&L series need at least two periods")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise RiskInputError(f"the P&L of period {int(bad[0])} is not a finite number")
    periods = finite_or_error(periods_per_year, "periods_per_year")
    if periods <= 0:
        raise RiskInputError("periods_per_year must be positive")
    benchmark = finite_or_error(risk_free, "risk_free")
    annualiser = math.sqrt(periods)
    mean = float(values.mean())
    volatility = float(values.std(ddof=1))
    excess = mean - benchmark
    downside = float(np.sqrt(np.mean(np.minimum(values - benchmark, 0.0) ** 2)))
    cumulative = np.concatenate(([0.0], np.cumsum(values)))
    peaks = np.maximum.accumulate(cumulative)
    drawdowns = peaks - cumulative
    trough = int(drawdowns.argmax())
    peak = int(cumulative[: trough + 1].argmax())
    return PnlStatistics(
        observations=values.size,
        mean=mean,
        volatility=volatility,
        annualised_volatility=volatility * annualiser,
        sharpe=excess / volatility * annualiser if volatility > 0 else None,
        sortino=excess / downside * annualiser if downside > 0 else None,
        max_drawdown=float(drawdowns[trough]),
        drawdown_peak=peak,
        drawdown_trough=trough,
    )
