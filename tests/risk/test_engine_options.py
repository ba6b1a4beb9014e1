"""The vectorised Black-76 agrees with apps.trading.pricing.black76 (one option at a time, in
Decimal at its boundary), and the scenario revaluer with the vectorised formula."""

import itertools
from decimal import Decimal

import numpy as np
import pytest

from apps.risk.engine import OptionPositions, black76_delta, black76_price
from apps.risk.engine.options import OptionRevaluer
from apps.trading.pricing import OptionType, black76

CASES = list(
    itertools.product(
        (40.0, 95.5, 100.0, 180.0),  # forward
        (50.0, 100.0, 150.0),  # strike
        (0.0, 0.15, 0.8),  # volatility (0: discounted intrinsic)
        (0.0, 0.02, 0.5, 3.0),  # years (0: expired today)
        (0.0, 0.05),  # rate
        (True, False),  # call?
    )
)


def test_vectorised_black76_agrees_with_the_trading_pricer():
    forward, strike, vol, years, rate, is_call = (np.array(c) for c in zip(*CASES, strict=True))

    prices = black76_price(forward, strike, vol, years, rate, is_call)
    deltas = black76_delta(forward, strike, vol, years, rate, is_call)

    for i, (f, k, s, t, r, call) in enumerate(CASES):
        reference = black76(
            option_type=OptionType.CALL if call else OptionType.PUT,
            forward=Decimal(repr(f)),
            strike=Decimal(repr(k)),
            volatility=Decimal(repr(s)),
            years=Decimal(repr(t)),
            rate=Decimal(repr(r)),
        )
        # 1e-10 relative. The absolute 1e-12 (a trillionth of a currency unit) only matters for
        # far out-of-the-money puts worth ~1e-206, where K·N(−d2) − F·N(−d1) cancels ~1e-200
        # terms and both formulas keep just a few digits.
        assert prices[i] == pytest.approx(float(reference.price), rel=1e-10, abs=1e-12)
        assert deltas[i] == pytest.approx(float(reference.delta), rel=1e-10, abs=1e-12)


def test_black76_prices_a_forward_at_zero_by_its_limit():
    # F → 0⁺: a call is worth nothing, a put DF·K.
    prices = black76_price([0.0, 0.0], 50.0, 0.4, 1.0, 0.05, [True, False])

    assert prices[0] == 0.0
    assert prices[1] == pytest.approx(50.0 * np.exp(-0.05), rel=1e-15)


def test_revaluer_pnl_is_the_change_of_black76_values():
    options = OptionPositions(
        factor=[0, 1, 0, 1],
        quantity=[1000.0, -2500.0, 400.0, 300.0],
        forward=[60.0, 3.2, 60.0, 3.2],
        strike=[65.0, 3.0, 55.0, 3.4],
        volatility=[0.45, 0.7, 0.45, 0.0],
        years=[0.4, 0.1, 0.0, 0.3],  # the third has expired, the fourth has no volatility
        rate=[0.03, 0.03, 0.03, 0.03],
        is_call=[True, False, False, True],
    )
    moves = np.array([[0.05, -0.1], [-0.2, 0.3], [0.0, 0.0], [-1.5, 2.0]])  # −150 %: F at 0⁺
    books = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])

    pnl = OptionRevaluer(options).pnl(moves, books)

    shocked = options.forward * (1 + np.maximum(moves[:, options.factor], -1.0))
    args = (options.strike, options.volatility, options.years, options.rate, options.is_call)
    today = black76_price(options.forward, *args)
    change = options.quantity * (black76_price(shocked, *args) - today)
    assert pnl == pytest.approx(change @ books, rel=1e-10, abs=1e-9)
    assert pnl[2] == pytest.approx([0.0, 0.0], abs=1e-9)  # no move, no P&L
