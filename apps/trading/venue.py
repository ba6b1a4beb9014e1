"""The internal venue (DESIGN.md flow 3): orders in, price-time priority matching, every event
stored, every fill booked as trades through the booking service (flow 1).

`order_submit`, `order_cancel` and `order_replace` each own their transaction:

    take the contract's lock → bring this process's engine for the contract in line with the
    database → validate → hand the request to the engine (apps.trading.matching) → store its
    events and the orders' new state → book each fill on both sides (trade_book, pre-trade
    checks included), or record the fill as refused → append the audit entries → commit →
    push the depth ladder, the tape, the desks' order rows and the traders' notices live.

One matcher per contract at a time
    Matching is a read-modify-write of the whole book, so exactly one transaction may match a
    given contract at a time, whichever web process it runs in. On PostgreSQL each request
    takes a transaction-scoped advisory lock on the contract (`_contract_locked`), held until
    it commits or rolls back; on SQLite the transaction takes the database's write lock when it
    begins (transaction_mode IMMEDIATE), which serialises everything anyway.

    Each process keeps one engine per contract in memory (`_ProcessBooks`), and the contract's
    row carries `book_token`, replaced by every write to that book. Under the lock, a process
    whose engine was made for another token (another process wrote since, or its own last
    request rolled back) rebuilds the engine from the contract's resting orders, read after the
    lock was granted — so it always matches against the committed book. A token is random, so
    a rolled-back write can never leave a process believing a stale engine is current; the
    engine is marked unknown before it is touched, so an exception midway also forces a
    rebuild. A restart is the same case: no engine yet, rebuilt from the stored open orders with
    the stored next sequence (`restore`), so the book and its time priorities are the same.

A fill that booking refuses
    Every fill is booked on both sides or not at all: the request's fills are booked together in
    a savepoint, one trade_book_many per trader (each side by its order's trader), and if the
    pre-trade checks (or the booking's validation) refused any side of any fill, the savepoint
    is rolled back and the other fills are booked again without those. A refused fill is voided
    and recorded as `fill_refused` on both orders, with the refusal's reasons, and both traders
    are told. The orders are left consistent this way: an order whose own side was refused is
    cancelled (its whole open quantity, reason `booking_refused`: the same booking would be
    refused again); the aggressor's voided quantity is cancelled too (putting it back could
    cross the book it has just walked); a resting order whose side was not at fault keeps the
    voided quantity at its old time priority. The engine, which had matched it, is then rebuilt
    from the rows so written. Fills of the same request that book stay booked.

Rejections
    A request that is not even an order (unknown contract or book, no side, a quantity that is
    not positive, a limit order without a price) is refused with field errors and writes
    nothing. A well-formed order the venue refuses — its contract's trading has ended, a price
    off the tick grid, a quantity off the lot grid, a minimum quantity it cannot honour — is
    recorded as a rejected order with a `reject` event (the reason), never enters the book, and
    is answered with the same field errors. A replace the venue refuses is a `reject` event on
    the order, which stays as it was.
"""

import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, Max, Min, OuterRef, QuerySet, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.live import (
    publish_after_commit,
    user_group,
    venue_desk_group,
    venue_group,
)
from apps.accounts.models import Desk, Role, User
from apps.accounts.permissions import desks_for_user, has_role
from apps.compliance.audit import AuditRecord, audit_append, audit_append_many
from apps.trading import matching
from apps.trading.calendars import market_contract_expiry
from apps.trading.models import (
    VENUE_DEAL_TYPES,
    WORKING_STATUSES,
    Book,
    Counterparty,
    DealType,
    Market,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderStatus,
    OrderType,
    Side,
    StpMode,
    TimeInForce,
    VenueContract,
)
from apps.trading.periods import MarketCalendar, PeriodError, day_bounds_utc, parse_period
from apps.trading.services import ItemStatus, TradeTerms, trade_book_many
from qenergyz import metrics

DEPTH_LEVELS = 10
TAPE_SIZE = 20
# Beyond what the order columns hold (QUANTITY and PRICE in models.trades): refused as input.
MAX_INTEGER_DIGITS = 12
MAX_PLACES = 6

# Transaction-scoped advisory locks of the venue: (this namespace, contract id). The two-key
# form does not share key space with the audit chain's one-key lock.
_LOCK_NAMESPACE = 0x51564E55  # "QVNU"
_INT4 = 2**31

# Reasons of our own, besides the engine's RejectReason / CancelReason codes.
CONTRACT_CLOSED = "contract_closed"
BOOKING_REFUSED = "booking_refused"  # the order's own side of a fill was refused
FILL_VOIDED = "fill_voided"  # the aggressor's quantity of a refused fill
_EXTERNAL = "external"  # the self-trade prevention entity of every broker's quote


# --- Errors, inputs, results -----------------------------------------------------------------


class VenueError(Exception):
    """A venue operation refused; `message` is translated when read."""

    message: Any = _("The venue refused the request.")

    def __init__(self, message: Any = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(str(self.message))


class OrderNotWorking(VenueError):
    """Cancel or replace of an order that no longer rests (filled, cancelled or rejected)."""

    message = _("This order is no longer open: it was filled, cancelled or rejected.")


@dataclass(frozen=True)
class OrderTicket:
    """An order as a trader states it: the contract by id, references by code, Decimals.

    Our own order names a `book` of the trader's desks. A broker's quote names the broker as
    `counterparty` instead, and the `desk` that manages it (optional when the trader has one).
    """

    contract: Any
    side: str
    quantity: Any
    order_type: str = OrderType.LIMIT
    time_in_force: str = TimeInForce.GTC
    price: Any = None
    min_quantity: Any = None
    book: str = ""
    counterparty: str = ""
    desk: str = ""


@dataclass
class VenueResult:
    """What a request did: the order as it is now, and what happened to it."""

    order: Order
    fills: int = 0  # fills booked in this request (on any order)
    refused: int = 0  # fills voided because booking refused them
    errors: dict[str, list[str]] = field(default_factory=dict)  # the venue rejected it

    @property
    def rejected(self) -> bool:
        return bool(self.errors)


# --- Contracts ---------------------------------------------------------------------------------


def contract_last_trading_at(market: Market, period_start: Any) -> datetime:
    """When orders stop: the end of the market's last trading day by its expiry rule, in its
    time zone; for a market without a rule, the start of delivery."""
    if market.expiry_rule:
        last_day = market_contract_expiry(market, period_start)
        zone = ZoneInfo(market.time_zone)
        return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    calendar = MarketCalendar(
        time_zone=market.time_zone,
        day_start_hour=market.day_start_hour,
        day_start_zone=market.day_start_zone or None,
    )
    return day_bounds_utc(period_start, calendar)[0]


def contract_open(
    *,
    market: Market,
    period_code: str,
    deal_type: str = DealType.PHYSICAL_FIXED,
    stp_mode: str = StpMode.CANCEL_RESTING,
    tick_size: Decimal | None = None,
    lot_size: Decimal | None = None,
) -> VenueContract:
    """The venue contract of `market` × `period_code`, made if it is new (tick and lot size
    from the market unless given; last trading time from the market's expiry rule)."""
    errors = _identity_errors(period_code, deal_type)
    if errors:
        raise ValidationError(errors)
    contract, _created = VenueContract.objects.select_related("market").get_or_create(
        market=market,
        period_code=period_code.strip().upper(),
        defaults={
            **_delivery_terms(market, period_code),
            "deal_type": deal_type,
            "stp_mode": stp_mode,
            "tick_size": tick_size if tick_size is not None else market.tick_size,
            "lot_size": lot_size if lot_size is not None else market.lot_size,
        },
    )
    return contract


def _identity_errors(period_code: str, deal_type: str) -> dict[str, list[Any]]:
    """Field errors of a new contract's period code and deal type (none when both are good)."""
    errors: dict[str, list[Any]] = {}
    try:
        parse_period(period_code)
    except PeriodError:
        errors["period_code"] = [_("Unknown period code; use e.g. 2026-03, 2026-Q2, CAL-2027.")]
    if deal_type not in VENUE_DEAL_TYPES:
        errors["deal_type"] = [_("The venue trades forwards, swaps and futures.")]
    return errors


def _delivery_terms(market: Market, period_code: str) -> dict[str, Any]:
    """A contract's delivery span and last trading time, from its (valid) period code."""
    period = parse_period(period_code)
    return {
        "delivery_start": period.start,
        "delivery_end": period.end,
        "last_trading_at": contract_last_trading_at(market, period.start),
    }


# What an administrator may set on a contract (the rest is its identity or the matcher's state).
CONTRACT_SETTINGS = ("tick_size", "lot_size", "stp_mode", "active")


def _contract_settings(contract: VenueContract) -> dict[str, Any]:
    """The settings as stored (steps at their columns' scale: 0.050000, as the old value reads)."""
    values = {name: getattr(contract, name) for name in CONTRACT_SETTINGS}
    for name in ("tick_size", "lot_size"):
        places = VenueContract._meta.get_field(name).decimal_places  # type: ignore[union-attr]
        values[name] = Decimal(values[name]).quantize(Decimal(1).scaleb(-places))
    return values


def contract_check(contract: VenueContract) -> None:
    """Refuse contract settings the venue cannot honour (ValidationError with field errors).

    For a stored contract this takes its matcher's lock, held to the end of the caller's
    transaction: the admin checks its form and saves in one transaction, so no order can come
    to rest between this check and `contract_save`. A new contract's period is read and its
    market × period must be new.
    """
    errors: dict[str, list[Any]] = defaultdict(list)
    not_positive = {
        "tick_size": _("The tick size must be greater than zero."),
        "lot_size": _("The lot size must be greater than zero."),
    }
    for name, message in not_positive.items():
        step = getattr(contract, name)
        if step is None or not step.is_finite() or step <= 0:
            errors[name].append(message)
    if contract.stp_mode not in StpMode.values:
        errors["stp_mode"].append(_("Choose what self-trade prevention cancels."))
    if contract.pk is None:
        for name, messages in _identity_errors(
            contract.period_code or "", contract.deal_type
        ).items():
            errors[name].extend(messages)
        code = (contract.period_code or "").strip().upper()
        if (
            contract.market_id is not None
            and VenueContract.objects.filter(
                market_id=contract.market_id, period_code=code
            ).exists()
        ):
            errors["period_code"].append(_("This market already has a contract for this period."))
    else:
        stored = _contract_locked(contract.pk)
        assert stored is not None  # contracts are never deleted (PROTECT, no delete in admin)
        resting = Order.objects.filter(contract_id=contract.pk, open_quantity__gt=0).count()
        # Resting orders were accepted on the old grid: a new one would strand them off it.
        grid_fixed = {
            "tick_size": _(
                "The tick size cannot change while orders rest in the book (%(count)d now): "
                "they were priced on the present grid. Close the contract to new orders "
                "(untick active) and change it once they are cancelled."
            ),
            "lot_size": _(
                "The lot size cannot change while orders rest in the book (%(count)d now): "
                "their quantities are lots of the present size. Close the contract to new "
                "orders (untick active) and change it once they are cancelled."
            ),
        }
        for name, message in grid_fixed.items():
            if resting and getattr(contract, name) != getattr(stored, name):
                errors[name].append(message % {"count": resting})
    if errors:
        raise ValidationError({name: list(messages) for name, messages in errors.items()})


def contract_save(*, user: User, contract: VenueContract) -> VenueContract:
    """Save a contract an administrator added or whose settings they changed, in one
    transaction: checked (`contract_check`), audited old → new, and its book token replaced,
    so that every process rebuilds its engine for the contract with the new tick and lot size
    and self-trade prevention mode before its next order. A save that changes nothing is
    neither audited nor a new token."""
    with transaction.atomic():
        contract_check(contract)
        if contract.pk is None:
            for name, value in _delivery_terms(contract.market, contract.period_code).items():
                setattr(contract, name, value)
            contract.period_code = contract.period_code.strip().upper()
            contract.book_token = secrets.token_hex(16)
            contract.save()
            audit_append(
                actor=user,
                action="trading.venue_contract_added",
                obj=contract,
                payload={
                    "contract": contract.code,
                    "deal_type": contract.deal_type,
                    "last_trading_at": contract.last_trading_at,
                    **_contract_settings(contract),
                },
            )
            return contract
        # Read under the lock contract_check took: the matcher's state is never overwritten.
        stored = VenueContract.objects.select_related("market").get(pk=contract.pk)
        before, after = _contract_settings(stored), _contract_settings(contract)
        changes = {
            name: {"old": before[name], "new": after[name]}
            for name in CONTRACT_SETTINGS
            if before[name] != after[name]
        }
        if not changes:
            return stored
        for name in CONTRACT_SETTINGS:
            setattr(stored, name, after[name])
        stored.book_token = secrets.token_hex(16)
        stored.save(update_fields=[*CONTRACT_SETTINGS, "book_token"])
        audit_append(
            actor=user,
            action="trading.venue_contract_changed",
            obj=stored,
            payload={"contract": stored.code, "changes": changes},
        )
    return stored


def grid(step: Decimal) -> Decimal:
    """A stored step (0.010000, 1.0000, 10000.0000) as the engine's grid: 0.01, 1, 10000.

    Its exponent is the one the engine's Decimals carry and the one amounts are shown with.
    """
    normal = step.normalize()
    return normal if normal.as_tuple().exponent <= 0 else normal.quantize(Decimal(1))  # type: ignore[operator]


def plain(value: Decimal | None, step: Decimal) -> str:
    """An amount on the contract's grid as text: 50.10 for tick 0.01, 20000 for lot 10000."""
    if value is None:
        return ""
    return format(value.quantize(grid(step)), "f")


# --- The lock and this process's engines ----------------------------------------------------


def _contract_locked(contract_id: int) -> VenueContract | None:
    """Take the contract's matcher lock until the transaction ends, then read its row.

    The race this prevents: two requests (in one process or two) matching the same book at
    once, each from its own view of it, would fill the same resting quantity twice and store
    two different next sequences. The row is read by a statement that starts after the lock is
    granted, so under READ COMMITTED it sees the last holder's committed book token.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, contract_id % _INT4]
            )
    return VenueContract.objects.select_related("market").filter(pk=contract_id).first()


def _entity(order: Order) -> Any:
    """Self-trade prevention's key: our legal entity; every broker's quote is one "external"
    entity, so that two brokers' quotes never trade with each other (that trade would not be
    ours: neither side has a book here)."""
    if order.book_id is None:
        return _EXTERNAL
    return ("entity", order.book.legal_entity_id)


def _rebuilt(contract: VenueContract) -> matching.MatchingEngine:
    """A fresh engine holding the contract's resting orders as stored, in their priority."""
    engine = matching.MatchingEngine()
    engine.add_contract(
        contract.pk,
        tick_size=grid(contract.tick_size),
        lot_size=grid(contract.lot_size),
        stp_mode=matching.StpMode(contract.stp_mode),
    )
    rows = Order.objects.filter(contract=contract, open_quantity__gt=0).values_list(
        "pk", "desk_id", "book__legal_entity_id", "side", "price", "open_quantity", "sequence"
    )
    engine.restore(
        [
            matching.OpenOrder(
                contract=contract.pk,
                order_id=pk,
                account=desk_id,
                entity=_EXTERNAL if entity_id is None else ("entity", entity_id),
                side=matching.Side(side),
                price=price,
                quantity=quantity,
                sequence=sequence,
            )
            for pk, desk_id, entity_id, side, price, quantity, sequence in rows
        ],
        next_sequence=contract.next_sequence,
    )
    return engine


@dataclass
class _Slot:
    engine: matching.MatchingEngine
    token: str | None  # the contract's book_token this engine is; None: unknown (rebuild)


class _ProcessBooks:
    """This process's engines, one per contract, each tagged with the book token it reflects.

    Only touched under the contract's lock (by the thread holding it), so no lock of its own.
    """

    def __init__(self) -> None:
        self._slots: dict[int, _Slot] = {}

    def synced(self, contract: VenueContract) -> _Slot:
        slot = self._slots.get(contract.pk)
        if slot is None or slot.token is None or slot.token != contract.book_token:
            slot = _Slot(_rebuilt(contract), contract.book_token)
            self._slots[contract.pk] = slot
        return slot

    def clear(self) -> None:
        self._slots.clear()


_PROCESS_BOOKS = _ProcessBooks()


def engines_reset() -> None:
    """Forget this process's engines, as a restart does: each is rebuilt on its next use."""
    _PROCESS_BOOKS.clear()


# --- Validation --------------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    """A finite Decimal that fits the order columns, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | str):
        try:
            value = Decimal(value)
        except InvalidOperation:
            return None
    if not isinstance(value, Decimal) or not value.is_finite():
        return None
    exponent = value.normalize().as_tuple().exponent
    if -exponent > MAX_PLACES or value.adjusted() + 1 > MAX_INTEGER_DIGITS:  # type: ignore[operator]
        return None
    return value


@dataclass
class _Valid:
    contract: VenueContract
    desk: Desk
    book: Book | None
    counterparty: Counterparty | None
    side: str
    order_type: str
    time_in_force: str
    price: Decimal | None
    quantity: Decimal
    min_quantity: Decimal | None


def _validate(user: User, ticket: OrderTicket, contract: VenueContract | None) -> _Valid:
    """The shape and the references of a ticket; raises ValidationError (nothing written)."""
    errors: dict[str, list[Any]] = defaultdict(list)
    if contract is None:
        errors["contract"].append(_("Unknown contract."))
    is_trader = has_role(user, Role.TRADER)
    book = counterparty = desk = None
    if bool(ticket.book) == bool(ticket.counterparty):
        errors["book"].append(
            _("Give your book, or for a broker's quote the broker, not both and not neither.")
        )
    elif ticket.book:
        # One query: the book if it is one of the user's desks', and whether its legal entity is
        # an internal counterparty (the other side of a cross books against it).
        book = (
            Book.objects.select_related("desk", "legal_entity")
            .filter(code=ticket.book, desk__in=desks_for_user(user))
            .annotate(
                internal=Exists(
                    Counterparty.objects.filter(internal_entity_id=OuterRef("legal_entity_id"))
                )
            )
            .first()
            if is_trader and isinstance(ticket.book, str)
            else None
        )
        if book is None:
            # The same answer for "no such book" and "not your desk's": nothing is revealed.
            errors["book"].append(_("Unknown book, or not a book of your desks."))
        elif not book.internal:  # type: ignore[attr-defined]
            errors["book"].append(
                _(
                    "The book's legal entity %(entity)s is not set up as an internal "
                    "counterparty, so a fill could not be booked on the other side: ask an "
                    "administrator."
                )
                % {"entity": book.legal_entity.code}
            )
            book = None
        else:
            desk = book.desk
    else:
        desks = {d.code: d for d in desks_for_user(user)} if is_trader else {}
        counterparty = Counterparty.objects.filter(short_code=ticket.counterparty).first()
        if counterparty is None:
            errors["counterparty"].append(_("Unknown counterparty."))
        elif counterparty.internal_entity_id is not None:
            errors["counterparty"].append(
                _("%(code)s is one of our own entities: enter its order with its book.")
                % {"code": counterparty.short_code}
            )
            counterparty = None
        if ticket.desk:
            desk = desks.get(ticket.desk)
            if desk is None:
                errors["desk"].append(_("Unknown desk, or not one of your desks."))
        elif len(desks) == 1:
            desk = next(iter(desks.values()))
        else:
            errors["desk"].append(_("Choose the desk that manages this broker's quote."))
    if ticket.side not in Side.values:
        errors["side"].append(_("Give the side: buy or sell."))
    if ticket.order_type not in OrderType.values:
        errors["order_type"].append(_("Give the order type: limit or market."))
    if ticket.time_in_force not in TimeInForce.values:
        errors["time_in_force"].append(_("Give the time in force: GTC, IOC or FOK."))
    quantity = _decimal(ticket.quantity)
    if quantity is None or quantity <= 0:
        errors["quantity"].append(_("The quantity must be a number greater than zero."))
    price = None
    if ticket.order_type == OrderType.MARKET:
        if ticket.price not in (None, ""):
            errors["price"].append(_("A market order has no price: it takes the best prices."))
    elif ticket.price in (None, ""):
        errors["price"].append(_("A limit order needs a price."))
    else:
        price = _decimal(ticket.price)
        if price is None:
            errors["price"].append(_("The price must be a number."))
    min_quantity = None
    if ticket.min_quantity not in (None, ""):
        min_quantity = _decimal(ticket.min_quantity)
        if min_quantity is None or min_quantity <= 0:
            errors["min_quantity"].append(
                _("The minimum quantity must be a number greater than zero.")
            )
    if errors:
        raise ValidationError({name: list(messages) for name, messages in errors.items()})
    assert contract is not None
    assert desk is not None
    assert quantity is not None
    return _Valid(
        contract=contract,
        desk=desk,
        book=book,
        counterparty=counterparty,
        side=ticket.side,
        order_type=ticket.order_type,
        time_in_force=ticket.time_in_force,
        price=price,
        quantity=quantity,
        min_quantity=min_quantity,
    )


def _closed_reason(contract: VenueContract, now: datetime) -> str | None:
    if not contract.active or now >= contract.last_trading_at:
        return CONTRACT_CLOSED
    return None


def _reject_errors(reason: str, contract: VenueContract) -> dict[str, list[str]]:
    """The field errors of a venue rejection, in the reader's language."""
    tick = plain(contract.tick_size, contract.tick_size)
    lot = plain(contract.lot_size, contract.lot_size)
    R = matching.RejectReason
    if reason == CONTRACT_CLOSED:
        return {
            "contract": [
                str(
                    _("Trading in %(contract)s ended at %(time)s UTC: it takes no more orders.")
                    % {
                        "contract": contract.code,
                        "time": contract.last_trading_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                    }
                )
            ]
        }
    by_reason: dict[str, tuple[str, Any]] = {
        R.QUANTITY_NOT_POSITIVE: ("quantity", _("The quantity must be greater than zero.")),
        R.QUANTITY_OFF_LOT: (
            "quantity",
            _("The quantity must be a whole number of lots of %(lot)s.") % {"lot": lot},
        ),
        R.QUANTITY_INVALID: ("quantity", _("The quantity is too large for the venue.")),
        R.PRICE_OFF_TICK: (
            "price",
            _("The price must be a multiple of the tick size %(tick)s.") % {"tick": tick},
        ),
        R.PRICE_INVALID: ("price", _("The price is too large for the venue.")),
        R.PRICE_MISSING: ("price", _("A limit order needs a price.")),
        R.PRICE_NOT_ALLOWED: ("price", _("A market order has no price: it takes the best prices.")),
        R.MIN_QUANTITY_INVALID: (
            "min_quantity",
            _(
                "The minimum quantity must be a whole number of lots of %(lot)s, at most the "
                "quantity."
            )
            % {"lot": lot},
        ),
    }
    name, message = by_reason.get(reason, ("non_field_errors", _("The venue refused the order.")))
    return {name: [str(message)]}


# --- One request's work on one contract --------------------------------------------------------


@dataclass
class _Refusal:
    """Why booking refused one side of a fill (for the event, the audit and the notice)."""

    checks: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"checks": self.checks, "errors": self.errors}


class _Void(Exception):
    """Rolls the fills' bookings back when booking refused a side of any of them."""

    def __init__(self, refused: dict[int, dict[int, _Refusal]]) -> None:
        self.refused = refused
        super().__init__()


class _Run:
    """One request's work on one contract's book, under its lock: the engine's events become
    stored events, orders' new states and booked trades."""

    def __init__(self, contract: VenueContract, *, user: User, now: datetime) -> None:
        self.contract = contract
        self.user = user
        self.now = now
        self.slot = _PROCESS_BOOKS.synced(contract)
        # Unknown until finish() stores the new token: an exception midway leaves the engine
        # marked for a rebuild, whatever it did.
        self.slot.token = None
        self.engine = self.slot.engine
        self.orders: dict[int, Order] = {}
        self.events: list[OrderEvent] = []
        self.fills = 0
        self.refused = 0
        self.at_fault: set[int] = set()
        self.rebuild = False
        self.tape: list[dict[str, Any]] = []
        self.audit: list[AuditRecord] = []
        self.notices: list[tuple[int, dict[str, Any]]] = []
        self.new_order_id: int | None = None
        self._counterparties: dict[int, Counterparty] = {}
        # Each touched order's state columns as stored: only orders that changed are written.
        self.stored: dict[int, tuple] = {}

    # -- events ------------------------------------------------------------------------------

    def _event(self, order: Order, kind: str, **values: Any) -> None:
        self.events.append(
            OrderEvent(
                order=order,
                contract=self.contract,
                kind=kind,
                created_at=self.now,
                actor=self.user,
                **values,
            )
        )

    def _load(self, ids: Iterable[int]) -> None:
        missing = set(ids) - set(self.orders)
        if missing:
            loaded = Order.objects.select_related(
                "book__legal_entity", "book__desk", "counterparty", "trader"
            ).in_bulk(missing)
            for order in loaded.values():
                order.contract = self.contract
                self.stored[order.pk] = _state(order)
            self.orders.update(loaded)

    def apply(self, events: Sequence[matching.Event], order: Order) -> None:
        """Turn the engine's events for a request about `order` (as stored) into rows and
        bookings."""
        self.stored.setdefault(order.pk, _state(order))
        self.orders[order.pk] = order
        fills = [e for e in events if isinstance(e, matching.Fill)]
        self._load(
            [e.resting_order_id for e in fills]
            + [e.order_id for e in events if isinstance(e, matching.Cancelled)]
        )
        self._refusals, self._trades = {}, {}
        if fills:
            self._prepare_booking(fills)
            self._book(fills)
        numbers = {id(fill): number for number, fill in enumerate(fills)}
        for event in events:
            if isinstance(event, matching.Accepted):
                order.sequence = event.sequence
                self._event(
                    order,
                    OrderEventKind.ACCEPTED,
                    price=order.price,
                    quantity=order.quantity,
                    sequence=event.sequence,
                )
            elif isinstance(event, matching.Fill):
                self._fill(numbers[id(event)], event)
            elif isinstance(event, matching.Cancelled):
                cancelled = self.orders[event.order_id]
                cancelled.open_quantity -= event.quantity
                cancelled.cancelled_quantity += event.quantity
                self._event(
                    cancelled, OrderEventKind.CANCEL, quantity=event.quantity, reason=event.reason
                )
            elif isinstance(event, matching.Replaced):
                replaced = self.orders[event.order_id]
                replaced.price = event.price
                replaced.open_quantity = event.quantity
                replaced.quantity = (
                    event.quantity + replaced.filled_quantity + replaced.cancelled_quantity
                )
                replaced.sequence = event.sequence
                self._event(
                    replaced,
                    OrderEventKind.REPLACE,
                    price=event.price,
                    quantity=event.quantity,
                    sequence=event.sequence,
                    detail={
                        "previous_price": str(event.previous_price),
                        "previous_quantity": str(event.previous_quantity),
                        "kept_priority": event.kept_priority,
                    },
                )
            else:  # Rejected: the caller handles a rejection before anything is applied
                raise RuntimeError(f"unexpected engine event {event!r}")
        # An order whose own side of a fill was refused takes no further part: cancel the rest.
        for order_id in sorted(self.at_fault):
            refused = self.orders[order_id]
            if refused.open_quantity > 0:
                quantity = refused.open_quantity
                refused.cancelled_quantity += quantity
                refused.open_quantity = Decimal(0)
                self._event(
                    refused, OrderEventKind.CANCEL, quantity=quantity, reason=BOOKING_REFUSED
                )

    # -- fills -------------------------------------------------------------------------------

    def _prepare_booking(self, fills: Sequence[matching.Fill]) -> None:
        """Read the internal counterparties the fills book against, and lock every book and
        counterparty row their bookings will lock, in the booking service's order.

        The race this prevents: a deadlock. trade_book locks the book and counterparty rows of
        each booking as it comes (then the trade counter and the audit chain). Two requests
        whose fills touch the same books in opposite orders — two contracts' fills, or a fill
        and a hand-booked trade — would each hold one row and wait for the other. Taking them
        all first, books then counterparties, each by id (as services._lock does), keeps one
        order for everyone; the booking's own locks then find them held already.
        """
        entities = {o.book.legal_entity_id for o in self.orders.values() if o.book_id is not None}
        self._counterparties = {
            cp.internal_entity_id: cp
            for cp in Counterparty.objects.filter(internal_entity_id__in=entities)
        }
        books: set[int] = set()
        counterparties: set[int] = set()
        for fill in fills:
            aggressor = self.orders[fill.aggressor_order_id]
            resting = self.orders[fill.resting_order_id]
            for own, other in ((aggressor, resting), (resting, aggressor)):
                if own.book_id is None:
                    continue
                books.add(own.book_id)
                against = self._against(other)
                if against is not None:
                    counterparties.add(against.pk)
        list(Book.objects.select_for_update().filter(pk__in=books).order_by("pk").values("pk"))
        list(
            Counterparty.objects.select_for_update()
            .filter(pk__in=counterparties)
            .order_by("pk")
            .values("pk")
        )

    def _against(self, other: Order) -> Counterparty | None:
        """The counterparty our side books against: the broker, or the other book's entity."""
        if other.book_id is None:
            return other.counterparty
        return self._counterparties.get(other.book.legal_entity_id)

    def _terms(self, own: Order, other: Order, fill: matching.Fill) -> TradeTerms | _Refusal:
        against = self._against(other)
        if against is None:
            message = _("The other side's legal entity is not set up as an internal counterparty.")
            return _Refusal(errors={"counterparty": [str(message)]})
        contract = self.contract
        return TradeTerms(
            book=own.book.code,
            counterparty=against.short_code,
            deal_type=contract.deal_type,
            side=own.side,
            market=contract.market.code,
            quantity=fill.quantity,
            price=fill.price,
            currency=contract.market.currency,
            period=contract.period_code,
            executed_at=self.now,
        )

    def _book_batch(
        self, fills: Sequence[matching.Fill], live: Sequence[int]
    ) -> tuple[dict[int, dict[int, Any]], dict[int, dict[int, _Refusal]]]:
        """Book our sides of the fills numbered `live`: one trade_book_many per trader (each
        side is booked by its order's trader, into their own book). Returns, per fill, the
        trades by order id, and the refusals by order id of the fills with any."""
        items: dict[int, list[tuple[int, int, TradeTerms]]] = defaultdict(list)
        traders: dict[int, User] = {}
        refused: dict[int, dict[int, _Refusal]] = defaultdict(dict)
        for number in live:
            fill = fills[number]
            aggressor = self.orders[fill.aggressor_order_id]
            resting = self.orders[fill.resting_order_id]
            for own, other in ((aggressor, resting), (resting, aggressor)):
                if own.book_id is None:
                    continue  # a broker's quote: only our side is booked
                terms = self._terms(own, other, fill)
                if isinstance(terms, _Refusal):
                    refused[number][own.pk] = terms
                    continue
                items[own.trader_id].append((number, own.pk, terms))
                traders[own.trader_id] = own.trader
        booked: dict[int, dict[int, Any]] = defaultdict(dict)
        for trader_id in sorted(items):
            batch = items[trader_id]
            try:
                results = trade_book_many(
                    user=traders[trader_id], terms_list=[terms for _n, _o, terms in batch]
                )
            except ValidationError as exc:  # the batch as a whole (never more than MAX_BULK)
                refusal = _Refusal(errors={"non_field_errors": [str(m) for m in exc.messages]})
                for number, order_id, _terms in batch:
                    refused[number][order_id] = refusal
                continue
            for (number, order_id, _terms), result in zip(batch, results, strict=True):
                if result.status in (ItemStatus.BOOKED, ItemStatus.PENDING_APPROVAL):
                    booked[number][order_id] = result.trade
                elif result.report is not None:
                    refused[number][order_id] = _Refusal(checks=result.report.as_list())
                else:
                    refused[number][order_id] = _Refusal(errors=dict(result.errors))
        return booked, refused

    def _book(self, fills: Sequence[matching.Fill]) -> None:
        """Book every fill of the request, each on both sides or not at all.

        All fills are booked together in a savepoint, a batch per trader. If booking refused
        any side of any fill, the savepoint is rolled back, those fills are set aside as
        refused, and the others are booked again without them (refusals only remove fills, so
        this ends; normally after one pass).
        """
        self._refusals: dict[int, dict[int, _Refusal]] = {}
        self._trades: dict[int, dict[int, Any]] = {}
        while True:
            live = [n for n in range(len(fills)) if n not in self._refusals]
            if not live:
                return
            try:
                with transaction.atomic():
                    booked, refused = self._book_batch(fills, live)
                    if refused:
                        raise _Void(refused)
            except _Void as void:
                self._refusals.update(void.refused)
                continue
            self._trades = booked
            return

    def _fill(self, number: int, fill: matching.Fill) -> None:
        aggressor = self.orders[fill.aggressor_order_id]
        resting = self.orders[fill.resting_order_id]
        if number in self._refusals:
            self._refused(fill, aggressor, resting, self._refusals[number])
            return
        trades = self._trades.get(number, {})
        self.fills += 1
        for own, other, is_aggressor in ((aggressor, resting, True), (resting, aggressor, False)):
            own.open_quantity -= fill.quantity
            own.filled_quantity += fill.quantity
            self._event(
                own,
                OrderEventKind.FILL,
                price=fill.price,
                quantity=fill.quantity,
                aggressor=is_aggressor,
                counter_order=other,
                trade=trades.get(own.pk),
            )
            self._notice(own, "fill", fill)
        self.tape.append(
            {
                "time": self.now.astimezone(UTC).strftime("%H:%M:%S"),
                "price": plain(fill.price, self.contract.tick_size),
                "quantity": plain(fill.quantity, self.contract.lot_size),
                "side": str(fill.aggressor_side),
            }
        )

    def _refused(
        self,
        fill: matching.Fill,
        aggressor: Order,
        resting: Order,
        refusals: dict[int, _Refusal],
    ) -> None:
        """Record a voided fill and leave both orders consistent (see the module doc)."""
        self.refused += 1
        self.rebuild = True  # the engine matched it; the rows now say otherwise
        self.at_fault |= set(refusals)
        detail = {
            "refused": sorted(refusals),
            "reasons": {str(pk): refusal.as_dict() for pk, refusal in refusals.items()},
        }
        for own, other, is_aggressor in ((aggressor, resting, True), (resting, aggressor, False)):
            self._event(
                own,
                OrderEventKind.FILL_REFUSED,
                price=fill.price,
                quantity=fill.quantity,
                aggressor=is_aggressor,
                counter_order=other,
                reason=BOOKING_REFUSED if own.pk in refusals else "",
                detail=detail,
            )
            self._notice(own, "refused", fill, own_side_refused=own.pk in refusals)
        # The aggressor's voided quantity leaves it (restored, it could cross what it walked).
        aggressor.open_quantity -= fill.quantity
        aggressor.cancelled_quantity += fill.quantity
        self._event(aggressor, OrderEventKind.CANCEL, quantity=fill.quantity, reason=FILL_VOIDED)
        self.audit.append(
            AuditRecord(
                actor=self.user,
                action="trading.venue_fill_refused",
                obj=aggressor,
                payload={
                    "contract": self.contract.code,
                    "price": fill.price,
                    "quantity": fill.quantity,
                    "aggressor_order": aggressor.pk,
                    "resting_order": resting.pk,
                    **detail,
                },
            )
        )
        # The booking's own count of these refusals was rolled back with its savepoint.
        metrics.pretrade_refusals_on_commit(
            check["rule"]
            for refusal in refusals.values()
            for check in refusal.checks
            if check["outcome"] == "block"
        )

    def _notice(self, order: Order, kind: str, fill: matching.Fill, **extra: Any) -> None:
        self.notices.append(
            (
                order.trader_id,
                {
                    "kind": kind,
                    "order": order.pk,
                    "side": order.side,
                    "contract": self.contract.code,
                    "price": plain(fill.price, self.contract.tick_size),
                    "quantity": plain(fill.quantity, self.contract.lot_size),
                    **extra,
                },
            )
        )

    # -- rejection, writing, publishing -------------------------------------------------------

    def reject(self, order: Order, reason: str, *, new: bool) -> dict[str, list[str]]:
        """Record the venue's refusal of a request about `order` (a new order: rejected)."""
        errors = _reject_errors(reason, self.contract)
        self.orders[order.pk] = order
        if new:
            order.status = OrderStatus.REJECTED
            order.open_quantity = Decimal(0)
            order.sequence = None  # it never had a place in the book
            order.save(update_fields=["status", "open_quantity", "sequence"])
        self._event(order, OrderEventKind.REJECT, reason=reason, detail={"new_order": new})
        return errors

    def finish(self, action: str, order: Order, payload: dict[str, Any]) -> None:
        """Write the orders' states and the events, move the book token, audit, publish."""
        touched = []
        for each in self.orders.values():
            if each.status == OrderStatus.REJECTED:
                continue
            each.status = _status(each)
            if _state(each) != self.stored.get(each.pk):
                each.updated_at = self.now
                touched.append(each)
        if touched:
            Order.objects.bulk_update(
                touched,
                [
                    "status",
                    "open_quantity",
                    "filled_quantity",
                    "cancelled_quantity",
                    "price",
                    "quantity",
                    "sequence",
                    "updated_at",
                ],
            )
        OrderEvent.objects.bulk_create(self.events)
        # The sequence goes on from where this request left it, whatever is rebuilt.
        self.contract.next_sequence = self.engine.next_sequence
        if self.rebuild:
            self.engine = _rebuilt(self.contract)
            self.slot.engine = self.engine
        token = secrets.token_hex(16)
        VenueContract.objects.filter(pk=self.contract.pk).update(
            next_sequence=self.contract.next_sequence, book_token=token
        )
        self.contract.book_token = token
        self.slot.token = token
        record = AuditRecord(actor=self.user, action=action, obj=order, payload=payload)
        self.audit.insert(0, record)
        audit_append_many(self.audit)  # last: the chain's lock is held only for the end
        self._publish()

    def _publish(self) -> None:
        contract = self.contract
        depth = self.engine.depth(contract.pk, DEPTH_LEVELS)
        publish_after_commit(
            venue_group(),
            "live/venue_book.html",
            {
                "contract": contract.pk,
                "bids": [_level(level, contract) for level in depth.bids],
                "asks": [_level(level, contract) for level in depth.asks],
            },
        )
        if self.tape:
            publish_after_commit(
                venue_group(),
                "live/venue_tape.html",
                # Newest first, as the tape shows them.
                {"contract": contract.pk, "trades": list(reversed(self.tape))},
            )
        by_desk: dict[int, list[Order]] = defaultdict(list)
        for each in self.orders.values():
            by_desk[each.desk_id].append(each)
        for desk_id, orders in by_desk.items():
            new = [order_row(o) for o in orders if o.pk == self.new_order_id]
            changed = [order_row(o) for o in orders if o.pk != self.new_order_id]
            publish_after_commit(
                venue_desk_group(desk_id),
                "live/venue_order_row.html",
                {"new": new, "changed": changed},
            )
        for trader_id, notice in self.notices:
            publish_after_commit(user_group(trader_id), "live/venue_notice.html", notice)


def _state(order: Order) -> tuple:
    return (
        order.status,
        order.open_quantity,
        order.filled_quantity,
        order.cancelled_quantity,
        order.price,
        order.quantity,
        order.sequence,
    )


def _status(order: Order) -> str:
    if order.open_quantity > 0:
        return OrderStatus.PARTIALLY_FILLED if order.filled_quantity > 0 else OrderStatus.OPEN
    if order.cancelled_quantity > 0:
        return OrderStatus.CANCELLED
    return OrderStatus.FILLED


def _level(level: matching.DepthLevel, contract: VenueContract) -> dict[str, Any]:
    return {
        "price": plain(level.price, contract.tick_size),
        "quantity": plain(level.quantity, contract.lot_size),
        "orders": level.orders,
    }


def order_row(order: Order) -> dict[str, Any]:
    """An order as "my orders" shows it, loaded or pushed live (JSON-serialisable)."""
    contract = order.contract
    return {
        "id": order.pk,
        "contract": contract.code,
        "contract_id": contract.pk,
        "book": order.book.code if order.book_id else "",
        "broker": order.counterparty.short_code if order.counterparty_id else "",
        "side": order.side,
        "order_type": order.order_type,
        "time_in_force": order.time_in_force,
        "price": plain(order.price, contract.tick_size),
        "quantity": plain(order.quantity, contract.lot_size),
        "open_quantity": plain(order.open_quantity, contract.lot_size),
        "filled_quantity": plain(order.filled_quantity, contract.lot_size),
        "status": order.status,
        "working": order.status in WORKING_STATUSES,
        "created_at": order.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    }


def _terms_payload(order: Order) -> dict[str, Any]:
    return {
        "contract": order.contract.code,
        "desk": order.desk.code if order.desk_id else None,
        "book": order.book.code if order.book_id else None,
        "broker": order.counterparty.short_code if order.counterparty_id else None,
        "side": order.side,
        "order_type": order.order_type,
        "time_in_force": order.time_in_force,
        "price": order.price,
        "quantity": order.quantity,
        "min_quantity": order.min_quantity,
    }


def _state_payload(order: Order) -> dict[str, Any]:
    return {
        "status": order.status,
        "price": order.price,
        "open_quantity": order.open_quantity,
        "filled_quantity": order.filled_quantity,
        "cancelled_quantity": order.cancelled_quantity,
    }


# --- The operations ----------------------------------------------------------------------------


def _contract_id(value: Any) -> int | None:
    if isinstance(value, VenueContract):
        return value.pk
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


def order_submit(*, user: User, ticket: OrderTicket) -> VenueResult:
    """Enter an order: it trades with what it crosses (each fill booked on both sides) and
    rests, cancels or is rejected as its type, time in force and the venue's rules say.

    Raises ValidationError (field errors, nothing written) when the ticket is not an order;
    returns a result with `errors` when the venue rejected a well-formed order (recorded).
    """
    contract_id = _contract_id(ticket.contract)
    now = timezone.now()
    with transaction.atomic():
        contract = _contract_locked(contract_id) if contract_id is not None else None
        valid = _validate(user, ticket, contract)
        contract = valid.contract
        # The engine first: brought in line with the stored book before this order is stored.
        run = _Run(contract, user=user, now=now)
        order = Order.objects.create(
            contract=contract,
            desk=valid.desk,
            book=valid.book,
            counterparty=valid.counterparty,
            trader=user,
            side=valid.side,
            order_type=valid.order_type,
            time_in_force=valid.time_in_force,
            price=valid.price,
            quantity=valid.quantity,
            min_quantity=valid.min_quantity,
            created_at=now,
            # The priority it gets if the engine accepts it (the rows then need no update).
            sequence=run.engine.next_sequence,
            status=OrderStatus.OPEN,
            open_quantity=valid.quantity,
            filled_quantity=Decimal(0),
            cancelled_quantity=Decimal(0),
            updated_at=now,
        )
        order.contract = contract
        run.new_order_id = order.pk
        errors: dict[str, list[str]] = {}
        reason = _closed_reason(contract, now)
        events: list[matching.Event] = []
        if reason is None:
            events = run.engine.submit(
                contract=contract.pk,
                order_id=order.pk,
                account=order.desk_id,
                entity=_entity(order),
                side=matching.Side(order.side),
                quantity=order.quantity,
                price=order.price,
                order_type=matching.OrderType(order.order_type),
                time_in_force=matching.TimeInForce(order.time_in_force),
                min_quantity=order.min_quantity,
            )
            if isinstance(events[0], matching.Rejected):
                reason = str(events[0].reason)
        if reason is not None:
            errors = run.reject(order, reason, new=True)
            action = "trading.order_rejected"
        else:
            run.apply(events, order)
            action = "trading.order_submitted"
        run.finish(
            action,
            order,
            {
                "order": order.pk,
                **_terms_payload(order),
                "result": _state_payload(order) | {"reason": reason or ""},
                "fills": run.fills,
                "fills_refused": run.refused,
            },
        )
    return VenueResult(order=order, fills=run.fills, refused=run.refused, errors=errors)


def _working_order_locked(user: User, order: Order) -> tuple[VenueContract, Order]:
    """The contract locked, and the order read again under the lock (its state may have
    moved since the caller read it); refuses an order that no longer rests."""
    if not has_role(user, Role.TRADER):
        raise PermissionDenied
    contract = _contract_locked(order.contract_id)
    assert contract is not None  # an order's contract is never deleted (PROTECT)
    # Read with the desk check in the same query: another desk's order is not theirs to touch.
    fresh = (
        Order.objects.select_related(
            "book__legal_entity", "book__desk", "counterparty", "trader", "desk"
        )
        .filter(pk=order.pk, desk__in=desks_for_user(user))
        .first()
    )
    if fresh is None:
        raise PermissionDenied
    fresh.contract = contract
    if fresh.status not in WORKING_STATUSES:
        raise OrderNotWorking
    return contract, fresh


def order_cancel(*, user: User, order: Order) -> VenueResult:
    """Cancel a resting order (of one of the user's desks); its open quantity leaves the book.

    Raises OrderNotWorking when it no longer rests (filled or cancelled meanwhile).
    """
    now = timezone.now()
    with transaction.atomic():
        contract, order = _working_order_locked(user, order)
        run = _Run(contract, user=user, now=now)
        events = run.engine.cancel(order.pk)
        if isinstance(events[0], matching.Rejected):
            # The rows say it rests, the engine (rebuilt from those rows) says not: a defect.
            raise RuntimeError(f"order {order.pk} rests in the database but not in the engine")
        before = order.open_quantity
        run.apply(events, order)
        run.finish(
            "trading.order_cancelled",
            order,
            {"order": order.pk, "contract": contract.code, "cancelled_quantity": before},
        )
    return VenueResult(order=order)


def order_replace(
    *, user: User, order: Order, price: Any = None, quantity: Any = None
) -> VenueResult:
    """Change a resting limit order's price and/or open quantity (None: unchanged).

    A smaller quantity at the same price keeps the order's time priority; a new price or a
    larger quantity loses it, and a new price that crosses the book trades at once (each fill
    booked). Raises ValidationError for input that is not a price or quantity at all and
    OrderNotWorking for an order that no longer rests; returns `errors` when the venue refused
    the change (recorded as a reject event; the order is unchanged).
    """
    errors: dict[str, list[Any]] = {}
    new_price = new_quantity = None
    if price in (None, "") and quantity in (None, ""):
        errors["non_field_errors"] = [_("Give a new price, a new quantity, or both.")]
    if price not in (None, ""):
        new_price = _decimal(price)
        if new_price is None:
            errors["price"] = [_("The price must be a number.")]
    if quantity not in (None, ""):
        new_quantity = _decimal(quantity)
        if new_quantity is None or new_quantity <= 0:
            errors["quantity"] = [_("The quantity must be a number greater than zero.")]
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    with transaction.atomic():
        contract, order = _working_order_locked(user, order)
        run = _Run(contract, user=user, now=now)
        before = _state_payload(order)
        reason = _closed_reason(contract, now)
        events: list[matching.Event] = []
        if reason is None:
            events = run.engine.replace(order.pk, price=new_price, quantity=new_quantity)
            if isinstance(events[0], matching.Rejected):
                reason = str(events[0].reason)
        if reason is not None:
            result_errors = run.reject(order, reason, new=False)
            run.orders[order.pk] = order
            action = "trading.order_replace_rejected"
        else:
            result_errors = {}
            run.apply(events, order)
            action = "trading.order_replaced"
        run.finish(
            action,
            order,
            {
                "order": order.pk,
                "contract": contract.code,
                "requested": {"price": new_price, "quantity": new_quantity},
                "before": before,
                "after": _state_payload(order) | {"reason": reason or ""},
                "fills": run.fills,
                "fills_refused": run.refused,
            },
        )
    return VenueResult(order=order, fills=run.fills, refused=run.refused, errors=result_errors)


# --- Reads (the gatekeepers of orders; contracts are open to every trader) ----------------------


def orders_for_user(user: Any) -> QuerySet[Order]:
    """The orders `user` may see: those of their desks (a trader sees no other desk's)."""
    orders = Order.objects.select_related(
        "contract__market", "desk", "book", "counterparty", "trader"
    )
    if not has_role(user, Role.TRADER):
        return orders.none()
    return orders.filter(desk__in=desks_for_user(user))


def order_get_for_user(user: Any, order_id: int) -> Order:
    """The order, or 404: the same answer for "missing" and "not your desk's"."""
    return get_object_or_404(orders_for_user(user), pk=order_id)


def order_events(order: Order) -> QuerySet[OrderEvent]:
    return order.events.select_related("trade").order_by("id")


def contracts_trading(now: datetime | None = None) -> QuerySet[VenueContract]:
    """The contracts that take orders now."""
    return VenueContract.objects.select_related("market").filter(
        active=True, last_trading_at__gt=now or timezone.now()
    )


def contract_get(contract_id: int) -> VenueContract:
    return get_object_or_404(VenueContract.objects.select_related("market"), pk=contract_id)


def book_depth(contract: VenueContract, levels: int = DEPTH_LEVELS) -> dict[str, Any]:
    """The depth ladder from the stored resting orders (two bounded queries): what any process
    reads, whatever its engine; the same figures the live push sends from the engine."""
    resting = Order.objects.filter(contract=contract, open_quantity__gt=0)

    def side(which: str, ordering: str) -> list[dict[str, Any]]:
        rows = (
            resting.filter(side=which)
            .values("price")
            .annotate(total=Sum("open_quantity"), count=Count("id"))
            .order_by(ordering)[:levels]
        )
        return [
            {
                "price": plain(row["price"], contract.tick_size),
                "quantity": plain(row["total"], contract.lot_size),
                "orders": row["count"],
            }
            for row in rows
        ]

    bids, asks = side(Side.BUY, "-price"), side(Side.SELL, "price")
    return {"contract": contract.pk, "bids": bids, "asks": asks}


def last_trades(contract: VenueContract, limit: int = TAPE_SIZE) -> list[dict[str, Any]]:
    """The contract's last fills, newest first: time (UTC), price, quantity, aggressor side."""
    rows = (
        OrderEvent.objects.filter(contract=contract, kind=OrderEventKind.FILL, aggressor=True)
        .order_by("-id")
        .values_list("created_at", "price", "quantity", "order__side")[:limit]
    )
    return [
        {
            "time": created_at.astimezone(UTC).strftime("%H:%M:%S"),
            "price": plain(price, contract.tick_size),
            "quantity": plain(quantity, contract.lot_size),
            "side": side,
        }
        for created_at, price, quantity, side in rows
    ]


def best_prices(contracts: Sequence[VenueContract]) -> dict[int, dict[str, str]]:
    """Best bid and ask per contract, in one query."""
    by_id = {c.pk: c for c in contracts}
    found: dict[int, dict[str, str]] = {pk: {"bid": "", "ask": ""} for pk in by_id}
    rows = (
        Order.objects.filter(contract_id__in=by_id, open_quantity__gt=0)
        .values("contract_id", "side")
        .annotate(high=Max("price"), low=Min("price"))
        .order_by()
    )
    for row in rows:
        contract = by_id[row["contract_id"]]
        if row["side"] == Side.BUY:
            found[contract.pk]["bid"] = plain(row["high"], contract.tick_size)
        else:
            found[contract.pk]["ask"] = plain(row["low"], contract.tick_size)
    return found
