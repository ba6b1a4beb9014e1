"""`seed_demo_risk`: `make run`'s limits and end-of-day risk runs over the demo portfolio."""

from collections import Counter
from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from apps.risk.models import (
    BacktestResult,
    LimitVersion,
    RiskFigure,
    RiskRun,
    RunKind,
    RunStatus,
    VersionStatus,
)
from apps.trading.models import Trade
from tests.risk.test_support import (
    book,
    business_days,
    curve_history,
    fx_and_rates,
    seeded,  # noqa: F401 - a fixture
)
from tests.trading.test_seed_demo_trades import demo_data_dir, seed_demo_portfolio

pytestmark = pytest.mark.usefixtures("seeded")


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo_risk", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def portfolio(trader) -> None:
    days = business_days(260)
    curve_history("eex-de-power", days, lambda i, k: f"{80 + (i % 7) - 3 + k:.2f}")
    fx_and_rates(days)
    book(trader)


# Committed for real: the run is enqueued after its commit and performed at once (no broker).
@pytest.mark.django_db(transaction=True)
@override_settings(DEBUG=True)
def test_seed_demo_risk_stores_one_end_of_day_run_and_reruns_add_nothing(portfolio):
    output = _seed("--if-empty")

    run = RiskRun.objects.get(kind=RunKind.END_OF_DAY)  # beside the booking's quick re-run
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.desk is None  # the firm: every desk
    # No history: the book was booked today. No limits: the demo risk managers are missing.
    assert output == f"End-of-day risk run #{run.pk} of {run.business_date}: succeeded.\n"
    assert RiskFigure.objects.filter(run=run, method="historical", label="total").exists()

    assert _seed("--if-empty") == "An end-of-day risk run is stored already: nothing to do.\n"
    assert RiskRun.objects.filter(kind=RunKind.END_OF_DAY).count() == 1


def test_seed_demo_risk_refuses_with_debug_off(portfolio):
    with pytest.raises(CommandError, match="DEBUG on only"):
        _seed()
    assert not RiskRun.objects.exists()


# The whole `make run` seeding, committed for real (the runs are performed after each commit).
@pytest.mark.django_db(transaction=True)
@override_settings(DEBUG=True)
def test_seed_demo_risk_over_the_demo_seeds_limits_and_a_history_of_runs(tmp_path):
    # A year and a half of EIA days: the runs need 250 daily returns before their day.
    seed_demo_portfolio(demo_data_dir(tmp_path, since=date(2025, 6, 1)))
    output = _seed("--if-empty")

    # Limits: five in force, each proposed by demo-risk and approved by demo-risk-2, and one
    # proposal waiting for a second risk manager.
    versions = list(
        LimitVersion.objects.select_related("limit__desk", "requested_by", "decided_by")
    )
    assert sorted(
        (
            v.limit.kind,
            v.limit.desk.code,
            v.amount,
            v.status,
            v.requested_by.username,
            v.decided_by.username if v.decided_by else None,
        )
        for v in versions
    ) == [
        ("stop_loss", "crude-me", 1500000, VersionStatus.APPROVED, "demo-risk", "demo-risk-2"),
        ("stop_loss", "gas-us", 1500000, VersionStatus.APPROVED, "demo-risk", "demo-risk-2"),
        ("stop_loss", "power-eu", 2000000, VersionStatus.PENDING, "demo-risk", None),
        ("var", "crude-me", 2000000, VersionStatus.APPROVED, "demo-risk", "demo-risk-2"),
        ("var", "gas-us", 2500000, VersionStatus.APPROVED, "demo-risk", "demo-risk-2"),
        ("var", "power-eu", 3000000, VersionStatus.APPROVED, "demo-risk", "demo-risk-2"),
    ]
    # Runs: 20 business days of history and today's, every one succeeded, none failed at all.
    runs = list(RiskRun.objects.filter(kind=RunKind.END_OF_DAY).order_by("business_date"))
    assert len(runs) == 21
    assert {r.status for r in runs} == {RunStatus.SUCCEEDED}
    assert not RiskRun.objects.filter(status=RunStatus.FAILED).exists()
    assert len({r.business_date for r in runs}) == 21
    assert runs[-1].business_date == timezone.now().date()
    totals = Counter(
        RiskFigure.objects.filter(
            run__in=runs, label="total", method="historical", confidence="0.99", var__gt=0
        ).values_list("run_id", flat=True)
    )
    assert sorted(totals) == sorted(r.pk for r in runs)
    # Today's run backtests each desk on the 20 closed days against the history's forecasts.
    backtests = BacktestResult.objects.filter(run=runs[-1], book=None)
    assert sorted(backtests.values_list("desk__code", "observations")) == [
        ("crude-me", 20),
        ("gas-us", 20),
        ("power-eu", 20),
    ]
    assert f"End-of-day risk runs of {runs[0].business_date} to {runs[-2].business_date}: 20." in (
        output
    )
    assert Trade.objects.count() == 15

    assert _seed("--if-empty") == "An end-of-day risk run is stored already: nothing to do.\n"
    assert RiskRun.objects.filter(kind=RunKind.END_OF_DAY).count() == 21
