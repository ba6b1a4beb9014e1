"""Backtesting: Kupiec's proportion-of-failures test against the published non-rejection
regions, a worked likelihood ratio by hand, and the Basel (1996) traffic light."""

import math

import pytest

from apps.risk.engine import backtest, kupiec_pof, traffic_light

CHI2_95 = 3.841458820694124  # the 95 % quantile of χ²(1)


def test_kupiec_likelihood_ratio_worked_by_hand():
    # T = 250 days at 99 %, N = 8 exceptions (p = 0.01, N/T = 0.032):
    #   ln L0 = 242·ln(0.99) + 8·ln(0.01)   = 242·(−0.0100503359) + 8·(−4.6051701860)
    #         = −2.4321812765 − 36.8413614879 = −39.2735427645
    #   ln L1 = 242·ln(0.968) + 8·ln(0.032) = 242·(−0.0325231917) + 8·(−3.4420193762)
    #         = −7.8706123927 − 27.5361550095 = −35.4067674022
    #   LR = 2·(ln L1 − ln L0) = 2·3.8667753622 = 7.7335507245 > 3.841: rejected at 95 %.
    result = kupiec_pof(exceptions=8, observations=250, confidence=0.99)

    assert result.lr_statistic == pytest.approx(7.7335507245, abs=1e-9)
    assert result.p_value == pytest.approx(0.005420, abs=5e-6)  # χ²(1) tail beyond 7.7336
    assert result.observed_rate == 0.032
    assert result.rejected() is True


def test_kupiec_with_no_exception_is_minus_two_t_log_one_minus_p():
    # N = 0: LR = −2·T·ln(1 − p) = −2·250·ln(0.99) = 5.0251679...
    result = kupiec_pof(exceptions=0, observations=250, confidence=0.99)

    assert result.lr_statistic == pytest.approx(-2 * 250 * math.log(0.99), rel=1e-14)


@pytest.mark.parametrize(
    ("confidence", "days", "lowest", "highest"),
    [
        # Kupiec (1995), reproduced in Jorion, "Value at Risk" (3rd ed.), Table 6-2:
        # non-rejection regions of N at the 95 % test level, e.g. "4 < N < 17" for T = 1000
        # at p = 0.01. (The T = 252, p = 0.01 cell reads "N < 7" with no lower bound.)
        (0.99, 252, None, 6),
        (0.99, 510, 2, 10),
        (0.99, 1000, 5, 16),
        (0.975, 252, 3, 11),
        (0.975, 510, 7, 20),
        (0.975, 1000, 16, 35),
        (0.95, 252, 7, 19),
        (0.95, 510, 17, 35),
        (0.95, 1000, 38, 64),
        (0.925, 252, 12, 27),
        (0.925, 510, 28, 50),
        (0.925, 1000, 60, 91),
        (0.90, 252, 17, 35),
        (0.90, 510, 39, 64),
        (0.90, 1000, 82, 119),
    ],
)
def test_kupiec_non_rejection_regions_match_the_published_table(confidence, days, lowest, highest):
    def accepted(n):
        lr = kupiec_pof(exceptions=n, observations=days, confidence=confidence).lr_statistic
        return lr < CHI2_95

    assert accepted(highest)
    assert not accepted(highest + 1)
    if lowest is not None:
        assert accepted(lowest)
        assert not accepted(lowest - 1)


# Basel Committee (1996), "Supervisory framework for the use of backtesting ...", Table 2:
# 250 observations at 99 %: zone, cumulative probability (%) and plus factor.
BASEL_TABLE = [
    (0, "green", 8.11, 0.00),
    (1, "green", 28.58, 0.00),
    (2, "green", 54.32, 0.00),
    (3, "green", 75.81, 0.00),
    (4, "green", 89.22, 0.00),
    (5, "yellow", 95.88, 0.40),
    (6, "yellow", 98.63, 0.50),
    (7, "yellow", 99.60, 0.65),
    (8, "yellow", 99.89, 0.75),
    (9, "yellow", 99.97, 0.85),
    (10, "red", 99.99, 1.00),
]


@pytest.mark.parametrize(("exceptions", "zone", "cumulative_percent", "plus"), BASEL_TABLE)
def test_traffic_light_reproduces_the_basel_table(exceptions, zone, cumulative_percent, plus):
    light = traffic_light(exceptions=exceptions, observations=250, confidence=0.99)

    assert light.zone == zone
    assert round(light.cumulative_probability * 100, 2) == cumulative_percent
    assert light.plus_factor == plus


def test_traffic_light_boundaries_four_five_nine_ten():
    zones = [traffic_light(exceptions=n).zone for n in (4, 5, 9, 10, 25)]

    assert zones == ["green", "yellow", "yellow", "red", "red"]


def test_traffic_light_for_another_sample_has_no_basel_plus_factor():
    light = traffic_light(exceptions=12, observations=500, confidence=0.99)

    assert light.plus_factor is None
    assert light.zone == "yellow"  # P(X ≤ 12) for Binomial(500, 0.01) = 99.84 %


def test_backtest_counts_losses_beyond_var_as_exceptions():
    var = [100.0] * 10
    pnl = [-50.0, -100.0, -100.01, 20.0, -250.0, 0.0, -99.0, -101.0, 5.0, -1.0]

    result = backtest(realised_pnl=pnl, var=var, confidence=0.99)

    assert result.exception_days == (2, 4, 7)  # a loss of exactly VaR is no exception
    assert result.exceptions == 3
    assert result.kupiec.exceptions == 3
    assert result.kupiec.observations == 10
    assert result.traffic_light.observations == 10
