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
    MarketVolatility,
    Position,
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


@pytest.fixture
def gas_days(market_days):
    """TTF January 2027 at 32 on Tuesday and 33 on Wednesday, options at 50 % volatility."""
    curve("ttf", TUESDAY, "32")
    curve("ttf", WEDNESDAY, "33")
    MarketVolatility.objects.create(
        market=Market.objects.get(code="ttf"), volatility=Decimal("0.5")
    )


def book_each_deal_type(trader, moment: datetime) -> dict[str, Trade]:
    """Into PEU-FLOW, January 2027 TTF (31 gas days), one trade of each non-fixed deal type."""
    gas = {"market": "ttf", "period": "2027-01"}
    return {
        # Buy 10 MWh/day (310 MWh) at the EEX power index − 53.00.
        "index": book(
            trader,
            moment,
            **gas,
            deal_type="physical_index",
            index_market="eex-de-power",
            price=Decimal("-53.00"),
        ),
        # Sell a swap, 10 MWh/day (310 MWh) fixed at 31.
        "swap": book(trader, moment, **gas, deal_type="swap", side="sell", price=Decimal(31)),
        # Buy the future, 20 MWh/day (620 MWh) at 32.50.
        "future": book(
            trader, moment, **gas, deal_type="future", quantity=Decimal(20), price=Decimal("32.50")
        ),
        # Buy a call, 10 MWh/day (310 MWh), strike 30, premium 2.00, expiring 2026-12-28.
        "option": book(
            trader,
            moment,
            **gas,
            deal_type="option",
            option_type="call",
            strike=Decimal(30),
            expiry_date=date(2026, 12, 28),
            price=Decimal("2.00"),
        ),
    }


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


@pytest.mark.usefixtures("gas_days")
def test_close_explains_an_index_forward_swap_future_and_option(trader):
    trades = book_each_deal_type(trader, datetime(2026, 11, 24, 10, tzinfo=UTC))
    # The option's delta at booking (Tuesday, F 32, 34 days to expiry, undiscounted):
    # σ√T = 0.5 × √(34/365) = 0.152603, d1 = (ln(32/30) + 0.011644) / 0.152603 = 0.499219,
    # N(d1) = 0.69118755; its leg 0.69118755 × 310 = 214.2681405, kept to 6 places (half even).
    option = trades["option"].versions.get()
    assert option.delta == Decimal("0.69118755")
    assert option.position_legs == [["2027-01-01", "214.268140"]]
    ttf = Position.objects.get(book__code="PEU-FLOW", market__code="ttf")
    # 310 (index forward) − 310 (swap) + 620 (future) + 214.268140 (the option's delta).
    assert ttf.quantity == Decimal("834.268140")

    [row] = pnl_close(on=WEDNESDAY, book_ids=[trades["option"].book_id])

    # Rates are zero (no discounting). Tuesday (TTF 32, EEX 85) → Wednesday (TTF 33, EEX 87):
    # index forward (F_ttf − F_eex + 53) × 310:   (32 − 85 + 53) × 310 = 0   → −1 × 310 = −310;
    # sold swap −(F − 31) × 310:                   −310                       → −620;
    # future (F − 32.50) × 620:                    −310                       → +310;
    # call (Black-76 − 2.00) × 310, σ = 50 %, K 30:
    #   Tuesday F 32, 34 days: call 3.051195 (N(d1) 0.691188, N(d2) 0.635560): 325.870582;
    #   Wednesday's date on Tuesday's curve, 33 days: call 3.025747: 317.981576;
    #   Wednesday F 33, 33 days: call 3.753574 (N(d1) 0.760877, N(d2) 0.711846): 543.607985.
    # Start 0 − 310 − 310 + 325.870582 = −294.13; end −310 − 620 + 310 + 543.607985 = −76.39.
    # Time roll (the option only; futures and zero-rate forwards do not roll): −7.889006.
    # Curve moves: −310 − 310 + 620 + (543.607985 − 317.981576) = 225.626409.
    # Daily −76.39 + 294.13 = 217.74 = −7.89 + 225.63.
    assert row.unrealised == Decimal("-76.39")
    assert row.realised == 0
    assert row.daily == Decimal("217.74")
    assert row.time_roll == Decimal("-7.89")
    assert row.curve_moves == Decimal("225.63")
    assert (row.fx, row.new_trades, row.amendments, row.cancellations, row.unexplained) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert row.trade_count == 4
    assert row.missing == []
