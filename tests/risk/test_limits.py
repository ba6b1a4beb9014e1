"""Limits: maker-checker versions in force from their effective time, checks by every run,
alerts raised (once per escalation), audited and acknowledged by a risk manager."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Role
from apps.compliance.models import AuditEntry
from apps.risk.inputs import versions_in_force
from apps.risk.models import (
    Alert,
    CheckStatus,
    Limit,
    LimitCheck,
    LimitKind,
    LimitVersion,
    RiskFigure,
    RunKind,
    VersionStatus,
)
from apps.risk.services import (
    alert_acknowledge,
    limit_change_propose,
    limit_propose,
    limit_version_approve,
    limit_version_reject,
    risk_run_request,
)
from apps.trading.models import Book, BookPnl, Market, Position, TradeVersion, Unit
from tests.factories import UserFactory
from tests.risk.test_support import (
    book,
    business_days,
    curve_history,
    fx_and_rates,
    month_after,
    seeded,  # noqa: F401 - a fixture
)

pytestmark = pytest.mark.usefixtures("seeded")

QUICK = {"window": 5, "confidences": [0.95, 0.99], "covariance": "sample", "paths": 1000}
M2 = ["100", "102", "99", "101", "98", "100"]


@pytest.fixture
def market(seeded):  # noqa: F811 - the fixture above
    days = business_days(6)
    curve_history("eex-de-power", days, lambda i, k: Decimal(M2[i]) + (k - 2))
    fx_and_rates(days)
    return days


@pytest.fixture
def checker(desk_a, desk_b):
    """A second risk manager of both desks: the checker of the first one's proposals."""
    return UserFactory(username="risk2", roles=[Role.RISK_MANAGER], desks=[desk_a, desk_b])


def _var_limit(maker, checker, desk, amount: str, **extra) -> Limit:
    version = limit_propose(
        user=maker,
        kind=LimitKind.VAR,
        desk=desk,
        method="historical",
        confidence="0.95",
        amount=amount,
        **extra,
    )
    limit_version_approve(user=checker, version=version)
    return version.limit


def _run(user, capture, desk=None, kind=RunKind.MANUAL, **parameters):
    with capture(execute=True):
        run = risk_run_request(user=user, desk=desk, kind=kind, parameters={**QUICK, **parameters})
    run.refresh_from_db()
    return run


# --- Maker-checker and effective time ---------------------------------------------------------


def test_requester_can_never_approve_own_limit(risk_manager, checker, desk_a):
    version = limit_propose(
        user=risk_manager,
        kind=LimitKind.VAR,
        desk=desk_a,
        method="historical",
        confidence="0.99",
        amount="1000000",
    )
    assert version.status == VersionStatus.PENDING
    with pytest.raises(PermissionDenied, match="your own request"):
        limit_version_approve(user=risk_manager, version=version)
    with pytest.raises(PermissionDenied):
        limit_version_reject(user=risk_manager, version=version)
    version.refresh_from_db()
    assert version.status == VersionStatus.PENDING
    assert versions_in_force(timezone.now(), [version.limit]) == {}

    approved = limit_version_approve(user=checker, version=version, note="ok")
    assert (approved.status, approved.decided_by) == (VersionStatus.APPROVED, checker)
    assert versions_in_force(timezone.now(), [version.limit]) == {version.limit_id: approved}
    with pytest.raises(ValidationError, match="already decided"):
        limit_version_reject(user=checker, version=version)
    actions = list(
        AuditEntry.objects.filter(object_type="risk.limitversion", object_id=str(version.pk))
        .order_by("seq")
        .values_list("action", "actor__username")
    )
    assert actions == [("risk.limit_proposed", "risk"), ("risk.limit_approved", "risk2")]


def test_database_refuses_a_self_approved_version(risk_manager, desk_a):
    version = limit_propose(
        user=risk_manager, kind=LimitKind.STOP_LOSS, desk=desk_a, amount="50000"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        LimitVersion.objects.filter(pk=version.pk).update(
            status=VersionStatus.APPROVED, decided_by=risk_manager, decided_at=timezone.now()
        )


def test_version_counts_from_its_effective_time_never_before_approval(
    risk_manager, checker, desk_a
):
    now = timezone.now()
    limit = _var_limit(risk_manager, checker, desk_a, "1000")
    first = versions_in_force(timezone.now(), [limit])[limit.pk]
    # A raise proposed to take effect tomorrow: today the first version holds.
    raised = limit_change_propose(
        user=risk_manager, limit=limit, amount="2000", effective_from=now + timedelta(days=1)
    )
    assert raised.version == 2
    limit_version_approve(user=checker, version=raised)
    assert versions_in_force(timezone.now(), [limit])[limit.pk] == first
    assert versions_in_force(now + timedelta(days=1, seconds=1), [limit])[limit.pk].pk == raised.pk
    # A version dated in the past takes effect at its approval, not retroactively.
    backdated = limit_change_propose(
        user=risk_manager, limit=limit, amount="3000", effective_from=now - timedelta(days=30)
    )
    approved = limit_version_approve(user=checker, version=backdated)
    assert approved.effective_from >= now
    assert versions_in_force(now - timedelta(days=1), [limit]) == {}
    # An approved version that ends the limit: nothing in force after it.
    ended = limit_change_propose(user=risk_manager, limit=limit, amount="1", active=False)
    limit_version_approve(user=checker, version=ended)
    assert versions_in_force(timezone.now() + timedelta(seconds=1), [limit]) == {}


def test_limit_proposals_are_checked(risk_manager, trader, desk_a, desk_b):
    with pytest.raises(ValidationError) as error:
        limit_propose(
            user=risk_manager,
            kind=LimitKind.VAR,
            desk=desk_a,
            method="astrology",
            confidence="1.5",
            amount="-3",
            warning_level="2",
        )
    assert set(error.value.message_dict) == {"method", "confidence", "amount", "warning_level"}
    with pytest.raises(ValidationError) as error:
        limit_propose(
            user=risk_manager,
            kind=LimitKind.VOLUME,
            desk=desk_a,
            market=Market.objects.get(code="ttf"),
            period_code="2027-13",
            amount="100",
        )
    assert set(error.value.message_dict) == {"period_code", "unit"}
    with pytest.raises(ValidationError) as error:
        limit_propose(
            user=risk_manager,
            kind=LimitKind.STOP_LOSS,
            desk=desk_a,
            book=Book.objects.get(code="GUS-FLOW"),  # a gas-us book
            amount="100",
        )
    assert set(error.value.message_dict) == {"book"}
    with pytest.raises(PermissionDenied):
        limit_propose(user=trader, kind=LimitKind.STOP_LOSS, desk=desk_a, amount="100")
    outsider = UserFactory(username="risk_b", roles=[Role.RISK_MANAGER], desks=[desk_b])
    with pytest.raises(PermissionDenied):
        limit_propose(user=outsider, kind=LimitKind.STOP_LOSS, desk=desk_a, amount="100")
    assert not Limit.objects.exists()


# --- Checks and alerts --------------------------------------------------------------------------


def test_breach_raises_one_audited_alert_until_acknowledged(
    risk_manager, checker, trader, desk_a, market, django_capture_on_commit_callbacks
):
    book(trader)
    limit = _var_limit(risk_manager, checker, desk_a, "1000")  # far below the desk's VaR
    run = _run(risk_manager, django_capture_on_commit_callbacks)
    var = RiskFigure.objects.get(
        run=run, desk=desk_a, method="historical", confidence=Decimal("0.95"), label="total"
    ).var
    check = LimitCheck.objects.get(run=run, limit=limit)
    assert (check.value, check.amount, check.status) == (var, Decimal(1000), CheckStatus.BREACH)
    assert check.utilisation == (var / 1000).quantize(Decimal("0.000001"))
    alert = Alert.objects.get(limit=limit)
    assert (alert.level, alert.desk, alert.run, alert.value) == ("breach", desk_a, run, var)
    entry = AuditEntry.objects.get(action="risk.alert_raised")
    assert entry.object_id == str(alert.pk)
    assert entry.payload["level"] == "breach"
    assert entry.payload["desk"] == "power-eu"

    # The next run finds the same breach: no second alert while the first is open.
    again = _run(None, django_capture_on_commit_callbacks, desk=desk_a, kind=RunKind.INCREMENTAL)
    assert LimitCheck.objects.get(run=again, limit=limit).status == CheckStatus.BREACH
    assert Alert.objects.count() == 1

    with pytest.raises(PermissionDenied):
        alert_acknowledge(user=trader, alert=alert)
    done = alert_acknowledge(user=checker, alert=alert, note="desk is reducing")
    assert done.acknowledged_by == checker
    assert done.acknowledged_at is not None
    assert AuditEntry.objects.filter(action="risk.alert_acknowledged").get().actor == checker
    with pytest.raises(ValidationError, match="already acknowledged"):
        alert_acknowledge(user=risk_manager, alert=alert)
    # Once acknowledged, a breach that persists is raised again.
    _run(None, django_capture_on_commit_callbacks, desk=desk_a, kind=RunKind.INCREMENTAL)
    assert Alert.objects.count() == 2


def test_warning_level_and_escalation(
    risk_manager, checker, trader, desk_a, market, django_capture_on_commit_callbacks
):
    book(trader)
    first = _run(risk_manager, django_capture_on_commit_callbacks, methods=["historical"])
    var = RiskFigure.objects.get(
        run=first, desk=desk_a, method="historical", confidence=Decimal("0.95"), label="total"
    ).var
    # The VaR is 90 % of this limit: above the 80 % warning level.
    limit = _var_limit(risk_manager, checker, desk_a, str((var / Decimal("0.9")).quantize(1)))
    _run(risk_manager, django_capture_on_commit_callbacks, methods=["historical"])
    assert Alert.objects.get().level == "warning"
    # A lower limit: the warning escalates to a breach, a new alert.
    lower = limit_change_propose(user=risk_manager, limit=limit, amount=str(var / 2))
    limit_version_approve(user=checker, version=lower)
    _run(risk_manager, django_capture_on_commit_callbacks, methods=["historical"])
    assert list(Alert.objects.order_by("id").values_list("level", flat=True)) == [
        "warning",
        "breach",
    ]


def test_volume_limit_measures_net_quantity_over_the_period(
    risk_manager, checker, trader, desk_a, market, django_capture_on_commit_callbacks
):
    book(trader)
    book(trader, side="sell", quantity=Decimal("4"))
    position = Position.objects.get(book__code="PEU-FLOW")  # (10 − 4) MW over the month, in MWh
    version = limit_propose(
        user=risk_manager,
        kind=LimitKind.VOLUME,
        desk=desk_a,
        market=Market.objects.get(code="eex-de-power"),
        period_code=month_after(2),
        unit=Unit.objects.get(code="MWh"),
        amount=str(position.quantity * 2),
    )
    limit_version_approve(user=checker, version=version)
    run = _run(risk_manager, django_capture_on_commit_callbacks, methods=["parametric"])
    check = LimitCheck.objects.get(run=run)
    assert check.value == position.quantity
    assert (check.utilisation, check.status) == (Decimal("0.5"), CheckStatus.OK)
    assert not Alert.objects.exists()


def test_stop_loss_without_a_close_is_not_measured(
    risk_manager, checker, trader, desk_a, market, django_capture_on_commit_callbacks
):
    book(trader)
    version = limit_propose(user=risk_manager, kind=LimitKind.STOP_LOSS, desk=desk_a, amount="10")
    limit_version_approve(user=checker, version=version)
    run = _run(risk_manager, django_capture_on_commit_callbacks, methods=["parametric"])
    assert not LimitCheck.objects.filter(run=run).exists()
    assert {
        "scope": "power-eu",
        "code": "limit_unmeasured",
        "text": "",
        "limit": str(version.limit_id),
    } in run.problems


def test_stop_loss_breach_since_the_last_close(
    risk_manager, checker, trader, desk_a, market, django_capture_on_commit_callbacks
):
    """Daily P&L without today's close: the value now less the latest close (in dollars)."""
    trade = book(trader)
    yesterday = market[-2]
    zero = Decimal(0)
    BookPnl.objects.create(
        book=Book.objects.get(code="PEU-FLOW"),
        date=yesterday,
        prior_date=market[-3],
        currency="EUR",
        realised=zero,
        unrealised=Decimal("1000000.00"),
        daily=zero,
        daily_realised=zero,
        time_roll=zero,
        curve_moves=zero,
        fx=zero,
        new_trades=zero,
        amendments=zero,
        cancellations=zero,
        unexplained=zero,
        trade_count=1,
        computed_at=timezone.now(),
    )
    version = limit_propose(
        user=risk_manager, kind=LimitKind.STOP_LOSS, desk=desk_a, amount="10000"
    )
    limit_version_approve(user=checker, version=version)
    run = _run(risk_manager, django_capture_on_commit_callbacks, methods=["parametric"])
    quantity = TradeVersion.objects.get(trade=trade).total_quantity
    value_now = (quantity * (100 - Decimal("85.5")) * Decimal("1.1")).quantize(Decimal("0.01"))
    check = LimitCheck.objects.get(run=run)
    assert check.value == Decimal("1100000.00") - value_now
    assert check.status == CheckStatus.BREACH
    assert Alert.objects.get().level == "breach"
