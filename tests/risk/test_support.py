"""Shared set-up of the risk app's Django tests (no tests here): reference data, a short curve
history with chosen prices, constant FX, and trades booked through the trading service.

Days are counted back from today (UTC): a run is for today, as a desk's would be, whatever day
the suite runs on.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.risk.inputs import add_months
from apps.trading.models import (
    CurvePoint,
    CurvePointKind,
    CurveSnapshot,
    FxRate,
    InterestRate,
    Market,
    Trade,
)
from apps.trading.services import trade_book
from tests.trading.factories import seeded_desk_policies, trade_terms

EUR_USD = Decimal("1.1")


@pytest.fixture
def seeded(db: None) -> None:
    """The demo reference data (markets, books, counterparties) of `seed_reference_data`."""
    call_command("seed_reference_data", verbosity=0)
    seeded_desk_policies()


def business_days(count: int, last: date | None = None) -> list[date]:
    """The last `count` weekdays up to `last` (today by default), oldest first."""
    day = last or timezone.now().date()
    days: list[date] = []
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def curve_history(
    market: str,
    days: Sequence[date],
    price: Callable[[int, int], Decimal | str | float],
    tenors: Sequence[int] = (1, 2, 3, 4, 5, 6),
) -> None:
    """A snapshot per day with a monthly point per tenor: `price(i, k)` is day i's price of
    the month k after that day's month (bulk-created)."""
    market_obj = Market.objects.get(code=market)
    snapshots = CurveSnapshot.objects.bulk_create(
        [
            CurveSnapshot(market=market_obj, pricing_date=day, revision=1, point_count=len(tenors))
            for day in days
        ]
    )
    points = []
    for i, (day, snapshot) in enumerate(zip(days, snapshots, strict=True)):
        for k in tenors:
            month = add_months(day, k)
            points.append(
                CurvePoint(
                    snapshot=snapshot,
                    period=f"{month:%Y-%m}",
                    kind=CurvePointKind.MONTH,
                    start=month,
                    end=add_months(month, 1),
                    price=Decimal(str(price(i, k))),
                )
            )
    CurvePoint.objects.bulk_create(points)


def fx_and_rates(days: Sequence[date], rate: Decimal = EUR_USD) -> None:
    """EUR/USD at `rate` every day (no FX move) and zero discount rates."""
    FxRate.objects.bulk_create(
        [FxRate(base="EUR", quote="USD", date=day, rate=rate) for day in days]
    )
    InterestRate.objects.bulk_create(
        [
            InterestRate(currency=currency, date=day, rate=Decimal(0))
            for day in days
            for currency in ("EUR", "USD")
        ]
    )


def month_after(months: int, day: date | None = None) -> str:
    return f"{add_months(day or timezone.now().date(), months):%Y-%m}"


def book(user, **terms) -> Trade:
    """Book a trade today through the trading service (flow 1, checks and all)."""
    today = timezone.now().date()
    values: dict[str, object] = {
        "trade_date": today,
        "executed_at": datetime.combine(today, datetime.min.time(), tzinfo=UTC),
        "period": month_after(2),
    }
    values.update(terms)
    return trade_book(user=user, terms=trade_terms(**values)).trade


def gas_book(user, **terms) -> Trade:
    """Book a Henry Hub purchase into GUS-FLOW (the gas-us desk), in USD."""
    values: dict[str, object] = {
        "book": "GUS-FLOW",
        "counterparty": "PRAIRIE",
        "market": "henry-hub",
        "quantity": Decimal("10000"),
        "price": Decimal("3.5"),
        "currency": "USD",
    }
    values.update(terms)
    return book(user, **values)
