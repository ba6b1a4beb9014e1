"""Historical simulation against an independent plain-Python computation on a fixed data set.

Quantile convention (apps.risk.engine.var): sort the n scenario P&Ls from worst to best;
VaR = −(the k-th worst), ES = −(the mean of the k worst), k = ⌈n·(1 − c)⌉; with age weights
the VaR scenario is the first at which the cumulative weight reaches 1 − c and ES is the
weighted mean of the scenarios up to it.
"""

import itertools
import math
import random
from decimal import Decimal
from fractions import Fraction

import pytest

from apps.risk.engine import FactorHistory, PortfolioBuilder, historical_var
from apps.risk.engine.var import tail_count
from apps.trading.pricing import OptionType, black76

NAMES = ("NBP 2026-04", "NBP 2026-05", "GBPEUR")
EXPOSURES = {"NBP 2026-04": 2_000_000.0, "NBP 2026-05": -1_250_000.0, "GBPEUR": 400_000.0}
BOOKS = {"NBP 2026-04": "FLOW", "NBP 2026-05": "HEDGE", "GBPEUR": "HEDGE"}


def fixed_prices(days=301):
    """A fixed price path per factor: a seeded random walk in plain Python."""
    rng = random.Random(20260315)
    levels = [80.0, 82.0, 1.17]
    rows = [list(levels)]
    for _ in range(days - 1):
        common = rng.gauss(0, 0.015)
        levels = [
            levels[0] * (1 + common + rng.gauss(0, 0.01)),
            levels[1] * (1 + 0.9 * common + rng.gauss(0, 0.01)),
            levels[2] * (1 + rng.gauss(0, 0.004)),
        ]
        rows.append(list(levels))
    return rows


def linear_portfolio():
    builder = PortfolioBuilder()
    for name in NAMES:
        builder.add_linear(factor=name, exposure=Decimal(str(EXPOSURES[name])), book=BOOKS[name])
    return builder.build()


def plain_pnl(rows, window, horizon=1):
    """Scenario P&L of the linear portfolio over the last `window` h-day returns."""
    pnl = []
    for t in range(len(rows) - window, len(rows)):
        pnl.append(
            sum(
                EXPOSURES[name] * (rows[t][j] / rows[t - horizon][j] - 1)
                for j, name in enumerate(NAMES)
            )
        )
    return pnl


def plain_var_es(pnl, confidence):
    k = math.ceil(len(pnl) * (1 - Fraction(str(confidence))))  # exact: no binary rounding
    worst = sorted(pnl)[:k]
    return -worst[-1], -sum(worst) / k


@pytest.mark.parametrize(
    ("confidence", "window", "k"),
    [(0.99, 250, 3), (0.975, 250, 7), (0.95, 250, 13), (0.99, 100, 1), (0.95, 300, 15)],
)
def test_historical_var_and_es_equal_an_independent_computation(confidence, window, k):
    rows = fixed_prices()
    history = FactorHistory(NAMES, rows)
    pnl = plain_pnl(rows, window)
    expected_var, expected_es = plain_var_es(pnl, confidence)

    result = historical_var(linear_portfolio(), history, confidence=confidence, window=window)

    assert tail_count(window, confidence) == k
    assert result.var == pytest.approx(expected_var, rel=1e-12)
    assert result.es == pytest.approx(expected_es, rel=1e-12)
    assert result.var == pytest.approx(-sorted(pnl)[k - 1], rel=1e-12)
    assert result.scenarios == window


def test_tail_count_is_not_fooled_by_binary_rounding():
    # 500 × (1 − 0.95) is 25.000000000000025 in floating point; the convention means 25.
    assert tail_count(500, 0.95) == 25
    assert tail_count(250, 0.99) == 3  # 2.5 → 3
    assert tail_count(1000, 0.99) == 10
    assert tail_count(10, 0.999) == 1  # never fewer than one scenario


def test_historical_var_over_overlapping_ten_day_returns():
    rows = fixed_prices()
    history = FactorHistory(NAMES, rows)
    pnl = plain_pnl(rows, 250, horizon=10)  # r = P[t]/P[t − 10] − 1, overlapping
    expected_var, expected_es = plain_var_es(pnl, 0.99)

    result = historical_var(
        linear_portfolio(), history, confidence=0.99, window=250, horizon_days=10
    )

    assert result.var == pytest.approx(expected_var, rel=1e-12)
    assert result.es == pytest.approx(expected_es, rel=1e-12)
    assert result.horizon_days == 10


def test_age_weighted_historical_var_equals_an_independent_computation():
    rows = fixed_prices()
    history = FactorHistory(NAMES, rows)
    window, decay, confidence = 250, 0.98, 0.99
    pnl = plain_pnl(rows, window)
    # Boudoukh et al.: age i (0 = the latest scenario) weighs λⁱ(1 − λ)/(1 − λⁿ).
    weights = [decay ** (window - 1 - t) * (1 - decay) / (1 - decay**window) for t in range(window)]
    ordered = sorted(zip(pnl, weights, strict=True))
    tail, cumulative = [], 0.0
    for value, weight in ordered:
        tail.append((value, weight))
        cumulative += weight
        if cumulative >= 1 - confidence - 1e-9:
            break
    expected_var = -tail[-1][0]
    expected_es = -sum(v * w for v, w in tail) / sum(w for _, w in tail)

    result = historical_var(
        linear_portfolio(), history, confidence=confidence, window=window, age_decay=decay
    )

    assert result.var == pytest.approx(expected_var, rel=1e-12)
    assert result.es == pytest.approx(expected_es, rel=1e-12)


def test_historical_simulation_revalues_options_in_full():
    rows = fixed_prices()
    history = FactorHistory(NAMES, rows)
    today = rows[-1][0]
    builder = PortfolioBuilder()
    builder.add_linear(factor=NAMES[0], exposure=500_000, book="FLOW")
    builder.add_option(
        factor=NAMES[0],
        quantity=-20_000,
        forward=today,
        strike=80,
        volatility=0.6,
        years=0.25,
        rate=0.04,
        option_type="call",
        book="OPT",
    )
    builder.add_option(
        factor=NAMES[0],
        quantity=15_000,
        forward=today,
        strike=70,
        volatility=0.6,
        years=0.25,
        rate=0.04,
        option_type="put",
        book="OPT",
    )

    def value(option_type, forward, strike):
        return float(
            black76(
                option_type=option_type,
                forward=Decimal(repr(forward)),
                strike=Decimal(strike),
                volatility=Decimal("0.6"),
                years=Decimal("0.25"),
                rate=Decimal("0.04"),
            ).price
        )

    pnl = []
    for t in range(len(rows) - 250, len(rows)):
        move = rows[t][0] / rows[t - 1][0] - 1
        shocked = today * (1 + move)
        call = value(OptionType.CALL, shocked, 80) - value(OptionType.CALL, today, 80)
        put = value(OptionType.PUT, shocked, 70) - value(OptionType.PUT, today, 70)
        pnl.append(500_000 * move - 20_000 * call + 15_000 * put)
    expected_var, expected_es = plain_var_es(pnl, 0.99)

    result = historical_var(builder.build(), history, confidence=0.99, window=250)

    assert result.var == pytest.approx(expected_var, rel=1e-9)
    assert result.es == pytest.approx(expected_es, rel=1e-9)


@pytest.mark.parametrize("age_decay", [None, 0.97])
def test_historical_components_sum_to_var_and_es(age_decay):
    history = FactorHistory(NAMES, fixed_prices())
    result = historical_var(
        linear_portfolio(), history, confidence=0.99, window=250, age_decay=age_decay
    )
    books = result.by_label("book")

    assert [g.group for g in books] == ["FLOW", "HEDGE"]
    assert sum(g.component_var for g in books) == pytest.approx(result.var, rel=1e-12)
    assert sum(g.component_es for g in books) == pytest.approx(result.es, rel=1e-12)


def test_historical_component_es_is_the_books_mean_loss_in_the_tail():
    rows = fixed_prices()
    history = FactorHistory(NAMES, rows)
    window = 250
    flow = [
        EXPOSURES[NAMES[0]] * (rows[t][0] / rows[t - 1][0] - 1)
        for t in range(len(rows) - window, len(rows))
    ]
    total = plain_pnl(rows, window)
    worst = sorted(range(window), key=lambda s: total[s])[:3]  # k = 3 at 99 %

    result = historical_var(linear_portfolio(), history, confidence=0.99, window=window)

    assert result.group("book", "FLOW").component_es == pytest.approx(
        -sum(flow[s] for s in worst) / 3, rel=1e-12
    )
    # The book on its own: its own worst three.
    assert result.group("book", "FLOW").var == pytest.approx(-sorted(flow)[2], rel=1e-12)


def test_decimal_prices_and_exposures_enter_as_float64():
    rows = fixed_prices(30)
    as_decimals = [[Decimal(repr(price)) for price in row] for row in rows]

    from_decimals = historical_var(
        linear_portfolio(), FactorHistory(NAMES, as_decimals), confidence=0.95, window=20
    )
    from_floats = historical_var(
        linear_portfolio(), FactorHistory(NAMES, rows), confidence=0.95, window=20
    )

    assert from_decimals == from_floats


# Component VaR, checked by hand on eight scenarios. The convention (apps.risk.engine.var):
# a book's component VaR is its expected P&L *near* the VaR scenario — the scenarios weighted
# by a Gaussian kernel on the total P&L, centred on −VaR, bandwidth h = 1.06·sd·n^(−1/5)
# (Silverman; sd the population standard deviation of the total) — as a loss, rescaled by
# VaR / (the total's kernel mean) so that the books sum to VaR. The book's P&L in the VaR
# scenario alone would be one noisy draw; the kernel averages its neighbours.
SMALL_A = [100, 102, 99, 101, 97, 98, 100, 96, 99]
SMALL_B = [50, 50.5, 49.5, 50, 49, 49.8, 50.2, 48.9, 49.5]
SMALL_EXPOSURE = {"A": 1000.0, "B": -1500.0}


def small_portfolio():
    builder = PortfolioBuilder()
    builder.add_linear(factor="A", exposure=SMALL_EXPOSURE["A"], book="FLOW")
    builder.add_linear(factor="B", exposure=SMALL_EXPOSURE["B"], book="HEDGE")
    return builder.build()


def test_historical_component_var_equals_a_hand_computation_of_the_kernel_convention():
    returns = {
        name: [b / a - 1 for a, b in itertools.pairwise(prices)]
        for name, prices in (("A", SMALL_A), ("B", SMALL_B))
    }
    flow = [SMALL_EXPOSURE["A"] * r for r in returns["A"]]
    hedge = [SMALL_EXPOSURE["B"] * r for r in returns["B"]]
    total = [f + h for f, h in zip(flow, hedge, strict=True)]
    n = len(total)  # 8 scenarios; at 80 %, k = ⌈8 × 0.2⌉ = 2: the second-worst total
    var = -sorted(total)[1]
    mean = sum(total) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in total) / n)
    bandwidth = 1.06 * sd * n ** (-1 / 5)
    weight = [math.exp(-0.5 * ((x + var) / bandwidth) ** 2) for x in total]
    near = {
        name: sum(w * p for w, p in zip(weight, pnl, strict=True)) / sum(weight)
        for name, pnl in (("FLOW", flow), ("HEDGE", hedge), ("total", total))
    }
    expected = {name: near[name] * var / near["total"] for name in ("FLOW", "HEDGE")}

    history = FactorHistory(("A", "B"), [list(row) for row in zip(SMALL_A, SMALL_B, strict=True)])
    result = historical_var(small_portfolio(), history, confidence=0.8, window=8)

    assert result.var == pytest.approx(var, rel=1e-12)
    for name in ("FLOW", "HEDGE"):
        group = result.group("book", name)
        assert group.component_var == pytest.approx(expected[name], rel=1e-9)
        # Marginal VaR: the component per unit of the book's exposure.
        assert group.marginal_var == pytest.approx(
            expected[name] / SMALL_EXPOSURE["A" if name == "FLOW" else "B"], rel=1e-9
        )
    # Not the books' P&L in the VaR scenario alone (that split would be −flow[s], −hedge[s]).
    worst = sorted(range(n), key=lambda s: total[s])[1]
    assert result.group("book", "FLOW").component_var != pytest.approx(-flow[worst], rel=1e-3)
