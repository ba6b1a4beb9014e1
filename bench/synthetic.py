"""Synthetic booked trades written straight into the tables, for the benchmarks that measure
what reads trades (valuation, P&L, risk), not booking: one version each, as booking leaves it."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

HOURS_A_MONTH = 720  # a round figure: the benchmarks measure speed, not calendars


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def booked_trade(
    ref: str,
    *,
    book: Any,
    market: Any,
    unit: Any,
    counterparty: Any,
    user: Any,
    created: datetime,
    months: list[date],
    side: str,
    quantity: Decimal,
    price: Decimal,
    deal_type: str,
    option_type: str = "",
    strike: Decimal | None = None,
    expiry: date | None = None,
) -> tuple[Any, Any]:
    """An unsaved booked trade and its first version (an option's legs weighted by delta 0.5)."""
    from apps.trading.models import Trade, TradeStatus, TradeVersion

    delta = Decimal("0.5") if option_type else None
    sign = 1 if side == "buy" else -1
    legs = [[m.isoformat(), str(sign * quantity * HOURS_A_MONTH * (delta or 1))] for m in months]
    trade = Trade(
        trade_ref=ref,
        book=book,
        desk_id=book.desk_id,
        created_by=user,
        created_at=created,
        current_version=1,
        status=TradeStatus.BOOKED,
        market=market,
        counterparty=counterparty,
        trade_date=created.date(),
    )
    version = TradeVersion(
        trade=trade,
        version=1,
        status=TradeStatus.BOOKED,
        created_by=user,
        created_at=created,
        deal_type=deal_type,
        side=side,
        counterparty=counterparty,
        trader=user,
        market=market,
        delivery_start=months[0],
        delivery_end=next_month(months[-1]),
        quantity=quantity,
        total_quantity=quantity * HOURS_A_MONTH * len(months),
        unit=unit,
        price=price,
        currency=market.currency,
        option_type=option_type,
        strike=strike,
        expiry_date=expiry,
        delta=delta,
        trade_date=created.date(),
        executed_at=created,
        position_legs=legs,
    )
    return trade, version


def write_trades(trades: list[Any], versions: list[Any]) -> None:
    """Insert the trades, then their versions (which need the trades' ids)."""
    from apps.trading.models import Trade, TradeVersion

    Trade.objects.bulk_create(trades, batch_size=5000)
    for version in versions:
        version.trade_id = version.trade.pk
    TradeVersion.objects.bulk_create(versions, batch_size=5000)
