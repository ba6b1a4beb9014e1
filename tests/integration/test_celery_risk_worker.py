"""The end-of-day risk run on a real `celery worker -Q risk` (a subprocess) through the local
broker, on PostgreSQL: beat's task travels to the worker, which queues the run and performs it
(a second task through the broker), and the figures it stores are the ones computed by hand."""

import time
from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command

from apps.risk.models import RiskFigure, RiskRun, RunKind, RunStatus
from apps.risk.tasks import risk_run_end_of_day
from apps.trading.models import TradeVersion
from qenergyz.celery import app
from tests.integration.workers import Worker, broker_url, celery_worker_process
from tests.risk.test_support import EUR_USD, book, business_days, curve_history, fx_and_rates

RUN_SECONDS = 180
DAYS = 260  # the end-of-day run's 250-day window and a few days more


@pytest.fixture
def risk_worker(transactional_db) -> Iterator[Worker]:
    # BLAS single-threaded, as a risk worker runs (docs/design-notes.md).
    with celery_worker_process("risk", OPENBLAS_NUM_THREADS="1") as worker:
        yield worker


def test_end_of_day_risk_run_executes_on_a_real_risk_worker(risk_worker, trader):
    call_command("seed_reference_data", verbosity=0)
    days = business_days(DAYS)
    rng = np.random.default_rng(17)
    levels = [float(f"{x:.3f}") for x in 100 * np.exp(np.cumsum(rng.normal(0, 0.02, DAYS)))]
    curve_history("eex-de-power", days, lambda i, k: f"{levels[i] + k:.3f}")
    fx_and_rates(days)
    trade = book(trader)  # 10 MW base bought for the month after next (M2), EUR
    quantity = float(TradeVersion.objects.get(trade=trade).total_quantity)
    risk_worker.wait_until_ready()

    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # the test settings have no broker: send through it
    try:
        with app.connection_for_write(broker_url()) as broker:
            risk_run_end_of_day.apply_async(connection=broker)
    finally:
        app.conf.task_always_eager = was_eager

    deadline = time.monotonic() + RUN_SECONDS
    run = None
    while time.monotonic() < deadline and risk_worker.process.poll() is None:
        run = RiskRun.objects.filter(kind=RunKind.END_OF_DAY).first()
        if run is not None and run.finished_at is not None:
            break
        time.sleep(0.5)
    # The run is stored before the worker logs the task's result: wait for that line too.
    expected = f"'run': {run.pk}, 'status': '{run.status}', 'kind': 'eod'" if run else None
    while expected and time.monotonic() < deadline and expected not in risk_worker.output():
        time.sleep(0.2)
    output = risk_worker.output()
    assert run is not None, output
    assert run.finished_at is not None, output
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), (run.error, run.problems)
    # Both tasks ran in the worker: beat's task there queued the run, and the run's own task
    # came back through the broker to the same queue.
    assert "Task apps.risk.tasks.risk_run_end_of_day[" in output
    assert "Task apps.risk.tasks.risk_run_execute[" in output
    assert expected in output

    # Historical VaR at 99 % over 250 days: k = ⌈250 × 0.01⌉ = 3, the third worst day of
    # exposure × the M2 returns (FX constant, rates zero).
    m2 = np.array([level + 2 for level in levels])
    returns = m2[1:] / m2[:-1] - 1
    exposure = quantity * m2[-1] * float(EUR_USD)
    third_worst = np.sort(exposure * returns[-250:])[2]
    figure = RiskFigure.objects.get(
        run=run, desk=None, method="historical", confidence=Decimal("0.99"), label="total"
    )
    assert figure.var == Decimal(repr(float(-third_worst))).quantize(Decimal("0.01"))
    assert run.trade_count == 1
