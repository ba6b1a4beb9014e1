"""The recorded order stream of the engine's replay test (data/matching_replay.json: 600
operations on two contracts, one per self-trade prevention mode) sent through the venue service:
every fill is booked on both sides, the process is restarted several times along the way, and
the fills are exactly the recorded ones — those the pure engine gives every time. The stored
orders end as the pure engine's open orders, and each order's row is the fold of its events."""

# The fixtures imported from test_venue_support are injected by pytest through test arguments
# of the same names, which ruff reads as redefinitions.
# ruff: noqa: F811

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.accounts.models import Role
from apps.trading.matching import MatchingEngine, StpMode
from apps.trading.models import Book, Market, OrderEvent, Trade, TradeVersion
from apps.trading.venue import (
    OrderNotWorking,
    OrderTicket,
    book_depth,
    contract_open,
    engines_reset,
    order_cancel,
    order_replace,
    order_submit,
    plain,
)
from tests.factories import DeskFactory, UserFactory
from tests.trading.factories import CounterpartyFactory, LegalEntityFactory
from tests.trading.test_matching_replay import DATA, _apply, _fills
from tests.trading.test_venue import assert_projection_is_the_fold
from tests.trading.test_venue_support import _fresh_engines, venue_data  # noqa: F401 - pytest fixtures

# The first operations of the stream (all 600 take 16 s through the booking service; these give
# half its fills, and every kind of operation), and restarts along them.
OPERATIONS = 300
RESTART_BEFORE = {1, 137, 299}
PERIODS = {"eex-de-power/2026-03": ("eex-de-power", "2029-03"), "ttf/2026-Q2": ("ttf", "2029-Q2")}
GRIDS = {
    "eex-de-power/2026-03": (Decimal("0.01"), Decimal("0.1"), StpMode.CANCEL_RESTING),
    "ttf/2026-Q2": (Decimal("0.005"), Decimal(1), StpMode.CANCEL_INCOMING),
}


@pytest.fixture
def world(venue_data):
    """Four legal entities E1..E4 (each an internal counterparty), a book each on one desk, a
    trader of that desk, and the two recorded contracts on their recorded grids."""
    desk = DeskFactory(code="replay", name="Replay")
    user = UserFactory(username="replayer", roles=[Role.TRADER], desks=[desk])
    for n in range(1, 5):
        entity = LegalEntityFactory(code=f"e{n}")
        CounterpartyFactory(
            short_code=f"E{n}",
            lei=entity.lei,
            internal_entity=entity,
            credit_limit=Decimal("1e12"),
            credit_currency="EUR",
        )
        Book.objects.create(
            code=f"E{n}-BOOK", name=f"E{n}", desk=desk, legal_entity=entity, currency="EUR"
        )
    contracts = {}
    for key, (market, period) in PERIODS.items():
        tick, lot, mode = GRIDS[key]
        contracts[key] = contract_open(
            market=Market.objects.get(code=market),
            period_code=period,
            tick_size=tick,
            lot_size=lot,
            stp_mode=mode,
        )
    return user, contracts


def _decimal(value):
    return None if value is None else Decimal(value)


def test_recorded_stream_through_the_service_gives_the_recorded_fills(world) -> None:
    user, contracts = world
    recorded = json.loads(DATA.read_text())
    ops = recorded["operations"][:OPERATIONS]
    # The pure engine's fills for these operations: the recorded ones, as far as they go.
    engine = MatchingEngine()
    for key, (tick, lot, mode) in GRIDS.items():
        engine.add_contract(key, tick_size=tick, lot_size=lot, stp_mode=mode)
    expected = _fills([event for op in ops for event in _apply(engine, op)])
    assert expected == recorded["fills"][: len(expected)]
    assert len(expected) == 78
    orders = {}
    for number, op in enumerate(ops):
        if number in RESTART_BEFORE:
            engines_reset()
        if op[0] == "submit":
            _, key, rec_id, entity, side, price, quantity, order_type, tif, min_quantity = op
            ticket = OrderTicket(
                contract=contracts[key].pk,
                side=side,
                quantity=Decimal(quantity),
                price=_decimal(price),
                order_type=order_type,
                time_in_force=tif,
                min_quantity=_decimal(min_quantity),
                book=f"{entity}-BOOK",
            )
            orders[rec_id] = order_submit(user=user, ticket=ticket).order
        elif op[0] == "cancel":
            order_cancel(user=user, order=orders[op[1]])
        else:
            try:
                order_replace(
                    user=user, order=orders[op[1]], price=_decimal(op[2]), quantity=_decimal(op[3])
                )
            except ValidationError:
                pass  # a replace that changes nothing: the service asks for a change
            except OrderNotWorking:
                raise AssertionError(f"operation {number}: the recording had it open") from None

    recorded_id = {order.pk: rec_id for rec_id, order in orders.items()}
    key_of = {contract.pk: key for key, contract in contracts.items()}
    fills = [
        [
            key_of[e.contract_id],
            recorded_id[e.order_id],
            recorded_id[e.counter_order_id],
            plain(e.price, contracts[key_of[e.contract_id]].tick_size),
            plain(e.quantity, contracts[key_of[e.contract_id]].lot_size),
            e.order.side,
        ]
        for e in OrderEvent.objects.filter(kind="fill", aggressor=True)
        .select_related("order")
        .order_by("id")
    ]
    assert fills == expected
    assert not OrderEvent.objects.filter(kind="fill_refused").exists()
    # Every fill booked on both sides: two trades a fill, each in its entity's book.
    assert Trade.objects.count() == 2 * len(expected)
    # Never against its own entity (self-trade prevention).
    assert not TradeVersion.objects.filter(
        counterparty__short_code="E1", trade__book__code="E1-BOOK"
    ).exists()

    # The stored book is the pure engine's book after the same stream.
    for key, contract in contracts.items():
        depth = engine.depth(key, 10)
        expected = (
            [(plain(lv.price, contract.tick_size), plain(lv.quantity, contract.lot_size))
             for lv in depth.bids],
            [(plain(lv.price, contract.tick_size), plain(lv.quantity, contract.lot_size))
             for lv in depth.asks],
        )  # fmt: skip
        stored = book_depth(contract)
        assert (
            [(lv["price"], lv["quantity"]) for lv in stored["bids"]],
            [(lv["price"], lv["quantity"]) for lv in stored["asks"]],
        ) == expected
    assert_projection_is_the_fold()
