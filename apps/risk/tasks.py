"""Celery tasks of the risk app, on the `risk` queue (CELERY_TASK_ROUTES sends apps.risk.*
there): thin, they take ids, call the domain and return a summary."""

import logging
from typing import Any

from celery import shared_task

from apps.accounts.models import Desk
from apps.risk import services
from apps.risk.models import RiskRun, RunKind

logger = logging.getLogger(__name__)


def _summary(run: RiskRun | None) -> dict[str, Any]:
    if run is None:
        return {"run": None}
    return {"run": run.pk, "status": run.status, "kind": run.kind}


@shared_task(name="apps.risk.tasks.risk_run_execute")
def risk_run_execute(run_id: int) -> dict[str, Any]:
    """Perform a queued run (the button, the API, the schedule and bookings all queue one)."""
    if not RiskRun.objects.filter(pk=run_id).exists():
        logger.warning("risk run %s is gone", run_id)
        return {"run": None}
    return _summary(services.risk_run_perform(run_id))


@shared_task(name="apps.risk.tasks.risk_run_incremental")
def risk_run_incremental(desk_id: int) -> dict[str, Any]:
    """The quick re-run of a desk that a booking enqueues (the trading service names this task
    without importing the risk app)."""
    desk = Desk.objects.filter(pk=desk_id).first()
    if desk is None:
        logger.warning("desk %s is gone; no incremental risk run", desk_id)
        return {"run": None}
    try:
        return _summary(services.risk_run_incremental(desk=desk))
    except Exception:
        # Eager (no broker), this runs after a booking's commit in the booking's request: a
        # risk failure is logged, never turned into a failed booking.
        logger.exception("incremental risk run of desk %s could not be queued", desk_id)
        return {"run": None}


@shared_task(name="apps.risk.tasks.risk_run_intraday")
def risk_run_intraday() -> dict[str, Any]:
    return _summary(services.risk_run_scheduled(kind=RunKind.INTRADAY))


@shared_task(name="apps.risk.tasks.risk_run_end_of_day")
def risk_run_end_of_day() -> dict[str, Any]:
    return _summary(services.risk_run_scheduled(kind=RunKind.END_OF_DAY))
