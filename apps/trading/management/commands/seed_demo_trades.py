"""Book the demo portfolio through the booking service (every pre-trade check), so that
`make run` opens on a blotter, positions and a P&L with a history, and trades waiting for a
second person's approval.

- First the demo's trading set-up (idempotent, done even when trades exist): each desk's
  four-eyes threshold (TRADING_POLICIES) and a default option volatility for every demo market
  (VOLATILITIES), so that options can be booked on any of them.
- Each desk's book (HISTORY) is back-loaded as booked HISTORY_DAYS business days before the
  last demo curve (`trade_book_many`'s `booked_at`), and the P&L is closed for every business
  day since: the P&L page and the risk backtest (seed_demo_risk) have a history to show.
- Today, each desk books one larger deal (LARGE) over its desk's four-eyes threshold
  (TRADING_POLICIES): it waits for approval (demo-risk, a risk manager of every desk, may
  approve it; its trader may not).
- Periods are relative to the trade date (M+1 is the next month, Q+1 the next quarter, CAL+1
  next year) and prices are the demo curve's of the trade date for the delivery's first month,
  shifted by a fixed spread: the deals stay near the market whenever the demo is seeded. The
  option's strike is that forward, its premium 6 % of it.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Max
from django.utils import timezone

from apps.accounts.models import Desk, User
from apps.trading.calendars import market_contract_expiry
from apps.trading.marketdata import curve_on, curve_price
from apps.trading.models import (
    CurveSnapshot,
    DeskTradingPolicy,
    Market,
    MarketVolatility,
    Trade,
)
from apps.trading.pnl import pnl_close
from apps.trading.services import TradeTerms, trade_book_many

PHYS = "physical_fixed"
HISTORY_DAYS = 20  # business days of back-loaded history before the last demo curve
OPTION_PREMIUM = Decimal("0.06")  # of the forward


# Four eyes per desk: a trade whose notional is over the threshold waits for a second person's
# approval. Set between the demo's ordinary deals and its larger ones (LARGE).
TRADING_POLICIES = {
    "power-eu": ("10000000.00", "EUR"),
    "gas-us": ("5000000.00", "USD"),
    "crude-me": ("10000000.00", "USD"),
}

# A default implied volatility per demo market (an option's delta is computed at booking):
# round figures of each commodity's usual range, not market data.
VOLATILITIES = {
    "eex-de-power": "0.45",
    "ttf": "0.55",
    "nbp": "0.55",
    "henry-hub": "0.60",
    "pjm-west": "0.50",
    "ice-brent": "0.32",
    "nymex-wti": "0.34",
    "dme-oman": "0.32",
    "dubai-crude": "0.32",
    "eua": "0.40",
}


def trading_setup() -> None:
    """The desks' four-eyes thresholds and the markets' option volatilities (idempotent)."""
    desks = Desk.objects.in_bulk(list(TRADING_POLICIES), field_name="code")
    for code, (threshold, currency) in TRADING_POLICIES.items():
        if code in desks:
            DeskTradingPolicy.objects.update_or_create(
                desk=desks[code],
                defaults={"approval_threshold": Decimal(threshold), "currency": currency},
            )
    markets = Market.objects.in_bulk(list(VOLATILITIES), field_name="code")
    for code, volatility in VOLATILITIES.items():
        if code in markets:
            MarketVolatility.objects.update_or_create(
                market=markets[code], defaults={"volatility": Decimal(volatility)}
            )


@dataclass(frozen=True)
class DemoDeal:
    book: str
    counterparty: str
    market: str
    deal_type: str
    side: str
    quantity: int  # per day; MW for power
    period: str  # M+n, Q+n or CAL+n from the trade date
    spread: str = "0"  # the price: the forward × (1 + spread)
    option_type: str = ""


HISTORY: dict[str, list[DemoDeal]] = {
    "demo-trader": [
        DemoDeal("GUS-FLOW", "PRAIRIE", "henry-hub", PHYS, "buy", 10000, "M+1", "-0.01"),
        DemoDeal("GUS-FLOW", "GULFSTAR", "henry-hub", "swap", "sell", 5000, "M+2", "0.02"),
        DemoDeal("GUS-FLOW", "GULFSTAR", "henry-hub", "future", "buy", 2500, "Q+1", "-0.005"),
        DemoDeal("GUS-HEDGE", "PRAIRIE", "henry-hub", "swap", "sell", 10000, "Q+2", "0.015"),
    ],
    "demo-trader-me": [
        DemoDeal("CME-PHYS", "GULFSTAR", "ice-brent", PHYS, "buy", 1000, "M+1", "-0.01"),
        DemoDeal("CME-PHYS", "GULFSTAR", "dubai-crude", PHYS, "sell", 500, "M+2", "0.01"),
        DemoDeal("CME-PAPER", "GULFSTAR", "ice-brent", "swap", "sell", 1000, "Q+1", "0.01"),
        DemoDeal("CME-PAPER", "GULFSTAR", "nymex-wti", "future", "buy", 1000, "M+3", "-0.01"),
    ],
    "demo-trader-eu": [
        DemoDeal("PEU-FLOW", "NORDWIND", "eex-de-power", PHYS, "buy", 10, "M+1", "-0.01"),
        DemoDeal("PEU-FLOW", "NORDWIND", "ttf", "swap", "sell", 500, "Q+1", "0.01"),
        DemoDeal("PEU-HEDGE", "NORDWIND", "eex-de-power", "swap", "sell", 5, "Q+1", "0.02"),
        DemoDeal("PEU-HEDGE", "NORDWIND", "eex-de-power", "option", "buy", 5, "M+3", "", "call"),
    ],
}  # fmt: skip

# Over each desk's four-eyes threshold (USD 5m gas, USD 10m crude, EUR 10m power).
LARGE: dict[str, list[DemoDeal]] = {
    "demo-trader": [
        DemoDeal("GUS-HEDGE", "GULFSTAR", "henry-hub", PHYS, "buy", 7500, "CAL+1"),
    ],
    "demo-trader-me": [
        DemoDeal("CME-PAPER", "GULFSTAR", "ice-brent", "swap", "sell", 1000, "CAL+1", "0.01"),
    ],
    "demo-trader-eu": [
        DemoDeal("PEU-HEDGE", "NORDWIND", "eex-de-power", "swap", "buy", 20, "CAL+1", "-0.01"),
    ],
}


def _month(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_code(relative: str, trade_date: date) -> tuple[str, date]:
    """An absolute period code for `relative` (M+n, Q+n, CAL+n) and its first month."""
    kind, n = relative.split("+")
    if kind == "M":
        start = _month(trade_date, int(n))
        return f"{start:%Y-%m}", start
    if kind == "Q":
        quarter = _month(trade_date.replace(month=3 * ((trade_date.month - 1) // 3) + 1), 0)
        start = _month(quarter, 3 * int(n))
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}", start
    start = date(trade_date.year + int(n), 1, 1)
    return f"CAL-{start.year}", start


def business_days_before(day: date, count: int) -> date:
    while count:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def deal_terms(deal: DemoDeal, market: Market, trade_date: date, executed: datetime) -> TradeTerms:
    """The deal's terms on `trade_date`, priced off that day's demo curve."""
    period, first_month = period_code(deal.period, trade_date)
    forward = curve_price(curve_on(market, trade_date), first_month)
    tick = market.tick_size
    option: dict[str, Any] = {}
    if deal.option_type:
        price = (forward * OPTION_PREMIUM).quantize(tick)
        option = {
            "option_type": deal.option_type,
            "strike": forward.quantize(tick),
            "expiry_date": market_contract_expiry(market, first_month),
        }
    else:
        price = (forward * (1 + Decimal(deal.spread))).quantize(tick)
    return TradeTerms(
        book=deal.book,
        counterparty=deal.counterparty,
        deal_type=deal.deal_type,
        side=deal.side,
        market=deal.market,
        quantity=Decimal(deal.quantity),
        price=price,
        currency=market.currency,
        period=period,
        trade_date=trade_date,
        executed_at=executed,
        **option,
    )


class Command(BaseCommand):
    help = (
        "Set each demo desk's four-eyes threshold and every demo market's option volatility, "
        "then book the demo portfolio through the booking service, with every pre-trade "
        f"check: each desk's deals back-loaded {HISTORY_DAYS} business days before the last "
        "demo curve, with the P&L closed for every business day since, and one larger deal "
        "per desk today that waits for a second person's approval. Needs seed_demo, "
        "seed_reference_data and seed_market_data first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing if any trade exists already."
        )

    def handle(self, *args: Any, if_empty: bool, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo_trades books demo trades; it runs with DEBUG on only.")
        trading_setup()
        if if_empty and Trade.objects.exists():
            self.stdout.write("Trades exist already; nothing to do (--if-empty).")
            return
        now = timezone.now().replace(microsecond=0)
        today = now.date()
        last_curve = CurveSnapshot.objects.filter(pricing_date__lte=today).aggregate(
            day=Max("pricing_date")
        )["day"]
        if last_curve is None:
            self.stderr.write("No curves (run seed_market_data first); no demo trades booked.")
            return
        start = business_days_before(last_curve, HISTORY_DAYS)
        # Executed during the start day's afternoon (UTC), booked at its close.
        booked_at = datetime.combine(start, time(17), tzinfo=UTC)
        codes = {d.market for deals in (*HISTORY.values(), *LARGE.values()) for d in deals}
        markets = Market.objects.in_bulk(list(codes), field_name="code")
        users = User.objects.in_bulk([*HISTORY, *LARGE], field_name="username")
        counts = {"booked": 0, "pending_approval": 0}
        for username in HISTORY:
            user = users.get(username)
            if user is None:
                self.stderr.write(f"user {username} is missing (run seed_demo); skipped")
                continue
            history = [
                deal_terms(
                    deal,
                    markets[deal.market],
                    start,
                    booked_at - timedelta(hours=3) + timedelta(minutes=5 * n),
                )
                for n, deal in enumerate(HISTORY[username])
            ]
            self._count(trade_book_many(user=user, terms_list=history, booked_at=booked_at), counts)
            large = [
                deal_terms(deal, markets[deal.market], today, now - timedelta(minutes=5 * (n + 1)))
                for n, deal in enumerate(LARGE[username])
            ]
            self._count(trade_book_many(user=user, terms_list=large), counts)
        closed = 0
        day = start
        while day < today:
            day += timedelta(days=1)
            if day.weekday() < 5 or day == today:
                pnl_close(on=day)
                closed += 1
        self.stdout.write(
            f"{counts['booked']} demo trades booked on {start} (back-loaded), "
            f"{counts['pending_approval']} waiting for approval today; P&L closed for {closed} "
            f"days from {start + timedelta(days=1)} to {today}."
        )

    def _count(self, results: list[Any], counts: dict[str, int]) -> None:
        for result in results:
            if result.trade is not None:
                counts[str(result.status)] += 1
            else:
                why = result.errors or (result.report.as_list() if result.report else "")
                self.stderr.write(f"not booked ({result.status}): {why}")
