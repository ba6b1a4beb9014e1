"""Reads of the risk app, scoped in one place: a user sees the runs, figures, limits and alerts
of their desks; firm-wide figures (rows without a desk, runs of every desk, credit exposure by
counterparty) are firm risk managers' only (`sees_firm`, defined with the services that gate
runs of every desk). `*_get_for_user` answers 404 for "missing" and "not
yours" alike. Every read costs a fixed number of queries, whatever the number of rows.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.accounts.models import Desk, Role
from apps.accounts.permissions import desks_for_user
from apps.risk.inputs import versions_in_force
from apps.risk.models import (
    Alert,
    BacktestResult,
    CreditExposureResult,
    Limit,
    LimitCheck,
    LimitVersion,
    RiskFigure,
    RiskRun,
    StressOutcome,
)
from apps.risk.services import alert_live_context, sees_firm

# Who opens the risk pages and API: the desks' traders (their desks' figures, read only) and
# risk managers (who run, set limits and acknowledge).
VIEW_ROLES = (Role.TRADER, Role.RISK_MANAGER)
HEADLINE_CONFIDENCE = Decimal("0.99")


def _desk_scope(user: Any, field_name: str = "desk") -> Q:
    """Rows of the user's desks, and firm rows (no desk) for firm risk managers."""
    scope = Q(**{f"{field_name}__in": desks_for_user(user)})
    if sees_firm(user):
        scope |= Q(**{f"{field_name}__isnull": True})
    return scope


def runs_for_user(user: Any) -> QuerySet[RiskRun]:
    return RiskRun.objects.filter(_desk_scope(user)).select_related("desk", "started_by")


def run_get_for_user(user: Any, run_id: int) -> RiskRun:
    return get_object_or_404(runs_for_user(user), pk=run_id)


def figures_for_user(user: Any) -> QuerySet[RiskFigure]:
    return RiskFigure.objects.filter(_desk_scope(user))


def stress_for_user(user: Any) -> QuerySet[StressOutcome]:
    return StressOutcome.objects.filter(_desk_scope(user)).select_related("scenario")


def backtests_for_user(user: Any) -> QuerySet[BacktestResult]:
    return BacktestResult.objects.filter(desk__in=desks_for_user(user)).select_related(
        "desk", "book"
    )


def credit_for_user(user: Any) -> QuerySet[CreditExposureResult]:
    """Credit exposure is by counterparty across desks: risk managers only."""
    if not sees_firm(user):
        return CreditExposureResult.objects.none()
    return CreditExposureResult.objects.select_related("counterparty", "legal_entity")


def alerts_for_user(user: Any) -> QuerySet[Alert]:
    return Alert.objects.filter(desk__in=desks_for_user(user)).select_related(
        "desk", "limit__book", "acknowledged_by"
    )


def alert_get_for_user(user: Any, alert_id: int) -> Alert:
    return get_object_or_404(alerts_for_user(user), pk=alert_id)


def limits_for_user(user: Any) -> QuerySet[Limit]:
    return Limit.objects.filter(desk__in=desks_for_user(user)).select_related(
        "desk", "book", "market", "unit", "created_by"
    )


def limit_get_for_user(user: Any, limit_id: int) -> Limit:
    return get_object_or_404(limits_for_user(user), pk=limit_id)


def limit_version_get_for_user(user: Any, version_id: int) -> LimitVersion:
    return get_object_or_404(
        LimitVersion.objects.filter(limit__desk__in=desks_for_user(user)).select_related(
            "limit__desk", "limit__book", "requested_by", "decided_by"
        ),
        pk=version_id,
    )


def checks_for_user(user: Any) -> QuerySet[LimitCheck]:
    return LimitCheck.objects.filter(desk__in=desks_for_user(user)).select_related(
        "limit__book", "limit__market", "desk"
    )


# --- The dashboard ---------------------------------------------------------------------------


@dataclass
class LimitLine:
    limit: Limit
    version: LimitVersion | None
    check: LimitCheck | None

    @property
    def percent(self) -> Decimal | None:
        if self.check is None:
            return None
        return (self.check.utilisation * 100).quantize(Decimal("0.1"))


@dataclass
class Dashboard:
    desk: Desk | None  # None: the firm
    run: RiskRun | None  # the latest run with figures for the scope at the horizon
    horizon: int = 1  # days: headline and history show runs of this horizon only
    totals: list[RiskFigure] = field(default_factory=list)  # per method and confidence
    desks: list[RiskFigure] = field(default_factory=list)  # the firm's desk rows
    contributors: list[RiskFigure] = field(default_factory=list)
    history: dict[str, list[Any]] = field(default_factory=dict)
    limits: list[LimitLine] = field(default_factory=list)
    stress_run: RiskRun | None = None
    stress: list[dict[str, Any]] = field(default_factory=list)
    backtest: BacktestResult | None = None
    backtests: list[BacktestResult] = field(default_factory=list)
    credit_run_id: int | None = None
    credit: list[CreditExposureResult] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    runs: list[RiskRun] = field(default_factory=list)

    @property
    def scope_filter(self) -> dict[str, Any]:
        return {"desk": self.desk} if self.desk is not None else {"desk__isnull": True}


def dashboard(user: Any, desk: Desk | None, horizon: int = 1) -> Dashboard:
    """The risk dashboard of one of the user's desks (or the firm, for firm risk managers): the
    latest figures, their history, limits and their use, top contributors, stress, backtest,
    credit exposure, open alerts and recent runs. A fixed number of queries.

    VaR figures are of one horizon (`horizon` days, one by default): a 10-day run's VaR is
    not comparable with the daily ones, so it neither becomes the headline nor joins their
    history."""
    board = Dashboard(desk=desk, run=None, horizon=horizon)
    scope = {**board.scope_filter, "horizon_days": horizon}
    latest = (
        figures_for_user(user)
        .filter(label="total", **scope)
        .order_by("-run_id")
        .values_list("run_id", flat=True)
        .first()
    )
    if latest is not None:
        board.run = RiskRun.objects.select_related("desk").get(pk=latest)
        rows = list(figures_for_user(user).filter(run_id=latest, **scope))
        board.totals = sorted(
            (r for r in rows if r.label == "total"), key=lambda r: (r.method, r.confidence)
        )
        headline = [r for r in rows if r.method == "historical"]
        confidence = max((r.confidence for r in headline), default=None)
        if HEADLINE_CONFIDENCE in {r.confidence for r in headline}:
            confidence = HEADLINE_CONFIDENCE
        board.desks = sorted(
            (r for r in headline if r.label == "desk" and r.confidence == confidence),
            key=lambda r: -r.var,
        )
        board.contributors = sorted(
            (
                r
                for r in headline
                if r.label in ("book", "market", "tenor") and r.confidence == confidence
            ),
            key=lambda r: -abs(r.component_var),
        )[:10]
        history = list(
            figures_for_user(user)
            .filter(label="total", method="historical", confidence=confidence, **scope)
            .select_related("run")
            .order_by("-run_id")[:60]
        )[::-1]
        board.history = {
            "labels": [f"{r.run.business_date.isoformat()} #{r.run_id}" for r in history],
            "var": [float(r.var) for r in history],
            "es": [float(r.es) for r in history],
            "confidence": float(confidence) if confidence is not None else None,
        }
    board.limits = _limit_lines(user, desk)
    _stress(user, board)
    _backtests(user, board)
    if sees_firm(user):
        credit_run = (
            CreditExposureResult.objects.order_by("-run_id")
            .values_list("run_id", flat=True)
            .first()
        )
        if credit_run is not None and (
            desk is None or RiskRun.objects.filter(pk=credit_run, desk__isnull=True).exists()
        ):
            board.credit_run_id = credit_run
            board.credit = list(credit_for_user(user).filter(run_id=credit_run))
    alerts = alerts_for_user(user)
    if desk is not None:
        alerts = alerts.filter(desk=desk)
    board.alerts = [alert_live_context(a, a.desk.code) for a in alerts.order_by("-id")[:20]]
    runs = runs_for_user(user)
    if desk is not None:
        runs = (
            runs.filter(Q(desk=desk) | Q(desk__isnull=True))
            if sees_firm(user)
            else runs.filter(desk=desk)
        )
    board.runs = list(runs.order_by("-id")[:10])
    return board


def _limit_lines(user: Any, desk: Desk | None) -> list[LimitLine]:
    limits = limits_for_user(user)
    if desk is not None:
        limits = limits.filter(desk=desk)
    latest_check = (
        LimitCheck.objects.filter(limit=OuterRef("pk")).order_by("-run_id").values("pk")[:1]
    )
    limits = list(
        limits.annotate(latest_check=Subquery(latest_check)).order_by("desk__code", "kind", "pk")
    )
    in_force = versions_in_force(timezone.now(), limits)
    checks = LimitCheck.objects.in_bulk([lm.latest_check for lm in limits if lm.latest_check])
    lines = []
    for limit in limits:
        version = in_force.get(limit.pk)
        if version is None:
            continue
        check = checks.get(limit.latest_check) if limit.latest_check else None
        if check is not None and check.version_id != version.pk:
            check = None  # measured against an earlier version: not this one's use
        lines.append(LimitLine(limit, version, check))
    return lines


def _stress(user: Any, board: Dashboard) -> None:
    scoped = stress_for_user(user).filter(**board.scope_filter)
    latest = scoped.order_by("-run_id").values_list("run_id", flat=True).first()
    if latest is None:
        return
    board.stress_run = RiskRun.objects.get(pk=latest)
    rows = list(
        scoped.filter(run_id=latest).order_by("scenario__kind", "scenario__name", "label", "group")
    )
    table: dict[int, dict[str, Any]] = {}
    books: dict[int, list[tuple[str, Decimal | None]]] = defaultdict(list)
    for row in rows:
        entry = table.setdefault(
            row.scenario_id, {"scenario": row.scenario, "total": None, "error": "", "books": []}
        )
        if row.label == "total":
            entry["total"], entry["error"] = row.pnl, row.error
        else:
            books[row.scenario_id].append((row.group, row.pnl))
    for scenario_id, entry in table.items():
        entry["books"] = books.get(scenario_id, [])
    board.stress = sorted(
        table.values(),
        key=lambda e: (e["total"] is None, e["total"] if e["total"] is not None else 0),
    )


def _backtests(user: Any, board: Dashboard) -> None:
    results = backtests_for_user(user)
    if board.desk is not None:
        latest = (
            results.filter(desk=board.desk)
            .order_by("-run_id")
            .values_list("run_id", flat=True)
            .first()
        )
        if latest is not None:
            rows = list(results.filter(run_id=latest, desk=board.desk).order_by("book__code"))
            board.backtest = next((r for r in rows if r.book_id is None), None)
            board.backtests = rows
        return
    latest = results.order_by("-run_id").values_list("run_id", flat=True).first()
    if latest is not None:
        board.backtests = list(
            results.filter(run_id=latest, book__isnull=True).order_by("desk__code")
        )
