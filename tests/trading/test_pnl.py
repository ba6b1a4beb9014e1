"""Closing a day's P&L from the book of record: hand-checked figures, bounded queries."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.trading.models import (
    Book,
    BookPnl,
    CurvePoint,
    CurvePointKind,
    CurveSnapshot,
    InterestRate,
    Market,
    Trade,
)
from apps.trading.pnl import booked_as_of, end_of_day, pnl_close, previous_business_day
from apps.trading.services import trade_amend, trade_book, trade_cancel
from tests.trading.factories import trade_terms, trade_versions_dated

pytestmark = pytest.mark.usefixtures("seeded")

MONDAY = date(2026, 11, 23)
TUESDAY = date(2026, 11, 24)
WEDNESDAY = date(2026, 11, 25)
JAN = date(2027, 1, 1)


def curve(market: str, day: date, price: str, month: date = JAN) -> None:
    snapshot = CurveSnapshot.objects.create(
        market=Market.objects.get(code=market), pricing_date=day, revision=1, point_count=1
    )
    CurvePoint.objects.create(
        snapshot=snapshot,
        period=f"{month:%Y-%m}",
        kind=CurvePointKind.MONTH,
        start=month,
        end=date(month.year + month.month // 12, month.month % 12 + 1, 1),
        price=Decimal(price),
    )


def at(trade: Trade, moment: datetime) -> None:
    """Date the trade's latest version as if it had been written at `moment` (test set-up: the
    service stamps the real time, and these cases happen on fixed days)."""
    trade_versions_dated(moment, trade=trade, version=trade.current_version)


def book(trader, moment: datetime, **terms) -> Trade:
    values = {
        "period": "2027-01",
        "trade_date": moment.date(),
        "executed_at": moment,
        "price": Decimal("80"),
    }
    values.update(terms)
    result = trade_book(user=trader, terms=trade_terms(**values))
    at(result.trade, moment)
    return result.trade


@pytest.fixture
def market_days(seeded):
    for day in (TUESDAY, WEDNESDAY):
        InterestRate.objects.create(currency="EUR", date=day, rate=Decimal(0))
    curve("eex-de-power", TUESDAY, "85")
    curve("eex-de-power", WEDNESDAY, "87")


def test_previous_business_day_skips_the_weekend():
    assert previous_business_day(WEDNESDAY) == TUESDAY
    assert previous_business_day(date(2026, 11, 30)) == date(2026, 11, 27)


@pytest.mark.usefixtures("market_days")
def test_close_explains_a_curve_move_and_a_new_trade(trader):
    # Tuesday: buy 10 MW base January 2027 (744 h: 7,440 MWh) at 80; the curve is 85.
    # Wednesday: the curve is 87, and 5 MW more (3,720 MWh) are bought at 86.
    book(trader, datetime(2026, 11, 24, 10, tzinfo=UTC))
    book(trader, datetime(2026, 11, 25, 10, tzinfo=UTC), quantity=Decimal(5), price=Decimal(86))

    [row] = pnl_close(on=WEDNESDAY, book_ids=[Book.objects.get(code="PEU-FLOW").pk])

    # Yesterday: (85 − 80) × 7,440 = 37,200. Curve: +2 × 7,440 = 14,880.
    # New: (87 − 86) × 3,720 = 3,720. Today: 7 × 7,440 + 3,720 = 55,800 = 37,200 + 18,600.
    assert row.prior_date == TUESDAY
    assert row.currency == "EUR"
    assert row.unrealised == Decimal("55800.00")
    assert row.realised == 0
    assert row.daily == Decimal("18600.00")
    assert row.curve_moves == Decimal("14880.00")
    assert row.new_trades == Decimal("3720.00")
    assert (row.time_roll, row.fx, row.amendments, row.cancellations, row.unexplained) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert row.trade_count == 2
    assert row.missing == []
    assert BookPnl.objects.get(book__code="PEU-FLOW", date=WEDNESDAY).daily == row.daily


@pytest.mark.usefixtures("market_days")
def test_close_explains_amendments_and_cancellations(trader):
    tuesday = datetime(2026, 11, 24, 10, tzinfo=UTC)
    wednesday = datetime(2026, 11, 25, 10, tzinfo=UTC)
    kept = book(trader, tuesday)
    amended = book(trader, tuesday, quantity=Decimal(1), price=Decimal(84))
    cancelled = book(trader, tuesday, side="sell", quantity=Decimal(2), price=Decimal(84))
    trade_amend(
        user=trader,
        trade=amended,
        version=1,
        changes={"quantity": Decimal(3)},
    )
    amended.refresh_from_db()
    at(amended, wednesday)
    trade_cancel(user=trader, trade=cancelled, version=1)
    cancelled.refresh_from_db()
    at(cancelled, wednesday)

    before = booked_as_of([kept.book_id], end_of_day(TUESDAY))
    assert {t: b.version for t, b in before.items()} == {kept.pk: 1, amended.pk: 1, cancelled.pk: 1}

    [row] = pnl_close(on=WEDNESDAY, book_ids=[kept.book_id])
    # Tuesday (curve 85): kept 5 × 7,440 = 37,200; amended (1 MW @ 84) 1 × 744 = 744;
    # cancelled (sell 2 MW @ 84) −1 × 1,488 = −1,488. Total 36,456.
    # Curve +2 on Tuesday's book: 2 × (7,440 + 744 − 1,488) = 13,392.
    # Amendment, on Wednesday's curve (87): 3 × 3 × 744 − 3 × 744 = 6,696 − 2,232 = 4,464.
    # Cancellation: −(−3 × 1,488) = 4,464.
    # Wednesday: kept 7 × 7,440 = 52,080 + amended 6,696 = 58,776; 58,776 − 36,456 = 22,320.
    assert row.curve_moves == Decimal("13392.00")
    assert row.amendments == Decimal("4464.00")
    assert row.cancellations == Decimal("4464.00")
    assert row.new_trades == 0
    assert row.unexplained == 0
    assert row.unrealised == Decimal("58776.00")
    assert row.daily == Decimal("22320.00")
    assert row.trade_count == 2


@pytest.mark.usefixtures("market_days")
def test_missing_curve_is_reported_not_valued_at_zero(trader):
    book(trader, datetime(2026, 11, 24, 10, tzinfo=UTC), period="2027-02")
    [row] = pnl_close(on=WEDNESDAY, book_ids=[Book.objects.get(code="PEU-FLOW").pk])
    assert row.unrealised == 0
    assert row.missing == [["forward", "eex-de-power 2027-02"]]


@pytest.mark.usefixtures("market_days")
def test_closing_a_day_again_replaces_it(trader):
    book(trader, datetime(2026, 11, 24, 10, tzinfo=UTC))
    book_id = Book.objects.get(code="PEU-FLOW").pk
    pnl_close(on=WEDNESDAY, book_ids=[book_id])
    pnl_close(on=WEDNESDAY, book_ids=[book_id])
    assert BookPnl.objects.filter(book_id=book_id, date=WEDNESDAY).count() == 1


@pytest.mark.usefixtures("market_days")
def test_close_costs_the_same_queries_for_one_trade_or_many(trader):
    tuesday = datetime(2026, 11, 24, 10, tzinfo=UTC)
    book_id = Book.objects.get(code="PEU-FLOW").pk
    book(trader, tuesday)
    with CaptureQueriesContext(connection) as one:
        pnl_close(on=WEDNESDAY, book_ids=[book_id])
    for quantity in (1, 2, 3):
        book(trader, tuesday, quantity=Decimal(quantity))
    with CaptureQueriesContext(connection) as many:
        pnl_close(on=WEDNESDAY, book_ids=[book_id])
    assert len(many) == len(one)
