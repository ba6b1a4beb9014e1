"""The internal venue's matching engine: one price-time priority order book per contract.

Pure: imports nothing from Django, so it is tested and benchmarked alone. The Django layer owns
persistence: it feeds orders in, stores the events that come out append-only, books every `Fill`
as a trade, and on restart rebuilds the engine from its stored open orders (`restore`).

Boundary and units
    Prices and quantities cross this boundary as `Decimal`. Each contract has a tick size and a
    lot size; inside, a price is an integer number of ticks and a quantity an integer number of
    lots, so matching never rounds. A price off the tick grid or a quantity off the lot grid is
    refused, never rounded. Prices may be zero or negative (power prices go negative);
    quantities must be positive. Output Decimals carry the exponent of the tick and lot size
    (tick 0.01: a fill at 50.10, never 50.1).

Rules
    - Price-time priority: the best price first; at one price, the lowest sequence first. The
      engine gives each accepted order the next number of one engine-wide counter; the number is
      in the `Accepted` event so the caller can store it and hand it back to `restore`.
    - A fill is at the resting order's price; the incoming order is the aggressor.
    - Limit orders rest what is left when their time in force is GTC. IOC cancels the
      remainder (`IOC_REMAINDER`). FOK fills in full at once or not at all (`FOK_UNFILLABLE`,
      nothing fills and the book is unchanged).
    - Market orders never rest, whatever their time in force: the remainder is cancelled
      (`MARKET_REMAINDER`), and a market order that meets an empty opposite side is cancelled
      with `NO_LIQUIDITY`. There is no price protection: a market order walks the book.
    - Minimum quantity (`min_quantity`, on the incoming order only): before anything fills, the
      engine counts what the order could fill at once (opposite orders at acceptable prices,
      less those self-trade prevention would skip or stop at). If that is below
      `min_quantity`, nothing fills, the book is unchanged and the whole order is cancelled
      (`MIN_QUANTITY_UNAVAILABLE`), even a GTC one. Otherwise it matches normally and any
      remainder follows its time in force with no minimum left on it. FOK is the case
      min quantity = quantity.
    - Self-trade prevention: an incoming order never fills against a resting order of the same
      legal entity. Per contract (or the engine's default) either the resting order is
      cancelled and matching goes on (`CANCEL_RESTING`), or the incoming order's remainder is
      cancelled there and then (`CANCEL_INCOMING`); fills made before stay. Both reasons are
      `SELF_TRADE_PREVENTION`.
    - Cancel/replace (`replace`): a new price or a larger quantity loses time priority (a new
      sequence, to the back of the level); a smaller quantity at the same price keeps it. The
      quantity given is the new open quantity. A replaced order that now crosses the book
      trades at once as an aggressor (GTC, no minimum quantity).

Events
    Every call returns the list of events it produced, in order, as frozen dataclasses:
    `Accepted`, `Fill`, `Cancelled`, `Replaced`, `Rejected`. A rejected request changes
    nothing. Reasons are codes (`RejectReason`, `CancelReason`); wording and translation belong
    to the Django layer. For each order, quantity submitted (plus replace increases, less
    replace decreases) = filled + open + cancelled.

The caller assigns order ids (so it can store the order before submitting it); the engine
refuses an id that is already open, and cannot know ids of orders that are finished.

Data structures (for the issue's target of 200,000 orders/s on one core)
    Per side of a book, a dict of price level by integer key and a list of those keys kept
    sorted with `bisect`: an order at an existing level costs a dict lookup, a new level a
    bisection and a short memmove, and the best level is the list's last item. Each level is an
    OrderedDict of its orders (append, remove from anywhere and take the oldest in O(1)); an
    engine-wide dict from order id to order makes cancel and replace O(1). The few lines every
    order passes through are written out rather than shared (see the comments that say so).
"""

from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import MISSING, dataclass, fields
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

type ContractKey = Hashable
type OrderId = Hashable


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    GTC = "gtc"  # good till cancelled: the remainder rests
    IOC = "ioc"  # immediate or cancel: fill what can be filled now, cancel the rest
    FOK = "fok"  # fill or kill: fill everything now or nothing


class StpMode(StrEnum):
    """What self-trade prevention cancels when both sides belong to the same legal entity."""

    CANCEL_RESTING = "cancel_resting"
    CANCEL_INCOMING = "cancel_incoming"


class RejectReason(StrEnum):
    UNKNOWN_CONTRACT = "unknown_contract"
    DUPLICATE_ORDER_ID = "duplicate_order_id"
    UNKNOWN_ORDER = "unknown_order"  # cancel or replace of an order that is not open
    QUANTITY_NOT_POSITIVE = "quantity_not_positive"
    QUANTITY_OFF_LOT = "quantity_off_lot"
    QUANTITY_INVALID = "quantity_invalid"  # NaN, infinite, or too large to count in lots
    PRICE_OFF_TICK = "price_off_tick"
    PRICE_INVALID = "price_invalid"  # NaN, infinite, or too large to count in ticks
    PRICE_MISSING = "price_missing"  # a limit order without a price
    PRICE_NOT_ALLOWED = "price_not_allowed"  # a market order with a price
    MIN_QUANTITY_INVALID = "min_quantity_invalid"  # not positive, off lot, or above quantity


class CancelReason(StrEnum):
    USER = "user"
    IOC_REMAINDER = "ioc_remainder"
    FOK_UNFILLABLE = "fok_unfillable"
    MIN_QUANTITY_UNAVAILABLE = "min_quantity_unavailable"
    MARKET_REMAINDER = "market_remainder"
    NO_LIQUIDITY = "no_liquidity"  # a market order met an empty opposite side
    SELF_TRADE_PREVENTION = "self_trade_prevention"


class UnknownContractError(KeyError):
    """A read or restore named a contract the engine was not given."""


# --- Events -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accepted:
    """The order passed validation and entered the engine; `sequence` is its time priority.

    The order's own terms are what the caller submitted (and stored under its id); repeating
    them here would cost a third of the engine's time per order for nothing.
    """

    contract: ContractKey
    order_id: OrderId
    sequence: int


@dataclass(frozen=True, slots=True)
class Fill:
    """One match between the incoming (aggressor) order and one resting order."""

    contract: ContractKey
    price: Decimal  # the resting order's price
    quantity: Decimal
    aggressor_order_id: OrderId
    resting_order_id: OrderId
    aggressor_side: Side

    @property
    def buy_order_id(self) -> OrderId:
        return self.aggressor_order_id if self.aggressor_side == Side.BUY else self.resting_order_id

    @property
    def sell_order_id(self) -> OrderId:
        return self.resting_order_id if self.aggressor_side == Side.BUY else self.aggressor_order_id


@dataclass(frozen=True, slots=True)
class Cancelled:
    """`quantity` of the order, its whole open remainder, will never fill."""

    contract: ContractKey
    order_id: OrderId
    quantity: Decimal
    reason: CancelReason


@dataclass(frozen=True, slots=True)
class Replaced:
    """A resting order's price and/or open quantity changed; `sequence` is its priority now."""

    contract: ContractKey
    order_id: OrderId
    price: Decimal
    quantity: Decimal
    previous_price: Decimal
    previous_quantity: Decimal
    sequence: int
    kept_priority: bool


@dataclass(frozen=True, slots=True)
class Rejected:
    """The request was refused and changed nothing."""

    contract: ContractKey | None  # None for a cancel/replace of an unknown order
    order_id: OrderId
    reason: RejectReason


type Event = Accepted | Fill | Cancelled | Replaced | Rejected


# --- Read models ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """A resting order as stored by the caller and handed back to `restore`.

    `quantity` is the open (remaining) quantity; `sequence` the time priority it had.
    """

    contract: ContractKey
    order_id: OrderId
    account: Hashable
    entity: Hashable
    side: Side
    price: Decimal
    quantity: Decimal
    sequence: int


@dataclass(frozen=True, slots=True)
class DepthLevel:
    price: Decimal
    quantity: Decimal  # open quantity of all orders at this price
    orders: int


@dataclass(frozen=True, slots=True)
class Depth:
    """The depth ladder: best level first on each side."""

    bids: tuple[DepthLevel, ...]
    asks: tuple[DepthLevel, ...]


@dataclass(frozen=True, slots=True)
class TopOfBook:
    bid: Decimal | None
    bid_quantity: Decimal | None
    ask: Decimal | None
    ask_quantity: Decimal | None


# --- Internal structures ----------------------------------------------------------------------


class _Order:
    """A resting order. Mutable: its open lots go down as it fills."""

    __slots__ = (
        "account",
        "book",
        "entity",
        "is_buy",
        "lots",
        "order_id",
        "sequence",
        "ticks",
    )

    def __init__(
        self,
        order_id: OrderId,
        book: "_Book",
        account: Hashable,
        entity: Hashable,
        is_buy: bool,
        ticks: int,
        lots: int,
        sequence: int,
    ) -> None:
        self.order_id = order_id
        self.book = book
        self.account = account
        self.entity = entity
        self.is_buy = is_buy
        self.ticks = ticks
        self.lots = lots
        self.sequence = sequence


class _Level:
    """The orders at one price in time priority, and their open lots summed for the ladder.

    An OrderedDict is a hash table threaded on a linked list: append, cancel from anywhere and
    take the first are all O(1).
    """

    __slots__ = ("lots", "orders")

    def __init__(self) -> None:
        self.orders: OrderedDict[OrderId, _Order] = OrderedDict()
        self.lots = 0


class _BookSide:
    """One side of a book: levels by key, and their keys sorted with the best price last.

    The key is the price in ticks for bids and its negative for asks, so on both sides a larger
    key is a better price, the best level is `keys[-1]` (taken off in O(1) when it empties) and
    a new level is placed by bisection. An aggressor's limit, put into the opposite side's key
    space, is a floor: a level is acceptable while its key >= that floor.
    """

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # +1 bids, -1 asks: key = ticks * sign
        self.levels: dict[int, _Level] = {}
        self.keys: list[int] = []

    def add(self, order: _Order) -> None:
        key = order.ticks * self.sign
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = _Level()
            insort(self.keys, key)
        level.orders[order.order_id] = order
        level.lots += order.lots

    def remove(self, order: _Order) -> None:
        key = order.ticks * self.sign
        level = self.levels[key]
        del level.orders[order.order_id]
        level.lots -= order.lots
        if not level.orders:
            del self.levels[key]
            keys = self.keys
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]


class _Book:
    __slots__ = ("asks", "bids", "contract", "lot_size", "stp_cancel_resting", "tick_size")

    def __init__(
        self, contract: ContractKey, tick_size: Decimal, lot_size: Decimal, stp_mode: StpMode
    ) -> None:
        self.contract = contract
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.stp_cancel_resting = stp_mode == StpMode.CANCEL_RESTING
        self.bids = _BookSide(1)
        self.asks = _BookSide(-1)


def _to_units(value: Decimal, step: Decimal) -> int | None:
    """`value` as a whole number of `step`s, or None when it is off the grid or not a number."""
    try:
        whole, rest = divmod(value, step)
    except InvalidOperation:  # NaN, infinity, or a quotient beyond the context's precision
        return None
    if rest:
        return None
    return int(whole)


def _quantity_fault(quantity: Decimal) -> RejectReason:
    """Why a quantity is not a positive whole number of lots (once `_to_units` said so)."""
    if not quantity.is_finite() or quantity >= _TOO_LARGE:
        return RejectReason.QUANTITY_INVALID
    if quantity <= 0:
        return RejectReason.QUANTITY_NOT_POSITIVE
    return RejectReason.QUANTITY_OFF_LOT


def _price_fault(price: Decimal) -> RejectReason:
    """Why a price is not a whole number of ticks (once `_to_units` said so)."""
    if not price.is_finite() or abs(price) >= _TOO_LARGE:
        return RejectReason.PRICE_INVALID
    return RejectReason.PRICE_OFF_TICK


# Beyond this, counting ticks or lots may overflow the Decimal context's 28 digits; no energy
# contract trades anywhere near it, so such a value is invalid rather than "off the grid".
_TOO_LARGE = Decimal(10) ** 20


def _available(
    opposite: _BookSide, floor: int | None, entity: Hashable, stp_cancel_resting: bool, needed: int
) -> int:
    """Lots an incoming order could fill at once, counted up to `needed` (then it stops).

    It walks the opposite side as matching would: orders of the incoming order's own legal
    entity are skipped when self-trade prevention cancels the resting order, and end the count
    when it cancels the incoming one (matching would stop there too).
    """
    total = 0
    levels = opposite.levels
    for key in reversed(opposite.keys):
        if floor is not None and key < floor:
            break
        for order in levels[key].orders.values():
            if order.entity == entity:
                if stp_cancel_resting:
                    continue
                return total
            total += order.lots
            if total >= needed:
                return total
    return total


# --- Making events quickly --------------------------------------------------------------------


def _slot_constructor(cls: Any) -> Callable[..., Any]:
    """A positional constructor for a frozen, slotted event class that fills its slots directly.

    A frozen dataclass's own __init__ sets every field through object.__setattr__, which makes
    it about four times as slow as a mutable one's. The engine makes an event or more for every
    order, and that way cost a sixth of its throughput (bench/matching.py). The object made
    here is the same in every way (type, equality, hash, repr, frozen), as a test holds; the
    class keeps its own __init__ for everyone else. Only for classes whose fields have no
    defaults and that have no __post_init__, which is checked here, since those would be
    skipped.
    """
    names = [field.name for field in fields(cls)]
    has_defaults = any(
        field.default is not MISSING or field.default_factory is not MISSING
        for field in fields(cls)
    )
    if has_defaults or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has defaults or a __post_init__ this would skip")
    namespace = {"new": object.__new__, "cls": cls}
    namespace |= {f"set_{name}": getattr(cls, name).__set__ for name in names}  # slot setters
    source = (
        f"def construct({', '.join(names)}):\n"
        "    event = new(cls)\n"
        + "".join(f"    set_{name}(event, {name})\n" for name in names)
        + "    return event\n"
    )
    exec(source, namespace)  # noqa: S102 - source made here from field names, as dataclasses does
    return namespace["construct"]


_accepted = _slot_constructor(Accepted)
_fill = _slot_constructor(Fill)
_cancelled = _slot_constructor(Cancelled)


# Enum members as module names: the hot path compares them on every order, and a module global
# is found about twice as fast as an enum class attribute.
_BUY, _SELL = Side.BUY, Side.SELL
_LIMIT, _MARKET = OrderType.LIMIT, OrderType.MARKET
_GTC, _IOC, _FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
_USER = CancelReason.USER
_ZERO, _ONE = Decimal(0), Decimal(1)


# --- The engine -------------------------------------------------------------------------------


class MatchingEngine:
    """Order books for the contracts it was given, and the order-id index across them.

    Not thread-safe: exactly one caller (one process, one thread) drives a given engine, which
    is how the venue keeps a single sequence of events per contract.
    """

    def __init__(self, *, stp_mode: StpMode = StpMode.CANCEL_RESTING) -> None:
        self.stp_mode = stp_mode
        self._books: dict[ContractKey, _Book] = {}
        self._orders: dict[OrderId, _Order] = {}
        self._next_sequence = 1

    # --- Configuration ------------------------------------------------------------------------

    def add_contract(
        self,
        contract: ContractKey,
        *,
        tick_size: Decimal,
        lot_size: Decimal,
        stp_mode: StpMode | None = None,
    ) -> None:
        """Open an empty book for `contract`; `stp_mode` None takes the engine's default."""
        if contract in self._books:
            raise ValueError(f"contract {contract!r} already has a book")
        for name, step in (("tick_size", tick_size), ("lot_size", lot_size)):
            if not isinstance(step, Decimal) or not step.is_finite() or step <= 0:
                raise ValueError(f"{name} must be a positive finite Decimal, not {step!r}")
        self._books[contract] = _Book(contract, tick_size, lot_size, stp_mode or self.stp_mode)

    @property
    def next_sequence(self) -> int:
        """The sequence the next accepted order (or priority-losing replace) will get."""
        return self._next_sequence

    # --- Order entry --------------------------------------------------------------------------

    def submit(
        self,
        *,
        contract: ContractKey,
        order_id: OrderId,
        account: Hashable,
        entity: Hashable,
        side: Side,
        quantity: Decimal,
        price: Decimal | None = None,
        order_type: OrderType = OrderType.LIMIT,
        time_in_force: TimeInForce = TimeInForce.GTC,
        min_quantity: Decimal | None = None,
    ) -> list[Event]:
        """Validate, accept and match one new order; the events say what happened.

        A refused order gives a single `Rejected` event and changes nothing. `entity` is the
        legal entity that self-trade prevention compares; `account` is carried for the caller.
        A side, order type or time in force that is not one of the enums' values is a
        programming error (ValueError), not a reject: the caller's input layer offers choices.
        """
        book = self._books.get(contract)
        if book is None:
            return [Rejected(contract, order_id, RejectReason.UNKNOWN_CONTRACT)]
        if side == _BUY:
            is_buy, side = True, _BUY  # the member itself in events, even if given its value
        elif side == _SELL:
            is_buy, side = False, _SELL
        else:
            raise ValueError(f"side must be a Side, not {side!r}")
        is_market = order_type == _MARKET
        if not is_market and order_type != _LIMIT:
            raise ValueError(f"order_type must be an OrderType, not {order_type!r}")
        is_gtc = time_in_force == _GTC
        is_fok = not is_gtc and time_in_force == _FOK
        if not (is_gtc or is_fok or time_in_force == _IOC):
            raise ValueError(f"time_in_force must be a TimeInForce, not {time_in_force!r}")

        # Decimal -> lots and ticks: `_to_units`, written out here because every order pays it.
        lot_size = book.lot_size
        try:
            whole, rest = divmod(quantity, lot_size)  # NaN gives NaN: a true `rest`
        except InvalidOperation:  # infinite, or too many lots to count
            whole, rest = _ZERO, _ONE
        if rest or whole <= 0:
            return [Rejected(contract, order_id, _quantity_fault(quantity))]
        lots = int(whole)
        ticks = 0
        if is_market:
            if price is not None:
                return [Rejected(contract, order_id, RejectReason.PRICE_NOT_ALLOWED)]
        elif price is None:
            return [Rejected(contract, order_id, RejectReason.PRICE_MISSING)]
        else:
            try:
                whole, rest = divmod(price, book.tick_size)
            except InvalidOperation:  # infinite, or too many ticks to count
                return [Rejected(contract, order_id, _price_fault(price))]
            if rest:
                return [Rejected(contract, order_id, _price_fault(price))]
            ticks = int(whole)
        min_lots = 0
        if min_quantity is not None:
            min_units = _to_units(min_quantity, lot_size)
            if min_units is None or not 0 < min_units <= lots:
                return [Rejected(contract, order_id, RejectReason.MIN_QUANTITY_INVALID)]
            min_lots = min_units
        if order_id in self._orders:
            return [Rejected(contract, order_id, RejectReason.DUPLICATE_ORDER_ID)]

        sequence = self._next_sequence
        self._next_sequence = sequence + 1
        events: list[Event] = [_accepted(contract, order_id, sequence)]
        opposite = book.asks if is_buy else book.bids
        keys = opposite.keys
        # The order's limit as a floor in the opposite side's key space (see _BookSide).
        floor = None if is_market else (-ticks if is_buy else ticks)

        if is_market and not keys:
            events.append(
                _cancelled(contract, order_id, lot_size * lots, CancelReason.NO_LIQUIDITY)
            )
            return events
        if is_fok:
            min_lots = lots
        if min_lots and (
            _available(opposite, floor, entity, book.stp_cancel_resting, min_lots) < min_lots
        ):
            why = CancelReason.FOK_UNFILLABLE if is_fok else CancelReason.MIN_QUANTITY_UNAVAILABLE
            events.append(_cancelled(contract, order_id, lot_size * lots, why))
            return events

        if keys and (floor is None or keys[-1] >= floor):  # it crosses: match first
            lots = self._match(book, events, order_id, entity, side, opposite, floor, lots)
            if not lots:
                return events
        if is_market:
            why = CancelReason.MARKET_REMAINDER
        elif is_gtc:
            # The remainder rests: `_BookSide.add`, written out here because most orders rest.
            order = _Order(order_id, book, account, entity, is_buy, ticks, lots, sequence)
            self._orders[order_id] = order
            own = book.bids if is_buy else book.asks
            key = ticks if is_buy else -ticks
            level = own.levels.get(key)
            if level is None:
                level = own.levels[key] = _Level()
                insort(own.keys, key)
            level.orders[order_id] = order
            level.lots += lots
            return events
        else:
            why = CancelReason.IOC_REMAINDER
        events.append(_cancelled(contract, order_id, lot_size * lots, why))
        return events

    def cancel(self, order_id: OrderId) -> list[Event]:
        """Cancel an open order (`CancelReason.USER`); an id that is not open is rejected.

        Whose order it is, is for the caller to check before calling.
        """
        order = self._orders.pop(order_id, None)
        if order is None:
            return [Rejected(None, order_id, RejectReason.UNKNOWN_ORDER)]
        book = order.book
        (book.bids if order.is_buy else book.asks).remove(order)
        return [_cancelled(book.contract, order_id, book.lot_size * order.lots, _USER)]

    def replace(
        self,
        order_id: OrderId,
        *,
        price: Decimal | None = None,
        quantity: Decimal | None = None,
    ) -> list[Event]:
        """Change an open order's price and/or open quantity (None: unchanged).

        A smaller quantity at the same price keeps the order's place; a new price or a larger
        quantity sends it to the back of its (new) level with a new sequence, and if the new
        price crosses the book it trades at once as an aggressor (self-trade prevention
        included) before any remainder rests. A refused replace leaves the order as it was.
        """
        order = self._orders.get(order_id)
        if order is None:
            return [Rejected(None, order_id, RejectReason.UNKNOWN_ORDER)]
        book = order.book
        contract = book.contract
        lots = order.lots
        if quantity is not None:
            new_lots = _to_units(quantity, book.lot_size)
            if new_lots is None or new_lots <= 0:
                return [Rejected(contract, order_id, _quantity_fault(quantity))]
            lots = new_lots
        ticks = order.ticks
        if price is not None:
            new_ticks = _to_units(price, book.tick_size)
            if new_ticks is None:
                return [Rejected(contract, order_id, _price_fault(price))]
            ticks = new_ticks

        own, opposite = (book.bids, book.asks) if order.is_buy else (book.asks, book.bids)
        previous_price = book.tick_size * order.ticks
        previous_quantity = book.lot_size * order.lots
        new_price = book.tick_size * ticks
        if ticks == order.ticks and lots <= order.lots:
            own.levels[ticks * own.sign].lots -= order.lots - lots
            order.lots = lots
            return [
                Replaced(
                    contract,
                    order_id,
                    new_price,
                    book.lot_size * lots,
                    previous_price,
                    previous_quantity,
                    order.sequence,
                    True,
                )
            ]

        own.remove(order)
        del self._orders[order_id]
        sequence = self._next_sequence
        self._next_sequence = sequence + 1
        events: list[Event] = [
            Replaced(
                contract,
                order_id,
                new_price,
                book.lot_size * lots,
                previous_price,
                previous_quantity,
                sequence,
                False,
            )
        ]
        side = Side.BUY if order.is_buy else Side.SELL
        entity = order.entity
        floor = -ticks if order.is_buy else ticks
        remaining = lots
        if opposite.keys and opposite.keys[-1] >= floor:  # it crosses now: match first
            remaining = self._match(book, events, order_id, entity, side, opposite, floor, lots)
        if remaining:
            order.ticks = ticks
            order.lots = remaining
            order.sequence = sequence
            self._orders[order_id] = order
            own.add(order)
        return events

    def _match(
        self,
        book: _Book,
        events: list[Event],
        order_id: OrderId,
        entity: Hashable,
        side: Side,
        opposite: _BookSide,
        floor: int | None,
        lots: int,
    ) -> int:
        """Fill `lots` of an incoming order against `opposite`, best level first.

        Appends a `Fill` per resting order touched and a `Cancelled` per self-trade
        prevention; returns the lots left to place: 0 when all filled or STP cancelled the rest.
        This is the hot loop, hence the local names.
        """
        contract = book.contract
        lot_size = book.lot_size
        tick_size = book.tick_size
        sign = opposite.sign
        stp_cancel_resting = book.stp_cancel_resting
        keys = opposite.keys
        levels = opposite.levels
        index = self._orders
        while keys:
            key = keys[-1]
            if floor is not None and key < floor:
                break
            level = levels[key]
            orders = level.orders
            price = tick_size * (key * sign)
            while True:
                resting = next(iter(orders.values()))
                resting_lots = resting.lots
                if resting.entity == entity:
                    if not stp_cancel_resting:
                        events.append(
                            _cancelled(
                                contract,
                                order_id,
                                lot_size * lots,
                                CancelReason.SELF_TRADE_PREVENTION,
                            )
                        )
                        return 0
                    orders.popitem(last=False)
                    del index[resting.order_id]
                    level.lots -= resting_lots
                    events.append(
                        _cancelled(
                            contract,
                            resting.order_id,
                            lot_size * resting_lots,
                            CancelReason.SELF_TRADE_PREVENTION,
                        )
                    )
                elif lots < resting_lots:
                    resting.lots = resting_lots - lots
                    level.lots -= lots
                    events.append(
                        _fill(
                            contract,
                            price,
                            lot_size * lots,
                            order_id,
                            resting.order_id,
                            side,
                        )
                    )
                    return 0
                else:
                    orders.popitem(last=False)
                    del index[resting.order_id]
                    level.lots -= resting_lots
                    lots -= resting_lots
                    events.append(
                        _fill(
                            contract,
                            price,
                            lot_size * resting_lots,
                            order_id,
                            resting.order_id,
                            side,
                        )
                    )
                if not orders:
                    break
                if not lots:
                    return 0
            del levels[key]
            keys.pop()
            if not lots:
                return 0
        return lots

    # --- Recovery -----------------------------------------------------------------------------

    def restore(self, orders: Iterable[OpenOrder], *, next_sequence: int | None = None) -> None:
        """Rebuild the books from stored open orders, as they were before a restart.

        Each order goes back at its price with its open quantity, in the time priority its
        `sequence` gives. `next_sequence` (the caller's stored counter) continues the sequence
        exactly; without it the engine continues after the highest sequence it has seen, which
        keeps every priority the same. Stored state that could not have come from this engine
        (an unknown contract, an id already open, off-grid values, a crossed book) raises
        ValueError (UnknownContractError for the contract) and nothing is restored.
        """
        prepared: list[_Order] = []
        seen: set[OrderId] = set()
        for stored in sorted(orders, key=lambda o: o.sequence):
            book = self._books.get(stored.contract)
            if book is None:
                raise UnknownContractError(stored.contract)
            if stored.order_id in self._orders or stored.order_id in seen:
                raise ValueError(f"order {stored.order_id!r} is already open")
            seen.add(stored.order_id)
            lots = _to_units(stored.quantity, book.lot_size)
            if lots is None or lots <= 0:
                raise ValueError(f"order {stored.order_id!r}: {_quantity_fault(stored.quantity)}")
            ticks = _to_units(stored.price, book.tick_size)
            if ticks is None:
                raise ValueError(f"order {stored.order_id!r}: {_price_fault(stored.price)}")
            if stored.side not in (Side.BUY, Side.SELL):
                raise ValueError(f"order {stored.order_id!r}: side {stored.side!r}")
            prepared.append(
                _Order(
                    stored.order_id,
                    book,
                    stored.account,
                    stored.entity,
                    stored.side == Side.BUY,
                    ticks,
                    lots,
                    stored.sequence,
                )
            )
        for order in prepared:
            self._orders[order.order_id] = order
            (order.book.bids if order.is_buy else order.book.asks).add(order)
        crossed = [
            book.contract
            for book in {order.book for order in prepared}
            if book.bids.keys and book.asks.keys and book.bids.keys[-1] >= -book.asks.keys[-1]
        ]
        if crossed:
            for order in prepared:
                del self._orders[order.order_id]
                (order.book.bids if order.is_buy else order.book.asks).remove(order)
            raise ValueError(f"restored orders cross the book of {crossed!r}")
        highest = max((order.sequence for order in prepared), default=0)
        self._next_sequence = max(self._next_sequence, highest + 1, next_sequence or 0)

    # --- Reads --------------------------------------------------------------------------------

    def _book(self, contract: ContractKey) -> _Book:
        book = self._books.get(contract)
        if book is None:
            raise UnknownContractError(contract)
        return book

    def open_orders(self, contract: ContractKey | None = None) -> list[OpenOrder]:
        """Every open order (of one contract, if given) in time priority: what `restore` takes."""
        if contract is not None:
            self._book(contract)
        return [
            _open_order(order)
            for order in sorted(self._orders.values(), key=lambda o: o.sequence)
            if contract is None or order.book.contract == contract
        ]

    def open_order(self, order_id: OrderId) -> OpenOrder | None:
        order = self._orders.get(order_id)
        return None if order is None else _open_order(order)

    def depth(self, contract: ContractKey, levels: int = 10) -> Depth:
        """The best `levels` price levels on each side, with open quantity and order count."""
        book = self._book(contract)
        return Depth(bids=_ladder(book, book.bids, levels), asks=_ladder(book, book.asks, levels))

    def top_of_book(self, contract: ContractKey) -> TopOfBook:
        """Best bid and ask with their quantities; None for an empty side."""
        depth = self.depth(contract, 1)
        bid, bid_quantity = (
            (depth.bids[0].price, depth.bids[0].quantity) if depth.bids else (None, None)
        )
        ask, ask_quantity = (
            (depth.asks[0].price, depth.asks[0].quantity) if depth.asks else (None, None)
        )
        return TopOfBook(bid=bid, bid_quantity=bid_quantity, ask=ask, ask_quantity=ask_quantity)


def _open_order(order: _Order) -> OpenOrder:
    book = order.book
    return OpenOrder(
        contract=book.contract,
        order_id=order.order_id,
        account=order.account,
        entity=order.entity,
        side=Side.BUY if order.is_buy else Side.SELL,
        price=book.tick_size * order.ticks,
        quantity=book.lot_size * order.lots,
        sequence=order.sequence,
    )


def _ladder(book: _Book, side: _BookSide, count: int) -> tuple[DepthLevel, ...]:
    keys = side.keys
    return tuple(
        DepthLevel(
            price=book.tick_size * (key * side.sign),
            quantity=book.lot_size * side.levels[key].lots,
            orders=len(side.levels[key].orders),
        )
        for key in keys[: -max(count, 0) - 1 : -1]
    )
