"""Random order streams through the matching engine, checked against a plain reference model.

The reference (`ReferenceVenue`) states the venue's rules the slow, obvious way: one list of
resting orders, candidates found by filtering and sorting on (price, sequence) for every order,
all in Decimal. For every operation of a random stream (limit and market orders of every time in
force, minimum quantities, cancels, replaces, off-grid values, restarts from the stored open
orders) the engine must emit exactly the reference's events, and after every operation the book
must be uncrossed and every order's quantity accounted for.
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.trading.matching import (
    Accepted,
    Cancelled,
    CancelReason,
    Fill,
    MatchingEngine,
    OrderType,
    Rejected,
    RejectReason,
    Replaced,
    Side,
    StpMode,
    TimeInForce,
)

D = Decimal
TICK = D("0.25")
LOT = D("0.5")
# Two contracts on one engine, one per self-trade prevention mode.
CONTRACTS = {"resting": StpMode.CANCEL_RESTING, "incoming": StpMode.CANCEL_INCOMING}
ENTITIES = ("E1", "E2", "E3")


@dataclass
class _Resting:
    order_id: int
    entity: str
    side: Side
    price: Decimal
    quantity: Decimal  # open
    sequence: int


class ReferenceVenue:
    """The venue's rules for one contract, done the obvious way."""

    def __init__(self, contract: str, stp_mode: StpMode) -> None:
        self.contract = contract
        self.cancel_resting = stp_mode == StpMode.CANCEL_RESTING
        self.book: list[_Resting] = []

    def _find(self, order_id: int) -> _Resting | None:
        return next((order for order in self.book if order.order_id == order_id), None)

    def _crossing(self, side: Side, price: Decimal | None) -> list[_Resting]:
        """Opposite orders this order may trade with, in price-time priority."""
        if side == Side.BUY:
            candidates = [o for o in self.book if o.side == Side.SELL]
            candidates = [o for o in candidates if price is None or o.price <= price]
            return sorted(candidates, key=lambda o: (o.price, o.sequence))
        candidates = [o for o in self.book if o.side == Side.BUY]
        candidates = [o for o in candidates if price is None or o.price >= price]
        return sorted(candidates, key=lambda o: (-o.price, o.sequence))

    def _available(self, side: Side, price: Decimal | None, entity: str) -> Decimal:
        total = D(0)
        for order in self._crossing(side, price):
            if order.entity == entity:
                if self.cancel_resting:
                    continue
                break
            total += order.quantity
        return total

    def _match(self, order_id, entity, side, price, quantity, events) -> Decimal:
        for resting in self._crossing(side, price):
            if resting.entity == entity:
                if not self.cancel_resting:
                    events.append(
                        Cancelled(
                            self.contract, order_id, quantity, CancelReason.SELF_TRADE_PREVENTION
                        )
                    )
                    return D(0)
                self.book.remove(resting)
                events.append(
                    Cancelled(
                        self.contract,
                        resting.order_id,
                        resting.quantity,
                        CancelReason.SELF_TRADE_PREVENTION,
                    )
                )
                continue
            traded = min(quantity, resting.quantity)
            events.append(
                Fill(self.contract, resting.price, traded, order_id, resting.order_id, side)
            )
            resting.quantity -= traded
            quantity -= traded
            if not resting.quantity:
                self.book.remove(resting)
            if not quantity:
                break
        return quantity

    def submit(self, venue, order_id, entity, side, price, quantity, order_type, tif, min_qty):
        contract = self.contract
        if not quantity.is_finite():
            return [Rejected(contract, order_id, RejectReason.QUANTITY_INVALID)]
        if quantity <= 0:
            return [Rejected(contract, order_id, RejectReason.QUANTITY_NOT_POSITIVE)]
        if quantity % LOT:
            return [Rejected(contract, order_id, RejectReason.QUANTITY_OFF_LOT)]
        market = order_type == OrderType.MARKET
        if market and price is not None:
            return [Rejected(contract, order_id, RejectReason.PRICE_NOT_ALLOWED)]
        if not market and price % TICK:
            return [Rejected(contract, order_id, RejectReason.PRICE_OFF_TICK)]
        if min_qty is not None and (min_qty % LOT or not 0 < min_qty <= quantity):
            return [Rejected(contract, order_id, RejectReason.MIN_QUANTITY_INVALID)]
        if venue.is_open(order_id):
            return [Rejected(contract, order_id, RejectReason.DUPLICATE_ORDER_ID)]
        events: list = [Accepted(contract, order_id, venue.next_sequence())]
        sequence = events[0].sequence
        if market and not self._crossing(side, None):
            events.append(Cancelled(contract, order_id, quantity, CancelReason.NO_LIQUIDITY))
            return events
        needed = quantity if tif == TimeInForce.FOK else min_qty
        if needed and self._available(side, price, entity) < needed:
            why = (
                CancelReason.FOK_UNFILLABLE
                if tif == TimeInForce.FOK
                else CancelReason.MIN_QUANTITY_UNAVAILABLE
            )
            events.append(Cancelled(contract, order_id, quantity, why))
            return events
        left = self._match(order_id, entity, side, price, quantity, events)
        if left:
            if market:
                events.append(Cancelled(contract, order_id, left, CancelReason.MARKET_REMAINDER))
            elif tif == TimeInForce.GTC:
                self.book.append(_Resting(order_id, entity, side, price, left, sequence))
            else:
                events.append(Cancelled(contract, order_id, left, CancelReason.IOC_REMAINDER))
        return events

    def cancel(self, order_id: int) -> list:
        order = self._find(order_id)
        self.book.remove(order)
        return [Cancelled(self.contract, order_id, order.quantity, CancelReason.USER)]

    def replace(self, venue, order_id, price, quantity) -> list:
        order = self._find(order_id)
        contract = self.contract
        if quantity is not None and (quantity <= 0):
            return [Rejected(contract, order_id, RejectReason.QUANTITY_NOT_POSITIVE)]
        if quantity is not None and quantity % LOT:
            return [Rejected(contract, order_id, RejectReason.QUANTITY_OFF_LOT)]
        if price is not None and price % TICK:
            return [Rejected(contract, order_id, RejectReason.PRICE_OFF_TICK)]
        new_price = order.price if price is None else price
        new_quantity = order.quantity if quantity is None else quantity
        if new_price == order.price and new_quantity <= order.quantity:
            events = [
                Replaced(
                    contract,
                    order_id,
                    new_price,
                    new_quantity,
                    order.price,
                    order.quantity,
                    order.sequence,
                    True,
                )
            ]
            order.quantity = new_quantity
            return events
        self.book.remove(order)
        sequence = venue.next_sequence()
        events = [
            Replaced(
                contract,
                order_id,
                new_price,
                new_quantity,
                order.price,
                order.quantity,
                sequence,
                False,
            )
        ]
        left = self._match(order_id, order.entity, order.side, new_price, new_quantity, events)
        if left:
            self.book.append(
                _Resting(order_id, order.entity, order.side, new_price, left, sequence)
            )
        return events


class Reference:
    """Both contracts and the one sequence counter they share, as in the engine."""

    def __init__(self) -> None:
        self.books = {
            contract: ReferenceVenue(contract, mode) for contract, mode in CONTRACTS.items()
        }
        self._sequence = 0

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def contract_of(self, order_id: int) -> ReferenceVenue | None:
        for venue in self.books.values():
            if venue._find(order_id) is not None:
                return venue
        return None

    def is_open(self, order_id: int) -> bool:
        return self.contract_of(order_id) is not None

    def submit(self, contract, order_id, entity, side, price, quantity, order_type, tif, min_qty):
        venue = self.books[contract]
        return venue.submit(self, order_id, entity, side, price, quantity, order_type, tif, min_qty)

    def cancel(self, order_id: int) -> list:
        venue = self.contract_of(order_id)
        if venue is None:
            return [Rejected(None, order_id, RejectReason.UNKNOWN_ORDER)]
        return venue.cancel(order_id)

    def replace(self, order_id: int, price, quantity) -> list:
        venue = self.contract_of(order_id)
        if venue is None:
            return [Rejected(None, order_id, RejectReason.UNKNOWN_ORDER)]
        return venue.replace(self, order_id, price, quantity)


def _engine() -> MatchingEngine:
    engine = MatchingEngine()
    for contract, mode in CONTRACTS.items():
        engine.add_contract(contract, tick_size=TICK, lot_size=LOT, stp_mode=mode)
    return engine


# --- Streams ----------------------------------------------------------------------------------

# Prices from -1.00 to 2.50 in ticks of 0.25 (negative prices included), one in 16 off the tick.
prices = st.sampled_from([TICK * n for n in range(-4, 11)] + [D("0.10")])
# Quantities of 1 to 8 lots of 0.5; one in 10 zero, negative or off the lot.
quantities = st.sampled_from([LOT * n for n in range(1, 9)] * 3 + [D(0), D("-0.5"), D("0.3")])
limit_orders = st.tuples(
    st.just("limit"),
    st.sampled_from(sorted(CONTRACTS)),
    st.sampled_from(ENTITIES),
    st.sampled_from([Side.BUY, Side.SELL]),
    prices,
    quantities,
    st.sampled_from([TimeInForce.GTC] * 4 + [TimeInForce.IOC, TimeInForce.FOK]),
    st.sampled_from([None] * 12 + [D(0), LOT, LOT * 2, LOT * 4]),
)
market_orders = st.tuples(
    st.just("market"),
    st.sampled_from(sorted(CONTRACTS)),
    st.sampled_from(ENTITIES),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.none(),
    quantities,
    st.sampled_from(list(TimeInForce)),
    st.sampled_from([None, None, LOT, LOT * 3]),
)
# Cancels and replaces name an open order (mostly), any id submitted so far (which may have
# filled or been cancelled since), or an id never used (-1); see `_order_id`.
order_refs = st.integers(0, 1000) | st.just(-1)
cancels = st.tuples(st.just("cancel"), order_refs)
replaces = st.tuples(
    st.just("replace"),
    order_refs,
    st.none() | prices,
    st.none() | quantities,
)
restarts = st.tuples(st.just("restart"))
# One operation in 16 restarts the engine; limit orders are the bulk, as on a real venue.
operations = {
    "limit": limit_orders,
    "market": market_orders,
    "cancel": cancels,
    "replace": replaces,
    "restart": restarts,
}
kinds = ["limit"] * 9 + ["market", "market", "cancel", "cancel", "replace", "replace", "restart"]
streams = st.lists(st.sampled_from(kinds).flatmap(operations.__getitem__), min_size=10, max_size=60)


def _restart(engine: MatchingEngine) -> MatchingEngine:
    """What a restart does: a fresh engine rebuilt from the stored open orders."""
    fresh = _engine()
    fresh.restore(engine.open_orders(), next_sequence=engine.next_sequence)
    return fresh


class Ledger:
    """Per order: submitted (+ replace increases − decreases) = filled + open + cancelled."""

    def __init__(self) -> None:
        self.submitted: dict[int, Decimal] = defaultdict(Decimal)
        self.filled: dict[int, Decimal] = defaultdict(Decimal)
        self.cancelled: dict[int, Decimal] = defaultdict(Decimal)

    def record(self, events: list, quantity: Decimal | None) -> None:
        for event in events:
            if isinstance(event, Accepted):
                self.submitted[event.order_id] += quantity
            elif isinstance(event, Replaced):
                self.submitted[event.order_id] += event.quantity - event.previous_quantity
            elif isinstance(event, Fill):
                self.filled[event.aggressor_order_id] += event.quantity
                self.filled[event.resting_order_id] += event.quantity
            elif isinstance(event, Cancelled):
                self.cancelled[event.order_id] += event.quantity

    def check(self, engine: MatchingEngine) -> None:
        open_quantity = {order.order_id: order.quantity for order in engine.open_orders()}
        for order_id, submitted in self.submitted.items():
            accounted = (
                self.filled[order_id] + open_quantity.get(order_id, D(0)) + self.cancelled[order_id]
            )
            assert submitted == accounted, order_id
        assert sum(self.submitted.values()) == (
            sum(self.filled.values()) + sum(open_quantity.values()) + sum(self.cancelled.values())
        )


def _order_id(ref: int, next_id: int, engine: MatchingEngine) -> int:
    open_ids = [order.order_id for order in engine.open_orders()]
    if ref < 0 or next_id == 1:
        return 999
    if ref % 4 == 3 or not open_ids:
        return 1 + ref % (next_id - 1)
    return open_ids[ref % len(open_ids)]


def _run(stream: list[tuple]) -> None:
    engine, reference, ledger = _engine(), Reference(), Ledger()
    next_id = 1
    for op in stream:
        kind = op[0]
        quantity = None
        if kind in ("limit", "market"):
            _, contract, entity, side, price, quantity, tif, min_qty = op
            order_type = OrderType.LIMIT if kind == "limit" else OrderType.MARKET
            events = engine.submit(
                contract=contract,
                order_id=next_id,
                account=f"acct-{entity}",
                entity=entity,
                side=side,
                price=price,
                quantity=quantity,
                order_type=order_type,
                time_in_force=tif,
                min_quantity=min_qty,
            )
            expected = reference.submit(
                contract, next_id, entity, side, price, quantity, order_type, tif, min_qty
            )
            next_id += 1
        elif kind == "cancel":
            order_id = _order_id(op[1], next_id, engine)
            events, expected = engine.cancel(order_id), reference.cancel(order_id)
        elif kind == "replace":
            _, ref, price, new_quantity = op
            order_id = _order_id(ref, next_id, engine)
            events = engine.replace(order_id, price=price, quantity=new_quantity)
            expected = reference.replace(order_id, price, new_quantity)
        else:
            engine, events, expected = _restart(engine), [], []
        assert events == expected, op
        ledger.record(events, quantity)
        ledger.check(engine)
        for contract in CONTRACTS:
            top = engine.top_of_book(contract)
            assert top.bid is None or top.ask is None or top.bid < top.ask, (op, top)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams)
def test_random_streams_match_the_reference_and_keep_the_book_uncrossed_and_quantity_whole(
    stream,
):
    _run(stream)


def test_the_reference_model_itself_fills_at_resting_prices_in_priority():
    """A fixed stream, so that the reference is itself held to the rules, not just to the
    engine."""
    reference = Reference()
    reference.submit("resting", 1, "E1", Side.SELL, D("1.00"), D(1), OrderType.LIMIT, "gtc", None)
    reference.submit("resting", 2, "E2", Side.SELL, D("0.75"), D(1), OrderType.LIMIT, "gtc", None)
    reference.submit("resting", 3, "E3", Side.SELL, D("0.75"), D(1), OrderType.LIMIT, "gtc", None)
    events = reference.submit(
        "resting", 4, "E1", Side.BUY, D("1.00"), D(3), OrderType.LIMIT, "gtc", None
    )
    assert events == [
        Accepted("resting", 4, 4),
        Fill("resting", D("0.75"), D(1), 4, 2, Side.BUY),
        Fill("resting", D("0.75"), D(1), 4, 3, Side.BUY),
        Cancelled("resting", 1, D(1), CancelReason.SELF_TRADE_PREVENTION),
    ]
