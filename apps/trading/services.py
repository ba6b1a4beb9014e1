"""Trading's domain operations: book (one or many), amend, cancel, approve and reject trades.

Each owns its transaction (DESIGN.md flow 1 and 2): validate the terms (field errors, nothing
written) → lock the books' rows (and the counterparties') → build the pre-trade proposals and
run the checks → refuse, or write the trade and its version → update the positions → append
the audit entries last → after the commit, push the blotter rows to the desks' live groups.
A refusal by the checks rolls everything back and is then audited on its own.

Every read is done for the whole batch at once (books, counterparties, markets, units,
conversions, policies, volatilities, holidays, curves, exposures, the checks themselves), so a
batch of 1,000 costs the same number of queries as a batch of 10.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Any

from celery import signature
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.live import desk_group, publish_after_commit
from apps.accounts.models import Role, User
from apps.accounts.permissions import desks_for_user, has_role
from apps.compliance.audit import AuditRecord, audit_append, audit_append_many
from apps.compliance.pretrade import (
    CheckReport,
    TradeProposal,
    pretrade_check_many,
    refusals_count_on_commit,
)
from apps.trading import positions
from apps.trading.models import (
    FINAL_STATUSES,
    Book,
    Counterparty,
    CounterpartyExposure,
    DealType,
    DeliveryProfile,
    DeskTradingPolicy,
    HolidayDate,
    Market,
    MarketVolatility,
    OptionKind,
    Side,
    Trade,
    TradeRefCounter,
    TradeStatus,
    TradeVersion,
    Unit,
)
from apps.trading.periods import (
    MarketCalendar,
    Period,
    PeriodError,
    PeriodKind,
    Profile,
    hours_in,
    parse_period,
)
from apps.trading.pricing import OptionType, PricingError, black76
from qenergyz import metrics
from qenergyz.db import insert_rows

MAX_BULK = 1000
CENT = Decimal("0.01")
QUANTITY_STEP = Decimal("0.000001")
DELTA_STEP = Decimal("0.00000001")
# Commodities whose quantity is given per delivery hour (MW); all others per delivery day.
HOURLY_COMMODITIES = frozenset({"power"})


# --- Errors and results ---------------------------------------------------------------------------


class TradeError(Exception):
    """A trading operation refused; `message` is translated when read."""

    message: Any = _("The operation was refused.")

    def __init__(self, message: Any = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(str(self.message))


class StaleVersion(TradeError):
    message = _(
        "This trade has changed since you loaded it (another version was saved). Reload it and "
        "try again."
    )


class TradeStateError(TradeError):
    """The trade's status does not allow the operation (e.g. amending a cancelled trade)."""


class TradeBlocked(TradeError):
    """The pre-trade checks refused the trade; `report` says which rule and why."""

    message = _("The pre-trade checks blocked this trade.")

    def __init__(self, report: CheckReport, proposal: TradeProposal | None = None) -> None:
        self.report = report
        self.proposal = proposal
        super().__init__()


class ItemStatus(StrEnum):
    BOOKED = "booked"
    PENDING_APPROVAL = "pending_approval"
    BLOCKED = "blocked"
    INVALID = "invalid"


@dataclass(frozen=True)
class BookingResult:
    trade: Trade
    version: TradeVersion

    @property
    def status(self) -> str:
        return self.version.status

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [r for r in self.version.pretrade_results if r["outcome"] == "warn"]


@dataclass(frozen=True)
class ItemResult:
    """One item of a bulk booking, in the order given."""

    index: int
    status: ItemStatus
    trade: Trade | None = None
    version: TradeVersion | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    report: CheckReport | None = None


# --- Terms ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TradeTerms:
    """The terms of a trade as a client states them: references by code, amounts as Decimal.

    `quantity` is per delivery unit: per hour (MW) for power, per day for other commodities.
    The delivery period is a `period` code ("2026-03", "2026-Q2", "CAL-2027") or a span
    `delivery_start`..`delivery_end` (exclusive). `price` is the fixed price, the spread over
    the index for an index-priced forward, or the premium of an option.
    """

    book: str
    counterparty: str
    deal_type: str
    side: str
    market: str
    quantity: Decimal
    price: Decimal
    currency: str
    period: str = ""
    delivery_start: date | None = None
    delivery_end: date | None = None
    profile: str = DeliveryProfile.BASE
    unit: str = ""
    index_market: str = ""
    option_type: str = ""
    strike: Decimal | None = None
    expiry_date: date | None = None
    trade_date: date | None = None
    executed_at: datetime | None = None

    @classmethod
    def field_names(cls) -> frozenset[str]:
        return _TERM_NAMES

    @classmethod
    def from_version(cls, version: TradeVersion) -> "TradeTerms":
        """The terms of a stored version (its market etc. loaded), to amend from."""
        return cls(
            book=version.trade.book.code,
            counterparty=version.counterparty.short_code,
            deal_type=version.deal_type,
            side=version.side,
            market=version.market.code,
            quantity=version.quantity,
            price=version.price,
            currency=version.currency,
            period=version.period_code,
            delivery_start=None if version.period_code else version.delivery_start,
            delivery_end=None if version.period_code else version.delivery_end,
            profile=version.profile,
            unit=version.unit.code,
            index_market=version.index_market.code if version.index_market_id else "",
            option_type=version.option_type,
            strike=version.strike,
            expiry_date=version.expiry_date,
            trade_date=version.trade_date,
            executed_at=version.executed_at,
        )


_TERM_NAMES = frozenset(f.name for f in fields(TradeTerms))


@dataclass
class _Item:
    """Validated terms, with everything resolved and computed."""

    terms: TradeTerms
    book: Book
    counterparty: Counterparty
    market: Market
    index_market: Market | None
    unit: Unit
    period: Period
    legs: list[tuple[date, Decimal]]  # signed, delta-weighted quantity per delivery month
    total_quantity: Decimal
    notional: Decimal | None
    delta: Decimal | None
    trade_date: date
    executed_at: datetime
    notional_credit: Decimal | None = None
    status: str = TradeStatus.BOOKED


class _Refs:
    """The reference data a batch of terms needs, each kind read in one query."""

    def __init__(self, user: User, terms_list: Sequence[TradeTerms], *, gate: bool = True) -> None:
        self.user = user
        # The gatekeeper of writes: a trader books only into the books of their desks. Off only
        # for re-checking terms already booked (an approval by a second person).
        self.gate = gate
        self.desk_ids = set(desks_for_user(user).values_list("pk", flat=True)) if gate else set()
        self.is_trader = has_role(user, Role.TRADER)
        book_codes = {t.book for t in terms_list if isinstance(t.book, str)}
        self.books = {
            b.code: b
            for b in Book.objects.select_related("desk", "legal_entity").filter(code__in=book_codes)
        }
        cp_codes = {t.counterparty for t in terms_list if isinstance(t.counterparty, str)}
        self.counterparties = {
            c.short_code: c for c in Counterparty.objects.filter(short_code__in=cp_codes)
        }
        market_codes = {t.market for t in terms_list} | {t.index_market for t in terms_list}
        self.markets = {
            m.code: m
            for m in Market.objects.select_related("commodity", "quotation_unit").filter(
                code__in={c for c in market_codes if isinstance(c, str) and c}
            )
        }
        desk_ids = {b.desk_id for b in self.books.values()}
        self.policies = {
            p.desk_id: p for p in DeskTradingPolicy.objects.filter(desk_id__in=desk_ids)
        }
        option_markets = {t.market for t in terms_list if t.deal_type == DealType.OPTION}
        self.volatilities: dict[int, Decimal] = {}
        if option_markets:
            self.volatilities = dict(
                MarketVolatility.objects.filter(market__code__in=option_markets).values_list(
                    "market_id", "volatility"
                )
            )
        self._holidays: dict[int, frozenset[date]] = {}
        self._hours: dict[tuple[int, date, date, str], int] = {}
        self._curves: dict[date, dict[str, Any]] = {}
        self._fx: dict[tuple[str, str, date], Decimal | None] = {}

    def load_holidays(self, periods: Iterable[tuple[Market, Period]]) -> None:
        """The off-peak holidays of the markets with peak hours, over the batch's span."""
        spans: dict[int, list[Period]] = {}
        for market, period in periods:
            if market.peak_holiday_calendar_id is not None:
                spans.setdefault(market.peak_holiday_calendar_id, []).append(period)
        if not spans:
            return
        start = min(p.start for ps in spans.values() for p in ps)
        end = max(p.end for ps in spans.values() for p in ps)
        found: dict[int, set[date]] = {calendar: set() for calendar in spans}
        for calendar, day in HolidayDate.objects.filter(
            calendar_id__in=list(spans), date__gte=start, date__lt=end
        ).values_list("calendar_id", "date"):
            found[calendar].add(day)
        self._holidays = {calendar: frozenset(days) for calendar, days in found.items()}

    def calendar(self, market: Market) -> MarketCalendar:
        return MarketCalendar(
            time_zone=market.time_zone,
            day_start_hour=market.day_start_hour,
            day_start_zone=market.day_start_zone or None,
            peak=market.peak_definition(),
            holidays=self._holidays.get(market.peak_holiday_calendar_id or 0, frozenset()),
        )

    def delivery_units(self, market: Market, start: date, end: date, profile: str) -> int:
        """Hours (power) or days (other commodities) of delivery in [start, end)."""
        if market.commodity.code not in HOURLY_COMMODITIES:
            return (end - start).days
        key = (market.pk, start, end, profile)
        if key not in self._hours:
            span = Period(PeriodKind.DAY, start, end)
            self._hours[key] = _hours_in(span, self.calendar(market), Profile(profile))
        return self._hours[key]

    def curve(self, market: Market, pricing_date: date) -> Any | None:
        """The market's curve on `pricing_date` (None when there is none); curves of all the
        batch's markets are read at once per pricing date."""
        if pricing_date not in self._curves:
            try:
                from apps.trading.marketdata import curves_on
            except ImportError:  # no market data at all: no curve, and callers fail closed
                self._curves[pricing_date] = {}
            else:
                self._curves[pricing_date] = curves_on(self.markets.values(), pricing_date)
        return self._curves[pricing_date].get(market.code)

    def fx(self, amount: Decimal | None, from_ccy: str, to_ccy: str, on: date) -> Decimal | None:
        """`amount` converted (as marketdata.fx_convert does); None when no rate is known, so
        that the credit check fails closed."""
        if amount is None:
            return None
        if from_ccy == to_ccy:
            return amount
        key = (from_ccy, to_ccy, on)
        if key not in self._fx:
            try:
                from apps.trading.marketdata import fx_rate

                self._fx[key] = fx_rate(from_ccy, to_ccy, on)
            except Exception:  # no rate, or no market data at all: the figure is unknown
                self._fx[key] = None
        rate = self._fx[key]
        return None if rate is None else (amount * rate).quantize(CENT)


# --- Validation -----------------------------------------------------------------------------------

# Read for every item of a batch: the choices once (`.values` builds a new list each time), and
# the periods and delivery hours remembered across batches (both depend only on their
# arguments, calendars included, which are immutable and hashable).
_DEAL_TYPES = frozenset(DealType.values)
_SIDES = frozenset(Side.values)
_PROFILES = frozenset(DeliveryProfile.values)
_OPTION_KINDS = frozenset(OptionKind.values)
_parse_period = lru_cache(maxsize=1024)(parse_period)
_hours_in = lru_cache(maxsize=1024)(hours_in)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            result = Decimal(value)
        except InvalidOperation:
            return None
        return result if result.is_finite() else None
    return None


def _resolve(terms: TradeTerms, refs: _Refs, errors: dict[str, list[Any]]) -> dict[str, Any]:
    """References and shapes; adds field errors, returns what resolved."""

    def error(name: str, message: Any) -> None:
        errors.setdefault(name, []).append(message)

    found: dict[str, Any] = {}
    book = refs.books.get(terms.book)
    if book is None or (refs.gate and (book.desk_id not in refs.desk_ids or not refs.is_trader)):
        # The same answer for "no such book" and "not your desk's": nothing is revealed.
        error("book", _("Unknown book, or not a book of your desks."))
    else:
        found["book"] = book
    counterparty = refs.counterparties.get(terms.counterparty)
    if counterparty is None:
        error("counterparty", _("Unknown counterparty."))
    found["counterparty"] = counterparty
    if terms.deal_type not in _DEAL_TYPES:
        error("deal_type", _("Unknown deal type."))
    if terms.side not in _SIDES:
        error("side", _("Give the side: buy or sell."))
    market = refs.markets.get(terms.market)
    if market is None:
        error("market", _("Unknown market."))
    found["market"] = market

    quantity = _decimal(terms.quantity)
    if quantity is None or quantity <= 0:
        error("quantity", _("The quantity must be a number greater than zero."))
    price = _decimal(terms.price)
    if price is None:
        error("price", _("The price must be a number."))
    elif terms.deal_type == DealType.OPTION and price < 0:
        error("price", _("An option's premium cannot be negative."))

    if market is not None:
        if terms.currency != market.currency:
            error(
                "currency",
                _("%(market)s is priced in %(currency)s; give the price in %(currency)s.")
                % {"market": market.code, "currency": market.currency},
            )
        if terms.unit and terms.unit != market.quotation_unit.code:
            error(
                "unit",
                _("%(market)s trades in %(unit)s; give the quantity in %(unit)s.")
                % {"market": market.code, "unit": market.quotation_unit.code},
            )
        found["unit"] = market.quotation_unit
        if terms.profile not in _PROFILES:
            error("profile", _("Unknown profile: base, peak or offpeak."))
        elif terms.profile != DeliveryProfile.BASE and not market.has_peak:
            error(
                "profile",
                _("%(market)s has no peak hours: trade it base load.") % {"market": market.code},
            )

    # The delivery period: a code, or a span.
    period: Period | None = None
    if terms.period:
        try:
            period = _parse_period(terms.period)
        except PeriodError:
            error(
                "period", _("Unknown period code; use e.g. 2026-03, 2026-Q2, SUM-2026, CAL-2027.")
            )
        if period is not None and (
            (terms.delivery_start and terms.delivery_start != period.start)
            or (terms.delivery_end and terms.delivery_end != period.end)
        ):
            error("period", _("The period code and the delivery dates disagree."))
    elif terms.delivery_start and terms.delivery_end:
        if terms.delivery_end <= terms.delivery_start:
            error("delivery_end", _("The delivery period must end after it starts."))
        else:
            period = Period(PeriodKind.DAY, terms.delivery_start, terms.delivery_end)
    else:
        error("period", _("Give a period code or both delivery dates."))
    if period is not None and period.days > 366 * 5:
        error("period", _("A delivery period is at most five years long."))
        period = None
    found["period"] = period

    # Deal-type specific terms.
    index_market = None
    if terms.deal_type == DealType.PHYSICAL_INDEX:
        index_market = refs.markets.get(terms.index_market) if terms.index_market else None
        if index_market is None:
            error("index_market", _("An index-priced forward needs a known index market."))
    elif terms.index_market:
        error("index_market", _("Only an index-priced forward has an index market."))
    found["index_market"] = index_market
    if terms.deal_type == DealType.OPTION:
        if terms.option_type not in _OPTION_KINDS:
            error("option_type", _("Give the option type: call or put."))
        strike = _decimal(terms.strike) if terms.strike is not None else None
        if strike is None or strike <= 0:
            error("strike", _("An option needs a strike greater than zero."))
        if terms.expiry_date is None:
            error("expiry_date", _("An option needs its expiry date."))
    elif terms.option_type or terms.strike is not None or terms.expiry_date is not None:
        error("option_type", _("Only an option has an option type, strike and expiry date."))

    executed_at = terms.executed_at or timezone.now()
    if timezone.is_naive(executed_at):
        error("executed_at", _("Give the execution time with its time zone (UTC)."))
    found["executed_at"] = executed_at
    trade_date = terms.trade_date
    if trade_date is None and not timezone.is_naive(executed_at):
        trade_date = executed_at.astimezone(UTC).date()
    found["trade_date"] = trade_date
    if (
        terms.deal_type == DealType.OPTION
        and terms.expiry_date is not None
        and trade_date is not None
        and terms.expiry_date < trade_date
    ):
        error("expiry_date", _("The option expires before its trade date."))
    return found


def _compute(terms: TradeTerms, found: dict[str, Any], refs: _Refs) -> _Item:
    """Quantities, notional and delta of terms that resolved; raises ValidationError."""
    market: Market = found["market"]
    period: Period = found["period"]
    quantity = Decimal(terms.quantity)
    price = Decimal(terms.price)
    sign = 1 if terms.side == Side.BUY else -1
    months: list[tuple[date, Decimal]] = []
    for month_start in period.months():
        start = max(period.start, month_start)
        end = min(period.end, (month_start + timedelta(days=32)).replace(day=1))
        units = refs.delivery_units(market, start, end, terms.profile)
        months.append((month_start, quantity * units))
    total = sum((q for _m, q in months), Decimal(0))
    if total <= 0:
        raise ValidationError({"period": [_("The period has no delivery hours in this profile.")]})

    trade_date: date = found["trade_date"]
    delta: Decimal | None = None
    notional: Decimal | None
    if terms.deal_type == DealType.OPTION:
        curve = refs.curve(market, trade_date)
        try:
            if curve is None:
                raise LookupError
            from apps.trading.marketdata import curve_price

            forward = curve_price(curve, period.start)
        except LookupError:
            raise ValidationError(
                {
                    "market": [
                        _("No curve for %(market)s on %(date)s to compute the option's delta.")
                        % {"market": market.code, "date": trade_date.isoformat()}
                    ]
                }
            ) from None
        volatility = refs.volatilities.get(market.pk)
        if volatility is None:
            raise ValidationError(
                {
                    "market": [
                        _("No volatility for %(market)s to compute the option's delta.")
                        % {"market": market.code}
                    ]
                }
            )
        years = Decimal((terms.expiry_date - trade_date).days) / Decimal(365)
        try:
            value = black76(
                option_type=OptionType(terms.option_type),
                forward=forward,
                strike=Decimal(terms.strike),
                volatility=volatility,
                years=years,
                rate=Decimal(0),  # undiscounted delta until the risk issue brings rate curves
            )
        except PricingError as exc:
            raise ValidationError({"strike": [str(exc)]}) from None
        delta = value.delta.quantize(DELTA_STEP)
        notional = abs(total * Decimal(terms.strike) * market.quote_scale).quantize(CENT)
    elif terms.deal_type == DealType.PHYSICAL_INDEX:
        index_market: Market = found["index_market"]
        curve = refs.curve(index_market, trade_date)
        notional = None
        if curve is not None:
            from apps.trading.marketdata import curve_price

            try:
                forward = curve_price(curve, period.start)
                notional = abs(total * (forward + price) * market.quote_scale).quantize(CENT)
            except LookupError:
                notional = None
    else:
        notional = abs(total * price * market.quote_scale).quantize(CENT)

    weight = delta if delta is not None else Decimal(1)
    legs = [(month, (sign * weight * q).quantize(QUANTITY_STEP)) for month, q in months]
    return _Item(
        terms=terms,
        book=found["book"],
        counterparty=found["counterparty"],
        market=market,
        index_market=found["index_market"],
        unit=found["unit"],
        period=period,
        legs=legs,
        total_quantity=total,
        notional=notional,
        delta=delta,
        trade_date=trade_date,
        executed_at=found["executed_at"],
    )


def _validate_many(
    terms_list: Sequence[TradeTerms], refs: _Refs
) -> list[_Item | dict[str, list[str]]]:
    """Each terms' validated item, or its field errors (as translated strings)."""
    resolved: list[tuple[dict[str, Any], dict[str, list[Any]]]] = []
    for terms in terms_list:
        errors: dict[str, list[Any]] = {}
        found = _resolve(terms, refs, errors)
        resolved.append((found, errors))
    refs.load_holidays(
        (found["market"], found["period"])
        for found, errors in resolved
        if not errors and found.get("period") is not None
    )
    out: list[_Item | dict[str, list[str]]] = []
    for terms, (found, errors) in zip(terms_list, resolved, strict=True):
        if errors:
            out.append({name: [str(m) for m in messages] for name, messages in errors.items()})
            continue
        try:
            out.append(_compute(terms, found, refs))
        except ValidationError as exc:
            out.append({name: [str(m) for m in ms] for name, ms in exc.message_dict.items()})
    return out


# --- Locks, exposure, four eyes, proposals ----------------------------------------------------


def _lock(book_ids: Iterable[int], counterparty_ids: Iterable[int]) -> None:
    """Serialise bookings into the same books and with the same counterparties.

    The race this prevents: two bookings into one book both read its positions (and two
    bookings with one counterparty both read its running exposure) before either writes, so
    each passes a limit that together they break, and the later position (or exposure) update
    is computed from a stale read. Rows are locked in id order, books before counterparties,
    so that batches touching the same rows cannot deadlock. (On SQLite the IMMEDIATE
    transaction already serialises.)
    """
    list(Book.objects.select_for_update().filter(pk__in=set(book_ids)).order_by("pk").values("pk"))
    list(
        Counterparty.objects.select_for_update()
        .filter(pk__in=set(counterparty_ids))
        .order_by("pk")
        .values("pk")
    )


# (counterparty id, currency): the key of a `CounterpartyExposure` row.
ExposureKey = tuple[int, str]


@dataclass
class ExposureDeltas:
    """Changes to the counterparties' running exposures, accumulated before they are applied in
    one go (like positions.PositionDeltas)."""

    # [change of the sum of the known notionals, of the booked trades, of those without one]
    changes: dict[ExposureKey, list[Any]] = field(default_factory=dict)

    def add(self, version: TradeVersion, sign: int) -> None:
        """Add (+1) or remove (−1) what a booked version counts for."""
        figure = self.changes.setdefault(
            (version.counterparty_id, version.currency), [Decimal(0), 0, 0]
        )
        if version.notional is None:
            figure[2] += sign
        else:
            figure[0] += sign * version.notional
        figure[1] += sign


def _exposures_apply(deltas: ExposureDeltas) -> None:
    """Apply `deltas` to the running exposures, in two or three queries.

    Call it inside the operation's transaction, after locking the counterparties concerned: the
    rows are read, summed in Python and written back, which the lock makes safe. A row left
    with no trade is removed (as the sum over no trade has no row).
    """
    changes = {key: delta for key, delta in deltas.changes.items() if any(delta)}
    if not changes:
        return
    existing = {
        (row.counterparty_id, row.currency): row
        for row in CounterpartyExposure.objects.filter(
            counterparty_id__in={key[0] for key in changes},
            currency__in={key[1] for key in changes},
        )
    }
    now = timezone.now()
    upserts, emptied = [], []
    for key, (amount, trades, unknown) in changes.items():
        row = existing.get(key)
        if row is not None:
            amount += row.amount
            trades += row.trades
            unknown += row.unknown
        if trades == 0:
            if row is not None:
                emptied.append(row.pk)
            continue
        upserts.append(
            CounterpartyExposure(
                counterparty_id=key[0],
                currency=key[1],
                amount=amount,
                trades=trades,
                unknown=unknown,
                updated_at=now,
            )
        )
    if upserts:
        CounterpartyExposure.objects.bulk_create(
            upserts,
            update_conflicts=True,
            unique_fields=["counterparty", "currency"],
            update_fields=["amount", "trades", "unknown", "updated_at"],
        )
    if emptied:
        CounterpartyExposure.objects.filter(pk__in=emptied).delete()


def exposures_computed() -> dict[ExposureKey, tuple[Decimal, int, int]]:
    """The exposures from the trades themselves, in one query: per counterparty and currency,
    the notionals of the booked trades' current versions, their number, and how many of them
    have no notional."""
    rows = (
        TradeVersion.objects.filter(
            trade__status=TradeStatus.BOOKED, version=F("trade__current_version")
        )
        .values("counterparty_id", "currency")
        .annotate(
            amount=Sum("notional"),
            trades=Count("pk"),
            unknown=Count("pk", filter=Q(notional__isnull=True)),
        )
    )
    return {
        (row["counterparty_id"], row["currency"]): (
            row["amount"] if row["amount"] is not None else Decimal(0),
            row["trades"],
            row["unknown"],
        )
        for row in rows
    }


def exposures_rebuild() -> int:
    """Replace the running exposures by sums from the trades; returns the number of rows.

    Takes every counterparty's lock, the one bookings take, so that none changes an exposure
    while it is recomputed (no book lock is held, so it cannot deadlock with a booking).
    """
    with transaction.atomic():
        list(Counterparty.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
        totals = exposures_computed()
        now = timezone.now()
        CounterpartyExposure.objects.all().delete()
        CounterpartyExposure.objects.bulk_create(
            [
                CounterpartyExposure(
                    counterparty_id=counterparty_id,
                    currency=currency,
                    amount=amount,
                    trades=trades,
                    unknown=unknown,
                    updated_at=now,
                )
                for (counterparty_id, currency), (amount, trades, unknown) in sorted(totals.items())
            ]
        )
    return len(totals)


def _exposures(
    counterparty_ids: Iterable[int], replaces: TradeVersion | None = None
) -> dict[int, dict[str, Decimal | None]]:
    """{counterparty: {currency: sum of |notional| of its booked trades}}, in one query.

    The interim credit exposure, until the risk issue provides one: the notional of each booked
    (not cancelled, not pending) trade's current version, kept running in CounterpartyExposure
    (read under the counterparties' locks). `replaces` is the current version of a trade being
    amended or approved: what it counts for now is left out, as its new version is checked in
    its place. A currency whose sum includes a trade without a notional is None: the exposure is
    unknown and the credit check fails closed.
    """
    figures = {
        (counterparty_id, currency): [amount, trades, unknown]
        for counterparty_id, currency, amount, trades, unknown in (
            CounterpartyExposure.objects.filter(
                counterparty_id__in=set(counterparty_ids)
            ).values_list("counterparty_id", "currency", "amount", "trades", "unknown")
        )
    }
    if replaces is not None and replaces.status == TradeStatus.BOOKED:
        left_out = ExposureDeltas()
        left_out.add(replaces, -1)
        for key, (amount, trades, unknown) in left_out.changes.items():
            if key in figures:
                figure = figures[key]
                figures[key] = [figure[0] + amount, figure[1] + trades, figure[2] + unknown]
    result: dict[int, dict[str, Decimal | None]] = {}
    for (counterparty_id, currency), (amount, trades, unknown) in figures.items():
        if trades:
            result.setdefault(counterparty_id, {})[currency] = None if unknown else amount
    return result


def _exposure_in(
    by_currency: Mapping[str, Decimal | None], counterparty: Counterparty, on: date, refs: _Refs
) -> Decimal | None:
    total = Decimal(0)
    for currency, amount in by_currency.items():
        converted = refs.fx(amount, currency, counterparty.credit_currency, on)
        if converted is None:
            return None
        total += converted
    return total


def _needs_approval(item: _Item, refs: _Refs) -> bool:
    """Four eyes: over the desk's threshold, or a notional that cannot be compared with it.

    A desk with no policy has the default threshold (settings.DEFAULT_APPROVAL_THRESHOLD in
    DEFAULT_APPROVAL_CURRENCY): a missing row must not switch four eyes off.
    """
    policy = refs.policies.get(item.book.desk_id)
    if policy is None:
        threshold = settings.DEFAULT_APPROVAL_THRESHOLD
        currency = settings.DEFAULT_APPROVAL_CURRENCY
    else:
        threshold, currency = policy.approval_threshold, policy.currency
    notional = refs.fx(item.notional, item.market.currency, currency, item.trade_date)
    return notional is None or notional > threshold


def _proposal(
    item: _Item, *, user: User, exposure: Decimal | None, amends: int | None = None
) -> TradeProposal:
    terms = item.terms
    reference_price = Decimal(terms.strike) if terms.deal_type == DealType.OPTION else terms.price
    fallback = abs(item.total_quantity * Decimal(reference_price) * item.market.quote_scale)
    return TradeProposal(
        trade_date=item.trade_date,
        trader_id=user.pk,
        desk_id=item.book.desk_id,
        book_id=item.book.pk,
        legal_entity_id=item.book.legal_entity_id,
        jurisdiction=item.book.legal_entity.jurisdiction,
        counterparty_id=item.counterparty.pk,
        market_code=item.market.code,
        commodity=item.market.commodity.code,
        deal_type=terms.deal_type,
        side=terms.side,
        quantity=item.total_quantity,
        unit=item.unit.code,
        price=Decimal(terms.price),
        currency=terms.currency,
        notional=item.notional if item.notional is not None else fallback.quantize(CENT),
        notional_in_credit_currency=item.notional_credit,
        counterparty_exposure=exposure,
        amends_trade_id=amends,
    )


def _proposals(
    items: Sequence[_Item],
    refs: _Refs,
    *,
    user: User,
    amends: int | None = None,
    replaces: TradeVersion | None = None,
) -> list[TradeProposal]:
    """One proposal per item; exposure accumulates over the batch's earlier items that book.

    Conservative: an earlier item counts even if its own checks then block it (the checks of a
    batch run together), so a batch never books past a limit that one-by-one bookings respect.
    """
    exposures = _exposures({i.counterparty.pk for i in items}, replaces=replaces)
    running: dict[int, Decimal | None] = {}
    proposals = []
    for item in items:
        cp = item.counterparty
        item.notional_credit = refs.fx(
            item.notional, item.market.currency, cp.credit_currency, item.trade_date
        )
        if cp.pk not in running:
            running[cp.pk] = _exposure_in(exposures.get(cp.pk, {}), cp, item.trade_date, refs)
        proposals.append(_proposal(item, user=user, exposure=running[cp.pk], amends=amends))
        if item.status == TradeStatus.BOOKED:
            before = running[cp.pk]
            running[cp.pk] = (
                None
                if before is None or item.notional_credit is None
                else before + item.notional_credit
            )
    return proposals


# --- Writing --------------------------------------------------------------------------------------


def _reserve_refs(count: int) -> list[str]:
    """`count` new trade references, in two queries (the UPDATE locks the counter row until the
    commit, so two bookings never draw the same numbers)."""
    if not TradeRefCounter.objects.filter(pk=1).update(value=F("value") + count):
        TradeRefCounter.objects.bulk_create([TradeRefCounter(pk=1, value=0)], ignore_conflicts=True)
        TradeRefCounter.objects.filter(pk=1).update(value=F("value") + count)
    last = TradeRefCounter.objects.values_list("value", flat=True).get(pk=1)
    return [f"T-{n:06d}" for n in range(last - count + 1, last + 1)]


def _legs_json(legs: Sequence[tuple[date, Decimal]]) -> list[list[str]]:
    return [[month.isoformat(), str(quantity)] for month, quantity in legs]


def _new_version(
    item: _Item,
    *,
    trade: Trade,
    version: int,
    user: User,
    now: datetime,
    report: CheckReport,
    reason: str = "",
) -> TradeVersion:
    terms = item.terms
    return TradeVersion(
        trade=trade,
        version=version,
        status=item.status,
        created_by=user,
        created_at=now,
        reason=reason,
        deal_type=terms.deal_type,
        side=terms.side,
        counterparty=item.counterparty,
        trader=user,
        market=item.market,
        index_market=item.index_market,
        period_code=terms.period.strip().upper() if terms.period else "",
        delivery_start=item.period.start,
        delivery_end=item.period.end,
        profile=terms.profile,
        quantity=Decimal(terms.quantity),
        total_quantity=item.total_quantity,
        unit=item.unit,
        price=Decimal(terms.price),
        currency=terms.currency,
        notional=item.notional,
        option_type=terms.option_type,
        strike=terms.strike,
        expiry_date=terms.expiry_date,
        delta=item.delta,
        trade_date=item.trade_date,
        executed_at=item.executed_at,
        position_legs=_legs_json(item.legs),
        pretrade_results=report.as_list(),
    )


def _audit_payload(trade: Trade, version: TradeVersion) -> dict[str, Any]:
    return {
        "trade_ref": trade.trade_ref,
        "version": version.version,
        "status": version.status,
        "book": trade.book.code,
        "counterparty": version.counterparty.short_code,
        "deal_type": version.deal_type,
        "side": version.side,
        "market": version.market.code,
        "delivery": [version.delivery_start, version.delivery_end, version.profile],
        "quantity": version.quantity,
        "total_quantity": version.total_quantity,
        "unit": version.unit.code,
        "price": version.price,
        "currency": version.currency,
        "notional": version.notional,
        "warnings": [r for r in version.pretrade_results if r["outcome"] == "warn"],
        "reason": version.reason,
    }


def _proposal_payload(proposal: TradeProposal, report: CheckReport) -> dict[str, Any]:
    return {
        "proposal": {name: getattr(proposal, name) for name in proposal.__dataclass_fields__},
        "reasons": [r.as_dict() for r in report.blocks],
        "results": report.as_list(),
    }


_CENT = Decimal("0.01")


def plain_amount(value: Decimal, *, places: Decimal | None = None) -> str:
    """An amount as a trader writes it: no padding zeros, but at least `places` (cents)."""
    value = value.normalize()
    if places is not None and value.as_tuple().exponent > places.as_tuple().exponent:  # type: ignore[operator]
        value = value.quantize(places)
    return format(value, "f")


def blotter_row(trade: Trade, version: TradeVersion) -> dict[str, Any]:
    """A trade as the blotter shows it, loaded or pushed live (JSON-serialisable)."""
    return {
        "id": trade.pk,
        "trade_ref": trade.trade_ref,
        "version": version.version,
        "status": version.status,
        "book": trade.book.code,
        "counterparty": version.counterparty.short_code,
        "side": version.side,
        "market": version.market.code,
        "period": version.period_code
        or f"{version.delivery_start.isoformat()}/{version.delivery_end.isoformat()}",
        "profile": version.profile,
        "quantity": plain_amount(version.quantity),
        "total_quantity": plain_amount(version.total_quantity),
        "unit": version.unit.code,
        "price": plain_amount(version.price, places=_CENT),
        "currency": version.currency,
        "trade_date": version.trade_date.isoformat(),
    }


def _publish(rows_by_desk: Mapping[int, list[dict[str, Any]]], *, new: bool) -> None:
    for desk_id, rows in rows_by_desk.items():
        publish_after_commit(
            desk_group(desk_id), "live/trade_row.html", {"trades": rows, "new": new}
        )
        # Flow 1's last step: the desk's quick risk re-run, by task name (trading never imports
        # the risk app), once committed; a rollback enqueues nothing.
        transaction.on_commit(
            lambda d=desk_id: signature("apps.risk.tasks.risk_run_incremental", args=[d]).delay()
        )


# --- Booking --------------------------------------------------------------------------------------


def _book(
    *,
    user: User,
    terms_list: Sequence[TradeTerms],
    single: bool,
    booked_at: datetime | None = None,
) -> list[ItemResult]:
    results: dict[int, ItemResult] = {}
    blocked: list[tuple[TradeProposal, CheckReport]] = []
    try:
        with transaction.atomic():
            refs = _Refs(user, terms_list)
            validated = _validate_many(terms_list, refs)
            items: list[tuple[int, _Item]] = []
            for index, outcome in enumerate(validated):
                if isinstance(outcome, dict):
                    if single:
                        raise ValidationError(outcome)
                    results[index] = ItemResult(index, ItemStatus.INVALID, errors=outcome)
                else:
                    items.append((index, outcome))
            if not items:
                return [results[i] for i in range(len(terms_list))]
            _lock({i.book.pk for _n, i in items}, {i.counterparty.pk for _n, i in items})
            for _n, item in items:
                item.status = (
                    TradeStatus.PENDING_APPROVAL
                    if _needs_approval(item, refs)
                    else TradeStatus.BOOKED
                )
            proposals = _proposals([i for _n, i in items], refs, user=user)
            reports = pretrade_check_many(proposals)
            passing: list[tuple[int, _Item, CheckReport]] = []
            for (index, item), proposal, report in zip(items, proposals, reports, strict=True):
                if report.blocked:
                    if single:
                        raise TradeBlocked(report, proposal)
                    blocked.append((proposal, report))
                    results[index] = ItemResult(index, ItemStatus.BLOCKED, report=report)
                else:
                    passing.append((index, item, report))
            if passing:
                _write_new(
                    user=user,
                    passing=passing,
                    results=results,
                    single=single,
                    booked_at=booked_at,
                )
    except TradeBlocked as exc:
        # Rolled back; the refusal itself is recorded, on its own.
        audit_append(
            actor=user,
            action="trading.trade_blocked",
            payload=_proposal_payload(exc.proposal, exc.report),
        )
        refusals_count_on_commit([exc.report])
        raise
    if blocked:
        with transaction.atomic():
            audit_append_many(
                [
                    AuditRecord(
                        actor=user,
                        action="trading.trade_blocked",
                        payload=_proposal_payload(proposal, report),
                    )
                    for proposal, report in blocked
                ]
            )
            refusals_count_on_commit(report for _proposal, report in blocked)
    return [results[i] for i in range(len(terms_list))]


def _write_new(
    *,
    user: User,
    passing: Sequence[tuple[int, _Item, CheckReport]],
    results: dict[int, ItemResult],
    single: bool,
    booked_at: datetime | None = None,
) -> None:
    now = booked_at or timezone.now()
    refs = _reserve_refs(len(passing))
    trades = [
        Trade(
            trade_ref=ref,
            book=item.book,
            desk=item.book.desk,  # a copy, never changed: the lists' desk scope
            created_by=user,
            created_at=now,
            current_version=1,
            status=item.status,
            market=item.market,
            counterparty=item.counterparty,
            trade_date=item.trade_date,
        )
        for ref, (_n, item, _r) in zip(refs, passing, strict=True)
    ]
    if single:
        Trade.objects.bulk_create(trades)
    else:
        insert_rows(trades, with_ids=True)  # the versions refer to the trades' ids
    versions = [
        _new_version(item, trade=trade, version=1, user=user, now=now, report=report)
        for trade, (_n, item, report) in zip(trades, passing, strict=True)
    ]
    if single:
        TradeVersion.objects.bulk_create(versions)
    else:
        insert_rows(versions)
    deltas = positions.PositionDeltas()
    exposures = ExposureDeltas()
    rows: dict[int, list[dict[str, Any]]] = {}
    records = []
    for trade, version, (index, item, _r) in zip(trades, versions, passing, strict=True):
        if version.status == TradeStatus.BOOKED:
            deltas.add(trade.book_id, version, +1)
            exposures.add(version, +1)
        status = (
            ItemStatus.BOOKED
            if version.status == TradeStatus.BOOKED
            else ItemStatus.PENDING_APPROVAL
        )
        results[index] = ItemResult(index, status, trade=trade, version=version)
        rows.setdefault(item.book.desk_id, []).append(blotter_row(trade, version))
        records.append(
            AuditRecord(
                actor=user,
                action="trading.trade_booked",
                obj=trade,
                payload=_audit_payload(trade, version),
            )
        )
    positions.positions_apply(deltas)
    _exposures_apply(exposures)
    # The audit entries last: the chain's lock is held only for the end of the transaction.
    if single:
        audit_append(
            actor=user, action=records[0].action, obj=trades[0], payload=records[0].payload
        )
    else:
        audit_append_many(records)
    _publish(rows, new=True)
    metrics.trades_booked_on_commit(version.status for version in versions)


def trade_book(*, user: User, terms: TradeTerms) -> BookingResult:
    """Book one trade (flow 1): booked, or pending approval when over the desk's threshold.

    Raises ValidationError (field errors, nothing written) or TradeBlocked (the checks refused;
    nothing written but the audit entry of the refusal).
    """
    result = _book(user=user, terms_list=[terms], single=True)[0]
    assert result.trade is not None
    assert result.version is not None
    return BookingResult(result.trade, result.version)


def trade_book_many(
    *, user: User, terms_list: Sequence[TradeTerms], booked_at: datetime | None = None
) -> list[ItemResult]:
    """Book up to MAX_BULK trades; a result per item, in order.

    One transaction for the batch: every item is validated and checked before anything is
    written, and only items that passed are written (in bulk), so no savepoints are needed; an
    invalid or blocked item writes nothing and does not stop the others. An unexpected error
    rolls the whole batch back (the client retries it with the same Idempotency-Key). Refusals
    are audited after the commit.

    `booked_at` back-loads trades booked earlier elsewhere (a system import; the demo's
    history): their rows carry that time, so that a P&L close or an end-of-day risk run of a
    day since counts them. Never taken from a request; not in the future. The audit entries
    keep the real time they were written.
    """
    if booked_at is not None and booked_at > timezone.now():
        raise ValidationError(_("A back-loaded booking time cannot be in the future."))
    if len(terms_list) > MAX_BULK:
        raise ValidationError(
            _("At most %(max)d trades per batch; split the %(count)d into several.")
            % {"max": MAX_BULK, "count": len(terms_list)}
        )
    return _book(user=user, terms_list=terms_list, single=False, booked_at=booked_at)


# --- Changing a trade -------------------------------------------------------------------------


def _current(trade_id: int) -> tuple[Trade, TradeVersion]:
    trade = Trade.objects.select_related("book__desk", "book__legal_entity").get(pk=trade_id)
    version = TradeVersion.objects.select_related(
        "counterparty", "market__commodity", "market__quotation_unit", "index_market", "unit"
    ).get(trade=trade, version=trade.current_version)
    version.trade = trade
    return trade, version


def _may_trade(user: User, trade: Trade) -> bool:
    return (
        has_role(user, Role.TRADER) and desks_for_user(user).filter(pk=trade.book.desk_id).exists()
    )


def _move(trade: Trade, expected: int, version: TradeVersion) -> None:
    """Point the trade at its new version if nobody moved it since `expected` was read."""
    moved = Trade.objects.filter(pk=trade.pk, current_version=expected).update(
        current_version=expected + 1,
        status=version.status,
        market=version.market,
        counterparty=version.counterparty,
        trade_date=version.trade_date,
    )
    if not moved:
        raise StaleVersion
    trade.current_version, trade.status = expected + 1, version.status
    trade.market, trade.counterparty, trade.trade_date = (
        version.market,
        version.counterparty,
        version.trade_date,
    )


def _copy(current: TradeVersion, *, status: str, user: User, reason: str) -> TradeVersion:
    version = TradeVersion.objects.get(pk=current.pk)  # a fresh instance, then unsaved
    version.pk = None
    version.id = None
    version.version = current.version + 1
    version.status = status
    version.created_by = user
    version.created_at = timezone.now()
    version.reason = reason
    return version


def _finish(*, user: User, trade: Trade, old: TradeVersion, new: TradeVersion, action: str) -> None:
    """Positions and the counterparties' exposures by the difference (under the book's and
    the counterparties' locks), the audit entry, the live row."""
    deltas = positions.PositionDeltas()
    exposures = ExposureDeltas()
    if old.status == TradeStatus.BOOKED:
        deltas.add(trade.book_id, old, -1)
        exposures.add(old, -1)
    if new.status == TradeStatus.BOOKED:
        deltas.add(trade.book_id, new, +1)
        exposures.add(new, +1)
    positions.positions_apply(deltas)
    _exposures_apply(exposures)
    audit_append(actor=user, action=action, obj=trade, payload=_audit_payload(trade, new))
    _publish({trade.book.desk_id: [blotter_row(trade, new)]}, new=False)


def _check_open(trade: Trade, expected: int) -> None:
    if trade.current_version != expected:
        raise StaleVersion
    if trade.status in FINAL_STATUSES:
        raise TradeStateError(
            _("This trade is %(status)s: it cannot change any more.")
            % {"status": TradeStatus(trade.status).label}
        )


def _recheck(
    *,
    user: User,
    trade: Trade,
    current: TradeVersion,
    terms: TradeTerms,
    status: str | None,
    trader: User | None = None,
) -> tuple[_Item, CheckReport]:
    """Validate and check `terms` as the new state of `trade`, replacing its `current` version
    (under the locks of its book and of its old and new counterparties).

    `trader` (default `user`) is whom the checks judge; an approval re-checks the stored terms
    of the trade's own trader, without the booking gate.
    """
    refs = _Refs(user, [terms], gate=trader is None)
    outcome = _validate_many([terms], refs)[0]
    if isinstance(outcome, dict):
        raise ValidationError(outcome)
    item = outcome
    if item.book.pk != trade.book_id:
        raise ValidationError({"book": [str(_("A trade cannot move to another book."))]})
    _lock([trade.book_id], {item.counterparty.pk, trade.counterparty_id})
    item.status = status or (
        TradeStatus.PENDING_APPROVAL if _needs_approval(item, refs) else TradeStatus.BOOKED
    )
    proposal = _proposals([item], refs, user=trader or user, amends=trade.pk, replaces=current)[0]
    report = pretrade_check_many([proposal])[0]
    if report.blocked:
        raise TradeBlocked(report, proposal)
    return item, report


def _audited_block(user: User, trade: Trade, exc: TradeBlocked) -> None:
    assert exc.proposal is not None
    audit_append(
        actor=user,
        action="trading.trade_blocked",
        obj=trade,
        payload=_proposal_payload(exc.proposal, exc.report),
    )
    refusals_count_on_commit([exc.report])


def trade_amend(
    *, user: User, trade: Trade, version: int, changes: Mapping[str, Any], reason: str = ""
) -> BookingResult:
    """Write version `version + 1` with `changes` applied to the current terms (flow 2).

    The checks run again on the new terms; the new version is pending approval when it is over
    the desk's threshold. Positions move by the difference. Raises StaleVersion when `version`
    is not the current one, TradeStateError for a cancelled or rejected trade, PermissionDenied
    for a user who may not trade in the book, ValidationError, TradeBlocked.
    """
    unknown = set(changes) - TradeTerms.field_names()
    if unknown:
        raise ValidationError({name: [str(_("This term cannot be amended."))] for name in unknown})
    try:
        with transaction.atomic():
            trade, current = _current(trade.pk)
            if not _may_trade(user, trade):
                raise PermissionDenied
            _check_open(trade, version)
            terms = replace(TradeTerms.from_version(current), **changes)
            item, report = _recheck(
                user=user, trade=trade, current=current, terms=terms, status=None
            )
            new = _new_version(
                item,
                trade=trade,
                version=version + 1,
                user=user,
                now=timezone.now(),
                report=report,
                reason=reason,
            )
            _move(trade, version, new)
            new.save(force_insert=True)
            _finish(user=user, trade=trade, old=current, new=new, action="trading.trade_amended")
    except TradeBlocked as exc:
        _audited_block(user, trade, exc)
        raise
    return BookingResult(trade, new)


def trade_cancel(*, user: User, trade: Trade, version: int, reason: str = "") -> BookingResult:
    """Write a cancelled version; the trade leaves the positions."""
    with transaction.atomic():
        trade, current = _current(trade.pk)
        if not _may_trade(user, trade):
            raise PermissionDenied
        _lock([trade.book_id], [trade.counterparty_id])
        _check_open(trade, version)
        new = _copy(current, status=TradeStatus.CANCELLED, user=user, reason=reason)
        _move(trade, version, new)
        new.save(force_insert=True)
        _finish(user=user, trade=trade, old=current, new=new, action="trading.trade_cancelled")
    return BookingResult(trade, new)


def _check_approver(user: User, trade: Trade, current: TradeVersion) -> None:
    """A second person: a trader of the trade's desk or a risk manager who sees it, never the
    one who asked for the pending version (nor the trade's trader)."""
    sees_desk = desks_for_user(user).filter(pk=trade.book.desk_id).exists()
    if not sees_desk or not has_role(user, Role.TRADER, Role.RISK_MANAGER):
        raise PermissionDenied
    if trade.status != TradeStatus.PENDING_APPROVAL:
        return  # _check_pending says why
    if user.pk in (current.created_by_id, current.trader_id):
        raise PermissionDenied(_("Four eyes: someone else must approve your own trade."))


def _check_pending(trade: Trade, version: int) -> None:
    if trade.current_version != version:
        raise StaleVersion
    if trade.status != TradeStatus.PENDING_APPROVAL:
        raise TradeStateError(_("Only a trade pending approval can be approved or rejected."))


def trade_approve(*, user: User, trade: Trade, version: int, reason: str = "") -> BookingResult:
    """Book a pending trade (four eyes). The checks run again: they judge the trade as it
    enters the positions, and the counterparty's KYC or credit may have changed meanwhile."""
    try:
        with transaction.atomic():
            trade, current = _current(trade.pk)
            _check_approver(user, trade, current)
            _check_pending(trade, version)
            terms = TradeTerms.from_version(current)
            # Checked as its own trader would be: the approver books on their behalf.
            _item, report = _recheck(
                user=user,
                trade=trade,
                current=current,
                terms=terms,
                status=TradeStatus.BOOKED,
                trader=current.trader,
            )
            new = _copy(current, status=TradeStatus.BOOKED, user=user, reason=reason)
            new.pretrade_results = report.as_list()
            _move(trade, version, new)
            new.save(force_insert=True)
            _finish(user=user, trade=trade, old=current, new=new, action="trading.trade_approved")
    except TradeBlocked as exc:
        _audited_block(user, trade, exc)
        raise
    return BookingResult(trade, new)


def trade_reject(*, user: User, trade: Trade, version: int, reason: str = "") -> BookingResult:
    """Refuse a pending trade (four eyes); it never enters the positions."""
    with transaction.atomic():
        trade, current = _current(trade.pk)
        _check_approver(user, trade, current)
        _check_pending(trade, version)
        _lock([trade.book_id], [trade.counterparty_id])
        new = _copy(current, status=TradeStatus.REJECTED, user=user, reason=reason)
        _move(trade, version, new)
        new.save(force_insert=True)
        _finish(user=user, trade=trade, old=current, new=new, action="trading.trade_rejected")
    return BookingResult(trade, new)


# --- Counterparties -------------------------------------------------------------------------------

# What the audit entry of a counterparty's save compares (the KYC and credit terms the pre-trade
# checks read, and who the counterparty is); the row's own timestamps are left out.
COUNTERPARTY_AUDITED_FIELDS = (
    "legal_name",
    "short_code",
    "lei",
    "country",
    "sector",
    "kyc_status",
    "kyc_expires_on",
    "credit_limit",
    "credit_currency",
    "internal_entity",
)


def _counterparty_terms(counterparty: Counterparty) -> dict[str, Any]:
    terms = {
        name: getattr(counterparty, name)
        for name in COUNTERPARTY_AUDITED_FIELDS
        if name != "internal_entity"
    }
    if terms["credit_limit"] is not None:  # as stored: two places, whatever was typed
        terms["credit_limit"] = Decimal(terms["credit_limit"]).quantize(CENT)
    entity = counterparty.internal_entity if counterparty.internal_entity_id else None
    terms["internal_entity"] = entity.code if entity is not None else None
    return terms


def counterparty_save(*, user: User, counterparty: Counterparty) -> Counterparty:
    """Save a counterparty (new or changed) and audit what changed, old → new, in one
    transaction: compliance keeps KYC status and expiry and credit limits in the admin, and the
    pre-trade checks judge every trade by them. A save that changes nothing is not audited."""
    creating = counterparty.pk is None
    with transaction.atomic():
        before: dict[str, Any] = {}
        if not creating:
            # Lock the row: two officers saving the same counterparty would each audit a stale
            # "before" (and a booking's credit check reads it under the same lock).
            stored = (
                Counterparty.objects.select_for_update(of=("self",))
                .select_related("internal_entity")
                .get(pk=counterparty.pk)
            )
            before = _counterparty_terms(stored)
        counterparty.save()
        after = _counterparty_terms(counterparty)
        changes = {
            name: {"old": before.get(name), "new": after[name]}
            for name in COUNTERPARTY_AUDITED_FIELDS
            if creating or before[name] != after[name]
        }
        if changes:
            action = "trading.counterparty_created" if creating else "trading.counterparty_changed"
            audit_append(
                actor=user,
                action=action,
                obj=counterparty,
                payload={"short_code": counterparty.short_code, "changes": changes},
            )
    return counterparty
