"""Bad input gives RiskInputError (a ValueError) with a message naming the culprit, never an
obscure numpy error."""

import math
import re
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest

from apps.risk.engine import (
    CurveShock,
    FactorHistory,
    FactorInfo,
    HistoricalScenario,
    HypotheticalScenario,
    PortfolioBuilder,
    RiskInputError,
    backtest,
    covariance_from_matrix,
    credit_exposure,
    ewma_covariance,
    historical_var,
    kupiec_pof,
    monte_carlo_var,
    parametric_var,
    pnl_statistics,
    sample_covariance,
    simulate_value_changes,
    stress_test,
)

NAMES = ("TTF 2026-03", "TTF 2026-04")
DATES = tuple(date(2025, 1, 1) + timedelta(days=d) for d in range(40))


def history(prices=None):
    if prices is None:
        prices = [[30.0 + 0.1 * d, 31.0 - 0.05 * d + (d % 3)] for d in range(40)]
    return FactorHistory(NAMES, prices, DATES)


def portfolio(*names):
    builder = PortfolioBuilder()
    for name in names or NAMES:
        builder.add_linear(factor=name, exposure=Decimal("100000"), book="B")
    return builder.build()


def covariance():
    return covariance_from_matrix(NAMES, [[4e-4, 1e-4], [1e-4, 9e-4]])


def test_error_is_a_value_error():
    assert issubclass(RiskInputError, ValueError)


def test_an_empty_portfolio_is_refused():
    with pytest.raises(RiskInputError, match="the portfolio is empty"):
        PortfolioBuilder().build()


def test_a_factor_without_history_is_named():
    with pytest.raises(RiskInputError, match=r"no price history for factor\(s\) 'NBP 2026-03'"):
        historical_var(
            portfolio("TTF 2026-03", "NBP 2026-03"), history(), confidence=0.99, window=20
        )


def test_a_missing_price_in_the_window_is_named_with_its_day():
    prices = [[30.0, 31.0] for _ in range(40)]
    prices[35][1] = math.nan
    prices[2][0] = math.nan  # outside a 20-day window: irrelevant

    with pytest.raises(
        RiskInputError,
        match=r"factor 'TTF 2026-04' has no price on 1 of the 21 "
        r"days used \(first: 2025-02-05\)",
    ):
        historical_var(portfolio(), history(prices), confidence=0.99, window=20)
    assert (
        historical_var(portfolio("TTF 2026-03"), history(prices), confidence=0.99, window=20).var
        == 0.0
    )


def test_a_non_positive_price_is_named():
    prices = [[30.0, 31.0] for _ in range(40)]
    prices[39][0] = -2.5  # relative moves need positive prices

    with pytest.raises(RiskInputError, match="factor 'TTF 2026-03' has a non-positive price"):
        sample_covariance(history(prices), NAMES, window=10)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1, math.nan, "high"])
def test_a_confidence_outside_zero_one_is_refused_by_every_method(confidence):
    match = "confidence must"
    with pytest.raises(RiskInputError, match=match):
        historical_var(portfolio(), history(), confidence=confidence, window=20)
    with pytest.raises(RiskInputError, match=match):
        parametric_var(portfolio(), covariance(), confidence=confidence)
    with pytest.raises(RiskInputError, match=match):
        monte_carlo_var(portfolio(), covariance(), confidence=confidence, seed=1, paths=10)
    with pytest.raises(RiskInputError, match=match):
        kupiec_pof(exceptions=1, observations=250, confidence=confidence)


def test_a_window_longer_than_the_history_is_refused():
    message = "a window of 40 1-day returns needs 41 days of history; only 40 are available"
    with pytest.raises(RiskInputError, match=message):
        historical_var(portfolio(), history(), confidence=0.99, window=40)
    with pytest.raises(RiskInputError, match="needs 50 days"):
        historical_var(portfolio(), history(), confidence=0.99, window=40, horizon_days=10)
    with pytest.raises(RiskInputError, match="needs 251 days"):
        ewma_covariance(history(), NAMES, window=250)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"horizon_days": 0}, "horizon_days must be a whole number of at least 1"),
        ({"paths": 0}, "paths must be a whole number"),
        ({"seed": -1}, "seed must be a non-negative whole number"),
        ({"distribution": "cauchy"}, "distribution must be one of normal, student_t"),
        ({"distribution": "student_t", "dof": 2}, "more than 2 degrees of freedom"),
        ({"group_by": ["desk"]}, "no label 'desk' on the positions"),
    ],
)
def test_monte_carlo_parameters_are_checked(kwargs, message):
    arguments = {"confidence": 0.99, "seed": 1, "paths": 100, **kwargs}

    with pytest.raises(RiskInputError, match=message):
        monte_carlo_var(portfolio(), covariance(), **arguments)


def test_a_covariance_that_misses_a_factor_names_it():
    partial = covariance_from_matrix(["TTF 2026-03"], [[4e-4]])

    with pytest.raises(RiskInputError, match="does not cover factor\\(s\\) 'TTF 2026-04'"):
        parametric_var(portfolio(), partial, confidence=0.99)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ([[4e-4, 1e-4], [2e-4, 9e-4]], "not symmetric \\('TTF 2026-03' with 'TTF 2026-04'\\)"),
        ([[4e-4, 1e-4], [1e-4, math.nan]], "the covariance of factor 'TTF 2026-04' is not"),
        ([[4e-4, 1e-4, 0], [1e-4, 9e-4, 0]], "is 2×3 for 2 factors"),
        ([[-4e-4, 0], [0, 9e-4]], "'TTF 2026-03' has a negative variance"),
        ("not a matrix", "must hold numbers only"),
    ],
)
def test_a_malformed_covariance_is_refused(matrix, message):
    with pytest.raises(RiskInputError, match=message):
        covariance_from_matrix(NAMES, matrix)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strike": -5}, "strike must be positive"),
        ({"forward": 0}, "forward must be positive"),
        ({"volatility": -0.1}, "volatility must be non-negative"),
        ({"option_type": "straddle"}, "option_type must be 'call' or 'put'"),
        ({"quantity": "many"}, "option on 'TTF 2026-03': quantity must be a number"),
        ({"years": math.inf}, "years must be finite"),
    ],
)
def test_a_malformed_option_is_refused(kwargs, message):
    option = {
        "factor": "TTF 2026-03",
        "quantity": 10,
        "forward": 30,
        "strike": 32,
        "volatility": 0.5,
        "years": 0.5,
        "option_type": "call",
        "book": "B",
        **kwargs,
    }
    builder = PortfolioBuilder()

    with pytest.raises(RiskInputError, match=message):
        builder.add_option(**option)


def test_a_linear_position_needs_an_exposure_or_a_quantity_and_price():
    builder = PortfolioBuilder()
    with pytest.raises(RiskInputError, match="give either exposure, or quantity and price"):
        builder.add_linear(factor="X", quantity=5, book="B")
    with pytest.raises(RiskInputError, match="position on 'X': exposure must be a number"):
        builder.add_linear(factor="X", exposure="lots", book="B")


def test_positions_must_carry_the_same_labels():
    builder = PortfolioBuilder()
    builder.add_linear(factor="X", exposure=1, book="B", market="m")
    builder.add_linear(factor="Y", exposure=1, book="B")

    with pytest.raises(RiskInputError, match="position 1 carries labels \\['book'\\]"):
        builder.build()


def test_history_shape_and_names_are_checked():
    with pytest.raises(RiskInputError, match="factor names must be unique; repeated: 'A'"):
        FactorHistory(("A", "A"), [[1.0, 2.0]])
    with pytest.raises(RiskInputError, match="prices have 3 columns but 2 factor names"):
        FactorHistory(("A", "B"), [[1.0, 2.0, 3.0]])
    with pytest.raises(RiskInputError, match="3 dates given for 1 days"):
        FactorHistory(("A", "B"), [[1.0, 2.0]], dates=DATES[:3])


def test_stress_scenarios_are_checked():
    info = [FactorInfo("TTF 2026-03", "ttf", 2)]  # nothing known about TTF 2026-04
    shock = HypotheticalScenario("up", (CurveShock(move=0.1),))

    with pytest.raises(RiskInputError, match="no stress scenario given"):
        stress_test(portfolio(), [])
    with pytest.raises(RiskInputError, match="scenario 'up' needs each factor's market"):
        stress_test(portfolio(), [shock])
    with pytest.raises(
        RiskInputError, match="no market and tenor known for factor\\(s\\) 'TTF 2026-04'"
    ):
        stress_test(portfolio(), [shock], factors=info)
    with pytest.raises(RiskInputError, match="scenario names must be unique"):
        stress_test(portfolio(), [shock, shock], factors=info)
    with pytest.raises(RiskInputError, match="must start before it ends"):
        stress_test(
            portfolio(), [HistoricalScenario("back", DATES[9], DATES[3])], history=history()
        )
    with pytest.raises(
        RiskInputError, match=re.escape("the history has no day datetime.date(2031")
    ):
        stress_test(
            portfolio(), [HistoricalScenario("x", DATES[0], date(2031, 1, 1))], history=history()
        )
    with pytest.raises(RiskInputError, match="knots must be in strictly increasing tenor"):
        CurveShock(shape=((6, 0.1), (3, 0.2)))


def test_backtest_statistics_and_exposure_inputs_are_checked():
    with pytest.raises(RiskInputError, match="3 realised P&L values for 2 VaR forecasts"):
        backtest(realised_pnl=[1, 2, 3], var=[1, 1], confidence=0.99)
    with pytest.raises(RiskInputError, match="the realised P&L of day 1 is not a finite"):
        backtest(realised_pnl=[1, math.nan], var=[1, 1], confidence=0.99)
    with pytest.raises(RiskInputError, match="12 exceptions in 10 observations"):
        kupiec_pof(exceptions=12, observations=10, confidence=0.99)
    with pytest.raises(RiskInputError, match="need at least two periods"):
        pnl_statistics([5.0])
    with pytest.raises(RiskInputError, match="the netting set has no trade"):
        credit_exposure(mtm_today=[])
    with pytest.raises(RiskInputError, match="expected \\(paths, 2, 1\\)"):
        credit_exposure(mtm_today=[1.0], mtm_paths=np.zeros((5, 3, 1)), horizons=[1, 2])
    with pytest.raises(RiskInputError, match="horizons must be given in days, increasing"):
        simulate_value_changes(
            portfolio(), covariance(), horizon_days=[10, 5], label="book", seed=1
        )
