"""Counterparty credit exposure of netting sets: current exposure and potential future exposure
(PFE) from simulated mark-to-market paths.

For one netting set with trade values V (today) and simulated values V(p, h) on path p at
horizon h, and collateral C held (constant over the horizons: no margin-period model):

    netted (a master agreement with netting):   exposure = max(Σᵢ Vᵢ − C, 0)
    not netted:                                  exposure = max(Σᵢ max(Vᵢ, 0) − C, 0)

current exposure uses today's values; at each horizon the exposure of every path is taken and

    EE(h)  = the mean exposure over the paths,
    PFE(h) = the k-th largest exposure, k = ⌈n·(1 − c)⌉ — the same quantile convention as VaR,
             mirrored to the upper tail (n = 10,000 paths, c = 95 %: the 500th largest),
    peak PFE = the largest PFE(h) over the horizons, and its horizon.

`netting_set_exposure` computes the same from a run's simulated value changes per group (a
netted set's group, or one group per trade of a set without netting), adding one member at a
time so that no paths × trades array is made.

`simulate_value_changes` makes the paths from the factor model: correlated Brownian factor
moves, lognormal so forwards stay positive over long horizons (F_h = F0·exp(X_h − σ²h/2),
X_h ~ N(0, h·Σ) with independent increments between horizons), linear positions by exposure ×
(F_h/F0 − 1) and options revalued in full by Black-76 with their time to expiry shortened by
the horizon (days / 252 a year). Changes are summed per group of one label (a netting set, or a
trade for per-trade positive parts) as they are drawn.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from apps.risk.engine.covariance import FactorCovariance
from apps.risk.engine.errors import (
    RiskInputError,
    check_confidence,
    check_positive_int,
    finite_or_error,
)
from apps.risk.engine.inputs import Portfolio, as_float_array
from apps.risk.engine.montecarlo import check_seed, run_chunks
from apps.risk.engine.options import OptionRevaluer
from apps.risk.engine.var import tail_count

TRADING_DAYS_PER_YEAR = 252


@dataclass(frozen=True)
class CreditExposure:
    """Exposures of one netting set in money (≥ 0), per horizon in the order given."""

    current_exposure: float
    horizons: tuple[float, ...]
    expected_exposure: tuple[float, ...]
    pfe: tuple[float, ...]
    peak_pfe: float
    peak_horizon: float | None
    confidence: float


def credit_exposure(
    *,
    mtm_today: Sequence[float],
    mtm_paths: np.ndarray | None = None,
    horizons: Sequence[float] = (),
    confidence: float = 0.95,
    collateral: float = 0.0,
    netted: bool = True,
) -> CreditExposure:
    """Current exposure, EE and PFE of one netting set (see the module's docstring).

    mtm_today: the value of each trade today (trades,). mtm_paths: simulated values
    (paths × horizons × trades), or None for the current exposure only.
    """
    confidence = check_confidence(confidence)
    today, held, current = _current_exposure(mtm_today, collateral, netted)
    if mtm_paths is None:
        return CreditExposure(current, (), (), (), 0.0, None, confidence)
    paths = as_float_array(mtm_paths, "the simulated values", 3)
    when = tuple(finite_or_error(h, "a horizon") for h in horizons)
    if paths.shape[1:] != (len(when), today.size) or paths.shape[0] == 0:
        raise RiskInputError(
            f"the simulated values are {paths.shape} (paths × horizons × trades); expected "
            f"(paths, {len(when)}, {today.size}) for {len(when)} horizons and {today.size} trades"
        )
    if not np.isfinite(paths).all():
        raise RiskInputError("the simulated values hold a number that is not finite")
    return _profile(current, _exposure(paths, held, netted), when, confidence)


def netting_set_exposure(
    *,
    mtm_today: Sequence[float],
    changes: np.ndarray | None,
    columns: Sequence[int | None],
    horizons: Sequence[float] = (),
    confidence: float = 0.95,
    collateral: float = 0.0,
    netted: bool = True,
) -> CreditExposure:
    """`credit_exposure` of one netting set from the simulated value changes of a run's groups
    (`ValueChanges.changes`, paths × horizons × groups) without a paths × trades cube.

    mtm_today: today's value of each member (the set's total when netted, each trade's when
    not); columns: each member's group in `changes` (None: no position moves, e.g. a trade
    whose months are all delivered, so it keeps today's value). `horizons` name the horizons of
    `changes` in order; with `changes` None only the current exposure is computed.
    """
    confidence = check_confidence(confidence)
    today, held, current = _current_exposure(mtm_today, collateral, netted)
    if len(columns) != today.size:
        raise RiskInputError(f"{len(columns)} columns given for {today.size} members")
    if changes is None:
        return CreditExposure(current, (), (), (), 0.0, None, confidence)
    moves = as_float_array(changes, "the simulated changes", 3)
    when = tuple(finite_or_error(h, "a horizon") for h in horizons)
    if moves.shape[1] != len(when) or moves.shape[0] == 0:
        raise RiskInputError(
            f"the simulated changes are {moves.shape}; expected (paths, {len(when)}, groups)"
        )
    # One member at a time into paths × horizons: netted, the values add before the floor;
    # not netted, each trade's positive part adds (a claim the counterparty cannot offset).
    summed = np.zeros(moves.shape[:2])
    for value, column in zip(today, columns, strict=True):
        path = np.full(moves.shape[:2], value) if column is None else moves[:, :, column] + value
        summed += path if netted else np.maximum(path, 0.0)
    if not np.isfinite(summed).all():
        raise RiskInputError("the simulated values hold a number that is not finite")
    return _profile(current, np.maximum(summed - held, 0.0), when, confidence)


def _current_exposure(
    mtm_today: Sequence[float], collateral: float, netted: bool
) -> tuple[np.ndarray, float, float]:
    """Today's values checked, the collateral held, and today's exposure."""
    held = finite_or_error(collateral, "collateral")
    today = as_float_array(mtm_today, "today's values", 1)
    if today.size == 0:
        raise RiskInputError("the netting set has no trade")
    if not np.isfinite(today).all():
        first = int(np.flatnonzero(~np.isfinite(today))[0])
        raise RiskInputError(f"today's value of trade {first} is not a finite number")
    return today, held, float(_exposure(today[None, :], held, netted)[0])


def _profile(
    current: float, exposures: np.ndarray, when: tuple[float, ...], confidence: float
) -> CreditExposure:
    """EE, PFE per horizon and the peak from the exposures (paths × horizons)."""
    k = tail_count(exposures.shape[0], confidence)
    pfe = -np.partition(-exposures, k - 1, axis=0)[k - 1]  # the k-th largest per horizon
    peak = int(pfe.argmax()) if pfe.size else 0
    return CreditExposure(
        current_exposure=current,
        horizons=when,
        expected_exposure=tuple(float(x) for x in exposures.mean(axis=0)),
        pfe=tuple(float(x) for x in pfe),
        peak_pfe=float(pfe[peak]) if pfe.size else 0.0,
        peak_horizon=when[peak] if pfe.size else None,
        confidence=confidence,
    )


def _exposure(values: np.ndarray, collateral: float, netted: bool) -> np.ndarray:
    """Exposure over the last axis (trades): the netted sum or the sum of positive parts, less
    collateral, floored at zero."""
    summed = values.sum(axis=-1) if netted else np.maximum(values, 0.0).sum(axis=-1)
    return np.maximum(summed - collateral, 0.0)


@dataclass(frozen=True, eq=False)
class ValueChanges:
    """Simulated changes of value from today, per path, horizon and group:
    changes[p, h, g] for horizon_days[h] and groups[g]."""

    label: str
    groups: tuple[str, ...]
    horizon_days: tuple[int, ...]
    changes: np.ndarray


def simulate_value_changes(
    portfolio: Portfolio,
    covariance: FactorCovariance,
    *,
    horizon_days: Sequence[int],
    label: str,
    paths: int = 10_000,
    seed: int,
    chunk_paths: int = 2_000,
    workers: int | None = None,
) -> ValueChanges:
    """Value changes per group of `label` along lognormal factor paths (module docstring).
    Add each group's value today to get its simulated values for `credit_exposure`."""
    days = tuple(check_positive_int(h, "a horizon in days") for h in horizon_days)
    if not days or any(b <= a for a, b in pairwise(days)):
        raise RiskInputError("horizons must be given in days, increasing, at least one")
    check_positive_int(paths, "paths")
    check_positive_int(chunk_paths, "chunk_paths")
    check_seed(seed)
    layout = portfolio.layout((label,))
    root = covariance.root(portfolio.factor_names)  # k × factors
    half_variance = 0.5 * np.einsum("ij,ij->j", root, root)  # σ²/2 per factor, one day
    linear = layout.linear_matrix(portfolio)[:, 1:]  # factors × groups
    option_weights = layout.option_matrix(portfolio)[:, 1:]
    revaluers = [
        OptionRevaluer(portfolio.options, years_elapsed=h / TRADING_DAYS_PER_YEAR) for h in days
    ]
    steps = np.sqrt(np.diff((0, *days)))
    k, factors = root.shape
    chunk_paths = min(chunk_paths, paths)

    def simulate(rng: np.random.Generator, rows: int, out: np.ndarray) -> None:
        level = np.zeros((rows, factors))  # X_h, the Brownian part of log(F_h/F0)
        normals = np.empty((rows, k))
        for index, (horizon, step) in enumerate(zip(days, steps, strict=True)):
            rng.standard_normal(out=normals)
            level += step * (normals @ root)
            moves = np.exp(level - half_variance * horizon) - 1.0
            out[:, index] = moves @ linear
            revaluer = revaluers[index]
            if revaluer.count:
                out[:, index] += revaluer.pnl(moves[:, revaluer.factors], option_weights)

    changes = run_chunks(
        paths=paths,
        chunk_paths=chunk_paths,
        seed=seed,
        workers=workers,
        shape=(len(days), layout.width - 1),
        simulate=simulate,
    )
    return ValueChanges(
        label=label,
        groups=tuple(group for _, group in layout.columns[1:]),
        horizon_days=days,
        changes=changes,
    )
