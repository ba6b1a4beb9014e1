"""A run's figures from its inputs alone (`RunInputs` and the parameters): VaR and ES three
ways with components, stress, credit exposure, backtests and limit checks. No database: what
goes in is the snapshot, so a rerun from it gives the same numbers.

Scopes: every desk of the run, and the whole firm for a run of all desks. Historical
simulation and Monte Carlo revalue the run's positions once, into P&L columns for the firm,
each desk and each desk's books, markets and tenors (the layout below); every scope's VaR, ES
and components are then read from its own columns (the desk's total as its column 0), so that
a desk's components sum to the desk's VaR. When that joint computation fails on one desk's
input (a factor without history), each desk is measured on its own and the failure is named
for its desk only.
"""

import bisect
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np

from apps.risk.engine import (
    CurveShock,
    FactorCovariance,
    HistoricalScenario,
    HypotheticalScenario,
    Portfolio,
    RiskInputError,
    VarResult,
    backtest,
    covariance_from_matrix,
    ewma_covariance,
    parametric_var,
    pnl_statistics,
    sample_covariance,
    simulate_value_changes,
    stress_test,
)
from apps.risk.engine.exposure import TRADING_DAYS_PER_YEAR, netting_set_exposure
from apps.risk.engine.inputs import GroupLayout
from apps.risk.engine.montecarlo import monte_carlo_pnl
from apps.risk.engine.var import age_weights, delta_exposures, scenario_pnl, scenario_risk
from apps.risk.inputs import RunInputs, add_months
from apps.risk.parameters import RunParameters

LAYOUT = ("desk", "book", "market", "tenor", "desk_market", "desk_tenor")
SCOPE_LABELS = ("book", "market", "tenor")
MC_CHUNK_PATHS = 10_000


@dataclass(frozen=True)
class FigureRow:
    desk: str | None
    method: str
    confidence: float
    horizon_days: int
    label: str
    group: str
    var: float
    es: float
    component_var: float
    component_es: float
    marginal_var: float | None = None  # VaR per unit of the group's net exposure


@dataclass(frozen=True)
class StressRow:
    desk: str | None
    scenario: int
    label: str
    group: str
    pnl: float | None
    error: str = ""


@dataclass(frozen=True)
class CreditRow:
    netting_set: str
    counterparty: int
    legal_entity: int
    netted: bool
    trades: int
    mtm: float
    collateral: float
    current_exposure: float
    settlement_exposure: float
    peak_pfe: float
    peak_horizon_days: int | None
    profile: list[list[float]]
    credit_limit: Decimal | None
    limit_currency: str
    usage: float | None
    utilisation: float | None


@dataclass(frozen=True)
class BacktestRow:
    desk: str
    book: str
    confidence: float
    observations: int
    exceptions: int
    kupiec_lr: float | None
    kupiec_p_value: float | None
    zone: str
    series: dict[str, list[Any]]
    pnl_days: int
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float | None


@dataclass(frozen=True)
class CheckRow:
    limit: int
    version: int
    desk: str
    value: Decimal
    amount: Decimal
    utilisation: Decimal
    status: str


@dataclass
class Results:
    figures: list[FigureRow] = field(default_factory=list)
    stress: list[StressRow] = field(default_factory=list)
    credit: list[CreditRow] = field(default_factory=list)
    backtests: list[BacktestRow] = field(default_factory=list)
    checks: list[CheckRow] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def problem(self, scope: str | None, code: str, text: str = "", **extra: str) -> None:
        self.problems.append({"scope": scope or "", "code": code, "text": text, **extra})

    def figure(
        self,
        desk: str | None,
        method: str,
        confidence: float,
        label: str = "total",
        group: str = "",
    ) -> FigureRow | None:
        for row in self.figures:
            if (row.desk, row.method, row.label, row.group) == (desk, method, label, group) and (
                abs(row.confidence - confidence) < 1e-12
            ):
                return row
        return None


@dataclass(frozen=True)
class ScenarioSpec:
    """A stress scenario as the run read it (stored in the snapshot: the admin may change it)."""

    id: int
    name: str
    kind: str
    start: str | None = None
    end: str | None = None
    shocks: tuple[dict[str, Any], ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "shocks": list(self.shocks),
        }


# --- Scopes and their P&L columns ----------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    desk: str | None  # None: the firm
    columns: list[int]  # the layout's columns: the scope's total first
    names: list[tuple[str, str]]  # (label, group) of columns[1:]


def scopes(
    layout: GroupLayout, desks: Sequence[str], books: Mapping[str, Any], firm: bool
) -> list[Scope]:
    index = {name: c for c, name in enumerate(layout.columns)}
    result = []
    if firm:
        columns = [0]
        names = []
        for c, (label, group) in enumerate(layout.columns):
            if label in ("desk", "book", "market", "tenor"):
                columns.append(c)
                names.append((label, group))
        result.append(Scope(None, columns, names))
    for desk in desks:
        columns = [index[("desk", desk)]]
        names = []
        for c, (label, group) in enumerate(layout.columns):
            if label == "book" and books.get(group, {}).get("desk") == desk:
                columns.append(c)
                names.append(("book", group))
            elif label in ("desk_market", "desk_tenor") and group.startswith(f"{desk}|"):
                columns.append(c)
                names.append((label.removeprefix("desk_"), group.split("|", 1)[1]))
        result.append(Scope(desk, columns, names))
    return result


def _scope_layout(scope: Scope) -> GroupLayout:
    empty = np.zeros((0, 0), dtype=np.int64)
    return GroupLayout(
        labels=tuple(dict.fromkeys(label for label, _ in scope.names)),
        columns=(("", "total"), *scope.names),
        linear_columns=empty,
        option_columns=empty,
    )


def _rows(result: VarResult, desk: str | None, method: str) -> list[FigureRow]:
    rows = [
        FigureRow(
            desk, method, result.confidence, result.horizon_days, "total", "",
            result.var, result.es, result.var, result.es,
        )
    ]  # fmt: skip
    rows.extend(
        FigureRow(
            desk, method, result.confidence, result.horizon_days, g.label, g.group,
            g.var, g.es, g.component_var, g.component_es, g.marginal_var,
        )
        for g in result.groups
    )  # fmt: skip
    return rows


# --- The run -------------------------------------------------------------------------------------


class _Timer:
    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings

    def __call__(self, name: str, work: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            return work()
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 4)


def covariance_for(
    inputs: RunInputs, params: RunParameters, factors: Sequence[str]
) -> FactorCovariance:
    if params.covariance == "given":
        given = params.covariance_matrix or {}
        covariance = covariance_from_matrix(given["factors"], given["matrix"])
        covariance.root(factors)  # every factor covered, or the missing ones named
        return covariance
    if params.covariance == "sample":
        return sample_covariance(inputs.history, factors, window=params.window)
    return ewma_covariance(inputs.history, factors, window=params.window, decay=params.ewma_decay)


def compute(
    inputs: RunInputs,
    params: RunParameters,
    *,
    firm: bool,
    scenarios: Sequence[ScenarioSpec] = (),
) -> Results:
    """Every figure of a run (see the module docstring); problems are collected, never
    raised, so that one desk's or one method's failure leaves the others' figures."""
    results = Results()
    timer = _Timer(results.timings)
    desks = inputs.desks()
    if not desks:
        results.problem(None, "empty")
        return results
    books = inputs.data.get("books", {})
    combined = inputs.portfolio()
    layout = combined.layout(LAYOUT)
    scope_list = scopes(layout, desks, books, firm)

    covariance: FactorCovariance | None = None
    covariance_error = ""
    if {"parametric", "monte_carlo"} & set(params.methods) or params.credit:
        try:
            covariance = timer(
                "covariance", lambda: covariance_for(inputs, params, combined.factor_names)
            )
        except RiskInputError as exc:
            covariance_error = str(exc)
    if covariance is not None and covariance.fixed:
        results.problem(None, "covariance_fixed", min_eigenvalue=f"{covariance.min_eigenvalue:.6g}")

    for method in params.methods:
        timer(
            method,
            lambda m=method: _method(
                inputs,
                params,
                m,
                combined,
                layout,
                scope_list,
                covariance,
                covariance_error,
                results,
            ),
        )
    if params.stress and scenarios:
        timer("stress", lambda: _stress(inputs, combined, scope_list, scenarios, results))
    if params.credit and "netting_sets" in inputs.data:
        timer(
            "credit",
            lambda: _credit(inputs, params, combined, covariance, covariance_error, results),
        )
    if params.backtest and "backtest" in inputs.data:
        timer("backtest", lambda: _backtests(inputs, desks, results))
    timer("limits", lambda: _checks(inputs, params, results))
    return results


def _method(
    inputs: RunInputs,
    params: RunParameters,
    method: str,
    combined: Portfolio,
    layout: GroupLayout,
    scope_list: Sequence[Scope],
    covariance: FactorCovariance | None,
    covariance_error: str,
    results: Results,
) -> None:
    horizon = params.horizon_days
    if method == "parametric":
        if covariance is None:
            for scope in scope_list:
                results.problem(scope.desk, "method_failed", covariance_error, method=method)
            return
        for scope in scope_list:
            portfolio = combined if scope.desk is None else inputs.portfolio(scope.desk)
            group_by = ("desk", "book", "market", "tenor") if scope.desk is None else SCOPE_LABELS
            try:
                for confidence in params.confidences:
                    result = parametric_var(
                        portfolio, covariance, confidence=confidence,
                        horizon_days=horizon, group_by=group_by,
                    )  # fmt: skip
                    results.figures.extend(_rows(result, scope.desk, method))
            except RiskInputError as exc:
                results.problem(scope.desk, "method_failed", str(exc), method=method)
        return

    try:
        pnl, weights = _scenario_pnl(
            inputs, params, method, combined, layout, covariance, covariance_error
        )
    except RiskInputError as exc:
        joint_error = str(exc)
    else:
        exposure = delta_exposures(combined, layout)  # for marginal VaR
        for scope in scope_list:
            scope_layout = _scope_layout(scope)
            columns = pnl[:, scope.columns]
            for confidence in params.confidences:
                result = scenario_risk(
                    method=method, pnl=columns, layout=scope_layout,
                    confidence=confidence, horizon_days=horizon, weights=weights,
                    exposure=exposure[:, scope.columns],
                )  # fmt: skip
                results.figures.extend(_rows(result, scope.desk, method))
        return
    # Measured together they failed: each desk on its own, so that one desk's gap names that
    # desk only; the firm's figure needs every desk.
    for scope in scope_list:
        if scope.desk is None:
            results.problem(None, "method_failed", joint_error, method=method)
            continue
        portfolio = inputs.portfolio(scope.desk)
        own_layout = portfolio.layout(SCOPE_LABELS)
        try:
            own_cov = covariance
            if method == "monte_carlo" and own_cov is None:
                own_cov = covariance_for(inputs, params, portfolio.factor_names)
            pnl, weights = _scenario_pnl(inputs, params, method, portfolio, own_layout, own_cov, "")
        except RiskInputError as exc:
            results.problem(scope.desk, "method_failed", str(exc), method=method)
            continue
        own_exposure = delta_exposures(portfolio, own_layout)
        for confidence in params.confidences:
            result = scenario_risk(
                method=method, pnl=pnl, layout=own_layout,
                confidence=confidence, horizon_days=horizon, weights=weights,
                exposure=own_exposure,
            )  # fmt: skip
            results.figures.extend(_rows(result, scope.desk, method))


def _scenario_pnl(
    inputs: RunInputs,
    params: RunParameters,
    method: str,
    portfolio: Portfolio,
    layout: GroupLayout,
    covariance: FactorCovariance | None,
    covariance_error: str,
) -> tuple[np.ndarray, np.ndarray | None]:
    if method == "historical":
        moves = inputs.history.relative_returns(
            portfolio.factor_names, window=params.window, horizon_days=params.horizon_days
        )
        weights = age_weights(params.window, params.age_decay) if params.age_decay else None
        return scenario_pnl(portfolio, moves, layout), weights
    if covariance is None:
        raise RiskInputError(covariance_error)
    pnl = monte_carlo_pnl(
        portfolio,
        covariance,
        layout,
        seed=params.seed,
        horizon_days=params.horizon_days,
        paths=params.paths,
        distribution=params.distribution,
        dof=params.dof,
        chunk_paths=MC_CHUNK_PATHS,
    )
    return pnl, None


# --- Stress --------------------------------------------------------------------------------------


def _engine_scenario(
    spec: ScenarioSpec, inputs: RunInputs
) -> HypotheticalScenario | HistoricalScenario:
    if spec.kind == "historical":
        dates = list(inputs.history.dates or ())
        start, end = date.fromisoformat(spec.start or ""), date.fromisoformat(spec.end or "")
        if not dates or start < dates[0] or end > dates[-1]:
            held = f"{dates[0]} to {dates[-1]}" if dates else "none"
            raise RiskInputError(
                f"the window {start} to {end} is not inside the curve history ({held})"
            )
        # The last day of the history at or before each end of the window.
        first = dates[bisect.bisect_right(dates, start) - 1]
        last = dates[bisect.bisect_right(dates, end) - 1]
        return HistoricalScenario(spec.name, first, last)
    curve_markets = sorted(
        code for code in inputs.data.get("markets", {}) if not code.startswith("fx-")
    )
    commodity = {code: m["commodity"] for code, m in inputs.data.get("markets", {}).items()}
    shocks: list[CurveShock] = []
    for shock in spec.shocks:
        if "market" in shock:
            targets = [shock["market"]]
        elif "commodity" in shock:
            targets = [code for code in curve_markets if commodity.get(code) == shock["commodity"]]
        else:
            targets = curve_markets  # every curve; FX rates do not move
        for market in targets:
            shocks.append(
                CurveShock(
                    market=market,
                    move=float(shock.get("move", 0.0)),
                    shape=tuple(tuple(knot) for knot in shock.get("shape", ())),
                    tenor_from=shock.get("tenor_from"),
                    tenor_to=shock.get("tenor_to"),
                )
            )
    return HypotheticalScenario(spec.name, tuple(shocks))


def _stress(
    inputs: RunInputs,
    combined: Portfolio,
    scope_list: Sequence[Scope],
    scenarios: Sequence[ScenarioSpec],
    results: Results,
) -> None:
    factors = inputs.factor_info()
    desks = [s.desk for s in scope_list if s.desk is not None]
    firm = any(s.desk is None for s in scope_list)
    for spec in scenarios:
        try:
            scenario = _engine_scenario(spec, inputs)
            (outcome,) = stress_test(
                combined, [scenario], history=inputs.history, factors=factors,
                group_by=("desk", "book"),
            )  # fmt: skip
        except RiskInputError as exc:
            for desk in ([None] if firm else []) + desks:
                results.stress.append(StressRow(desk, spec.id, "total", "", None, str(exc)))
            continue
        if firm:
            results.stress.append(StressRow(None, spec.id, "total", "", outcome.pnl))
        books = inputs.data.get("books", {})
        for group in outcome.groups:
            if group.label == "desk" and group.group in desks:
                results.stress.append(StressRow(group.group, spec.id, "total", "", group.pnl))
            elif group.label == "book":
                desk = books.get(group.group, {}).get("desk")
                if desk in desks:
                    results.stress.append(StressRow(desk, spec.id, "book", group.group, group.pnl))


# --- Credit --------------------------------------------------------------------------------------


def _credit(
    inputs: RunInputs,
    params: RunParameters,
    combined: Portfolio,
    covariance: FactorCovariance | None,
    covariance_error: str,
    results: Results,
) -> None:
    """Per netting set: current exposure (today's MtM, netted or each trade's positive part,
    less collateral), settlement exposure, and the PFE profile over the set's remaining life
    from the simulated paths; usage = max(current, peak PFE) + settlement, in the limit's
    currency."""
    sets: Mapping[str, Mapping[str, Any]] = inputs.data["netting_sets"]
    changes = None
    if covariance is None:
        results.problem(None, "pfe_failed", covariance_error)
    else:
        try:
            # Grouped by the netting_set label: a netted set's positions share one group, a
            # trade of a set without netting has its own (`apps.risk.inputs.trade_member`).
            changes = simulate_value_changes(
                combined,
                covariance,
                horizon_days=list(params.pfe_horizons),
                label="netting_set",
                paths=params.credit_paths,
                seed=params.seed,
            )
        except RiskInputError as exc:
            results.problem(None, "pfe_failed", str(exc))
    group_index = {g: i for i, g in enumerate(changes.groups)} if changes is not None else {}
    life = remaining_life_days(
        inputs.market_data_date, (inputs.linear_labels, inputs.option_labels)
    )
    for key, entry in sets.items():
        mtm = float(entry["mtm"])
        collateral = float(entry["collateral"])
        netted = bool(entry["netted"])
        members: dict[str, Any] = {key: entry["mtm"]} if netted else dict(entry["trade_mtm"])
        columns = [group_index.get(label) for label in members]
        paths = horizons = None
        if changes is not None and any(c is not None for c in columns):
            # Over the set's remaining life: the horizons up to the start of delivery of its
            # last month; the first horizon past it is kept when none is inside, so a set about
            # to deliver still has a PFE. Positions that deliver earlier keep moving to later
            # horizons (their settled value is not modelled), which errs on the high side.
            last = max(life.get(label, 0.0) for label in members)
            kept = [i for i, h in enumerate(changes.horizon_days) if h <= last] or [0]
            paths = changes.changes[:, kept, :]
            horizons = [changes.horizon_days[i] for i in kept]
        exposure = netting_set_exposure(
            mtm_today=[float(v) for v in members.values()],
            changes=paths,
            columns=columns,
            horizons=horizons or (),
            confidence=params.pfe_confidence,
            collateral=collateral,
            netted=netted,
        )
        current = exposure.current_exposure
        settlement = float(entry["settlement"])
        usage = max(current, exposure.peak_pfe) + settlement
        limit = Decimal(entry["credit_limit"]) if entry.get("credit_limit") else None
        rate = entry.get("limit_rate")
        usage_in_limit = usage / float(rate) if (limit is not None and rate) else None
        results.credit.append(
            CreditRow(
                netting_set=key,
                counterparty=int(entry["counterparty"]),
                legal_entity=int(entry["legal_entity"]),
                netted=netted,
                trades=int(entry["trades"]),
                mtm=mtm,
                collateral=collateral,
                current_exposure=current,
                settlement_exposure=settlement,
                peak_pfe=max(exposure.peak_pfe, current),
                peak_horizon_days=int(exposure.peak_horizon) if exposure.peak_horizon else None,
                profile=[
                    [h, ee, pfe]
                    for h, ee, pfe in zip(
                        exposure.horizons, exposure.expected_exposure, exposure.pfe, strict=True
                    )
                ],
                credit_limit=limit,
                limit_currency=entry.get("limit_currency", ""),
                usage=usage_in_limit,
                utilisation=(
                    usage_in_limit / float(limit) if usage_in_limit is not None and limit else None
                ),
            )
        )


def remaining_life_days(
    today: date, label_sets: Iterable[Mapping[str, np.ndarray]]
) -> dict[str, float]:
    """Per netting_set label of the positions (`label_sets`: the linear and the option
    positions' labels), the business days (252 a year) from `today` to the start of delivery
    of its furthest month (an option: its first month); FX positions follow their trades and
    add nothing."""
    life: dict[str, float] = {}
    for labels in label_sets:
        for label, tenor in set(zip(labels["netting_set"], labels["tenor"], strict=True)):
            if not str(tenor).startswith("M"):
                continue
            days = (add_months(today, int(str(tenor)[1:])) - today).days
            life[str(label)] = max(life.get(str(label), 0.0), days * TRADING_DAYS_PER_YEAR / 365)
    return life


# --- Backtests and P&L statistics ----------------------------------------------------------------


def _backtests(inputs: RunInputs, desks: Iterable[str], results: Results) -> None:
    data = inputs.data["backtest"]
    confidence = float(data["confidence"])
    books = inputs.data.get("books", {})
    wanted = set(desks)
    for key, rows in sorted(data["series"].items()):
        kind, code = key.split(":", 1)
        desk = code if kind == "desk" else books.get(code, {}).get("desk", "")
        if desk not in wanted:
            continue
        pnl = [float(amount) for _day, amount, _var in rows]
        paired = [(day, float(a), float(v)) for day, a, v in rows if v is not None]
        observations = exceptions = 0
        lr = p_value = None
        zone = ""
        exception_days: set[int] = set()
        if paired:
            outcome = backtest(
                realised_pnl=[a for _d, a, _v in paired],
                var=[v for _d, _a, v in paired],
                confidence=confidence,
            )
            observations, exceptions = outcome.observations, outcome.exceptions
            lr, p_value = outcome.kupiec.lr_statistic, outcome.kupiec.p_value
            zone = outcome.traffic_light.zone
            exception_days = set(outcome.exception_days)
        stats = pnl_statistics(pnl) if len(pnl) >= 2 else None
        results.backtests.append(
            BacktestRow(
                desk=desk,
                book=code if kind == "book" else "",
                confidence=confidence,
                observations=observations,
                exceptions=exceptions,
                kupiec_lr=lr,
                kupiec_p_value=p_value,
                zone=zone,
                series={
                    "dates": [d for d, _a, _v in paired],
                    "pnl": [a for _d, a, _v in paired],
                    "var": [v for _d, _a, v in paired],
                    "exception": [i in exception_days for i in range(len(paired))],
                },
                pnl_days=len(pnl),
                volatility=stats.volatility if stats else None,
                sharpe=stats.sharpe if stats else None,
                sortino=stats.sortino if stats else None,
                max_drawdown=stats.max_drawdown if stats else None,
            )
        )


# --- Limits --------------------------------------------------------------------------------------


def status_of(utilisation: Decimal, warning_level: Decimal) -> str:
    if utilisation >= 1:
        return "breach"
    if utilisation >= warning_level:
        return "warning"
    return "ok"


def _checks(inputs: RunInputs, params: RunParameters, results: Results) -> None:
    """Each limit in force against the run's figure; a VaR limit is on the one-day VaR, so a
    run of another horizon does not check it."""
    for entry in inputs.data.get("limits", []):
        value: Decimal | None
        if entry["kind"] == "var":
            confidence = float(entry["confidence"])
            if params.horizon_days != 1 or entry["method"] not in params.methods:
                continue
            row = (
                results.figure(entry["desk"], entry["method"], confidence, "book", entry["book"])
                if entry["book"]
                else results.figure(entry["desk"], entry["method"], confidence)
            )
            if row is None:
                continue  # not measured by this run (another confidence, or the desk failed)
            value = Decimal(repr(row.var)).quantize(Decimal("0.01"))
        else:
            value = Decimal(entry["value"]) if entry.get("value") is not None else None
            if value is None:
                results.problem(entry["desk"], "limit_unmeasured", limit=str(entry["limit"]))
                continue
        amount = Decimal(entry["amount"])
        utilisation = (value / amount).quantize(Decimal("0.000001"))
        results.checks.append(
            CheckRow(
                limit=int(entry["limit"]),
                version=int(entry["version"]),
                desk=entry["desk"],
                value=value,
                amount=amount,
                utilisation=utilisation,
                status=status_of(utilisation, Decimal(entry["warning_level"])),
            )
        )


def group_rows(rows: Iterable[FigureRow]) -> dict[tuple[str | None, str, float], list[FigureRow]]:
    grouped: dict[tuple[str | None, str, float], list[FigureRow]] = defaultdict(list)
    for row in rows:
        grouped[(row.desk, row.method, row.confidence)].append(row)
    return grouped
