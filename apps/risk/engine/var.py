"""Value at Risk and Expected Shortfall: historical simulation and parametric delta-normal,
with standalone, component and marginal figures by group.

Sign convention: P&L is positive for a gain; VaR and ES are reported as positive losses.

Quantile convention (historical simulation and Monte Carlo alike). Sort the n scenario P&Ls
from worst to best, each with weight wₛ (1/n each, or the age weights below). The VaR scenario
is the first one at which the cumulative weight reaches 1 − c; then

    VaR = −(P&L of the VaR scenario),
    ES  = −(weighted mean P&L of the scenarios up to and including the VaR scenario).

With equal weights this is VaR = −x₍ₖ₎ and ES = −(x₍₁₎ + … + x₍ₖ₎)/k with k = ⌈n·(1 − c)⌉
(x₍₁₎ the worst), e.g. n = 250, c = 99 %: k = 3, the third-worst P&L; n = 500, c = 97.5 %:
k = 13. k is computed with a 1e-9 tolerance so that 500 × (1 − 0.95) is 25, not 26 from binary
rounding.

Age weighting (Boudoukh, Richardson and Whitelaw, 1998): the scenario of age i days
(i = 0 the latest) weighs λⁱ·(1 − λ)/(1 − λⁿ).

Horizon h: parametric VaR scales the one-day covariance by h (√h on VaR); historical simulation
uses overlapping h-day relative returns (`FactorHistory.relative_returns`), so options are
revalued at the horizon's move rather than scaled; Monte Carlo scales the covariance by h.
Options are revalued as an instantaneous shock (time to expiry held), so VaR measures market
moves, not time decay.

Components: parametric component VaR is the Euler allocation e_gᵀ·Σe·z/σ, which sums exactly to
the total. For historical simulation and Monte Carlo, component ES of a group is −(its weighted
mean P&L over the tail scenarios above), which sums exactly to ES; component VaR is its expected
P&L near the VaR scenario by a Gaussian kernel (bandwidth 1.06·sd·n^(−1/5), Silverman), rescaled
so that the components sum exactly to VaR.

Marginal VaR of a group (every method): the VaR added per unit of the group's position when the
group grows in its own mix, ∂VaR/∂x_g with x_g the group's net exposure (the sum of its factor
exposures, options by their Black-76 delta: the P&L of a +100 % move of everything it holds).
Scaling the group by (1 + ε) adds ε·x_g of position and, by Euler, ε·(component VaR) of VaR, so

    marginal VaR of g = component VaR of g / x_g   (a ratio: VaR per unit of exposure),

parametric analytically (e_gᵀ·∂VaR/∂e / Σᵢe_gᵢ, the exposure-weighted mean of the factors'
marginal VaRs), historical simulation and Monte Carlo from their kernel components. A group
whose net exposure is below a millionth of its gross exposure (a flat spread) has no position
to scale by: its marginal VaR is None.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from apps.risk.engine.covariance import FactorCovariance
from apps.risk.engine.errors import check_confidence, check_decay, check_positive_int
from apps.risk.engine.inputs import FactorHistory, GroupLayout, Portfolio
from apps.risk.engine.options import OptionRevaluer, black76_delta

_K_TOLERANCE = 1e-9
# Below this fraction of its gross exposure a group's net exposure is "flat": no marginal VaR.
_FLAT = 1e-6


@dataclass(frozen=True)
class GroupRisk:
    """One group's figures (e.g. label "book", group "PEU-FLOW").

    var, es: the group on its own (standalone). component_var, component_es: its share of the
    portfolio's VaR and ES (they sum over a label's groups to the portfolio's figures).
    marginal_var: VaR added per unit of the group's net exposure (module docstring); None when
    the group is flat or its exposure was not given.
    """

    label: str
    group: str
    var: float
    es: float
    component_var: float
    component_es: float
    marginal_var: float | None = None


@dataclass(frozen=True)
class VarResult:
    """VaR and ES of a portfolio (positive numbers are losses) with figures by group.

    scenarios: the number of historical scenarios or Monte Carlo paths (0 for parametric).
    covariance_fixed / min_eigenvalue: whether the covariance used had to be repaired.
    marginal_var: parametric only; ∂VaR/∂exposure per portfolio factor (in the order of
    `Portfolio.factor_names`): the VaR added per unit of extra exposure to that factor.
    """

    method: str
    confidence: float
    horizon_days: int
    var: float
    es: float
    groups: tuple[GroupRisk, ...]
    scenarios: int = 0
    covariance_fixed: bool = False
    min_eigenvalue: float | None = None
    marginal_var: tuple[float, ...] = ()

    def group(self, label: str, group: str) -> GroupRisk:
        """The figures of one group; KeyError when there is no such group."""
        for risk in self.groups:
            if risk.label == label and risk.group == group:
                return risk
        raise KeyError((label, group))

    def by_label(self, label: str) -> tuple[GroupRisk, ...]:
        return tuple(risk for risk in self.groups if risk.label == label)


# --- Tail of a P&L distribution ---------------------------------------------------------------


@dataclass(frozen=True)
class Tail:
    """The tail of one P&L distribution under the module's quantile convention."""

    var: float
    es: float
    scenarios: np.ndarray  # indices of the tail scenarios, worst first (the VaR one last)
    weights: np.ndarray  # their weights, normalised to sum to 1


def tail(pnl: np.ndarray, confidence: float, weights: np.ndarray | None = None) -> Tail:
    """VaR, ES and the tail scenarios of `pnl` (see the module's quantile convention)."""
    n = pnl.size
    if weights is None:
        k = tail_count(n, confidence)
        chosen = np.argpartition(pnl, k - 1)[:k] if k < n else np.arange(n)
        order = chosen[np.argsort(pnl[chosen], kind="stable")]
        tail_weights = np.full(k, 1.0 / k)
    else:
        order = np.argsort(pnl, kind="stable")
        cumulative = np.cumsum(weights[order])
        k = int(np.searchsorted(cumulative, (1.0 - confidence) - _K_TOLERANCE)) + 1
        order = order[: min(k, n)]
        tail_weights = weights[order] / weights[order].sum()
    worst = pnl[order]
    return Tail(
        var=-float(worst[-1]),
        es=-float(tail_weights @ worst),
        scenarios=order,
        weights=tail_weights,
    )


def tail_count(n: int, confidence: float) -> int:
    """k = ⌈n·(1 − c)⌉ (at least 1, at most n), with a tolerance for binary rounding."""
    return min(n, max(1, math.ceil(n * (1.0 - confidence) - _K_TOLERANCE)))


def age_weights(count: int, decay: float) -> np.ndarray:
    """Boudoukh–Richardson–Whitelaw weights for `count` scenarios, oldest first: λⁱ(1−λ)/(1−λⁿ)
    for age i (0 the latest)."""
    ages = np.arange(count - 1, -1, -1, dtype=np.float64)
    return decay**ages * (1.0 - decay) / (1.0 - decay**count)


def scenario_risk(
    *,
    method: str,
    pnl: np.ndarray,
    layout: GroupLayout,
    confidence: float,
    horizon_days: int,
    weights: np.ndarray | None = None,
    exposure: np.ndarray | None = None,
) -> VarResult:
    """VaR, ES and group figures from scenario P&L by column (scenarios × layout columns,
    column 0 the total): the common end of historical simulation and Monte Carlo.

    exposure: the delta exposures per factor and column (factors × layout columns, as
    `delta_exposures` gives them) for the groups' marginal VaR; without it marginal VaR is None.
    """
    total = pnl[:, 0]
    whole = tail(total, confidence, weights)
    component_es = -(whole.weights @ pnl[whole.scenarios])
    component_var = _kernel_components(pnl, whole, weights)
    marginal = marginal_by_column(component_var, exposure, pnl.shape[1])
    groups = []
    for column in range(1, layout.width):
        label, group = layout.columns[column]
        own = tail(pnl[:, column], confidence, weights)
        groups.append(
            GroupRisk(
                label,
                group,
                own.var,
                own.es,
                float(component_var[column]),
                float(component_es[column]),
                marginal[column],
            )
        )
    return VarResult(
        method=method,
        confidence=confidence,
        horizon_days=horizon_days,
        var=whole.var,
        es=whole.es,
        groups=tuple(groups),
        scenarios=total.size,
    )


def _kernel_components(pnl: np.ndarray, whole: Tail, weights: np.ndarray | None) -> np.ndarray:
    """Expected P&L per column near the VaR scenario (Gaussian kernel on the total P&L), as
    positive losses rescaled so that each label's columns sum to VaR exactly. When the total
    P&L does not vary, the tail's mean P&L per column stands in for the kernel's."""
    total = pnl[:, 0]
    var = whole.var
    n = total.size
    spread = float(total.std())
    if n > 1 and spread > 0.0:
        bandwidth = 1.06 * spread * n ** (-0.2)
        kernel = np.exp(-0.5 * ((total + var) / bandwidth) ** 2)
        if weights is not None:
            kernel *= weights
        near = kernel @ pnl / kernel.sum()  # expected P&L per column near the VaR scenario
    else:
        near = whole.weights @ pnl[whole.scenarios]
    level = near[0]  # ≈ −VaR
    if abs(level) <= 1e-12 * max(abs(var), 1e-300):
        return -near
    return near * (var / level)


def marginal_by_column(
    component_var: np.ndarray, exposure: np.ndarray | None, width: int
) -> list[float | None]:
    """Marginal VaR per column: component VaR / net exposure (module docstring); None for a
    flat column or without exposures."""
    if exposure is None:
        return [None] * width
    net = exposure.sum(axis=0)
    gross = np.abs(exposure).sum(axis=0)
    return [
        None
        if gross[c] == 0.0 or abs(net[c]) <= _FLAT * gross[c]
        else float(component_var[c] / net[c])
        for c in range(width)
    ]


# --- Historical simulation --------------------------------------------------------------------


def scenario_pnl(portfolio: Portfolio, moves: np.ndarray, layout: GroupLayout) -> np.ndarray:
    """P&L per scenario and layout column for relative moves of every portfolio factor
    (scenarios × factors): linear positions by one matrix product, options in full."""
    pnl = moves @ layout.linear_matrix(portfolio)
    if len(portfolio.options):
        revaluer = OptionRevaluer(portfolio.options)
        pnl += revaluer.pnl(moves[:, revaluer.factors], layout.option_matrix(portfolio))
    return pnl


def historical_var(
    portfolio: Portfolio,
    history: FactorHistory,
    *,
    confidence: float,
    horizon_days: int = 1,
    window: int = 250,
    age_decay: float | None = None,
    group_by: Iterable[str] | None = None,
) -> VarResult:
    """Historical-simulation VaR and ES over the last `window` overlapping h-day relative
    returns, options revalued in full; optional age weighting with decay λ = `age_decay`."""
    confidence = check_confidence(confidence)
    check_positive_int(horizon_days, "horizon_days")
    check_positive_int(window, "window")
    weights = None
    if age_decay is not None:
        weights = age_weights(window, check_decay(age_decay, "age_decay"))
    layout = portfolio.layout(group_by)
    moves = history.relative_returns(
        portfolio.factor_names, window=window, horizon_days=horizon_days
    )
    pnl = scenario_pnl(portfolio, moves, layout)
    return scenario_risk(
        method="historical",
        pnl=pnl,
        layout=layout,
        confidence=confidence,
        horizon_days=horizon_days,
        weights=weights,
        exposure=delta_exposures(portfolio, layout),
    )


# --- Parametric delta-normal ------------------------------------------------------------------


def delta_exposures(portfolio: Portfolio, layout: GroupLayout) -> np.ndarray:
    """Exposures per factor and column (factors × columns) with options by their Black-76 delta:
    quantity · ∂V/∂F · F0, the P&L of a small relative move."""
    options = portfolio.options
    exposure = layout.linear_matrix(portfolio)
    if len(options):
        cash_delta = (
            options.quantity
            * options.forward
            * black76_delta(
                options.forward,
                options.strike,
                options.volatility,
                options.years,
                options.rate,
                options.is_call,
            )
        )
        for row in layout.option_columns:
            np.add.at(exposure, (options.factor, row), cash_delta)
    return exposure


def parametric_var(
    portfolio: Portfolio,
    covariance: FactorCovariance,
    *,
    confidence: float,
    horizon_days: int = 1,
    group_by: Iterable[str] | None = None,
) -> VarResult:
    """Delta-normal VaR and ES: P&L ~ N(0, h·eᵀΣe) for the exposure vector e (options by delta).

        σ = √(h·eᵀΣe),  VaR = z·σ,  ES = σ·φ(z)/(1 − c),  z = Φ⁻¹(c);
        component VaR of group g = z·√h·e_gᵀΣe/√(eᵀΣe)  (Euler; sums to VaR exactly),
        component ES = component VaR · ES/VaR,
        marginal VaR of factor i = ∂VaR/∂eᵢ = z·√h·(Σe)ᵢ/√(eᵀΣe),
        marginal VaR of group g = e_gᵀ·(∂VaR/∂e) / Σᵢe_gᵢ  (None when g is flat).

    The mean P&L is taken as zero (one-day means are noise next to volatility).
    """
    confidence = check_confidence(confidence)
    check_positive_int(horizon_days, "horizon_days")
    layout = portfolio.layout(group_by)
    root = covariance.root(portfolio.factor_names)  # Σ = rootᵀ·root
    exposure = delta_exposures(portfolio, layout)  # factors × columns, column 0 the total
    projected = root @ exposure  # eᵀΣe = ‖root·e‖² per column, never forming Σ
    variances = np.einsum("ij,ij->j", projected, projected) * horizon_days
    covaried = root.T @ projected[:, 0]  # Σ·e of the total
    z = float(ndtri(confidence))
    es_per_sigma = float(np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)) / (1.0 - confidence)
    sigmas = np.sqrt(variances)
    sigma = float(sigmas[0])
    # ∂σ/∂e = h·Σe/σ; VaR and ES are z·σ and (φ(z)/(1 − c))·σ, so both allocate by it.
    sigma_gradient = horizon_days * covaried / sigma if sigma > 0.0 else np.zeros_like(covaried)
    marginal = z * sigma_gradient
    component_var = exposure.T @ marginal  # e_g · ∂VaR/∂e
    component_es = exposure.T @ (es_per_sigma * sigma_gradient)
    group_marginal = marginal_by_column(component_var, exposure, layout.width)
    groups = tuple(
        GroupRisk(
            label,
            group,
            z * float(sigmas[c]),
            es_per_sigma * float(sigmas[c]),
            float(component_var[c]),
            float(component_es[c]),
            group_marginal[c],
        )
        for c, (label, group) in enumerate(layout.columns)
        if c > 0
    )
    return VarResult(
        method="parametric",
        confidence=confidence,
        horizon_days=horizon_days,
        var=z * sigma,
        es=es_per_sigma * sigma,
        groups=groups,
        covariance_fixed=covariance.fixed,
        min_eigenvalue=covariance.min_eigenvalue,
        marginal_var=tuple(float(m) for m in marginal),
    )
