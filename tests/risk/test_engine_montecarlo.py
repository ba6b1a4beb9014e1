"""Monte Carlo VaR: convergence to the closed form for linear portfolios, Student-t tails,
reproducibility by seed, and full revaluation of options."""

import math

import pytest
from scipy.stats import norm
from scipy.stats import t as student_t

from apps.risk.engine import (
    PortfolioBuilder,
    covariance_from_matrix,
    monte_carlo_var,
    parametric_var,
)

NAMES = ("TTF 2026-03", "BRENT 2026-03", "EURUSD")
COVARIANCE = [[4e-4, 3e-4, 4e-5], [3e-4, 9e-4, -9e-5], [4e-5, -9e-5, 1e-4]]


def linear_portfolio():
    builder = PortfolioBuilder()
    builder.add_linear(factor=NAMES[0], exposure=1_000_000, book="A")
    builder.add_linear(factor=NAMES[1], exposure=-500_000, book="B")
    builder.add_linear(factor=NAMES[2], exposure=200_000, book="B")
    return builder.build()


@pytest.mark.parametrize("confidence", [0.95, 0.99])
def test_monte_carlo_var_of_a_linear_portfolio_converges_to_parametric(confidence):
    # Tolerance: 1 % at 200,000 paths. The 99 % quantile's standard error is
    # √(p(1 − p)/n)/φ(z)·σ = √(0.01·0.99/200,000)/0.02665·σ ≈ 0.0083σ, 0.36 % of VaR = 2.326σ,
    # so 1 % is almost three standard errors (and the seed fixes the draw anyway).
    covariance = covariance_from_matrix(NAMES, COVARIANCE)
    closed = parametric_var(linear_portfolio(), covariance, confidence=confidence)

    simulated = monte_carlo_var(
        linear_portfolio(), covariance, confidence=confidence, paths=200_000, seed=11
    )

    assert simulated.var == pytest.approx(closed.var, rel=0.01)
    assert simulated.es == pytest.approx(closed.es, rel=0.01)
    assert simulated.scenarios == 200_000
    books = simulated.by_label("book")
    assert sum(g.component_var for g in books) == pytest.approx(simulated.var, rel=1e-12)
    assert sum(g.component_es for g in books) == pytest.approx(simulated.es, rel=1e-12)
    for book in ("A", "B"):  # the kernel estimate of Euler components, within 5 %
        assert simulated.group("book", book).component_var == pytest.approx(
            closed.group("book", book).component_var, rel=0.05
        )
    # Marginal VaR per unit of a book's net exposure, by hand: Σe = (258, −168, 105) for
    # e = (1,000,000, −500,000, 200,000), eᵀΣe = 363,000,000. Book A (1,000,000 on TTF):
    # z·258/σ. Book B (−300,000 net): its component z·(84e6 + 21e6)/σ over −300,000.
    z, sigma = norm.ppf(confidence), math.sqrt(363e6)
    hand = {"A": z * 258 / sigma, "B": -z * 350 / sigma}
    for book in ("A", "B"):
        assert closed.group("book", book).marginal_var == pytest.approx(hand[book], rel=1e-12)
        assert simulated.group("book", book).marginal_var == pytest.approx(hand[book], rel=0.05)


def test_monte_carlo_student_t_shocks_have_the_t_quantile():
    # One factor with 2 % daily vol, t with 4 degrees of freedom scaled to unit variance:
    # VaR = exposure · 0.02 · t₄⁻¹(0.99) · √((4 − 2)/4) = 1e6 · 0.02 · 3.7469 · 0.7071 = 52,990.
    builder = PortfolioBuilder()
    builder.add_linear(factor="F", exposure=1_000_000, book="A")
    covariance = covariance_from_matrix(["F"], [[4e-4]])
    expected = 1e6 * 0.02 * student_t.ppf(0.99, 4) * math.sqrt(2 / 4)

    fat = monte_carlo_var(
        builder.build(),
        covariance,
        confidence=0.99,
        paths=200_000,
        seed=5,
        distribution="student_t",
        dof=4,
    )
    normal = monte_carlo_var(builder.build(), covariance, confidence=0.99, paths=200_000, seed=5)

    assert fat.var == pytest.approx(expected, rel=0.02)
    assert fat.var > normal.var * 1.1  # fatter tails at 99 % with the same variance


def test_monte_carlo_is_reproducible_by_seed_whatever_the_threads():
    covariance = covariance_from_matrix(NAMES, COVARIANCE)
    kwargs = {"confidence": 0.99, "paths": 30_000, "chunk_paths": 4_000}

    first = monte_carlo_var(linear_portfolio(), covariance, seed=42, workers=1, **kwargs)
    again = monte_carlo_var(linear_portfolio(), covariance, seed=42, workers=3, **kwargs)
    other = monte_carlo_var(linear_portfolio(), covariance, seed=43, workers=1, **kwargs)

    assert again == first  # the same floats, to the last bit
    assert other.var != first.var


def short_and_long_calls(quantity):
    builder = PortfolioBuilder()
    builder.add_option(
        factor="F",
        quantity=quantity,
        forward=100,
        strike=100,
        volatility=0.5,
        years=30 / 365,
        rate=0.0,
        option_type="call",
        book="OPT",
    )
    return builder.build()


def test_monte_carlo_revalues_options_in_full_not_by_delta():
    # A sold at-the-money call loses more than its delta says on a large rise (negative gamma),
    # a bought one loses less on a large fall: full revaluation moves VaR in those directions.
    # Factor vol 3 % a day; the 99 % move is ≈ 7 %, where ½Γ(dF)² ≈ 20 % of Δ·dF.
    covariance = covariance_from_matrix(["F"], [[9e-4]])

    sold_delta = parametric_var(short_and_long_calls(-10_000), covariance, confidence=0.99)
    sold_full = monte_carlo_var(
        short_and_long_calls(-10_000), covariance, confidence=0.99, paths=100_000, seed=3
    )
    bought_delta = parametric_var(short_and_long_calls(10_000), covariance, confidence=0.99)
    bought_full = monte_carlo_var(
        short_and_long_calls(10_000), covariance, confidence=0.99, paths=100_000, seed=3
    )

    assert sold_delta.var == pytest.approx(bought_delta.var, rel=1e-12)  # delta is symmetric
    assert sold_full.var > sold_delta.var * 1.1
    assert bought_full.var < bought_delta.var * 0.9
