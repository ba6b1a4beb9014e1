"""The scheduled risk runs: the beat rows migration 0003 creates, what beat makes of them, the
queue the tasks travel on, and what each task queues when it fires (eager, in-process)."""

import pytest
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from apps.risk.models import RiskRun, RunKind, RunStatus
from apps.risk.parameters import FULL
from apps.risk.tasks import risk_run_end_of_day, risk_run_intraday
from qenergyz.celery import app

pytestmark = pytest.mark.django_db

INTRADAY = "apps.risk.tasks.risk_run_intraday"
END_OF_DAY = "apps.risk.tasks.risk_run_end_of_day"


def test_schedule_migration_creates_intraday_and_end_of_day_runs_on_the_risk_queue():
    tasks = {
        t.task: t
        for t in PeriodicTask.objects.select_related("crontab").filter(
            task__startswith="apps.risk."
        )
    }

    assert set(tasks) == {INTRADAY, END_OF_DAY}
    for task in tasks.values():
        assert (task.enabled, task.queue, task.one_off) == (True, "risk", False)
        assert (task.args, task.kwargs) == ("[]", "{}")
        crontab = task.crontab
        assert (crontab.day_of_week, crontab.day_of_month, crontab.month_of_year) == (
            "1-5", "*", "*",
        )  # fmt: skip
        assert str(crontab.timezone) == "UTC"
    # Intraday: five past every hour from 07:05 to 21:05 UTC; end of day at 23:00, after the
    # P&L close at 22:30 so that the backtest has the day's P&L.
    intraday, end_of_day = tasks[INTRADAY].crontab, tasks[END_OF_DAY].crontab
    assert (intraday.minute, intraday.hour) == ("5", "7-21")
    assert (end_of_day.minute, end_of_day.hour) == ("0", "23")
    close = PeriodicTask.objects.select_related("crontab").get(
        task="apps.trading.tasks.pnl_close_day"
    )
    assert (int(close.crontab.hour), int(close.crontab.minute)) < (23, 0)


def test_schedule_beat_reads_the_rows_as_weekday_crontabs_sent_to_the_risk_queue():
    entries = {
        t.task: ModelEntry(t, app=app)
        for t in PeriodicTask.objects.filter(task__in=[INTRADAY, END_OF_DAY])
    }

    intraday, end_of_day = entries[INTRADAY], entries[END_OF_DAY]
    assert intraday.options["queue"] == "risk"
    assert end_of_day.options["queue"] == "risk"
    assert intraday.schedule.minute == {5}
    assert intraday.schedule.hour == set(range(7, 22))  # 15 runs a day
    assert end_of_day.schedule.hour == {23}
    assert intraday.schedule.day_of_week == {1, 2, 3, 4, 5}  # Monday to Friday
    assert end_of_day.schedule.day_of_week == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("name", [INTRADAY, END_OF_DAY])
def test_schedule_tasks_are_routed_to_the_risk_queue_when_sent_by_name(name):
    # A task sent without the beat row's queue (the button, a booking) goes there too.
    assert name in app.tasks
    assert app.amqp.router.route({}, name)["queue"].name == "risk"


@pytest.mark.parametrize(
    ("task", "kind"),
    [(risk_run_intraday, RunKind.INTRADAY), (risk_run_end_of_day, RunKind.END_OF_DAY)],
)
def test_schedule_task_queues_a_full_run_of_every_desk(
    task, kind, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        summary = task.delay().get()

    run = RiskRun.objects.get()
    assert summary["run"] == run.pk
    assert (run.kind, run.desk, run.started_by) == (kind, None, None)
    assert run.parameters == FULL.as_json()  # every method, stress, credit and backtests
    # The task queues the run and returns; the run executes after the commit (here eagerly):
    # nothing to measure (no curves at all), so it ends failed with its reason.
    assert summary["status"] == RunStatus.QUEUED
    assert (run.status, run.error) == (RunStatus.FAILED, "no_curves")
