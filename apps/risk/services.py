"""The risk app's domain operations: request and perform risk runs (flow 4), rerun one from its
snapshot, propose and decide limit versions (maker-checker), acknowledge alerts.

Each operation owns its transaction, writes its audit entry and schedules its side effects
(the Celery task, the live pushes) with `transaction.on_commit`. Who may do what is checked
here, once: risk managers start runs, manage limits and acknowledge alerts, on their own desks.
"""

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.live import desk_group, publish_after_commit, user_group
from apps.accounts.models import Desk, Role, User
from apps.accounts.permissions import desks_for_user, has_role
from apps.compliance.audit import AuditRecord, audit_append, audit_append_many
from apps.risk.compute import Results, ScenarioSpec, compute
from apps.risk.engine import RiskInputError
from apps.risk.inputs import (
    REPORTING_CURRENCY,
    InputError,
    RunInputs,
    SnapshotAltered,
    digest,
    inputs_build,
    snapshot_check,
)
from apps.risk.models import (
    Alert,
    AlertLevel,
    BacktestResult,
    CheckStatus,
    CreditExposureResult,
    Limit,
    LimitCheck,
    LimitKind,
    LimitVersion,
    RiskFigure,
    RiskRun,
    RiskRunSnapshot,
    RunKind,
    RunStatus,
    StressOutcome,
    StressScenario,
    VersionStatus,
)
from apps.risk.parameters import (
    FULL,
    INCREMENTAL,
    RunParameters,
    parameters_clean,
    parameters_from_json,
)
from apps.trading.models import Book, Market, Unit
from apps.trading.periods import PeriodError, parse_period
from apps.trading.pnl import end_of_day
from qenergyz import metrics
from qenergyz.validators import parse_decimal

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
RATIO_STEP = Decimal("0.000001")
MARGINAL_STEP = Decimal("0.00000001")
_LEVEL_RANK = {AlertLevel.WARNING: 1, AlertLevel.BREACH: 2}


def _require_risk_manager(user: Any) -> None:
    if not has_role(user, Role.RISK_MANAGER):
        raise PermissionDenied(_("Only risk managers may do this."))


def _require_desk(user: Any, desk: Desk) -> None:
    if not desks_for_user(user).filter(pk=desk.pk).exists():
        raise PermissionDenied(_("That desk is not one of yours."))


def sees_firm(user: Any) -> bool:
    """The firm view's one gatekeeper (selectors, pages, API, live events, runs of every desk):
    a risk manager who also holds the firm risk manager role (risk.view_firm_risk). A risk
    manager assigned to every desk without it still sees only those desks' rows."""
    return has_role(user, Role.RISK_MANAGER) and user.has_perm("risk.view_firm_risk")


def _require_firm(user: Any) -> None:
    if not sees_firm(user):
        raise PermissionDenied(_("Only a firm risk manager may run every desk."))


# --- Risk runs: request ---------------------------------------------------------------------------


def risk_run_request(
    *,
    user: User | None,
    desk: Desk | None,
    kind: str = RunKind.MANUAL,
    business_date: date | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> RiskRun:
    """Queue a run of `desk` (every desk when None) for `business_date` (today by default) and
    enqueue it on the `risk` queue after the commit. `user` None is the system (schedule,
    bookings); a person must be a risk manager of the desk (all desks: a firm risk manager).

    Parameters are validated first (ValidationError with field messages, nothing written).
    An end-of-day run counts the trades booked by the end of its day; the others those booked
    now."""
    if user is not None:
        _require_risk_manager(user)
        if desk is not None:
            _require_desk(user, desk)
        else:
            _require_firm(user)
    base = INCREMENTAL if kind == RunKind.INCREMENTAL else FULL
    params = parameters_clean(parameters, base=base)
    today = timezone.now().date()
    day = business_date or today
    if day > today:
        raise ValidationError({"business_date": [_("The day cannot be in the future.")]})
    as_of = end_of_day(day) if kind == RunKind.END_OF_DAY or day < today else timezone.now()
    with transaction.atomic():
        run = RiskRun.objects.create(
            kind=kind,
            desk=desk,
            started_by=user,
            business_date=day,
            as_of=min(as_of, timezone.now()),
            currency=REPORTING_CURRENCY,
            parameters=params.as_json(),
        )
        audit_append(
            actor=user,
            action="risk.run_requested",
            obj=run,
            payload={
                "kind": kind,
                "desk": desk.code if desk else None,
                "business_date": day,
                "parameters": params.as_json(),
            },
        )
        _enqueue(run.pk)
    return run


def _enqueue(run_id: int) -> None:
    from apps.risk.tasks import risk_run_execute

    transaction.on_commit(lambda: risk_run_execute.delay(run_id))


def risk_run_rerun(*, user: User, run: RiskRun) -> RiskRun:
    """Queue a rerun of `run` from its snapshot: the same inputs, the same parameters (and
    seed), so the same numbers; it raises no alert."""
    _require_risk_manager(user)
    if run.desk is not None:
        _require_desk(user, run.desk)
    else:
        _require_firm(user)
    original = run.source_run if run.kind == RunKind.RERUN and run.source_run else run
    snapshot = RiskRunSnapshot.objects.filter(run=original).only("arrays", "digest").first()
    if snapshot is None:
        raise ValidationError(_("This run has no snapshot to rerun from."))
    try:
        snapshot_check(snapshot.arrays, snapshot.digest)
    except SnapshotAltered:
        raise ValidationError(
            _(
                "The snapshot of run #%(id)s no longer matches its SHA-256 digest: it was "
                "altered or damaged, so a rerun could not give the run's numbers."
            )
            % {"id": original.pk},
            code=SnapshotAltered.code,
        ) from None
    with transaction.atomic():
        rerun = RiskRun.objects.create(
            kind=RunKind.RERUN,
            desk=original.desk,
            started_by=user,
            business_date=original.business_date,
            as_of=original.as_of,
            market_data_date=original.market_data_date,
            currency=original.currency,
            parameters=original.parameters,
            source_run=original,
        )
        audit_append(
            actor=user,
            action="risk.run_requested",
            obj=rerun,
            payload={"kind": RunKind.RERUN, "source_run": original.pk},
        )
        _enqueue(rerun.pk)
    return rerun


def risk_run_incremental(*, desk: Desk) -> RiskRun | None:
    """The quick re-run of one desk after a booking (historical and parametric VaR, limits).
    A desk without books has nothing to measure."""
    if not Book.objects.filter(desk=desk).exists():
        return None
    waiting = RiskRun.objects.filter(
        desk=desk, kind=RunKind.INCREMENTAL, status=RunStatus.QUEUED
    ).first()
    if waiting is not None:
        # Bookings in quick succession: the run still queued will see them all when it
        # starts (its positions are read then), so one run serves them.
        return waiting
    return risk_run_request(user=None, desk=desk, kind=RunKind.INCREMENTAL)


def risk_run_scheduled(*, kind: str) -> RiskRun:
    """The schedule's run of every desk (intraday, or end of day for today)."""
    return risk_run_request(user=None, desk=None, kind=kind)


# --- Risk runs: perform ---------------------------------------------------------------------------


def _scenarios() -> list[ScenarioSpec]:
    return [
        ScenarioSpec(
            id=s.pk,
            name=s.name,
            kind=s.kind,
            start=s.start_date.isoformat() if s.start_date else None,
            end=s.end_date.isoformat() if s.end_date else None,
            shocks=tuple(s.shocks or ()),
        )
        for s in StressScenario.objects.filter(active=True).order_by("pk")
    ]


def _history_from(params: RunParameters, scenarios: Sequence[ScenarioSpec]) -> date | None:
    starts = [date.fromisoformat(s.start) for s in scenarios if s.kind == "historical" and s.start]
    return min(starts) if params.stress and starts else None


def _original(run: RiskRun) -> RiskRun:
    return run.source_run if run.kind == RunKind.RERUN and run.source_run_id else run


def snapshot_inputs(run: RiskRun) -> tuple[RunInputs, list[ScenarioSpec]]:
    """The inputs a run measured, from its snapshot (a rerun's: its original's)."""
    original = _original(run)
    snapshot = RiskRunSnapshot.objects.get(run=original)
    inputs = RunInputs.from_snapshot(
        arrays=snapshot.arrays,
        data=snapshot.data,
        currency=original.currency,
        market_data_date=original.market_data_date,
        expected_digest=snapshot.digest,  # checked again: it may change after the request
    )
    scenarios = [
        ScenarioSpec(**{**s, "shocks": tuple(s["shocks"])})
        for s in snapshot.data.get("scenarios", [])
    ]
    return inputs, scenarios


def risk_run_perform(run_id: int) -> RiskRun | None:
    """Run a queued run: read its inputs (or its original's snapshot), compute, store the
    snapshot and every result, compare with the limits, raise alerts, push live. A run that
    cannot be measured ends as failed with its reason; it never raises (the worker and an
    eager request stay up). Returns None when the run was not queued (already taken)."""
    # Claim it: a redelivered task (acks_late) finds it running and leaves it.
    now = timezone.now()
    claimed = RiskRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now
    )
    if not claimed:
        return None
    run = RiskRun.objects.select_related("desk", "source_run").get(pk=run_id)
    if run.kind in (RunKind.INTRADAY, RunKind.MANUAL, RunKind.INCREMENTAL) and (
        run.business_date == now.date()
    ):
        # Today's positions are those booked when the run starts, not when it was queued:
        # a run that waited in the queue measures the trades booked meanwhile too.
        run.as_of = now
        run.save(update_fields=["as_of"])
    params = parameters_from_json(run.parameters)
    timings: dict[str, float] = {}
    inputs: RunInputs | None = None
    try:
        started = time.perf_counter()
        if run.kind == RunKind.RERUN:
            inputs, scenarios = snapshot_inputs(run)
        else:
            scenarios = _scenarios() if params.stress else []
            inputs = inputs_build(
                desk=run.desk,
                business_date=run.business_date,
                as_of=run.as_of,
                window_days=params.window + params.horizon_days,
                currency=run.currency,
                history_from=_history_from(params, scenarios),
                credit=params.credit,
                backtest_confidence=params.backtest_confidence if params.backtest else None,
            )
            inputs.data["scenarios"] = [s.as_json() for s in scenarios]
        timings["inputs"] = round(time.perf_counter() - started, 4)
        if inputs.position_count == 0:
            # Trades there were, but nothing could be priced: say what is missing.
            missing = inputs.data.get("missing", [])
            return _fail(
                run, "unpriced", timings, [{"scope": "", "code": "missing", "items": missing}]
            )
        results = compute(inputs, params, firm=run.desk is None, scenarios=scenarios)
        timings.update(results.timings)
    except InputError as exc:
        return _fail(run, str(exc), timings)
    except RiskInputError as exc:
        return _fail(run, str(exc), timings)
    except Exception:
        logger.exception("risk run %s failed", run_id)
        return _fail(run, "internal", timings)
    started = time.perf_counter()
    try:
        with transaction.atomic():
            _store(run, inputs, results)
            timings["store"] = round(time.perf_counter() - started, 4)
            _finish(run, inputs, results, timings)
    except Exception:
        logger.exception("risk run %s could not be stored", run_id)
        return _fail(run, "internal", timings)
    return run


def _fail(
    run: RiskRun, error: str, timings: dict[str, float], problems: list | None = None
) -> RiskRun:
    with transaction.atomic():
        run.status = RunStatus.FAILED
        run.error = error
        run.finished_at = timezone.now()
        run.timings = timings
        run.problems = problems or []
        run.save(update_fields=["status", "error", "finished_at", "timings", "problems"])
        audit_append(
            actor=None,
            action="risk.run_failed",
            obj=run,
            payload={"error": error, "kind": run.kind},
        )
        _publish_run(run)
        _count_run(run)
    return run


def _decimal(value: float, step: Decimal = CENT) -> Decimal:
    try:
        result = Decimal(repr(float(value))).quantize(step)
    except InvalidOperation:
        raise RiskInputError(f"a result is not a finite number: {value!r}") from None
    if not result.is_finite():
        raise RiskInputError(f"a result is not a finite number: {value!r}")
    return result


def _optional(value: float | None, step: Decimal = CENT) -> Decimal | None:
    return None if value is None else _decimal(value, step)


def _store(run: RiskRun, inputs: RunInputs, results: Results) -> None:
    desks = dict(inputs.data.get("desks", {}).items())
    books = {code: b["id"] for code, b in inputs.data.get("books", {}).items()}
    if run.kind != RunKind.RERUN:
        arrays = inputs.to_npz()
        data = {k: v for k, v in inputs.data.items() if k != "references"}
        RiskRunSnapshot.objects.create(
            run=run,
            arrays=arrays,
            data=data,
            references=inputs.data.get("references", {}),
            digest=digest(arrays),
            size=len(arrays),
        )
    RiskFigure.objects.bulk_create(
        [
            RiskFigure(
                run=run,
                desk_id=desks.get(row.desk) if row.desk else None,
                method=row.method,
                confidence=Decimal(repr(row.confidence)),
                horizon_days=row.horizon_days,
                label=row.label,
                group=row.group[:64],
                var=_decimal(row.var),
                es=_decimal(row.es),
                component_var=_decimal(row.component_var),
                component_es=_decimal(row.component_es),
                marginal_var=_optional(row.marginal_var, MARGINAL_STEP),
            )
            for row in results.figures
        ],
        batch_size=2000,
    )
    StressOutcome.objects.bulk_create(
        [
            StressOutcome(
                run=run,
                desk_id=desks.get(row.desk) if row.desk else None,
                scenario_id=row.scenario,
                label=row.label,
                group=row.group[:64],
                pnl=_optional(row.pnl),
                error=row.error,
            )
            for row in results.stress
        ],
        batch_size=2000,
    )
    CreditExposureResult.objects.bulk_create(
        [
            CreditExposureResult(
                run=run,
                counterparty_id=row.counterparty,
                legal_entity_id=row.legal_entity,
                netted=row.netted,
                trades=row.trades,
                mtm=_decimal(row.mtm),
                collateral=_decimal(row.collateral),
                current_exposure=_decimal(row.current_exposure),
                settlement_exposure=_decimal(row.settlement_exposure),
                peak_pfe=_decimal(row.peak_pfe),
                peak_horizon_days=row.peak_horizon_days,
                profile=[[int(h), round(ee, 2), round(pfe, 2)] for h, ee, pfe in row.profile],
                credit_limit=row.credit_limit,
                limit_currency=row.limit_currency,
                usage=_optional(row.usage),
                utilisation=_optional(row.utilisation, RATIO_STEP),
            )
            for row in results.credit
        ]
    )
    BacktestResult.objects.bulk_create(
        [
            BacktestResult(
                run=run,
                desk_id=desks[row.desk],
                book_id=books.get(row.book) if row.book else None,
                method="historical",
                confidence=Decimal(repr(row.confidence)),
                observations=row.observations,
                exceptions=row.exceptions,
                kupiec_lr=_optional(row.kupiec_lr, RATIO_STEP),
                kupiec_p_value=_optional(row.kupiec_p_value, RATIO_STEP),
                zone=row.zone,
                series=row.series,
                pnl_days=row.pnl_days,
                volatility=_optional(row.volatility),
                sharpe=_optional(row.sharpe, RATIO_STEP),
                sortino=_optional(row.sortino, RATIO_STEP),
                max_drawdown=_optional(row.max_drawdown),
            )
            for row in results.backtests
            if row.desk in desks
        ]
    )


def _finish(run: RiskRun, inputs: RunInputs, results: Results, timings: dict[str, float]) -> None:
    desks = inputs.data.get("desks", {})
    checks = [
        LimitCheck(
            run=run,
            limit_id=row.limit,
            version_id=row.version,
            desk_id=desks[row.desk],
            value=row.value,
            amount=row.amount,
            utilisation=row.utilisation,
            status=row.status,
        )
        for row in results.checks
        if row.desk in desks
    ]
    LimitCheck.objects.bulk_create(checks)
    alerts = [] if run.kind == RunKind.RERUN else _raise_alerts(run, checks)
    problems = list(results.problems)
    if inputs.data.get("missing"):
        problems.append({"scope": "", "code": "missing", "items": inputs.data["missing"]})
    failed = [p for p in problems if p.get("code") == "method_failed"]
    status = RunStatus.SUCCEEDED
    if failed:
        status = RunStatus.PARTIAL if results.figures else RunStatus.FAILED
    run.status = status
    run.problems = problems
    run.market_data_date = inputs.market_data_date
    run.trade_count = int(inputs.data.get("trade_count", run.trade_count))
    run.position_count = inputs.position_count
    run.factor_count = len(inputs.history.names)
    run.finished_at = timezone.now()
    run.timings = timings
    if status == RunStatus.FAILED:
        run.error = failed[0].get("text", "")
    run.save()
    total = results.figure(None if run.desk is None else run.desk.code, "historical", 0.99)
    audit_append(
        actor=None,
        action="risk.run_completed",
        obj=run,
        payload={
            "kind": run.kind,
            "status": status,
            "desk": run.desk.code if run.desk else None,
            "business_date": run.business_date,
            "market_data_date": run.market_data_date,
            "positions": run.position_count,
            "factors": run.factor_count,
            "figures": len(results.figures),
            "checks": len(checks),
            "alerts": len(alerts),
            "historical_var_99": _decimal(total.var) if total else None,
            "source_run": run.source_run_id,
        },
    )
    _publish_run(run)
    _count_run(run)


def _count_run(run: RiskRun) -> None:
    metrics.risk_run_on_commit(
        kind=run.kind, status=run.status, started=run.started_at, finished=run.finished_at
    )


def _desk_ids(run: RiskRun) -> list[int]:
    if run.desk_id is not None:
        return [run.desk_id]
    return list(Book.objects.values_list("desk_id", flat=True).distinct())


def _publish_run(run: RiskRun) -> None:
    """Tell the desks' open risk pages that a run ended (they reload their figures)."""
    context = {"run": run.pk, "status": run.status, "kind": run.kind}
    for desk_id in sorted(set(_desk_ids(run))):
        publish_after_commit(desk_group(desk_id), "live/risk_run.html", context)
    if run.started_by_id is not None and run.desk_id is None:
        publish_after_commit(user_group(run.started_by_id), "live/risk_run.html", context)


# --- Alerts ---------------------------------------------------------------------------------------


def _raise_alerts(run: RiskRun, checks: Sequence[LimitCheck]) -> list[Alert]:
    """An alert per check at warning or breach, unless the limit already has an open
    (unacknowledged) alert at that level or above: a breach that persists through the day's
    runs is one alert until someone acknowledges it; an escalation is a new one."""
    flagged = [c for c in checks if c.status in (CheckStatus.WARNING, CheckStatus.BREACH)]
    if not flagged:
        return []
    open_levels: dict[int, int] = {}
    for limit_id, level in Alert.objects.filter(
        limit_id__in=[c.limit_id for c in flagged], acknowledged_at__isnull=True
    ).values_list("limit_id", "level"):
        open_levels[limit_id] = max(open_levels.get(limit_id, 0), _LEVEL_RANK[level])
    alerts = []
    for check in flagged:
        if open_levels.get(check.limit_id, 0) >= _LEVEL_RANK[check.status]:
            continue
        alerts.append(
            Alert(
                run=run,
                limit_check=check,
                limit_id=check.limit_id,
                desk_id=check.desk_id,
                level=check.status,
                value=check.value,
                amount=check.amount,
                utilisation=check.utilisation,
            )
        )
    if not alerts:
        return []
    alerts = Alert.objects.bulk_create(alerts)
    limits = Limit.objects.in_bulk([a.limit_id for a in alerts])
    desk_codes = dict(
        Desk.objects.filter(pk__in={a.desk_id for a in alerts}).values_list("pk", "code")
    )
    audit_append_many(
        [
            AuditRecord(
                actor=None,
                action="risk.alert_raised",
                obj=alert,
                payload={
                    "run": run.pk,
                    "limit": alert.limit_id,
                    "kind": limits[alert.limit_id].kind,
                    "desk": desk_codes.get(alert.desk_id),
                    "level": alert.level,
                    "value": alert.value,
                    "amount": alert.amount,
                    "utilisation": alert.utilisation,
                },
            )
            for alert in alerts
        ]
    )
    for alert in alerts:
        alert.limit = limits[alert.limit_id]
        _publish_alert(alert, desk_codes.get(alert.desk_id, ""))
    metrics.alerts_raised_on_commit(alert.level for alert in alerts)
    return alerts


def alert_live_context(alert: Alert, desk_code: str) -> dict[str, Any]:
    """The JSON an alert travels as (live/risk_alert.html renders it in each reader's
    language)."""
    limit = alert.limit
    return {
        "id": alert.pk,
        "run": alert.run_id,
        "level": alert.level,
        "desk": desk_code,
        "kind": limit.kind,
        "book": limit.book.code if limit.book_id else "",
        "value": str(alert.value),
        "amount": str(alert.amount),
        "percent": str((alert.utilisation * 100).quantize(Decimal("0.1"))),
        "created_at": alert.created_at.isoformat(),
        "created_text": alert.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "acknowledged_by": alert.acknowledged_by.get_username() if alert.acknowledged_by else "",
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else "",
        "acknowledged_text": (
            alert.acknowledged_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            if alert.acknowledged_at
            else ""
        ),
    }


def _firm_risk_managers_off_desk(desk_id: int) -> list[int]:
    """Active risk managers with the firm view (as `sees_firm`) who are not on the desk."""
    return list(
        User.objects.with_perm(
            "risk.view_firm_risk", backend="django.contrib.auth.backends.ModelBackend"
        )
        .filter(groups__name=Role.RISK_MANAGER, is_active=True)
        .exclude(desks__pk=desk_id)
        .values_list("pk", flat=True)
        .distinct()
    )


def _publish_alert(alert: Alert, desk_code: str, *, changed: bool = False) -> None:
    """To the desk's group and to the firm risk managers not on the desk (by their own group),
    after the commit: a risk manager of other desks only is not told of this desk's breach."""
    context = {"alert": alert_live_context(alert, desk_code), "changed": changed}
    publish_after_commit(desk_group(alert.desk_id), "live/risk_alert.html", context)
    for user_id in _firm_risk_managers_off_desk(alert.desk_id):
        publish_after_commit(user_group(user_id), "live/risk_alert.html", context)


def alert_acknowledge(*, user: User, alert: Alert, note: str = "") -> Alert:
    """A risk manager of the alert's desk acknowledges it, once (who and when are kept)."""
    _require_risk_manager(user)
    _require_desk(user, alert.desk)
    now = timezone.now()
    with transaction.atomic():
        # One conditional UPDATE: of two people acknowledging at once, one wins.
        updated = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_by=user, acknowledged_at=now, note=note[:500]
        )
        if not updated:
            raise ValidationError(_("This alert was already acknowledged."))
        alert.refresh_from_db()
        audit_append(
            actor=user,
            action="risk.alert_acknowledged",
            obj=alert,
            payload={"limit": alert.limit_id, "level": alert.level, "note": note[:500]},
        )
        _publish_alert(alert, alert.desk.code, changed=True)
    return alert


# --- Limits (maker-checker) ---------------------------------------------------------------------


def _amount(value: Any, name: str, errors: dict[str, list[str]]) -> Decimal | None:
    try:
        amount = parse_decimal(value)  # plain digits only: not "１０" or "1_000"
    except (InvalidOperation, TypeError, ValueError):
        errors.setdefault(name, []).append(_("Enter a number."))
        return None
    if not amount.is_finite() or amount <= 0:
        errors.setdefault(name, []).append(_("Enter an amount greater than zero."))
        return None
    if amount.as_tuple().exponent < -6 or amount >= Decimal("1e18"):  # type: ignore[operator]
        errors.setdefault(name, []).append(_("Too many digits."))
        return None
    return amount


def _warning(value: Any, errors: dict[str, list[str]]) -> Decimal | None:
    if value in (None, ""):
        return Decimal("0.8")
    try:
        level = parse_decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        errors.setdefault("warning_level", []).append(_("Enter a number."))
        return None
    if not level.is_finite() or not 0 < level <= 1:
        errors.setdefault("warning_level", []).append(
            _("The warning level is a fraction of the limit above 0 and at most 1 (0.8 for 80 %%).")
        )
        return None
    return level.quantize(Decimal("0.0001"))


def limit_propose(
    *,
    user: User,
    kind: str,
    desk: Desk,
    amount: Any,
    book: Book | None = None,
    market: Market | None = None,
    period_code: str = "",
    unit: Unit | None = None,
    method: str = "",
    confidence: Any = None,
    warning_level: Any = None,
    effective_from: datetime | None = None,
    reason: str = "",
) -> LimitVersion:
    """A new limit and its first version, pending a second risk manager's approval."""
    _require_risk_manager(user)
    _require_desk(user, desk)
    errors: dict[str, list[str]] = {}
    if kind not in LimitKind.values:
        errors["kind"] = [_("Choose a kind of limit.")]
    if book is not None and book.desk_id != desk.pk:
        errors["book"] = [_("The book is not one of the desk's.")]
    conf: Decimal | None = None
    if kind == LimitKind.VAR:
        if method not in ("historical", "parametric", "monte_carlo"):
            errors["method"] = [_("Choose the VaR method the limit applies to.")]
        try:
            conf = parse_decimal(confidence)
            if not conf.is_finite() or not 0 < conf < 1:
                raise InvalidOperation
        except (InvalidOperation, TypeError, ValueError):
            errors["confidence"] = [_("The confidence lies strictly between 0 and 1.")]
    else:
        method = ""
    if kind == LimitKind.VOLUME:
        if market is None:
            errors["market"] = [_("A volume limit names its market.")]
        if unit is None:
            errors["unit"] = [_("A volume limit names the unit it counts in.")]
        try:
            parse_period(period_code or "")
        except PeriodError:
            errors["period_code"] = [
                _("Enter a delivery period such as 2027-01, 2027-Q1 or CAL-2027.")
            ]
    else:
        market, period_code, unit = None, "", None
    checked = _amount(amount, "amount", errors)
    level = _warning(warning_level, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        limit = Limit.objects.create(
            kind=kind,
            desk=desk,
            book=book,
            market=market,
            period_code=period_code,
            unit=unit,
            method=method,
            confidence=conf,
            created_by=user,
        )
        version = _new_version(
            user=user,
            limit=limit,
            number=1,
            amount=checked,  # type: ignore[arg-type]
            warning_level=level,  # type: ignore[arg-type]
            effective_from=effective_from,
            active=True,
            reason=reason,
        )
    return version


def _new_version(
    *,
    user: User,
    limit: Limit,
    number: int,
    amount: Decimal,
    warning_level: Decimal,
    effective_from: datetime | None,
    active: bool,
    reason: str,
) -> LimitVersion:
    version = LimitVersion.objects.create(
        limit=limit,
        version=number,
        amount=amount,
        currency=REPORTING_CURRENCY if limit.kind != LimitKind.VOLUME else "",
        warning_level=warning_level,
        active=active,
        effective_from=effective_from or timezone.now(),
        reason=reason[:500],
        requested_by=user,
    )
    audit_append(
        actor=user,
        action="risk.limit_proposed",
        obj=version,
        payload={
            "limit": limit.pk,
            "version": number,
            "kind": limit.kind,
            "desk": limit.desk.code,
            "book": limit.book.code if limit.book else None,
            "amount": amount,
            "warning_level": warning_level,
            "active": active,
            "effective_from": version.effective_from,
            "reason": reason[:500],
        },
    )
    return version


def limit_change_propose(
    *,
    user: User,
    limit: Limit,
    amount: Any,
    warning_level: Any = None,
    effective_from: datetime | None = None,
    active: bool = True,
    reason: str = "",
) -> LimitVersion:
    """A new version of `limit` (a changed amount, warning level or end), pending approval."""
    _require_risk_manager(user)
    _require_desk(user, limit.desk)
    errors: dict[str, list[str]] = {}
    checked = _amount(amount, "amount", errors)
    level = _warning(warning_level, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # The limit's row lock orders concurrent proposals: each gets the next number.
        Limit.objects.select_for_update().get(pk=limit.pk)
        latest = LimitVersion.objects.filter(limit=limit).aggregate(n=Max("version"))["n"] or 0
        return _new_version(
            user=user,
            limit=limit,
            number=latest + 1,
            amount=checked,  # type: ignore[arg-type]
            warning_level=level,  # type: ignore[arg-type]
            effective_from=effective_from,
            active=active,
            reason=reason,
        )


def _decide(*, user: User, version: LimitVersion, status: str, note: str) -> LimitVersion:
    _require_risk_manager(user)
    _require_desk(user, version.limit.desk)
    if version.requested_by_id == user.pk:
        raise PermissionDenied(
            _("You cannot approve or reject your own request: a second person must.")
        )
    now = timezone.now()
    with transaction.atomic():
        # Lock the version: of two people deciding at once, the second finds it decided.
        locked = LimitVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != VersionStatus.PENDING:
            raise ValidationError(_("This version was already decided."))
        locked.status = status
        locked.decided_by = user
        locked.decided_at = now
        locked.decision_note = note[:500]
        if status == VersionStatus.APPROVED and locked.effective_from < now:
            # A limit never changes before it was approved: no retroactive breach or relief.
            locked.effective_from = now
        locked.save(
            update_fields=["status", "decided_by", "decided_at", "decision_note", "effective_from"]
        )
        audit_append(
            actor=user,
            action=f"risk.limit_{status}",
            obj=locked,
            payload={
                "limit": locked.limit_id,
                "version": locked.version,
                "requested_by": locked.requested_by_id,
                "effective_from": locked.effective_from,
                "note": note[:500],
            },
        )
    return locked


def limit_version_approve(*, user: User, version: LimitVersion, note: str = "") -> LimitVersion:
    """Approve a pending version: it is in force from its effective time (not before now).
    The requester can never approve their own (PermissionDenied; the database refuses too)."""
    return _decide(user=user, version=version, status=VersionStatus.APPROVED, note=note)


def limit_version_reject(*, user: User, version: LimitVersion, note: str = "") -> LimitVersion:
    return _decide(user=user, version=version, status=VersionStatus.REJECTED, note=note)
