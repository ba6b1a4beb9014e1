"""`seed_demo_trades`: the demo's trading set-up and portfolio, and the booking service's
back-loading (`booked_at`) it uses."""

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone

from apps.accounts.models import User
from apps.trading.models import (
    BookPnl,
    Counterparty,
    DeskTradingPolicy,
    Market,
    MarketVolatility,
    Trade,
    TradeStatus,
    TradeVersion,
)
from apps.trading.pnl import booked_as_of
from apps.trading.services import trade_approve, trade_book_many
from tests.trading.factories import trade_terms

SOURCE = Path(django_settings.BASE_DIR) / "data" / "market"


def demo_data_dir(target: Path, since: date = date(2026, 5, 1)) -> Path:
    """The repository's EIA files cut to the days since `since`: enough for a rolled-forward
    demo history of a few months, quick to seed."""
    for name in ("henry-hub-daily.csv", "brent-daily.csv", "wti-daily.csv"):
        lines = (SOURCE / name).read_text().splitlines()
        kept = [line for line in lines[1:] if date.fromisoformat(line.split(",")[0]) >= since]
        (target / name).write_text("\n".join([lines[0], *kept]) + "\n")
    return target


def seed_demo_portfolio(data_dir: Path) -> str:
    """`make run`'s seeding up to the demo trades (the commands need DEBUG on)."""
    call_command("seed_demo", verbosity=0, stdout=StringIO())
    call_command("seed_reference_data", verbosity=0, stdout=StringIO())
    call_command("seed_market_data", "--data-dir", str(data_dir), verbosity=0)
    out = StringIO()
    call_command("seed_demo_trades", "--if-empty", stdout=out)
    return out.getvalue()


def test_trade_book_many_back_loaded_carries_its_booking_time(seeded, trader):
    booked_at = timezone.now().replace(microsecond=0) - timedelta(days=3)
    terms = trade_terms(trade_date=booked_at.date(), executed_at=booked_at - timedelta(hours=1))

    [result] = trade_book_many(user=trader, terms_list=[terms], booked_at=booked_at)

    version = TradeVersion.objects.get(trade=result.trade)
    assert (version.created_at, result.trade.created_at) == (booked_at, booked_at)
    book_ids = [result.trade.book_id]
    assert list(booked_as_of(book_ids, booked_at + timedelta(seconds=1))) == [result.trade.pk]
    assert booked_as_of(book_ids, booked_at) == {}


def test_trade_book_many_refuses_a_back_loaded_time_in_the_future(seeded, trader):
    with pytest.raises(ValidationError, match="cannot be in the future"):
        trade_book_many(
            user=trader,
            terms_list=[trade_terms()],
            booked_at=timezone.now() + timedelta(minutes=1),
        )
    assert not Trade.objects.exists()


@pytest.fixture
def demo(db, tmp_path, settings) -> str:
    settings.DEBUG = True
    return seed_demo_portfolio(demo_data_dir(tmp_path))


def test_seed_demo_trades_books_every_desk_back_loaded_and_one_pending_deal_each(demo):
    today = timezone.now().date()
    trades = list(Trade.objects.select_related("book__desk").order_by("pk"))
    booked = [t for t in trades if t.status == TradeStatus.BOOKED]
    pending = [t for t in trades if t.status == TradeStatus.PENDING_APPROVAL]
    assert (len(booked), len(pending)) == (12, 3)
    assert sorted(t.book.desk.code for t in pending) == ["crude-me", "gas-us", "power-eu"]
    assert Counter(t.book.desk.code for t in booked) == {"gas-us": 4, "crude-me": 4, "power-eu": 4}
    # The history is back-loaded 20 business days before the last demo curve (the last weekday
    # before today), at 17:00 UTC; the pending deals are today's.
    last_curve = today - timedelta(days=1)
    while last_curve.weekday() >= 5:
        last_curve -= timedelta(days=1)
    start = last_curve
    for _ in range(20):
        start -= timedelta(days=1)
        while start.weekday() >= 5:
            start -= timedelta(days=1)
    booked_at = datetime.combine(start, time(17), tzinfo=UTC)
    assert {t.created_at for t in booked} == {booked_at}
    assert {t.trade_date for t in booked} == {start}
    assert {t.trade_date for t in pending} == {today}
    # Each pending deal is over its desk's threshold, in the policy's currency.
    policies = {p.desk.code: p for p in DeskTradingPolicy.objects.select_related("desk")}
    assert {code: (p.approval_threshold, p.currency) for code, p in policies.items()} == {
        "power-eu": (Decimal("10000000.00"), "EUR"),
        "gas-us": (Decimal("5000000.00"), "USD"),
        "crude-me": (Decimal("10000000.00"), "USD"),
    }
    for trade in pending:
        version = trade.versions.get()
        policy = policies[trade.book.desk.code]
        assert version.currency == policy.currency
        assert version.notional > policy.approval_threshold
    # The P&L is closed for every day since the booking: 20 business days and today.
    assert BookPnl.objects.values("date").distinct().count() == 21
    assert BookPnl.objects.filter(date=today).count() == 6  # every book
    assert "12 demo trades booked" in demo
    assert "3 waiting for approval today" in demo


def test_seed_demo_trades_pending_deals_are_approved_by_demo_risk_not_their_trader(demo):
    pending = Trade.objects.filter(status=TradeStatus.PENDING_APPROVAL).order_by("pk")
    risk = User.objects.get(username="demo-risk")
    for trade in pending:
        own = trade.versions.get().trader
        with pytest.raises(PermissionDenied):
            trade_approve(user=own, trade=trade, version=1)
        result = trade_approve(user=risk, trade=trade, version=1)
        assert result.trade.status == TradeStatus.BOOKED
    assert not Trade.objects.filter(status=TradeStatus.PENDING_APPROVAL).exists()


def test_seed_demo_trades_sets_a_volatility_per_demo_market_and_books_an_option(demo):
    assert dict(MarketVolatility.objects.values_list("market__code", "volatility")) == {
        "eex-de-power": Decimal("0.450000"),
        "ttf": Decimal("0.550000"),
        "nbp": Decimal("0.550000"),
        "henry-hub": Decimal("0.600000"),
        "pjm-west": Decimal("0.500000"),
        "ice-brent": Decimal("0.320000"),
        "nymex-wti": Decimal("0.340000"),
        "dme-oman": Decimal("0.320000"),
        "dubai-crude": Decimal("0.320000"),
        "eua": Decimal("0.400000"),
    }
    assert MarketVolatility.objects.count() == Market.objects.count()
    option = TradeVersion.objects.get(deal_type="option")
    assert (option.market.code, option.option_type, option.trade.status) == (
        "eex-de-power",
        "call",
        TradeStatus.BOOKED,
    )
    assert 0 < option.delta < 1
    assert option.expiry_date > option.trade_date


def test_seed_demo_trades_counterparties_include_kyc_approved_and_pending(demo):
    statuses = dict(Counterparty.objects.values_list("short_code", "kyc_status"))
    assert statuses["MERIDIAN"] == "pending"
    traded = set(Trade.objects.values_list("counterparty__short_code", flat=True))
    assert traded == {"GULFSTAR", "NORDWIND", "PRAIRIE"}
    assert {statuses[code] for code in traded} == {"approved"}


def test_seed_demo_trades_if_empty_books_nothing_more(demo, settings):
    count = Trade.objects.count()
    out = StringIO()
    call_command("seed_demo_trades", "--if-empty", stdout=out)
    assert out.getvalue() == "Trades exist already; nothing to do (--if-empty).\n"
    assert Trade.objects.count() == count
