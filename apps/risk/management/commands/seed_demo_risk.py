"""Run the firm's end-of-day risk run once over the demo portfolio, so that `make run` opens
the risk dashboard with VaR, contributors, stress and credit figures in it."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.risk.models import RiskRun, RunKind
from apps.risk.services import risk_run_scheduled


class Command(BaseCommand):
    help = (
        "Start the end-of-day risk run of every desk (performed at once without a broker). "
        "Needs the demo trades and market data first (seed_demo_trades, seed_market_data)."
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
        run = risk_run_scheduled(kind=RunKind.END_OF_DAY)
        run.refresh_from_db()
        self.stdout.write(f"End-of-day risk run #{run.pk}: {run.status}.")
        if run.error:
            self.stdout.write(f"  {run.error}")
