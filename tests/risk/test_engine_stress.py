"""Stress tests: hypothetical curve shocks and historical windows, revalued per book."""

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
    black76_price,
    stress_test,
)
from apps.risk.engine.stress import scenario_moves

FACTORS = [
    FactorInfo("TTF 2026-02", "ttf", 1),
    FactorInfo("TTF 2026-07", "ttf", 6),
    FactorInfo("TTF 2027-01", "ttf", 12),
    FactorInfo("BRENT 2026-02", "brent", 1),
]
NAMES = [f.name for f in FACTORS]


def linear_books():
    builder = PortfolioBuilder()
    builder.add_linear(factor="TTF 2026-02", exposure=Decimal("3000000"), book="GAS")
    builder.add_linear(factor="TTF 2026-07", exposure=Decimal("-1000000"), book="GAS")
    builder.add_linear(factor="TTF 2027-01", exposure=Decimal("500000"), book="GAS")
    builder.add_linear(factor="BRENT 2026-02", exposure=Decimal("2000000"), book="OIL")
    return builder.build()


def test_a_parallel_ten_percent_rise_earns_a_tenth_of_the_exposure():
    scenario = HypotheticalScenario("all +10 %", (CurveShock(move=0.10),))

    (result,) = stress_test(linear_books(), [scenario], factors=FACTORS)

    # GAS: (3,000,000 − 1,000,000 + 500,000) · 0.1 = 250,000; OIL: 2,000,000 · 0.1 = 200,000.
    assert result.group("book", "GAS") == pytest.approx(250_000, rel=1e-15)
    assert result.group("book", "OIL") == pytest.approx(200_000, rel=1e-15)
    assert result.pnl == pytest.approx(450_000, rel=1e-15)
    assert result.scenario == "all +10 %"


def test_a_market_shock_replaces_the_general_one_on_its_factors():
    scenario = HypotheticalScenario(
        "oil −30 %, rest −5 %", (CurveShock(move=-0.05), CurveShock(market="brent", move=-0.30))
    )

    moves = scenario_moves(scenario, NAMES, factors=FACTORS)

    assert moves.tolist() == [-0.05, -0.05, -0.05, -0.30]


def test_a_tenor_shaped_shock_interpolates_between_its_knots():
    # +40 % at 1 month falling to +10 % at 12 months; at 6 months 40 − 30·5/11 = 26.3636… %.
    scenario = HypotheticalScenario(
        "gas front spike", (CurveShock(market="ttf", shape=((1, 0.40), (12, 0.10))),)
    )

    moves = scenario_moves(scenario, NAMES, factors=FACTORS)

    assert moves == pytest.approx([0.40, 0.40 - 0.30 * 5 / 11, 0.10, 0.0], rel=1e-15)


def test_a_curve_segment_shock_moves_only_its_tenors():
    scenario = HypotheticalScenario(
        "summer", (CurveShock(market="ttf", move=0.2, tenor_from=3, tenor_to=9),)
    )

    assert scenario_moves(scenario, NAMES, factors=FACTORS).tolist() == [0.0, 0.2, 0.0, 0.0]


def test_a_historical_window_reproduces_the_factor_moves():
    start = date(2021, 8, 2)
    dates = [start + timedelta(days=d) for d in range(6)]
    prices = [
        [20.0, 21.0, 22.0, 70.0],
        [25.0, 24.0, 23.0, 71.0],
        [40.0, 35.0, 30.0, 72.0],
        [np.nan, 50.0, 35.0, 73.0],  # a gap inside the window does not matter
        [90.0, 60.0, 44.0, 74.0],
        [85.0, 63.0, 45.0, 75.0],
    ]
    history = FactorHistory(NAMES, prices, dates)
    scenario = HistoricalScenario("gas crisis", dates[1], dates[4])

    moves = scenario_moves(scenario, NAMES, history=history)
    (result,) = stress_test(linear_books(), [scenario], history=history)

    expected = [90 / 25 - 1, 60 / 24 - 1, 44 / 23 - 1, 74 / 71 - 1]
    assert moves == pytest.approx(expected, rel=1e-15)
    gas = 3e6 * expected[0] - 1e6 * expected[1] + 5e5 * expected[2]
    assert result.group("book", "GAS") == pytest.approx(gas, rel=1e-14)
    assert result.group("book", "OIL") == pytest.approx(2e6 * expected[3], rel=1e-14)


def test_stress_revalues_options_in_full_per_book():
    builder = PortfolioBuilder()
    builder.add_linear(factor="TTF 2026-02", exposure=1_000_000, book="GAS")
    builder.add_option(
        factor="TTF 2026-02",
        quantity=-50_000,
        forward=30,
        strike=35,
        volatility=0.8,
        years=0.1,
        rate=0.02,
        option_type="call",
        book="GAS-OPT",
    )
    scenarios = [
        HypotheticalScenario("up 50 %", (CurveShock(market="ttf", move=0.5),)),
        HypotheticalScenario("down 50 %", (CurveShock(market="ttf", move=-0.5),)),
    ]

    up, down = stress_test(builder.build(), scenarios, factors=FACTORS)

    def call(forward):
        return black76_price(forward, 35.0, 0.8, 0.1, 0.02, True)

    assert up.group("book", "GAS-OPT") == pytest.approx(-50_000 * (call(45.0) - call(30.0)))
    assert down.group("book", "GAS-OPT") == pytest.approx(-50_000 * (call(15.0) - call(30.0)))
    assert up.group("book", "GAS") == pytest.approx(500_000, rel=1e-15)
    assert up.pnl == pytest.approx(500_000 - 50_000 * (call(45.0) - call(30.0)))
