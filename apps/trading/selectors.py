"""Reads of reference data and counterparties, each with a bounded number of queries."""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import F, Model, Prefetch, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from apps.accounts.models import Desk, Role
from apps.accounts.permissions import desks_for_user, has_role
from apps.compliance.models import AuditEntry
from apps.trading.models import (
    Book,
    BookPnl,
    Commodity,
    Counterparty,
    Market,
    MasterAgreement,
    Position,
    Trade,
    TradeVersion,
    UnitConversion,
)
from apps.trading.pnl import books_valuation, describe_missing
from apps.trading.units import ConversionTable, conversion_table
from apps.trading.valuation import Valuation


def conversion_table_for(commodity: Commodity | None = None) -> ConversionTable:
    """The generic conversions, plus `commodity`'s own ones (which win on the same pair)."""
    scope = Q(commodity__isnull=True)
    if commodity is not None:
        scope |= Q(commodity=commodity)
    rows = (
        UnitConversion.objects.filter(scope)
        # Generic rows first, so that a commodity's own factor for the same pair replaces them.
        .order_by("commodity_id", "id")
        .values_list("from_unit__code", "to_unit__code", "factor", "commodity_id")
    )
    ordered = sorted(rows, key=lambda row: row[3] is not None)
    return conversion_table(
        [(source, target, factor) for source, target, factor, _ in ordered],
        commodity=commodity.code if commodity is not None else None,
    )


def unit_convert(
    quantity: Decimal, from_unit: str, to_unit: str, *, commodity: Commodity | None = None
) -> Decimal:
    """`quantity` in `to_unit`; raises units.ConversionUnavailable when no factor is known."""
    return conversion_table_for(commodity).convert(quantity, from_unit, to_unit)


def counterparty_list() -> QuerySet[Counterparty]:
    """Counterparties with what their API representation shows, in two queries."""
    agreements = MasterAgreement.objects.select_related("legal_entity").order_by("kind", "id")
    return Counterparty.objects.select_related("internal_entity").prefetch_related(
        Prefetch("agreements", queryset=agreements)
    )


def market_list() -> QuerySet[Market]:
    return Market.objects.select_related(
        "commodity", "quotation_unit", "holiday_calendar", "peak_holiday_calendar"
    )


# --- Trades and positions: scoped by the user's desks, here and only here --------------------


def _sees_all_desks(user: Any) -> bool:
    # Compliance officers review trades of every desk (flagged trades, reports); read-only.
    return has_role(user, Role.COMPLIANCE_OFFICER)


def trades_for_user(user: Any) -> QuerySet[Trade]:
    """The trades `user` may see: those of their desks' books (every desk for compliance)."""
    trades = Trade.objects.select_related(
        "book", "book__desk", "market", "counterparty", "created_by"
    )
    if _sees_all_desks(user):
        return trades
    # The trade's own copy of its book's desk (indexed with id): no join to the books.
    return trades.filter(desk_id__in=desks_for_user(user).values("pk"))


def trade_get_for_user(user: Any, trade_id: int) -> Trade:
    """The trade, or 404: the same answer for "missing" and "not your desk's"."""
    return get_object_or_404(trades_for_user(user), pk=trade_id)


def trade_versions(trade: Trade) -> QuerySet[TradeVersion]:
    return trade.versions.select_related(
        "counterparty", "market", "index_market", "unit", "created_by", "trader"
    ).order_by("version")


def positions_for_user(user: Any) -> QuerySet[Position]:
    positions = Position.objects.select_related("book", "market", "unit")
    if _sees_all_desks(user):
        return positions
    return positions.filter(book__desk__in=desks_for_user(user))


# --- The blotter and the trade page ----------------------------------------------------------


@dataclass(frozen=True)
class BlotterFilters:
    """The blotter's filters, by code (as the page's GET form and the CSV export send them)."""

    desk: str = ""
    book: str = ""
    counterparty: str = ""
    market: str = ""
    status: str = ""


@dataclass(frozen=True)
class BlotterPage:
    trades: list[Trade]  # each with `current`, its current version
    next_before: int | None  # the `before` of the next (older) page; None on the last page


# What a trade list filters by code: the trade's column and the model and field of the code.
_BY_CODE: dict[str, tuple[type[Model], str]] = {
    "desk": (Desk, "code"),
    "book": (Book, "code"),
    "counterparty": (Counterparty, "short_code"),
    "market": (Market, "code"),
}


def trades_with_code(trades: QuerySet[Trade], name: str, code: str) -> QuerySet[Trade]:
    """`trades` whose desk, book, counterparty or market (`name`) has `code`.

    Compared with a scalar subquery (`desk_id = (SELECT id ... WHERE code = ...)`), not a join:
    PostgreSQL then reads the (desk, id) index newest first and stops after a page, where the
    join made it collect and sort every trade of the desk (seconds at a million trades).
    An unknown code matches nothing.
    """
    model, field = _BY_CODE[name]
    pk = model.objects.filter(**{field: code}).values("pk")[:1]
    return trades.filter(**{f"{name}_id": Subquery(pk)})


def _blotter_trades(user: Any, filters: BlotterFilters) -> QuerySet[Trade]:
    trades = trades_for_user(user).order_by("-id")
    for name in _BY_CODE:
        code = getattr(filters, name)
        if code:
            trades = trades_with_code(trades, name, code)
    if filters.status:
        trades = trades.filter(status=filters.status)
    return trades


def _with_current(trades: list[Trade]) -> list[Trade]:
    """Attach each trade's current version as `current`: one query for any number of trades."""
    versions = {
        v.trade_id: v
        for v in TradeVersion.objects.filter(
            trade__in=[t.pk for t in trades], version=F("trade__current_version")
        ).select_related("counterparty", "market", "unit")
    }
    for trade in trades:
        trade.current = versions[trade.pk]  # type: ignore[attr-defined]
    return trades


def blotter_page(
    user: Any, filters: BlotterFilters, *, before: int | None = None, size: int = 50
) -> BlotterPage:
    """One page of the user's desks' trades, newest first, by keyset on id: two queries at any
    depth (the trades, then their current versions)."""
    trades = _blotter_trades(user, filters)
    if before is not None:
        trades = trades.filter(id__lt=before)
    # One row more than shown says whether an older page exists, without a COUNT.
    rows = list(trades[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    return BlotterPage(_with_current(rows), rows[-1].pk if has_more else None)


def blotter_export(user: Any, filters: BlotterFilters, *, batch: int = 500) -> Iterator[Trade]:
    """Every trade of the blotter's filters, newest first, in keyset batches (bounded memory)."""
    before: int | None = None
    while True:
        page = blotter_page(user, filters, before=before, size=batch)
        yield from page.trades
        if page.next_before is None:
            return
        before = page.next_before


def trade_audit_entries(trade: Trade) -> QuerySet[AuditEntry]:
    """The audit trail of one trade, oldest first (compliance's models are readable here)."""
    return (
        AuditEntry.objects.filter(object_type=Trade._meta.label_lower, object_id=str(trade.pk))
        .select_related("actor")
        .order_by("seq")
    )


# --- Books, positions with MtM, P&L ------------------------------------------------------------


def books_for_user(user: Any) -> QuerySet[Book]:
    """The books `user` may see: their desks' books (every desk's for compliance)."""
    books = Book.objects.select_related("desk").order_by("code")
    if _sees_all_desks(user):
        return books
    return books.filter(desk__in=desks_for_user(user))


@dataclass(frozen=True)
class GridRow:
    book: Book
    market: Market
    unit_code: str
    cells: list[tuple[Decimal | None, Decimal | None]]  # (net quantity, MtM) per month column
    mtm: Decimal


@dataclass(frozen=True)
class PositionsGrid:
    on: date
    months: list[date]
    rows: list[GridRow]
    # Each book's MtM (realised and unrealised) and what could not be priced, in words.
    books: list[tuple[Book, Valuation, list[str]]]


def positions_grid(user: Any, on: date, *, book: str = "") -> PositionsGrid:
    """Net positions by book × market (rows) and delivery month (columns), each cell with its
    unrealised MtM on `on`'s market; a fixed number of queries for any number of rows.

    Options count at their delta on `on`'s market (the kept rows hold the delta they were
    booked at; the valuation's `redelta` is the difference)."""
    books = books_for_user(user)
    if book:
        books = books.filter(code=book)
    books = list(books)
    positions = list(
        Position.objects.filter(book__in=books)
        .select_related("market", "unit")
        .order_by("book__code", "market__code", "month")
    )
    valuations = books_valuation(books, on)
    markets = {p.market.code: p.market for p in positions}
    quantities: dict[tuple[int, str, str, date], Decimal] = defaultdict(Decimal)
    for p in positions:
        quantities[(p.book_id, p.market.code, p.unit.code, p.month)] += p.quantity
    for book_id, value in valuations.items():
        for (market, month, unit), change in value.redelta.items():
            quantities[(book_id, market, unit, month)] += change
    unknown = {key[1] for key in quantities} - set(markets)
    if unknown:  # an option re-deltaed into a month it had no kept row in
        markets.update((m.code, m) for m in Market.objects.filter(code__in=unknown))
    by_id = {b.pk: b for b in books}
    # (book code, market, unit, month, book id): the grid's order; flat cells are no cells.
    kept = sorted(
        ((by_id[k[0]].code, *k[1:], k[0]), q)
        for k, q in quantities.items()
        if q and k[1] in markets
    )
    months = sorted({key[3] for key, _q in kept})
    column = {month: i for i, month in enumerate(months)}
    rows: dict[tuple[int, str, str], GridRow] = {}
    for (_code, market, unit, month, book_id), quantity in kept:
        key = (book_id, market, unit)
        if key not in rows:
            rows[key] = GridRow(
                by_id[book_id], markets[market], unit, [(None, None)] * len(months), Decimal(0)
            )
        mtm = valuations[book_id].by_month.get((market, month))
        rows[key].cells[column[month]] = (quantity, mtm)
    grid_rows = [
        GridRow(
            r.book,
            r.market,
            r.unit_code,
            r.cells,
            sum((m for _q, m in r.cells if m is not None), Decimal(0)),
        )
        for r in rows.values()
    ]
    values = [(b, valuations[b.pk], describe_missing(valuations[b.pk].missing)) for b in books]
    return PositionsGrid(on, months, grid_rows, values)


@dataclass(frozen=True)
class BookPnlSummary:
    book: Book
    close: BookPnl | None  # the latest close on or before the day
    month_to_date: Decimal
    year_to_date: Decimal
    value_now: Valuation | None  # the book's MtM now, for the intraday P&L
    intraday: Decimal | None  # value now − value at the latest close


def pnl_summaries(user: Any, on: date, *, intraday: bool = True) -> list[BookPnlSummary]:
    """Each visible book's P&L: the close of `on` (or the latest before it), its month- and
    year-to-date sums, and, when asked, the intraday change since that close."""
    books = list(books_for_user(user))
    year_start, month_start = on.replace(month=1, day=1), on.replace(day=1)
    latest: dict[int, BookPnl] = {}
    month_to_date: dict[int, Decimal] = defaultdict(Decimal)
    year_to_date: dict[int, Decimal] = defaultdict(Decimal)
    # A year of closes is at most ~260 rows a book: summed here rather than in three queries.
    for row in BookPnl.objects.filter(book__in=books, date__gte=year_start, date__lte=on).order_by(
        "book_id", "-date"
    ):
        latest.setdefault(row.book_id, row)
        year_to_date[row.book_id] += row.daily
        if row.date >= month_start:
            month_to_date[row.book_id] += row.daily
    values = books_valuation(books, on) if intraday else {}
    summaries = []
    for book in books:
        close = latest.get(book.pk)
        value = values.get(book.pk)
        change = None
        if value is not None and close is not None:
            change = value.total - (close.realised + close.unrealised)
        summaries.append(
            BookPnlSummary(
                book=book,
                close=close,
                month_to_date=month_to_date[book.pk],
                year_to_date=year_to_date[book.pk],
                value_now=value,
                intraday=change,
            )
        )
    return summaries


def pnl_history(book: Book, year: int) -> list[BookPnl]:
    """The book's daily closes of `year`, oldest first: the P&L chart's series."""
    return list(BookPnl.objects.filter(book=book, date__year=year).order_by("date"))
