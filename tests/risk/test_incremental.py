"""The quick re-run of a desk after a booking: the task the trading service names (it does not
import the risk app), what the run measures, and bookings in quick succession sharing a run."""

from decimal import Decimal

import pytest
from celery.signals import task_prerun
from django.db import transaction
from django.utils import timezone

from apps.risk.models import RiskFigure, RiskRun, RunKind, RunStatus
from apps.risk.services import risk_run_incremental, risk_run_perform
from apps.risk.tasks import risk_run_incremental as incremental_task
from apps.trading.models import Trade
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


class _Abort(Exception):
    pass


def _book_then_fail(trader) -> None:
    with transaction.atomic():
        book(trader)
        raise _Abort  # something later in the request fails: the booking is undone


@pytest.fixture
def tasks_run():
    """The names of the Celery tasks that ran (eagerly, in these tests): a task sent straight
    from inside the booking's transaction, not after its commit, would show here."""
    names: list[str] = []

    def record(sender=None, task=None, **kwargs) -> None:
        names.append(task.name)

    task_prerun.connect(record, weak=False)
    yield names
    task_prerun.disconnect(record)


def test_a_booking_that_rolls_back_enqueues_nothing(
    trader, market, django_capture_on_commit_callbacks, tasks_run
):
    # The callbacks run (execute=True) as if the request had committed, except those of a
    # block that rolled back: Django drops them with it.
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(_Abort):
        _book_then_fail(trader)
    assert callbacks == []
    assert tasks_run == []
    assert not Trade.objects.exists()
    assert not RiskRun.objects.exists()
    # The same booking, kept, does enqueue the desk's run: the check above can fail.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        book(trader)
    assert callbacks
    assert tasks_run[0] == "apps.risk.tasks.risk_run_incremental"
    assert RiskRun.objects.filter(kind=RunKind.INCREMENTAL).count() == 1
