"""Valuation and P&L of books: the database side of `apps.trading.valuation`.

It reads which trade versions were booked at the end of a day (versions are append-only, so the
book of any past day can be rebuilt exactly), loads the market data a valuation needs in a fixed
number of queries, and closes a day's P&L into `BookPnl` rows (`pnl_close`). Everything else —
the formulas, the explain — is the pure engine's.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.trading.marketdata import (
    MarketDataError,
    curve_price,
    curves_on,
    fx_rate,
    interest_rates,
    month_prices_as_of,
)
from apps.trading.models import (
    Book,
    BookPnl,
    Market,
    MarketVolatility,
    Side,
    TradeStatus,
    TradeVersion,
)
from apps.trading.valuation import (
    DealTerms,
    Explain,
    Gap,
    Holdings,
    MarketNeeds,
    MarketSpec,
    MarketState,
    Portfolio,
    Step,
    Valuation,
    explain,
    value_portfolio,
)

_VERSION_FIELDS = (
    "trade_id",
    "trade__book_id",
    "version",
    "status",
    "deal_type",
    "side",
    "market__code",
    "index_market__code",
    "unit__code",
    "price",
    "position_legs",
    "total_quantity",
    "option_type",
    "strike",
    "expiry_date",
)


GAP_TEXT = {
    Gap.FORWARD: _("No forward price for %(what)s."),
    Gap.SETTLEMENT: _("No settlement price for %(what)s."),
    Gap.PRICE_AT_EXPIRY: _("No underlying price at expiry for %(what)s."),
    Gap.MARKET: _("Unknown market %(what)s."),
    Gap.RATE: _("No discount rate for %(what)s."),
    Gap.FX: _("No FX rate %(what)s."),
    Gap.VOLATILITY: _("No volatility for %(what)s."),
    Gap.NON_POSITIVE_FORWARD: _("An option's forward is not positive: %(what)s."),
}


def describe_missing(items: Iterable[Sequence[str]]) -> list[str]:
    """What could not be priced, in the reader's language (items as stored: [kind, what])."""
    return [str(GAP_TEXT[Gap(kind)] % {"what": what}) for kind, what in sorted(items)]


def end_of_day(day: date) -> datetime:
    """The instant a UTC business day closes: what was booked before it counts on that day."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def previous_business_day(day: date) -> date:
    """The weekday before `day` (Friday for a Monday): the day a daily P&L is measured from."""
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


@dataclass(frozen=True)
class BookedTrade:
    trade_id: int
    book_id: int
    version: int
    terms: DealTerms


def _terms(row: Mapping) -> DealTerms:
    side = 1 if row["side"] == Side.BUY else -1
    months = [(date.fromisoformat(m), Decimal(q)) for m, q in row["position_legs"]]
    booked: tuple[tuple[date, Decimal], ...] = ()
    if row["deal_type"] == "option":
        # An option's stored legs are delta-weighted at booking: the valuation prices its
        # months and re-deltas those legs on its own market.
        legs = tuple((m, Decimal(0)) for m, _q in months)
        booked = tuple(months)
    else:
        # Stored legs are signed by side; the terms carry them unsigned with the side apart.
        legs = tuple((m, side * q) for m, q in months)
    return DealTerms(
        deal_type=row["deal_type"],
        side=side,
        market=row["market__code"],
        price=row["price"],
        legs=legs,
        index_market=row["index_market__code"],
        total_quantity=row["total_quantity"],
        option_type=row["option_type"],
        strike=row["strike"],
        expiry=row["expiry_date"],
        unit=row["unit__code"],
        booked_legs=booked,
    )


def booked_as_of(book_ids: Iterable[int], moment: datetime) -> dict[int, BookedTrade]:
    """The trades booked in `book_ids` at `moment`, each with the version current then (one
    query). A trade amended since counts with its old terms; one cancelled since still counts."""
    return booked_at(book_ids, [moment])[0]


def booked_at(book_ids: Iterable[int], moments: Sequence[datetime]) -> list[dict[int, BookedTrade]]:
    """`booked_as_of` for several moments in one query: the books' trades at each of them.

    A version current at two moments is read, and turned into terms, once.
    """
    rows = (
        TradeVersion.objects.filter(trade__book_id__in=list(book_ids), created_at__lt=max(moments))
        .order_by("trade_id", "-version")
        .values("created_at", *_VERSION_FIELDS)
    )
    booked: list[dict[int, BookedTrade]] = [{} for _ in moments]
    found: list[int | None] = [None] * len(moments)  # the trade each moment has its version of
    for row in rows.iterator(chunk_size=2000):
        trade_id = row["trade_id"]
        made: BookedTrade | None = None
        for n, moment in enumerate(moments):
            # Newest version first: the first one written before the moment is the current one.
            if found[n] == trade_id or row["created_at"] >= moment:
                continue
            found[n] = trade_id
            if row["status"] == TradeStatus.BOOKED:
                if made is None:
                    made = BookedTrade(trade_id, row["trade__book_id"], row["version"], _terms(row))
                booked[n][trade_id] = made
    return booked


def market_state(
    needs: MarketNeeds,
    *,
    valuation_date: date,
    curve_date: date,
    fx_date: date,
    reporting_currency: str,
    settlements: Mapping[tuple[str, date], Decimal] | None = None,
    expiries: Mapping[tuple[str, date, date], Decimal] | None = None,
) -> MarketState:
    """The market data `needs` asks for, read as of `curve_date` (curves, volatilities, rates)
    and `fx_date` (FX), for a valuation on `valuation_date`. Settlement prices do not depend on
    the day they are read, so a caller valuing twice may pass the first state's along."""
    codes = {m for m, _ in needs.forwards} | {m for m, _ in needs.settlements}
    codes |= {m for m, _month, _exp in needs.expiries} | needs.volatilities
    markets = list(Market.objects.filter(code__in=codes))
    specs = {m.code: MarketSpec(m.currency, m.quote_scale) for m in markets}
    curves = curves_on(markets, curve_date)
    forwards: dict[tuple[str, date], Decimal] = {}
    for market, month in needs.forwards:
        curve = curves.get(market)
        if curve is None:
            continue
        try:
            forwards[(market, month)] = curve_price(curve, month)
        except MarketDataError:
            continue
    if settlements is None:
        as_of = month_prices_as_of(
            (m, month, month - timedelta(days=1)) for m, month in needs.settlements
        )
        settlements = {(m, month): price for (m, month, _d), price in as_of.items()}
    if expiries is None:
        expiries = month_prices_as_of(needs.expiries)
    currencies = {spec.currency for spec in specs.values()}
    fx: dict[str, Decimal] = {}
    for currency in currencies - {reporting_currency}:
        try:
            fx[currency] = fx_rate(currency, reporting_currency, fx_date)
        except MarketDataError:
            continue
    return MarketState(
        valuation_date=valuation_date,
        markets=specs,
        forwards=forwards,
        settlements=settlements,
        expiries=expiries,
        volatilities=dict(
            MarketVolatility.objects.filter(market__code__in=needs.volatilities).values_list(
                "market__code", "volatility"
            )
        ),
        rates=interest_rates(currencies, curve_date),
        fx=fx,
        reporting_currency=reporting_currency,
    )


def books_valuation(
    books: Iterable[Book], on: date, *, moment: datetime | None = None
) -> dict[int, Valuation]:
    """The MtM of each book's trades booked at `moment` (now by default) on `on`'s market, in
    the book's currency: one query for the trades and one market read per reporting currency."""
    books = list(books)
    trades = _by_book(booked_as_of([b.pk for b in books], moment or timezone.now()))
    portfolios = {b.pk: Portfolio.of(t.terms for t in trades.get(b.pk, {}).values()) for b in books}
    valuations: dict[int, Valuation] = {}
    for currency in sorted({b.currency for b in books}):
        in_currency = [b for b in books if b.currency == currency]
        needs = MarketNeeds()
        for b in in_currency:
            needs.update(portfolios[b.pk].needs(on))
        state = market_state(
            needs, valuation_date=on, curve_date=on, fx_date=on, reporting_currency=currency
        )
        for b in in_currency:
            valuations[b.pk] = value_portfolio(portfolios[b.pk], state).rounded()
    return valuations


def trade_valuation(version: TradeVersion, on: date, reporting_currency: str) -> Valuation:
    """One trade version's MtM on `on`'s market, in `reporting_currency`."""
    row = {
        "deal_type": version.deal_type,
        "side": version.side,
        "market__code": version.market.code,
        "index_market__code": version.index_market.code if version.index_market else None,
        "unit__code": version.unit.code,
        "price": version.price,
        "position_legs": version.position_legs,
        "total_quantity": version.total_quantity,
        "option_type": version.option_type,
        "strike": version.strike,
        "expiry_date": version.expiry_date,
    }
    portfolio = Portfolio.of([_terms(row)])
    state = market_state(
        portfolio.needs(on),
        valuation_date=on,
        curve_date=on,
        fx_date=on,
        reporting_currency=reporting_currency,
    )
    return value_portfolio(portfolio, state).rounded()


def _by_book(trades: Mapping[int, BookedTrade]) -> dict[int, dict[int, BookedTrade]]:
    grouped: dict[int, dict[int, BookedTrade]] = defaultdict(dict)
    for trade_id, trade in trades.items():
        grouped[trade.book_id][trade_id] = trade
    return grouped


def book_explain(
    *,
    before: Mapping[int, BookedTrade],
    after: Mapping[int, BookedTrade],
    prior_date: date,
    on: date,
    currency: str,
) -> Explain:
    """The explain of one book from the end of `prior_date` to the end of `on`."""
    old = Holdings({i: t.terms for i, t in before.items()})
    new = Holdings({i: t.terms for i, t in after.items()})
    needs = old.portfolio.needs(prior_date)
    needs.update(old.portfolio.needs(on))
    needs.update(new.portfolio.needs(on))
    market_before = market_state(
        needs,
        valuation_date=prior_date,
        curve_date=prior_date,
        fx_date=prior_date,
        reporting_currency=currency,
    )
    market_after = market_state(
        needs,
        valuation_date=on,
        curve_date=on,
        fx_date=on,
        reporting_currency=currency,
        settlements=market_before.settlements,
        expiries=market_before.expiries,
    )
    return explain(
        before=old,
        after=new,
        amended=[i for i in after if i in before and after[i].version != before[i].version],
        market_before=market_before,
        market_after=market_after,
    )


def pnl_close(*, on: date, book_ids: Iterable[int] | None = None) -> list[BookPnl]:
    """Close `on`'s P&L of the books (all by default): one `BookPnl` row each, replacing the
    day's earlier close. The previous business day's row, when there is one, gives the realised
    figure the daily realised P&L is measured from."""
    books = Book.objects.order_by("pk")
    if book_ids is not None:
        books = books.filter(pk__in=list(book_ids))
    books = list(books)
    prior_date = previous_business_day(on)
    ids = [b.pk for b in books]
    before, after = map(_by_book, booked_at(ids, [end_of_day(prior_date), end_of_day(on)]))
    now = timezone.now()
    rows = []
    for book in books:
        result = book_explain(
            before=before.get(book.pk, {}),
            after=after.get(book.pk, {}),
            prior_date=prior_date,
            on=on,
            currency=book.currency,
        )
        steps = result.steps
        rows.append(
            BookPnl(
                book=book,
                date=on,
                prior_date=prior_date,
                currency=book.currency,
                realised=result.end.realised,
                unrealised=result.end.unrealised,
                daily=result.total,
                daily_realised=result.end.realised - result.start.realised,
                time_roll=steps[Step.TIME_ROLL],
                curve_moves=steps[Step.CURVE_MOVES],
                fx=steps[Step.FX],
                new_trades=steps[Step.NEW_TRADES],
                amendments=steps[Step.AMENDMENTS],
                cancellations=steps[Step.CANCELLATIONS],
                unexplained=steps[Step.UNEXPLAINED],
                trade_count=len(after.get(book.pk, {})),
                missing=[[str(kind), what] for kind, what in sorted(result.missing)],
                computed_at=now,
            )
        )
    with transaction.atomic():
        BookPnl.objects.filter(book_id__in=ids, date=on).delete()
        BookPnl.objects.bulk_create(rows)
    return rows
