"""`seed_demo_risk`: `make run`'s end-of-day risk run over the demo portfolio."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from apps.risk.models import RiskFigure, RiskRun, RunKind, RunStatus
from tests.risk.test_support import (
    book,
    business_days,
    curve_history,
    fx_and_rates,
    seeded,  # noqa: F401 - a fixture
)

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
    assert output == f"End-of-day risk run #{run.pk}: succeeded.\n"
    assert RiskFigure.objects.filter(run=run, method="historical", label="total").exists()

    assert _seed("--if-empty") == "An end-of-day risk run is stored already: nothing to do.\n"
    assert RiskRun.objects.filter(kind=RunKind.END_OF_DAY).count() == 1


def test_seed_demo_risk_refuses_with_debug_off(portfolio):
    with pytest.raises(CommandError, match="DEBUG on only"):
        _seed()
    assert not RiskRun.objects.exists()
