"""Positions: net quantity of booked trades per book × market × delivery month × unit.

Each trade version stores what it contributes while booked (`TradeVersion.position_legs`:
signed quantity per delivery month, an option's weighted by its delta at booking). Both ways of
keeping positions sum exactly those legs, so they always agree (the positions grid shows options
at the pricing date's delta by adding the valuation's `redelta` when it reads them):

- `positions_apply` adds the legs of a booking and subtracts those of a version an amendment,
  cancellation or approval replaces, under the book's lock held by the booking's transaction;
- `positions_rebuild` sums the legs of every booked trade's current version from scratch.

The energy figure (MWh) is the row's net quantity converted by the known factors of the market's
commodity; without a known conversion it stays empty, and nothing is netted across units. A row
whose net quantity is zero is removed (a flat position is no row), by both.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.trading.calendars import market_calendar
from apps.trading.models import (
    Book,
    Market,
    Position,
    Side,
    TradeStatus,
    TradeVersion,
    Unit,
    UnitConversion,
)
from apps.trading.periods import Period, PeriodKind, Profile, intervals
from apps.trading.units import ConversionTable, ConversionUnavailable, conversion_table

ENERGY_UNIT = "MWh"
QUANTITY_STEP = Decimal("0.000001")

# (book id, market id, first day of the delivery month, unit id)
PositionKey = tuple[int, int, date, int]


@dataclass
class PositionDeltas:
    """Changes to positions, accumulated before they are applied in one go."""

    changes: dict[PositionKey, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add(self, book_id: int, version: TradeVersion, sign: int) -> None:
        """Add (+1) or remove (−1) what `version` contributes."""
        for month, quantity in version.position_legs:
            key = (book_id, version.market_id, date.fromisoformat(month), version.unit_id)
            self.changes[key] += sign * Decimal(quantity)

    def __bool__(self) -> bool:
        return any(self.changes.values())


class EnergyConverter:
    """Each (market, unit)'s factor to MWh, from the conversion table (three queries)."""

    def __init__(self, market_ids: Iterable[int], unit_ids: Iterable[int]) -> None:
        self.commodity = dict(
            Market.objects.filter(pk__in=set(market_ids)).values_list("pk", "commodity_id")
        )
        self.unit_code = dict(Unit.objects.filter(pk__in=set(unit_ids)).values_list("pk", "code"))
        rows = UnitConversion.objects.values_list(
            "from_unit__code", "to_unit__code", "factor", "commodity_id"
        ).order_by("commodity_id", "id")
        self._rows = list(rows)
        self._tables: dict[int, ConversionTable] = {}

    def _table(self, commodity_id: int) -> ConversionTable:
        if commodity_id not in self._tables:
            # Generic factors first, then the commodity's own, which win on the same pair.
            generic = [(a, b, f) for a, b, f, c in self._rows if c is None]
            own = [(a, b, f) for a, b, f, c in self._rows if c == commodity_id]
            self._tables[commodity_id] = conversion_table(generic + own)
        return self._tables[commodity_id]

    def to_mwh(self, quantity: Decimal, market_id: int, unit_id: int) -> Decimal | None:
        try:
            converted = self._table(self.commodity[market_id]).convert(
                quantity, self.unit_code[unit_id], ENERGY_UNIT
            )
        except ConversionUnavailable:
            return None
        return converted.quantize(QUANTITY_STEP)


def _position_row(
    key: PositionKey, quantity: Decimal, converter: EnergyConverter, now: datetime
) -> Position:
    book_id, market_id, month, unit_id = key
    return Position(
        book_id=book_id,
        market_id=market_id,
        month=month,
        unit_id=unit_id,
        quantity=quantity,
        quantity_mwh=converter.to_mwh(quantity, market_id, unit_id),
        updated_at=now,
    )


def positions_apply(deltas: PositionDeltas) -> None:
    """Apply `deltas` to the position rows, in a bounded number of queries.

    Call it inside the booking's transaction, after locking the books concerned: the rows are
    read, summed in Python and written back, which the book lock makes safe.
    """
    changes = {key: value for key, value in deltas.changes.items() if value}
    if not changes:
        return
    book_ids = {key[0] for key in changes}
    existing = {
        (p.book_id, p.market_id, p.month, p.unit_id): p
        for p in Position.objects.filter(
            book_id__in=book_ids,
            market_id__in={key[1] for key in changes},
            month__in={key[2] for key in changes},
            unit_id__in={key[3] for key in changes},
        )
    }
    converter = EnergyConverter({k[1] for k in changes}, {k[3] for k in changes})
    now = timezone.now()
    upserts: list[Position] = []
    emptied: list[int] = []
    for key, change in changes.items():
        row = existing.get(key)
        quantity = (row.quantity if row else Decimal(0)) + change
        if quantity == 0:
            if row is not None:
                emptied.append(row.pk)
            continue
        upserts.append(_position_row(key, quantity, converter, now))
    if upserts:
        Position.objects.bulk_create(
            upserts,
            update_conflicts=True,
            unique_fields=["book", "market", "month", "unit"],
            update_fields=["quantity", "quantity_mwh", "updated_at"],
        )
    if emptied:
        Position.objects.filter(pk__in=emptied).delete()


def positions_computed(book_ids: Iterable[int] | None = None) -> dict[PositionKey, Decimal]:
    """Net quantities from the trades themselves: every booked trade's current version."""
    versions = TradeVersion.objects.filter(
        status=TradeStatus.BOOKED,
        trade__status=TradeStatus.BOOKED,
        version=F("trade__current_version"),
    )
    if book_ids is not None:
        versions = versions.filter(trade__book_id__in=list(book_ids))
    totals: dict[PositionKey, Decimal] = defaultdict(Decimal)
    for book_id, market_id, unit_id, legs in versions.values_list(
        "trade__book_id", "market_id", "unit_id", "position_legs"
    ).iterator(chunk_size=2000):
        for month, quantity in legs:
            totals[(book_id, market_id, date.fromisoformat(month), unit_id)] += Decimal(quantity)
    return {key: value for key, value in totals.items() if value}


def positions_rebuild(*, book_ids: Iterable[int] | None = None) -> int:
    """Replace the position rows (of `book_ids`, or all) by sums from the trades; returns the
    number of rows. Takes the books' locks, so bookings into them wait for it."""
    with transaction.atomic():
        books = Book.objects.select_for_update().order_by("pk")
        if book_ids is not None:
            books = books.filter(pk__in=list(book_ids))
        # The same lock a booking takes: no booking changes these books' positions meanwhile.
        locked = list(books.values_list("pk", flat=True))
        totals = positions_computed(locked)
        converter = EnergyConverter({k[1] for k in totals}, {k[3] for k in totals})
        now = timezone.now()
        Position.objects.filter(book_id__in=locked).delete()
        Position.objects.bulk_create(
            [
                _position_row(key, quantity, converter, now)
                for key, quantity in sorted(totals.items())
            ],
            batch_size=2000,
        )
    return len(totals)


def positions_hourly(
    *, book_ids: Iterable[int], market: Market, month: date
) -> list[tuple[datetime, Decimal]]:
    """Net quantity (MW) per delivery hour of `month` for the books' booked trades in `market`,
    as (UTC start, MW) for every hour of the month in the market's time zone (743, 744 or 745);
    an option counts by its delta, as in the monthly positions.

    Trades with the same delivery span and profile are summed first and expanded once, so the
    cost grows with the distinct spans, not with the trades.
    """
    month_end = (month + timedelta(days=32)).replace(day=1)
    versions = TradeVersion.objects.filter(
        trade__book_id__in=list(book_ids),
        trade__status=TradeStatus.BOOKED,
        version=F("trade__current_version"),
        market=market,
        delivery_start__lt=month_end,
        delivery_end__gt=month,
    ).values_list("delivery_start", "delivery_end", "profile", "side", "quantity", "delta")
    spans: dict[tuple[date, date, str], Decimal] = defaultdict(Decimal)
    for start, end, profile, side, quantity, delta in versions:
        signed = quantity if side == Side.BUY else -quantity
        if delta is not None:
            signed *= delta
        spans[(max(start, month), min(end, month_end), profile)] += signed
    calendar = market_calendar(market, start=month, end=month_end)
    hours = {
        instant: Decimal(0)
        for instant in intervals(Period(PeriodKind.MONTH, month, month_end), calendar)
    }
    for (start, end, profile), mw in spans.items():
        span = Period(PeriodKind.DAY, start, end)
        for instant in intervals(span, calendar, profile=Profile(profile)):
            hours[instant] += mw
    return [(instant, mw.quantize(QUANTITY_STEP)) for instant, mw in hours.items()]
