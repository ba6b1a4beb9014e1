"""Stress tests: named scenarios as data, the portfolio revalued under each (options in full),
P&L per group and in total.

A scenario is a relative move per factor (F → F·(1 + move)):
- historical: the moves of the factors between two days of the history,
  move = P[end] / P[start] − 1 (e.g. a 2021–22 gas-crisis window of the curve history);
- hypothetical: curve shocks, ±x % for one market (or all) — parallel, or tenor-shaped by
  knots (tenor in months, move) interpolated linearly and flat beyond the first and last knot —
  optionally on a curve segment only (tenor_from ≤ tenor ≤ tenor_to). Shocks apply in order;
  where two cover the same factor, the later one replaces the earlier (a general move first,
  then a market's own). Factors no shock covers do not move.
"""

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from apps.risk.engine.errors import RiskInputError, finite_or_error, quoted
from apps.risk.engine.inputs import FactorHistory, Portfolio
from apps.risk.engine.var import scenario_pnl


@dataclass(frozen=True)
class FactorInfo:
    """Where a factor sits on the curves: its market and months from today to its delivery
    (0 for spot prices and FX rates)."""

    name: str
    market: str
    tenor_months: float


@dataclass(frozen=True)
class CurveShock:
    """A relative move of `market`'s curve (every market when None): `move` everywhere
    (0.10 = +10 %), or by `shape` — (tenor in months, move) knots — when given."""

    market: str | None = None
    move: float = 0.0
    shape: tuple[tuple[float, float], ...] = ()
    tenor_from: float | None = None
    tenor_to: float | None = None

    def __post_init__(self) -> None:
        finite_or_error(self.move, "a shock's move")
        knots = tuple((float(t), float(m)) for t, m in self.shape)
        for tenor, move in knots:
            finite_or_error(tenor, "a shock's knot tenor")
            finite_or_error(move, "a shock's knot move")
        if any(b[0] <= a[0] for a, b in pairwise(knots)):
            raise RiskInputError("a shock's knots must be in strictly increasing tenor order")
        object.__setattr__(self, "shape", knots)

    def moves(self, tenors: np.ndarray) -> np.ndarray:
        """The move at each tenor (months)."""
        if not self.shape:
            return np.full(tenors.shape, float(self.move))
        knot_tenors, knot_moves = zip(*self.shape, strict=True)
        return np.interp(tenors, knot_tenors, knot_moves)

    def covers(self, markets: np.ndarray, tenors: np.ndarray) -> np.ndarray:
        mask = np.ones(tenors.shape, dtype=bool) if self.market is None else markets == self.market
        if self.tenor_from is not None:
            mask &= tenors >= self.tenor_from
        if self.tenor_to is not None:
            mask &= tenors <= self.tenor_to
        return mask


@dataclass(frozen=True)
class HypotheticalScenario:
    name: str
    shocks: tuple[CurveShock, ...]


@dataclass(frozen=True)
class HistoricalScenario:
    """The factor moves from `start` to `end`: dates of the history (or day indices)."""

    name: str
    start: Hashable
    end: Hashable


Scenario = HypotheticalScenario | HistoricalScenario


@dataclass(frozen=True)
class GroupPnl:
    label: str
    group: str
    pnl: float


@dataclass(frozen=True)
class StressResult:
    """The portfolio's P&L under one scenario (positive is a gain), in total and by group."""

    scenario: str
    pnl: float
    groups: tuple[GroupPnl, ...]

    def group(self, label: str, group: str) -> float:
        for row in self.groups:
            if row.label == label and row.group == group:
                return row.pnl
        raise KeyError((label, group))


def scenario_moves(
    scenario: Scenario,
    factor_names: Sequence[str],
    *,
    history: FactorHistory | None = None,
    factors: Iterable[FactorInfo] | Mapping[str, FactorInfo] | None = None,
) -> np.ndarray:
    """The relative move of each of `factor_names` under `scenario`."""
    if isinstance(scenario, HistoricalScenario):
        if history is None:
            raise RiskInputError(f"scenario {scenario.name!r} needs the factor history")
        start, end = history.day_index(scenario.start), history.day_index(scenario.end)
        if start >= end:
            raise RiskInputError(f"scenario {scenario.name!r} must start before it ends")
        # Only the two ends matter: a gap in between does not change the move.
        before = history.checked_rows(factor_names, start, start)[0]
        after = history.checked_rows(factor_names, end, end)[0]
        return after / before - 1.0
    if isinstance(scenario, HypotheticalScenario):
        info = _factor_info(factors, factor_names, scenario.name)
        markets = np.array([info[name].market for name in factor_names], dtype=object)
        tenors = np.array([float(info[name].tenor_months) for name in factor_names])
        moves = np.zeros(len(factor_names))
        for shock in scenario.shocks:
            covered = shock.covers(markets, tenors)
            moves[covered] = shock.moves(tenors[covered])
        return moves
    raise RiskInputError(f"not a scenario: {scenario!r}")


def _factor_info(
    factors: Iterable[FactorInfo] | Mapping[str, FactorInfo] | None,
    names: Sequence[str],
    scenario: str,
) -> Mapping[str, FactorInfo]:
    if factors is None:
        raise RiskInputError(f"scenario {scenario!r} needs each factor's market and tenor")
    info = factors if isinstance(factors, Mapping) else {f.name: f for f in factors}
    missing = [name for name in names if name not in info]
    if missing:
        raise RiskInputError(f"no market and tenor known for factor(s) {quoted(missing)}")
    return info


def stress_test(
    portfolio: Portfolio,
    scenarios: Sequence[Scenario],
    *,
    history: FactorHistory | None = None,
    factors: Iterable[FactorInfo] | Mapping[str, FactorInfo] | None = None,
    group_by: Iterable[str] | None = None,
) -> tuple[StressResult, ...]:
    """Revalue the portfolio under each scenario: linear positions by exposure × move,
    options in full by Black-76 (an instantaneous shock, time to expiry held)."""
    if not scenarios:
        raise RiskInputError("no stress scenario given")
    names = [scenario.name for scenario in scenarios]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise RiskInputError(f"scenario names must be unique; repeated: {quoted(repeated)}")
    if factors is not None and not isinstance(factors, Mapping):
        factors = {info.name: info for info in factors}  # read once, used by every scenario
    layout = portfolio.layout(group_by)
    moves = np.vstack(
        [
            scenario_moves(s, portfolio.factor_names, history=history, factors=factors)
            for s in scenarios
        ]
    )
    pnl = scenario_pnl(portfolio, moves, layout)
    return tuple(
        StressResult(
            scenario=scenario.name,
            pnl=float(pnl[row, 0]),
            groups=tuple(
                GroupPnl(label, group, float(pnl[row, column]))
                for column, (label, group) in enumerate(layout.columns)
                if column > 0
            ),
        )
        for row, scenario in enumerate(scenarios)
    )
