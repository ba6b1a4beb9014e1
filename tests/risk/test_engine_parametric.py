"""Parametric delta-normal VaR against the closed form, Euler components, marginal VaR, and the
covariance estimators against hand computations."""

import math
import statistics

import numpy as np
import pytest

from apps.risk.engine import (
    FactorHistory,
    PortfolioBuilder,
    covariance_from_matrix,
    ewma_covariance,
    parametric_var,
    sample_covariance,
)

# z and φ(z) from the standard normal table, to 16 digits.
Z_99 = 2.3263478740408408
PHI_Z_99 = 0.02665214220345808  # φ(2.3263478740408408)

# Three factors: daily vols 2 %, 3 %, 1 %; correlations ρ12 = 0.5, ρ13 = 0.2, ρ23 = −0.3.
#   cov12 = 0.5·0.02·0.03 = 3e-4, cov13 = 0.2·0.02·0.01 = 4e-5, cov23 = −0.3·0.03·0.01 = −9e-5
NAMES = ("TTF 2026-03", "BRENT 2026-03", "EURUSD")
COVARIANCE = [
    [4e-4, 3e-4, 4e-5],
    [3e-4, 9e-4, -9e-5],
    [4e-5, -9e-5, 1e-4],
]
# Exposures (P&L per relative move of 1.0): book A is long TTF, book B short Brent and long EUR.
#   e = (1,000,000, −500,000, 200,000)
#   Σe = (400 − 150 + 8, 300 − 450 − 18, 40 + 45 + 20) = (258, −168, 105)
#   eᵀΣe = 258e6 + 84e6 + 21e6 = 363e6,   σ = √363e6 = 19,052.5588...
SIGMA = math.sqrt(363e6)


def three_factor_portfolio():
    builder = PortfolioBuilder()
    builder.add_linear(factor=NAMES[0], exposure=1_000_000, book="A", market="ttf", tenor="M1")
    builder.add_linear(factor=NAMES[1], exposure=-500_000, book="B", market="brent", tenor="M1")
    builder.add_linear(factor=NAMES[2], exposure=200_000, book="B", market="fx", tenor="spot")
    return builder.build()


def test_parametric_var_equals_the_closed_form_for_a_hand_made_covariance():
    result = parametric_var(
        three_factor_portfolio(), covariance_from_matrix(NAMES, COVARIANCE), confidence=0.99
    )

    assert result.var == pytest.approx(Z_99 * SIGMA, rel=1e-12)  # 44,322.88
    assert result.es == pytest.approx(SIGMA * PHI_Z_99 / 0.01, rel=1e-12)  # 50,779.15
    assert result.covariance_fixed is False


def test_parametric_var_scales_with_the_square_root_of_the_horizon():
    covariance = covariance_from_matrix(NAMES, COVARIANCE)
    one = parametric_var(three_factor_portfolio(), covariance, confidence=0.975)
    ten = parametric_var(three_factor_portfolio(), covariance, confidence=0.975, horizon_days=10)

    # z(97.5 %) = 1.9599639845400536
    assert one.var == pytest.approx(1.9599639845400536 * SIGMA, rel=1e-12)
    assert ten.var == pytest.approx(one.var * math.sqrt(10), rel=1e-12)
    assert ten.es == pytest.approx(one.es * math.sqrt(10), rel=1e-12)


def test_parametric_standalone_and_component_var_by_book():
    result = parametric_var(
        three_factor_portfolio(), covariance_from_matrix(NAMES, COVARIANCE), confidence=0.99
    )
    a, b = result.group("book", "A"), result.group("book", "B")

    # Standalone: A = 1e6·0.02 = 20,000 of σ; B: eᵀΣe = 2.5e11·9e-4 + 2·(−5e5)(2e5)(−9e-5)
    #   + 4e10·1e-4 = 225e6 + 18e6 + 4e6 = 247e6.
    assert a.var == pytest.approx(Z_99 * 20_000, rel=1e-12)
    assert b.var == pytest.approx(Z_99 * math.sqrt(247e6), rel=1e-12)
    # Euler: component = z·e_gᵀΣe/σ: A = z·258e6/σ, B = z·(84e6 + 21e6)/σ.
    assert a.component_var == pytest.approx(Z_99 * 258e6 / SIGMA, rel=1e-12)
    assert b.component_var == pytest.approx(Z_99 * 105e6 / SIGMA, rel=1e-12)
    assert a.component_es == pytest.approx(PHI_Z_99 / 0.01 * 258e6 / SIGMA, rel=1e-12)


@pytest.mark.parametrize("label", ["book", "market", "tenor"])
def test_parametric_component_vars_sum_to_the_total(label):
    result = parametric_var(
        three_factor_portfolio(), covariance_from_matrix(NAMES, COVARIANCE), confidence=0.99
    )
    groups = result.by_label(label)

    assert sum(g.component_var for g in groups) == pytest.approx(result.var, rel=1e-13)
    assert sum(g.component_es for g in groups) == pytest.approx(result.es, rel=1e-13)


def test_parametric_marginal_var_matches_a_finite_difference():
    covariance = covariance_from_matrix(NAMES, COVARIANCE)
    result = parametric_var(three_factor_portfolio(), covariance, confidence=0.99)
    exposures = [1_000_000, -500_000, 200_000]
    bump = 100.0

    def var_with(index, change):
        builder = PortfolioBuilder()
        for i, name in enumerate(NAMES):
            amount = exposures[i] + (change if i == index else 0.0)
            builder.add_linear(factor=name, exposure=amount, book="A", market="m", tenor="t")
        return parametric_var(builder.build(), covariance, confidence=0.99).var

    for index in range(3):
        central = (var_with(index, bump) - var_with(index, -bump)) / (2 * bump)
        assert result.marginal_var[index] == pytest.approx(central, rel=1e-7)
    # And the closed form z·(Σe)ᵢ/σ with Σe = (258, −168, 105).
    assert result.marginal_var == pytest.approx(
        [Z_99 * 258 / SIGMA, Z_99 * -168 / SIGMA, Z_99 * 105 / SIGMA], rel=1e-12
    )


def test_parametric_var_uses_option_deltas():
    # One long call, F = K = 100, σ = 50 %, T = 1, r = 0: d1 = 0.25, Δ = N(0.25) = 0.598706...
    # Cash delta = 1,000 · 0.598706 · 100; factor vol 2 % ⇒ σ_P = 59,870.6·0.02.
    builder = PortfolioBuilder()
    builder.add_option(
        factor="F",
        quantity=1000,
        forward=100,
        strike=100,
        volatility=0.5,
        years=1,
        option_type="call",
        book="A",
    )
    result = parametric_var(
        builder.build(), covariance_from_matrix(["F"], [[4e-4]]), confidence=0.99
    )

    delta = 0.5 * math.erfc(-0.25 / math.sqrt(2))
    assert result.var == pytest.approx(Z_99 * 1000 * delta * 100 * 0.02, rel=1e-12)


def test_non_positive_definite_covariance_is_repaired_and_reported():
    # Correlations 0.9, 0.9 and −0.9 cannot coexist: eigenvalues 1.9, 1.9 and −0.8.
    broken = [[1.0, 0.9, 0.9], [0.9, 1.0, -0.9], [0.9, -0.9, 1.0]]
    covariance = covariance_from_matrix(["a", "b", "c"], np.array(broken) * 1e-4)

    assert covariance.fixed is True
    assert covariance.min_eigenvalue == pytest.approx(-0.8e-4, rel=1e-12)
    assert np.linalg.eigvalsh(covariance.matrix).min() > -1e-18
    # The repair keeps the eigenvectors of the positive eigenvalues: V·diag(1.9, 1.9, 0)·Vᵀ.
    values, vectors = np.linalg.eigh(np.array(broken) * 1e-4)
    expected = (vectors * np.maximum(values, 0)) @ vectors.T
    assert covariance.matrix == pytest.approx(expected, abs=1e-18)

    builder = PortfolioBuilder()
    for name in "abc":
        builder.add_linear(factor=name, exposure=1_000_000, book="A")
    result = parametric_var(builder.build(), covariance, confidence=0.99)
    e = np.full(3, 1e6)
    assert result.covariance_fixed is True
    assert result.min_eigenvalue == pytest.approx(-0.8e-4, rel=1e-12)
    assert result.var == pytest.approx(Z_99 * math.sqrt(e @ expected @ e), rel=1e-10)


def test_ewma_covariance_matches_a_hand_recursion():
    prices = [[100.0, 50.0], [102.0, 49.0], [101.0, 49.5], [103.5, 50.5], [103.0, 51.0]]
    history = FactorHistory(("x", "y"), prices)
    returns = [
        [prices[t][j] / prices[t - 1][j] - 1 for j in range(2)] for t in range(1, len(prices))
    ]
    decay = 0.94
    # Σ₁ = r₁r₁ᵀ; Σₜ = λΣₜ₋₁ + (1 − λ)rₜrₜᵀ, in plain Python.
    hand = [[returns[0][i] * returns[0][j] for j in range(2)] for i in range(2)]
    for r in returns[1:]:
        hand = [
            [decay * hand[i][j] + (1 - decay) * r[i] * r[j] for j in range(2)] for i in range(2)
        ]

    estimate = ewma_covariance(history, ("x", "y"), window=4, decay=decay)

    assert estimate.matrix == pytest.approx(np.array(hand), rel=1e-13)
    assert estimate.method == "ewma"


def test_sample_covariance_matches_the_statistics_module():
    prices = [[100.0, 50.0], [102.0, 49.0], [101.0, 49.5], [103.5, 50.5], [103.0, 51.0]]
    history = FactorHistory(("x", "y"), prices)
    x = [prices[t][0] / prices[t - 1][0] - 1 for t in range(1, 5)]
    y = [prices[t][1] / prices[t - 1][1] - 1 for t in range(1, 5)]

    estimate = sample_covariance(history, ("x", "y"), window=4)

    assert estimate.matrix[0, 0] == pytest.approx(statistics.variance(x), rel=1e-13)
    assert estimate.matrix[0, 1] == pytest.approx(statistics.covariance(x, y), rel=1e-13)
    assert estimate.matrix[1, 1] == pytest.approx(statistics.variance(y), rel=1e-13)


def test_parametric_var_from_an_estimate_equals_the_quadratic_form_of_its_matrix():
    rng = np.random.default_rng(3)
    prices = 50 * np.exp(np.cumsum(0.02 * rng.standard_normal((60, 4)), axis=0))
    names = ("a", "b", "c", "d")
    history = FactorHistory(names, prices)
    builder = PortfolioBuilder()
    for name, amount in zip(names, (3e5, -1e5, 2e5, 5e4), strict=True):
        builder.add_linear(factor=name, exposure=amount, book="A")
    estimate = sample_covariance(history, names, window=20)

    result = parametric_var(builder.build(), estimate, confidence=0.99)

    e = np.array([3e5, -1e5, 2e5, 5e4])
    assert result.var == pytest.approx(Z_99 * math.sqrt(e @ estimate.matrix @ e), rel=1e-12)


def test_group_by_limits_the_figures_to_the_labels_asked_for():
    result = parametric_var(
        three_factor_portfolio(),
        covariance_from_matrix(NAMES, COVARIANCE),
        confidence=0.99,
        group_by=["market"],
    )

    assert [(g.label, g.group) for g in result.groups] == [
        ("market", "brent"),
        ("market", "fx"),
        ("market", "ttf"),
    ]
