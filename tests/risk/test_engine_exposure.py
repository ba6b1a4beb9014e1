"""Counterparty exposure of netting sets: current exposure, EE and PFE by hand, and the value
paths simulated from the factor model."""

import math

import numpy as np
import pytest

from apps.risk.engine import (
    PortfolioBuilder,
    RiskInputError,
    covariance_from_matrix,
    credit_exposure,
    simulate_value_changes,
)
from apps.risk.engine.exposure import netting_set_exposure


def test_current_exposure_netted_and_not_netted_less_collateral():
    values = [100.0, -40.0, 25.0]

    netted = credit_exposure(mtm_today=values, collateral=30)
    gross = credit_exposure(mtm_today=values, collateral=30, netted=False)
    covered = credit_exposure(mtm_today=values, collateral=200)

    assert netted.current_exposure == 55  # max(100 − 40 + 25 − 30, 0)
    assert gross.current_exposure == 95  # max(100 + 25 − 30, 0)
    assert covered.current_exposure == 0
    assert netted.pfe == ()
    assert netted.peak_horizon is None


def test_pfe_is_the_kth_largest_exposure_per_horizon():
    # 20 paths, two horizons, one trade; at 90 % k = ⌈20·0.1⌉ = 2: the second largest.
    first = [float(v) for v in range(-5, 15)]  # exposures max(v, 0): largest 14, then 13
    second = [float(v) * 2 for v in range(-5, 15)]  # largest 28, then 26
    paths = np.array([first, second]).T[:, :, None]  # paths × horizons × trades

    result = credit_exposure(
        mtm_today=[3.0], mtm_paths=paths, horizons=[0.25, 1.0], confidence=0.90
    )

    assert result.pfe == (13.0, 26.0)
    assert result.peak_pfe == 26.0
    assert result.peak_horizon == 1.0
    # EE: the mean of max(v, 0): (1 + … + 14)/20 = 105/20 = 5.25, doubled for the second.
    assert result.expected_exposure == pytest.approx((5.25, 10.5), rel=1e-15)


def test_not_netted_exposure_takes_positive_parts_per_trade_on_each_path():
    paths = np.array([[[10.0, -10.0]], [[-5.0, 8.0]], [[2.0, 3.0]], [[-1.0, -1.0]]])

    netted = credit_exposure(mtm_today=[0.0, 0.0], mtm_paths=paths, horizons=[1.0], confidence=0.5)
    gross = credit_exposure(
        mtm_today=[0.0, 0.0], mtm_paths=paths, horizons=[1.0], confidence=0.5, netted=False
    )

    # netted: 0, 3, 5, 0 → k = 2: 3. gross: 10, 8, 5, 0 → the second largest: 8.
    assert netted.pfe == (3.0,)
    assert gross.pfe == (8.0,)


def test_simulated_value_changes_are_lognormal_martingales_summed_per_netting_set():
    builder = PortfolioBuilder()
    builder.add_linear(factor="F", exposure=1_000_000, netting_set="CP1")
    builder.add_linear(factor="F", exposure=-250_000, netting_set="CP2")
    covariance = covariance_from_matrix(["F"], [[4e-4]])  # 2 % a day

    paths = simulate_value_changes(
        builder.build(),
        covariance,
        horizon_days=[10, 60],
        label="netting_set",
        paths=40_000,
        seed=9,
    )
    again = simulate_value_changes(
        builder.build(),
        covariance,
        horizon_days=[10, 60],
        label="netting_set",
        paths=40_000,
        seed=9,
        workers=1,
    )

    assert paths.groups == ("CP1", "CP2")
    assert paths.changes.shape == (40_000, 2, 2)
    assert np.array_equal(paths.changes, again.changes)
    cp1 = paths.changes[:, :, 0] / 1_000_000  # F_h/F0 − 1 = exp(X − σ²h/2) − 1
    assert paths.changes[:, :, 1] == pytest.approx(-0.25 * paths.changes[:, :, 0], rel=1e-12)
    # Mean 0 (a martingale) within 4 standard errors; log-growth sd σ√h.
    for index, days in enumerate((10, 60)):
        sd = math.sqrt(math.exp(4e-4 * days) - 1)
        assert abs(cp1[:, index].mean()) < 4 * sd / math.sqrt(40_000)
        assert np.log1p(cp1[:, index]).std() == pytest.approx(0.02 * math.sqrt(days), rel=0.02)


def test_simulated_option_values_decay_with_time():
    # A bought at-the-money call with no factor risk left to speak of loses its time value.
    builder = PortfolioBuilder()
    builder.add_option(
        factor="F",
        quantity=1000,
        forward=50,
        strike=50,
        volatility=0.4,
        years=20 / 252,
        option_type="call",
        trade="T1",
    )
    covariance = covariance_from_matrix(["F"], [[1e-14]])

    paths = simulate_value_changes(
        builder.build(), covariance, horizon_days=[5, 20], label="trade", paths=100, seed=1
    )

    from apps.risk.engine import black76_price

    today = 1000 * black76_price(50.0, 50.0, 0.4, 20 / 252, 0.0, True)
    later = 1000 * black76_price(50.0, 50.0, 0.4, 15 / 252, 0.0, True)
    assert paths.changes[:, 0, 0] == pytest.approx(later - today, rel=1e-4)
    assert paths.changes[:, 1, 0] == pytest.approx(-today, rel=1e-4)  # expired at the money


def test_netting_set_exposure_sums_positive_parts_per_trade_without_netting():
    # Two trades, four paths, one horizon; group 0 moves trade A, group 1 trade B, and trade C
    # has no moving position (column None): it keeps its value today on every path.
    changes = np.array([[[4.0, -6.0]], [[-9.0, 2.0]], [[1.0, 1.0]], [[0.0, -1.0]]])
    kwargs = {
        "mtm_today": [6.0, 3.0, 2.0],
        "changes": changes,
        "columns": [0, 1, None],
        "horizons": [21],
        "confidence": 0.5,
        "collateral": 1.0,
    }

    gross = netting_set_exposure(**kwargs, netted=False)
    netted = netting_set_exposure(**kwargs, netted=True)

    # Values per path (A, B, C): (10, −3, 2), (−3, 5, 2), (7, 4, 2), (6, 2, 2).
    # Not netted: 12, 7, 13, 10 less 1 → 11, 6, 12, 9; k = ⌈4·0.5⌉ = 2: the second largest 11.
    assert gross.current_exposure == 10  # 6 + 3 + 2 − 1
    assert gross.pfe == (11.0,)
    assert gross.expected_exposure == (9.5,)
    assert gross.peak_horizon == 21
    # Netted: 9, 4, 13, 10 less 1 → 8, 3, 12, 9: the second largest 9.
    assert netted.pfe == (9.0,)
    assert netted.expected_exposure == (8.0,)


def test_netting_set_exposure_agrees_with_credit_exposure_on_the_same_paths():
    rng = np.random.default_rng(5)
    changes = rng.normal(0, 10, size=(1_000, 3, 4))
    today = [5.0, -8.0, 2.0, 0.5]
    cube = np.asarray(today) + changes  # paths × horizons × trades, as credit_exposure takes

    for netted in (True, False):
        by_set = netting_set_exposure(
            mtm_today=today, changes=changes, columns=[0, 1, 2, 3], horizons=[5, 21, 63],
            collateral=4.0, netted=netted,
        )  # fmt: skip
        by_cube = credit_exposure(
            mtm_today=today, mtm_paths=cube, horizons=[5, 21, 63], collateral=4.0, netted=netted
        )
        assert by_set.pfe == pytest.approx(by_cube.pfe, rel=1e-12)
        assert by_set.expected_exposure == pytest.approx(by_cube.expected_exposure, rel=1e-12)
        assert by_set.current_exposure == by_cube.current_exposure


def test_netting_set_exposure_refuses_columns_that_do_not_match_the_members():
    with pytest.raises(RiskInputError, match="2 columns given for 1 members"):
        netting_set_exposure(
            mtm_today=[1.0], changes=np.zeros((2, 1, 2)), columns=[0, 1], horizons=[5]
        )
