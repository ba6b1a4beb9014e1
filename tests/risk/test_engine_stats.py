"""Risk figures of a P&L series on a hand-worked series."""

import math

import pytest

from apps.risk.engine import pnl_statistics


def test_volatility_sharpe_sortino_and_drawdown_of_a_hand_series():
    # P&L 100, −50, 30, −80, 60: mean 12; deviations 88, −62, 18, −92, 48, squares
    # 7744 + 3844 + 324 + 8464 + 2304 = 22,680; variance 22,680/4 = 5,670; sd = √5,670.
    # Downside: (−50)² + (−80)² = 8,900 over all 5 periods: √1,780.
    # Cumulative 0, 100, 50, 80, 0, 60: the peak 100 (after period 1) falls to 0 (after 4).
    result = pnl_statistics([100, -50, 30, -80, 60], periods_per_year=252)

    assert result.mean == 12
    assert result.volatility == pytest.approx(math.sqrt(5670), rel=1e-15)
    assert result.annualised_volatility == pytest.approx(math.sqrt(5670 * 252), rel=1e-15)
    assert result.sharpe == pytest.approx(12 / math.sqrt(5670) * math.sqrt(252), rel=1e-15)
    assert result.sortino == pytest.approx(12 / math.sqrt(1780) * math.sqrt(252), rel=1e-15)
    assert result.max_drawdown == 100
    assert (result.drawdown_peak, result.drawdown_trough) == (1, 4)


def test_a_first_day_loss_is_a_drawdown_from_the_start():
    result = pnl_statistics([-30, -20, 10, 5], periods_per_year=1)

    assert result.max_drawdown == 50
    assert (result.drawdown_peak, result.drawdown_trough) == (0, 2)


def test_a_benchmark_is_taken_off_each_period():
    # Returns 2 %, −1 %, 3 % against 0.5 % a period: excess mean 0.8333… %, downside from the
    # −1.5 % period only: √(0.015²/3).
    result = pnl_statistics([0.02, -0.01, 0.03], periods_per_year=12, risk_free=0.005)

    sd = math.sqrt(((0.02 - 0.04 / 3) ** 2 + (-0.01 - 0.04 / 3) ** 2 + (0.03 - 0.04 / 3) ** 2) / 2)
    assert result.sharpe == pytest.approx((0.04 / 3 - 0.005) / sd * math.sqrt(12), rel=1e-12)
    assert result.sortino == pytest.approx(
        (0.04 / 3 - 0.005) / math.sqrt(0.015**2 / 3) * math.sqrt(12), rel=1e-12
    )


def test_ratios_without_a_denominator_are_none():
    flat = pnl_statistics([5, 5, 5])
    gains = pnl_statistics([1, 2, 3])

    assert flat.sharpe is None
    assert flat.sortino is None
    assert gains.sortino is None
    assert gains.max_drawdown == 0
