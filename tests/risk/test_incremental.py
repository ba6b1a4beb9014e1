"""The quick re-run of a desk after a booking: the task the trading service names (it does not
import the risk app), what the run measures, and bookings in quick succession sharing a run."""

from decimal import Decimal

import pytest
from django.utils import timezone

from apps.risk.models import RiskFigure, RiskRun, RunKind, RunStatus
from apps.risk.services import risk_run_incremental, risk_run_perform
from apps.risk.tasks import risk_run_incremental as incremental_task
from tests.risk.test_support import (
    book,
    business_days,
    curve_history,
    fx_and_rates,
    seeded,  # noqa: F401 - a fixture
)

pytestmark = pytest.mark.usefixtures("seeded")

M2 = ["100", "102", "99", "101", "98", "100"]


@pytest.fixture
def market(seeded):  # noqa: F811 - the fixture above
    days = business_days(260)
    curve_history("eex-de-power", days, lambda i, k: Decimal(100 + (i * 7) % 11 - 5 + k))
    fx_and_rates(days)
    return days


def test_task_runs_the_desk_historical_and_parametric_only(
    trader, desk_a, market, django_capture_on_commit_callbacks
):
    book(trader)
    with django_capture_on_commit_callbacks(execute=True):
        incremental_task.delay(desk_a.pk)  # as the booking's hook enqueues it
    run = RiskRun.objects.get()
    assert (run.kind, run.desk, run.status, run.started_by) == (
        RunKind.INCREMENTAL,
        desk_a,
        RunStatus.SUCCEEDED,
        None,
    )
    assert set(RiskFigure.objects.filter(run=run).values_list("method", flat=True)) == {
        "historical",
        "parametric",
    }
    assert set(RiskFigure.objects.filter(run=run).values_list("desk", flat=True)) == {desk_a.pk}
    assert run.parameters["window"] == 250
    assert run.parameters["stress"] is False


def test_bookings_in_quick_succession_share_the_queued_run(trader, desk_a, market):
    book(trader)
    first = risk_run_incremental(desk=desk_a)  # queued: its task has not run yet
    assert risk_run_incremental(desk=desk_a) == first
    book(trader, quantity=Decimal("40"))  # booked while the run waits in the queue
    risk_run_perform(first.pk)
    first.refresh_from_db()
    assert first.status == RunStatus.SUCCEEDED
    assert first.trade_count == 2  # positions read when it started
    assert first.as_of >= first.requested_at
    assert first.as_of <= timezone.now()


def test_desk_without_market_data_fails_fast(trader, desk_a, django_capture_on_commit_callbacks):
    book(trader)
    with django_capture_on_commit_callbacks(execute=True):
        incremental_task.delay(desk_a.pk)
    run = RiskRun.objects.get()
    assert (run.status, run.error) == (RunStatus.FAILED, "no_curves")


def test_unknown_desk_is_logged_not_raised(db):
    assert incremental_task.delay(123456).get() == {"run": None}


def test_booking_enqueues_the_desks_quick_rerun(
    trader, desk_a, market, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        book(trader)  # the trading service's hook names the task after the commit
    run = RiskRun.objects.get()
    assert (run.kind, run.desk, run.status) == (RunKind.INCREMENTAL, desk_a, RunStatus.SUCCEEDED)
    assert run.trade_count == 1


def test_a_booking_that_rolls_back_enqueues_nothing(trader, market):
    book(trader)  # never committed (the test's transaction): no on_commit callback ran
    assert not RiskRun.objects.exists()
