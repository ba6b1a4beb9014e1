"""The demo's risk: limits in force and a history of end-of-day runs, so that `make run` opens
the risk dashboard with VaR (and its chart), contributors, stress, credit figures, a backtest
and limit use in it.

- Limits are proposed by demo-risk and approved by demo-risk-2 through the four-eyes services
  (LIMITS); one more proposal (PENDING_LIMIT) is left waiting for a second risk manager.
- An end-of-day run of the firm for each business day since the demo book was back-loaded
  (seed_demo_trades), at most HISTORY_RUNS, measuring historical and parametric VaR only
  (HISTORY_PARAMETERS: the VaR chart and the backtest read historical VaR; stress, credit and
  Monte Carlo would add minutes to the first `make run` for figures nobody looks back at).
- Then today's end-of-day run with every figure (the default parameters), which backtests the
  closed P&L days against the history's forecasts.

Runs are performed at once (no broker in `make run`). A run that does not succeed is reported.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Min
from django.utils import timezone

from apps.accounts.models import Desk, User
from apps.risk.models import Limit, LimitKind, RiskRun, RunKind, RunStatus
from apps.risk.services import (
    limit_propose,
    limit_version_approve,
    risk_run_request,
    risk_run_scheduled,
)
from apps.trading.models import Book, TradeVersion

HISTORY_RUNS = 20
HISTORY_PARAMETERS = {
    "methods": ["historical", "parametric"],
    "stress": False,
    "credit": False,
    "backtest": False,
}
PROPOSER, APPROVER = "demo-risk", "demo-risk-2"


@dataclass(frozen=True)
class DemoLimit:
    kind: str
    desk: str
    amount: str  # in the reporting currency (USD)
    book: str = ""
    method: str = ""
    confidence: str = ""
    warning_level: str = "0.8"


# 99 % one-day historical VaR per desk, and a stop-loss on each desk's flow book; set above the
# demo book's figures, so that the dashboard shows their use rather than breaches.
LIMITS = (
    DemoLimit(LimitKind.VAR, "gas-us", "2500000", method="historical", confidence="0.99"),
    DemoLimit(LimitKind.VAR, "crude-me", "2000000", method="historical", confidence="0.99"),
    DemoLimit(LimitKind.VAR, "power-eu", "3000000", method="historical", confidence="0.99"),
    DemoLimit(LimitKind.STOP_LOSS, "gas-us", "1500000", book="GUS-FLOW"),
    DemoLimit(LimitKind.STOP_LOSS, "crude-me", "1500000", book="CME-PHYS"),
)
PENDING_LIMIT = DemoLimit(LimitKind.STOP_LOSS, "power-eu", "2000000", book="PEU-FLOW")


def history_days(first_booked: date, today: date, count: int = HISTORY_RUNS) -> list[date]:
    """The last `count` business days from `first_booked` (its own day too) to before today."""
    days = []
    day = today - timedelta(days=1)
    while day >= first_booked and len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


class Command(BaseCommand):
    help = (
        "Seed the demo's risk: limits through four eyes (proposed by demo-risk, approved by "
        "demo-risk-2, one left pending), end-of-day runs of the firm for the business days since "
        "the demo book was booked (historical and parametric VaR), then today's full end-of-day "
        "run (performed at once without a broker). Needs seed_demo and seed_demo_trades first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when an end-of-day run is already stored.",
        )

    def handle(self, *args: Any, if_empty: bool, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo_risk is for the demo; it runs with DEBUG on only.")
        if if_empty and RiskRun.objects.filter(kind=RunKind.END_OF_DAY).exists():
            self.stdout.write("An end-of-day risk run is stored already: nothing to do.")
            return
        self._limits()
        first_booked = TradeVersion.objects.aggregate(at=Min("created_at"))["at"]
        today = timezone.now().date()
        days = history_days(first_booked.date(), today) if first_booked else []
        for day in days:
            run = risk_run_request(
                user=None,
                desk=None,
                kind=RunKind.END_OF_DAY,
                business_date=day,
                parameters=HISTORY_PARAMETERS,
            )
            self._report(run, verbose=False)
        if days:
            self.stdout.write(f"End-of-day risk runs of {days[0]} to {days[-1]}: {len(days)}.")
        self._report(risk_run_scheduled(kind=RunKind.END_OF_DAY), verbose=True)

    def _report(self, run: RiskRun, *, verbose: bool) -> None:
        run.refresh_from_db()
        if verbose or run.status != RunStatus.SUCCEEDED:
            self.stdout.write(
                f"End-of-day risk run #{run.pk} of {run.business_date}: {run.status}."
            )
        if run.error:
            self.stdout.write(f"  {run.error}")

    def _limits(self) -> None:
        if Limit.objects.exists():
            self.stdout.write("Limits exist already: none proposed.")
            return
        users = User.objects.in_bulk([PROPOSER, APPROVER], field_name="username")
        if len(users) < 2:
            self.stderr.write(f"{PROPOSER} or {APPROVER} is missing (run seed_demo): no limits.")
            return
        desks = Desk.objects.in_bulk(field_name="code")
        books = Book.objects.in_bulk(field_name="code")
        for spec in (*LIMITS, PENDING_LIMIT):
            version = limit_propose(
                user=users[PROPOSER],
                kind=spec.kind,
                desk=desks[spec.desk],
                book=books[spec.book] if spec.book else None,
                amount=Decimal(spec.amount),
                method=spec.method,
                confidence=Decimal(spec.confidence) if spec.confidence else None,
                warning_level=Decimal(spec.warning_level),
                reason="Demo limit",
            )
            if spec is not PENDING_LIMIT:
                limit_version_approve(user=users[APPROVER], version=version, note="Demo limit")
        self.stdout.write(
            f"{len(LIMITS)} limits proposed by {PROPOSER} and approved by {APPROVER}; "
            f"one left pending."
        )
