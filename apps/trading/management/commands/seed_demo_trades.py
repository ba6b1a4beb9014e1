"""Book a small demo portfolio through the booking service, so that `make run` opens on a
blotter, positions and a P&L with something in them."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.accounts.models import User
from apps.trading.models import CurveSnapshot, Trade
from apps.trading.pnl import pnl_close
from apps.trading.services import TradeTerms, trade_book_many

COUNTERPARTY = "GULFSTAR"  # KYC-approved, USD credit line: fits every demo deal
# trader: [(book, market, deal type, side, quantity per day, price in USD, period)]
DEMO_TRADES = {
    "demo-trader": [
        ("GUS-FLOW", "henry-hub", "physical_fixed", "buy", 10000, "3.10", "2027-01"),
        ("GUS-FLOW", "henry-hub", "swap", "sell", 5000, "3.35", "2027-02"),
        ("GUS-FLOW", "henry-hub", "future", "buy", 2500, "3.05", "2027-Q1"),
        ("GUS-HEDGE", "henry-hub", "swap", "sell", 10000, "3.40", "2027-Q2"),
        ("GUS-HEDGE", "henry-hub", "physical_fixed", "buy", 7500, "3.20", "CAL-2027"),
    ],
    "demo-trader-me": [
        ("CME-PHYS", "ice-brent", "physical_fixed", "buy", 1000, "68.50", "2027-01"),
        ("CME-PHYS", "dubai-crude", "physical_fixed", "sell", 500, "71.00", "2027-02"),
        ("CME-PAPER", "ice-brent", "swap", "sell", 2000, "70.25", "2027-Q1"),
        ("CME-PAPER", "nymex-wti", "future", "buy", 1000, "64.80", "2027-03"),
    ],
}


class Command(BaseCommand):
    help = (
        "Book a demo portfolio (gas and crude deals of the demo traders) through the booking "
        "service, with every pre-trade check, valued on the latest demo curve; then close "
        "today's P&L. Needs seed_demo, seed_reference_data and seed_market_data first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing if any trade exists already."
        )

    def handle(self, *args: Any, if_empty: bool, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo_trades books demo trades; it runs with DEBUG on only.")
        if if_empty and Trade.objects.exists():
            self.stdout.write("Trades exist already; nothing to do (--if-empty).")
            return
        if not CurveSnapshot.objects.exists():
            self.stderr.write("No curves (run seed_market_data first); no demo trades booked.")
            return
        now = timezone.now().replace(microsecond=0)
        booked = 0
        by_trader: dict[str, list[TradeTerms]] = {}
        for username, deals in DEMO_TRADES.items():
            for n, (book, market, deal, side, quantity, price, period) in enumerate(deals):
                executed = now - timedelta(minutes=5 * (len(deals) - n))
                by_trader.setdefault(username, []).append(
                    TradeTerms(
                        book=book,
                        counterparty=COUNTERPARTY,
                        deal_type=deal,
                        side=side,
                        market=market,
                        quantity=Decimal(quantity),
                        price=Decimal(price),
                        currency="USD",
                        period=period,
                        trade_date=executed.date(),
                        executed_at=executed,
                    )
                )
        for username, terms in by_trader.items():
            user = User.objects.filter(username=username).first()
            if user is None:
                self.stderr.write(f"user {username} is missing (run seed_demo); skipped")
                continue
            for result in trade_book_many(user=user, terms_list=terms):
                if result.trade is not None:
                    booked += 1
                else:
                    self.stderr.write(f"not booked ({result.status}): {result.errors}")
        rows = pnl_close(on=now.date())
        self.stdout.write(
            f"{booked} demo trades booked; P&L of {now.date()} closed for {len(rows)} books."
        )
