"""The internal venue's matching engine, rule by rule (apps.trading.matching; pure, no database).

Prices in these tests are EUR/MWh on a 0.01 tick and quantities MW in lots of 1, unless a test
says otherwise. `E1`, `E2`, `E3` are legal entities; self-trade prevention compares them.
"""

from dataclasses import FrozenInstanceError, fields
from decimal import Decimal

import pytest

from apps.trading.matching import (
    Accepted,
    Cancelled,
    CancelReason,
    Depth,
    DepthLevel,
    Fill,
    MatchingEngine,
    OpenOrder,
    OrderType,
    Rejected,
    RejectReason,
    Replaced,
    Side,
    StpMode,
    TimeInForce,
    TopOfBook,
    UnknownContractError,
)

D = Decimal
POWER = ("eex-de-power", "2026-03")
GAS = ("ttf", "2026-Q2")  # tick 0.005, lots of 0.5
BUY, SELL = Side.BUY, Side.SELL
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK


def _engine(stp_mode: StpMode = StpMode.CANCEL_RESTING) -> MatchingEngine:
    engine = MatchingEngine(stp_mode=stp_mode)
    engine.add_contract(POWER, tick_size=D("0.01"), lot_size=D(1))
    engine.add_contract(GAS, tick_size=D("0.005"), lot_size=D("0.5"))
    return engine


def _limit(
    engine: MatchingEngine,
    order_id: int,
    side: Side,
    price: str,
    quantity: str | int,
    *,
    entity: str = "E1",
    tif: TimeInForce = GTC,
    min_quantity: str | None = None,
    contract: tuple[str, str] = POWER,
) -> list:
    return engine.submit(
        contract=contract,
        order_id=order_id,
        account=f"acct-{entity}",
        entity=entity,
        side=side,
        price=D(price),
        quantity=D(quantity),
        time_in_force=tif,
        min_quantity=None if min_quantity is None else D(min_quantity),
    )


def _market(
    engine: MatchingEngine,
    order_id: int,
    side: Side,
    quantity: str | int,
    *,
    entity: str = "E1",
    tif: TimeInForce = IOC,
    min_quantity: str | None = None,
) -> list:
    return engine.submit(
        contract=POWER,
        order_id=order_id,
        account=f"acct-{entity}",
        entity=entity,
        side=side,
        quantity=D(quantity),
        order_type=OrderType.MARKET,
        time_in_force=tif,
        min_quantity=None if min_quantity is None else D(min_quantity),
    )


def _asks_50_10_to_50_30(engine: MatchingEngine) -> None:
    """Three sell orders of E2: 3 @ 50.10 (id 1), 4 @ 50.20 (id 2), 5 @ 50.30 (id 3)."""
    _limit(engine, 1, SELL, "50.10", 3, entity="E2")
    _limit(engine, 2, SELL, "50.20", 4, entity="E2")
    _limit(engine, 3, SELL, "50.30", 5, entity="E2")


def _fill(aggressor: int, resting: int, price: str, quantity: str | int, side: Side) -> Fill:
    return Fill(POWER, D(price), D(quantity), aggressor, resting, side)


# --- Events ----------------------------------------------------------------------------------


def test_events_the_engine_makes_are_ordinary_frozen_dataclasses():
    engine = _engine()
    _limit(engine, 1, SELL, "50.00", 2, entity="E2")
    events = _limit(engine, 2, BUY, "50.00", 3, tif=IOC) + engine.cancel(2)
    assert [type(event) for event in events] == [Accepted, Fill, Cancelled, Rejected]
    for event in events:
        rebuilt = type(event)(**{field.name: getattr(event, field.name) for field in fields(event)})
        assert rebuilt == event
        assert hash(rebuilt) == hash(event)
        assert repr(rebuilt) == repr(event)
        with pytest.raises(FrozenInstanceError):
            event.contract = GAS


# --- Limit orders, priority, fills ------------------------------------------------------------


def test_limit_order_that_crosses_nothing_rests_and_is_accepted_with_a_sequence():
    engine = _engine()
    assert _limit(engine, 7, BUY, "49.50", 10) == [Accepted(POWER, 7, 1)]
    assert _limit(engine, 8, BUY, "49.40", 5) == [Accepted(POWER, 8, 2)]
    assert engine.open_orders() == [
        OpenOrder(POWER, 7, "acct-E1", "E1", BUY, D("49.50"), D(10), 1),
        OpenOrder(POWER, 8, "acct-E1", "E1", BUY, D("49.40"), D(5), 2),
    ]
    assert engine.next_sequence == 3


def test_partial_fills_across_several_levels_at_the_resting_prices_then_the_rest_rests():
    engine = _engine()
    _asks_50_10_to_50_30(engine)
    events = _limit(engine, 4, BUY, "50.25", 10)
    assert events == [
        Accepted(POWER, 4, 4),
        _fill(4, 1, "50.10", 3, BUY),
        _fill(4, 2, "50.20", 4, BUY),
    ]
    assert engine.depth(POWER) == Depth(
        bids=(DepthLevel(D("50.25"), D(3), 1),),
        asks=(DepthLevel(D("50.30"), D(5), 1),),
    )


def test_fill_is_at_the_resting_price_even_when_the_aggressor_would_pay_more():
    engine = _engine()
    _limit(engine, 1, BUY, "48.00", 2, entity="E2")
    events = _limit(engine, 2, SELL, "40.00", 2)
    assert events[1:] == [_fill(2, 1, "48.00", 2, SELL)]
    assert events[1].buy_order_id == 1
    assert events[1].sell_order_id == 2


def test_aggressor_partially_fills_a_larger_resting_order_which_keeps_its_place():
    engine = _engine()
    _limit(engine, 1, SELL, "50.00", 10, entity="E2")
    _limit(engine, 2, SELL, "50.00", 10, entity="E3")
    assert _limit(engine, 3, BUY, "50.00", 4)[1:] == [_fill(3, 1, "50.00", 4, BUY)]
    assert _limit(engine, 4, BUY, "50.00", 7)[1:] == [
        _fill(4, 1, "50.00", 6, BUY),
        _fill(4, 2, "50.00", 1, BUY),
    ]
    assert engine.open_order(2) == OpenOrder(POWER, 2, "acct-E3", "E3", SELL, D("50.00"), D(9), 2)
    assert engine.open_order(1) is None


def test_better_price_fills_first_whatever_the_time():
    engine = _engine()
    _limit(engine, 1, BUY, "49.00", 5, entity="E2")
    _limit(engine, 2, BUY, "49.50", 5, entity="E3")
    assert _limit(engine, 3, SELL, "49.00", 6)[1:] == [
        _fill(3, 2, "49.50", 5, SELL),
        _fill(3, 1, "49.00", 1, SELL),
    ]


def test_at_one_price_the_earlier_order_fills_first():
    engine = _engine()
    _limit(engine, 1, SELL, "50.00", 2, entity="E2")
    _limit(engine, 2, SELL, "50.00", 2, entity="E3")
    _limit(engine, 3, SELL, "50.00", 2, entity="E2")
    assert _limit(engine, 4, BUY, "50.00", 5)[1:] == [
        _fill(4, 1, "50.00", 2, BUY),
        _fill(4, 2, "50.00", 2, BUY),
        _fill(4, 3, "50.00", 1, BUY),
    ]


def test_zero_and_negative_prices_are_valid_and_ordered_as_numbers():
    # Power prices go negative at times of surplus: a bid at -5.00 is worse than one at 0.00.
    engine = _engine()
    _limit(engine, 1, BUY, "-5.00", 1, entity="E2")
    _limit(engine, 2, BUY, "0", 1, entity="E2")
    _limit(engine, 3, SELL, "-3.50", 1, entity="E3")
    assert engine.top_of_book(POWER) == TopOfBook(D("-5.00"), D(1), None, None)
    assert engine.open_order(2) is None


def test_events_carry_the_tick_and_lot_exponent():
    engine = _engine()
    _limit(engine, 1, SELL, "50.1", 3, entity="E2")
    fill = _limit(engine, 2, BUY, "50.2", 3)[1]
    assert str(fill.price) == "50.10"
    assert str(fill.quantity) == "3"


def test_quantities_in_fractional_lots_match_exactly():
    engine = _engine()
    _limit(engine, 1, SELL, "30.005", "2.5", entity="E2", contract=GAS)
    events = _limit(engine, 2, BUY, "30.010", "1.5", contract=GAS)
    assert events[1:] == [Fill(GAS, D("30.005"), D("1.5"), 2, 1, BUY)]
    assert engine.open_order(1).quantity == D("1.0")


# --- Time in force ----------------------------------------------------------------------------


def test_ioc_fills_what_it_can_and_cancels_the_remainder():
    engine = _engine()
    _asks_50_10_to_50_30(engine)
    assert _limit(engine, 4, BUY, "50.20", 10, tif=IOC) == [
        Accepted(POWER, 4, 4),
        _fill(4, 1, "50.10", 3, BUY),
        _fill(4, 2, "50.20", 4, BUY),
        Cancelled(POWER, 4, D(3), CancelReason.IOC_REMAINDER),
    ]
    assert engine.open_order(4) is None


def test_ioc_that_crosses_nothing_is_cancelled_whole():
    engine = _engine()
    _asks_50_10_to_50_30(engine)
    assert _limit(engine, 4, BUY, "50.00", 2, tif=IOC) == [
        Accepted(POWER, 4, 4),
        Cancelled(POWER, 4, D(2), CancelReason.IOC_REMAINDER),
    ]


def test_fok_that_cannot_fill_in_full_fills_nothing_and_leaves_the_book_unchanged():
    engine = _engine()
    _asks_50_10_to_50_30(engine)
    before = (engine.open_orders(), engine.depth(POWER))
    # 12 are offered in all, but only 7 at or below 50.20.
    assert _limit(engine, 4, BUY, "50.20", 8, tif=FOK) == [
        Accepted(POWER, 4, 4),
        Cancelled(POWER, 4, D(8), CancelReason.FOK_UNFILLABLE),
    ]
    assert (engine.open_orders(), engine.depth(POWER)) == before


def test_fok_that_can_fill_in_full_fills_in_full():
    engine = _engine()
    _asks_50_10_to_50_30(engine)
    assert _limit(engine, 4, BUY, "50.20", 7, tif=FOK)[1:] == [
        _fill(4, 1, "50.10", 3, BUY),
        _fill(4, 2, "50.20", 4, BUY),
    ]


# --- Minimum quantity -------------------------------------------------------------------------


def test_min_quantity_not_available_at_once_cancels_the_whole_order_and_fills_nothing():
    engine = _engine()
    _asks_50_10_to_50_30(engine)
    before = engine.open_orders()
    assert _limit(engine, 4, BUY, "50.10", 10, min_quantity="4") == [
        Accepted(POWER, 4, 4),
        Cancelled(POWER, 4, D(10), CancelReason.MIN_QUANTITY_UNAVAILABLE),
    ]
    assert engine.open_orders() == before


def test_min_quantity_available_fills_and_the_gtc_remainder_rests_without_a_minimum():
    engine = _engine()
    _asks_50_10_to_50_30(engine)
    assert _limit(engine, 4, BUY, "50.20", 10, min_quantity="7") == [
        Accepted(POWER, 4, 4),
        _fill(4, 1, "50.10", 3, BUY),
        _fill(4, 2, "50.20", 4, BUY),
    ]
    assert engine.open_order(4).quantity == D(3)
    # Resting now, it fills in any size.
    assert _limit(engine, 5, SELL, "50.20", 1, entity="E2")[1:] == [_fill(5, 4, "50.20", 1, SELL)]


def test_min_quantity_available_on_an_ioc_fills_and_cancels_the_rest():
    engine = _engine()
    _asks_50_10_to_50_30(engine)
    assert _limit(engine, 4, BUY, "50.10", 5, tif=IOC, min_quantity="3")[1:] == [
        _fill(4, 1, "50.10", 3, BUY),
        Cancelled(POWER, 4, D(2), CancelReason.IOC_REMAINDER),
    ]


@pytest.mark.parametrize("min_quantity", ["0", "-1", "11", "2.5", "NaN"])
def test_min_quantity_not_positive_above_quantity_or_off_lot_is_rejected(min_quantity):
    engine = _engine()
    assert _limit(engine, 1, BUY, "50.00", 10, min_quantity=min_quantity) == [
        Rejected(POWER, 1, RejectReason.MIN_QUANTITY_INVALID)
    ]
    assert engine.open_orders() == []


# --- Market orders ----------------------------------------------------------------------------


def test_market_order_sweeps_the_book_and_its_remainder_is_cancelled():
    engine = _engine()
    _asks_50_10_to_50_30(engine)
    assert _market(engine, 4, BUY, 15) == [
        Accepted(POWER, 4, 4),
        _fill(4, 1, "50.10", 3, BUY),
        _fill(4, 2, "50.20", 4, BUY),
        _fill(4, 3, "50.30", 5, BUY),
        Cancelled(POWER, 4, D(3), CancelReason.MARKET_REMAINDER),
    ]
    assert engine.depth(POWER) == Depth(bids=(), asks=())


def test_market_order_never_rests_even_when_gtc():
    engine = _engine()
    _limit(engine, 1, SELL, "50.00", 1, entity="E2")
    assert _market(engine, 2, BUY, 3, tif=GTC)[1:] == [
        _fill(2, 1, "50.00", 1, BUY),
        Cancelled(POWER, 2, D(2), CancelReason.MARKET_REMAINDER),
    ]
    assert engine.open_orders() == []


def test_market_order_on_an_empty_opposite_side_is_cancelled_for_no_liquidity():
    engine = _engine()
    _limit(engine, 1, BUY, "49.00", 5, entity="E2")  # same side: no help
    assert _market(engine, 2, BUY, 3) == [
        Accepted(POWER, 2, 2),
        Cancelled(POWER, 2, D(3), CancelReason.NO_LIQUIDITY),
    ]


def test_market_fok_that_cannot_fill_in_full_fills_nothing():
    engine = _engine()
    _asks_50_10_to_50_30(engine)
    assert _market(engine, 4, BUY, 13, tif=FOK)[1:] == [
        Cancelled(POWER, 4, D(13), CancelReason.FOK_UNFILLABLE)
    ]
    assert len(engine.open_orders()) == 3


def test_market_order_with_a_price_is_rejected():
    engine = _engine()
    events = engine.submit(
        contract=POWER,
        order_id=1,
        account="a",
        entity="E1",
        side=BUY,
        price=D("50.00"),
        quantity=D(1),
        order_type=OrderType.MARKET,
    )
    assert events == [Rejected(POWER, 1, RejectReason.PRICE_NOT_ALLOWED)]


# --- Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "quantity", "reason"),
    [
        ("50.005", "1", RejectReason.PRICE_OFF_TICK),
        ("50.001", "1", RejectReason.PRICE_OFF_TICK),
        ("NaN", "1", RejectReason.PRICE_INVALID),
        ("Infinity", "1", RejectReason.PRICE_INVALID),
        ("1E+40", "1", RejectReason.PRICE_INVALID),
        ("50.00", "1.5", RejectReason.QUANTITY_OFF_LOT),
        ("50.00", "0", RejectReason.QUANTITY_NOT_POSITIVE),
        ("50.00", "-2", RejectReason.QUANTITY_NOT_POSITIVE),
        ("50.00", "-0.5", RejectReason.QUANTITY_NOT_POSITIVE),
        ("50.00", "NaN", RejectReason.QUANTITY_INVALID),
        ("50.00", "-Infinity", RejectReason.QUANTITY_INVALID),
        ("50.00", "1E+40", RejectReason.QUANTITY_INVALID),
        ("50.005", "0", RejectReason.QUANTITY_NOT_POSITIVE),  # quantity is checked first
    ],
)
def test_off_grid_or_non_positive_values_are_rejected_and_change_nothing(price, quantity, reason):
    engine = _engine()
    _limit(engine, 1, SELL, "50.00", 2, entity="E2")
    before = engine.open_orders()
    assert _limit(engine, 2, BUY, price, quantity) == [Rejected(POWER, 2, reason)]
    assert engine.open_orders() == before
    assert engine.next_sequence == 2


def test_tick_and_lot_are_per_contract():
    engine = _engine()
    assert _limit(engine, 1, BUY, "30.005", "0.5", contract=GAS) == [Accepted(GAS, 1, 1)]
    assert _limit(engine, 2, BUY, "30.005", 1) == [Rejected(POWER, 2, RejectReason.PRICE_OFF_TICK)]
    assert _limit(engine, 3, BUY, "30.00", "0.25", contract=GAS) == [
        Rejected(GAS, 3, RejectReason.QUANTITY_OFF_LOT)
    ]


def test_limit_order_without_a_price_is_rejected():
    engine = _engine()
    events = engine.submit(
        contract=POWER, order_id=1, account="a", entity="E1", side=BUY, quantity=D(1)
    )
    assert events == [Rejected(POWER, 1, RejectReason.PRICE_MISSING)]


def test_unknown_contract_is_rejected():
    engine = _engine()
    events = engine.submit(
        contract=("eex-de-power", "2019-01"),
        order_id=1,
        account="a",
        entity="E1",
        side=BUY,
        price=D("50.00"),
        quantity=D(1),
    )
    assert events == [Rejected(("eex-de-power", "2019-01"), 1, RejectReason.UNKNOWN_CONTRACT)]


def test_an_order_id_that_is_already_open_is_rejected():
    engine = _engine()
    _limit(engine, 1, BUY, "49.00", 1)
    assert _limit(engine, 1, SELL, "51.00", 1, contract=POWER) == [
        Rejected(POWER, 1, RejectReason.DUPLICATE_ORDER_ID)
    ]
    assert _limit(engine, 1, BUY, "30.000", 1, contract=GAS) == [
        Rejected(GAS, 1, RejectReason.DUPLICATE_ORDER_ID)
    ]


def test_values_outside_the_enums_are_programming_errors():
    engine = _engine()
    with pytest.raises(ValueError, match="side"):
        engine.submit(
            contract=POWER, order_id=1, account="a", entity="E1", side="up", quantity=D(1)
        )
    with pytest.raises(ValueError, match="time_in_force"):
        _limit(engine, 1, BUY, "50.00", 1, tif="day")


def test_enum_values_given_as_plain_strings_are_accepted():
    engine = _engine()
    _limit(engine, 1, SELL, "50.00", 1, entity="E2")
    events = engine.submit(
        contract=POWER,
        order_id=2,
        account="a",
        entity="E1",
        side="buy",
        quantity=D(1),
        order_type="market",
        time_in_force="ioc",
    )
    assert events[1] == _fill(2, 1, "50.00", 1, BUY)
    assert events[1].aggressor_side is Side.BUY


# --- Cancel -----------------------------------------------------------------------------------


def test_cancel_removes_the_open_remainder():
    engine = _engine()
    _limit(engine, 1, SELL, "50.00", 10, entity="E2")
    _limit(engine, 2, BUY, "50.00", 4)
    assert engine.cancel(1) == [Cancelled(POWER, 1, D(6), CancelReason.USER)]
    assert engine.depth(POWER) == Depth(bids=(), asks=())


def test_cancel_of_an_unknown_or_finished_order_is_rejected():
    engine = _engine()
    _limit(engine, 1, SELL, "50.00", 1, entity="E2")
    _limit(engine, 2, BUY, "50.00", 1)
    assert engine.cancel(99) == [Rejected(None, 99, RejectReason.UNKNOWN_ORDER)]
    assert engine.cancel(1) == [Rejected(None, 1, RejectReason.UNKNOWN_ORDER)]  # filled
    _limit(engine, 3, BUY, "49.00", 1)
    engine.cancel(3)
    assert engine.cancel(3) == [Rejected(None, 3, RejectReason.UNKNOWN_ORDER)]


def test_cancel_in_the_middle_of_a_level_keeps_the_others_order():
    engine = _engine()
    for order_id in (1, 2, 3):
        _limit(engine, order_id, SELL, "50.00", 1, entity="E2")
    engine.cancel(2)
    assert engine.depth(POWER).asks == (DepthLevel(D("50.00"), D(2), 2),)
    assert _limit(engine, 4, BUY, "50.00", 2)[1:] == [
        _fill(4, 1, "50.00", 1, BUY),
        _fill(4, 3, "50.00", 1, BUY),
    ]


# --- Cancel/replace ---------------------------------------------------------------------------


def _three_offers_at_50(engine: MatchingEngine) -> None:
    for order_id in (1, 2, 3):
        _limit(engine, order_id, SELL, "50.00", 5, entity="E2")


def _who_fills_first(engine: MatchingEngine) -> list[int]:
    """Resting order ids in the order a large buy at 50.00 fills them."""
    events = _limit(engine, 100, BUY, "50.00", 100, entity="E9", tif=IOC)
    return [event.resting_order_id for event in events if isinstance(event, Fill)]


def test_replace_with_a_smaller_quantity_keeps_time_priority():
    engine = _engine()
    _three_offers_at_50(engine)
    assert engine.replace(1, quantity=D(2)) == [
        Replaced(POWER, 1, D("50.00"), D(2), D("50.00"), D(5), 1, True)
    ]
    assert engine.depth(POWER).asks == (DepthLevel(D("50.00"), D(12), 3),)
    assert _who_fills_first(engine) == [1, 2, 3]


def test_replace_with_a_larger_quantity_loses_time_priority():
    engine = _engine()
    _three_offers_at_50(engine)
    assert engine.replace(1, quantity=D(8)) == [
        Replaced(POWER, 1, D("50.00"), D(8), D("50.00"), D(5), 4, False)
    ]
    assert _who_fills_first(engine) == [2, 3, 1]


def test_replace_with_a_new_price_loses_time_priority_even_with_a_smaller_quantity():
    engine = _engine()
    _three_offers_at_50(engine)
    engine.replace(1, price=D("50.05"))
    engine.replace(1, price=D("50.00"), quantity=D(4))
    assert engine.open_order(1).sequence == 5
    assert _who_fills_first(engine) == [2, 3, 1]


def test_replace_to_the_same_price_and_quantity_keeps_priority():
    engine = _engine()
    _three_offers_at_50(engine)
    assert engine.replace(2, price=D("50.00"), quantity=D(5))[0].kept_priority is True
    assert _who_fills_first(engine) == [1, 2, 3]


def test_replace_to_a_crossing_price_trades_at_once_and_rests_the_rest():
    engine = _engine()
    _asks_50_10_to_50_30(engine)
    _limit(engine, 4, BUY, "50.00", 5)
    assert engine.replace(4, price=D("50.15")) == [
        Replaced(POWER, 4, D("50.15"), D(5), D("50.00"), D(5), 5, False),
        _fill(4, 1, "50.10", 3, BUY),
    ]
    assert engine.open_order(4) == OpenOrder(POWER, 4, "acct-E1", "E1", BUY, D("50.15"), D(2), 5)


def test_replace_that_is_refused_leaves_the_order_as_it_was():
    engine = _engine()
    _three_offers_at_50(engine)
    before = engine.open_orders()
    assert engine.replace(2, price=D("50.003")) == [Rejected(POWER, 2, RejectReason.PRICE_OFF_TICK)]
    assert engine.replace(2, quantity=D(0)) == [
        Rejected(POWER, 2, RejectReason.QUANTITY_NOT_POSITIVE)
    ]
    assert engine.replace(2, quantity=D("1.5")) == [
        Rejected(POWER, 2, RejectReason.QUANTITY_OFF_LOT)
    ]
    assert engine.replace(42, quantity=D(1)) == [Rejected(None, 42, RejectReason.UNKNOWN_ORDER)]
    assert engine.open_orders() == before
    assert engine.next_sequence == 4


def test_replace_of_an_order_that_has_partly_filled_changes_its_open_quantity():
    engine = _engine()
    _limit(engine, 1, SELL, "50.00", 10, entity="E2")
    _limit(engine, 2, BUY, "50.00", 4)
    assert engine.replace(1, quantity=D(3)) == [
        Replaced(POWER, 1, D("50.00"), D(3), D("50.00"), D(6), 1, True)
    ]


# --- Self-trade prevention --------------------------------------------------------------------


def test_stp_cancel_resting_cancels_the_own_order_and_matching_goes_on():
    engine = _engine(StpMode.CANCEL_RESTING)
    _limit(engine, 1, SELL, "50.00", 2, entity="E2")
    _limit(engine, 2, SELL, "50.00", 3, entity="E1")  # the aggressor's own entity
    _limit(engine, 3, SELL, "50.10", 4, entity="E3")
    assert _limit(engine, 4, BUY, "50.10", 5, entity="E1") == [
        Accepted(POWER, 4, 4),
        _fill(4, 1, "50.00", 2, BUY),
        Cancelled(POWER, 2, D(3), CancelReason.SELF_TRADE_PREVENTION),
        _fill(4, 3, "50.10", 3, BUY),
    ]
    assert engine.open_order(2) is None


def test_stp_cancel_incoming_cancels_the_aggressor_remainder_and_keeps_earlier_fills():
    engine = _engine(StpMode.CANCEL_INCOMING)
    _limit(engine, 1, SELL, "50.00", 2, entity="E2")
    _limit(engine, 2, SELL, "50.00", 3, entity="E1")
    _limit(engine, 3, SELL, "50.10", 4, entity="E3")
    assert _limit(engine, 4, BUY, "50.10", 5, entity="E1") == [
        Accepted(POWER, 4, 4),
        _fill(4, 1, "50.00", 2, BUY),
        Cancelled(POWER, 4, D(3), CancelReason.SELF_TRADE_PREVENTION),
    ]
    assert [order.order_id for order in engine.open_orders()] == [2, 3]


def test_stp_mode_of_a_contract_overrides_the_engine_default():
    engine = MatchingEngine(stp_mode=StpMode.CANCEL_RESTING)
    engine.add_contract(POWER, tick_size=D("0.01"), lot_size=D(1), stp_mode=StpMode.CANCEL_INCOMING)
    _limit(engine, 1, SELL, "50.00", 2, entity="E1")
    assert _limit(engine, 2, BUY, "50.00", 2, entity="E1")[1:] == [
        Cancelled(POWER, 2, D(2), CancelReason.SELF_TRADE_PREVENTION)
    ]
    assert engine.open_order(1) is not None


def test_same_account_different_entity_is_not_a_self_trade():
    engine = _engine()
    engine.submit(
        contract=POWER,
        order_id=1,
        account="shared",
        entity="E1",
        side=SELL,
        price=D("50.00"),
        quantity=D(1),
    )
    events = engine.submit(
        contract=POWER,
        order_id=2,
        account="shared",
        entity="E2",
        side=BUY,
        price=D("50.00"),
        quantity=D(1),
    )
    assert events[1:] == [_fill(2, 1, "50.00", 1, BUY)]


def test_fok_does_not_count_orders_that_self_trade_prevention_would_cancel():
    engine = _engine(StpMode.CANCEL_RESTING)
    _limit(engine, 1, SELL, "50.00", 5, entity="E1")
    _limit(engine, 2, SELL, "50.00", 2, entity="E2")
    before = engine.open_orders()
    # 7 are offered but 5 are E1's own: an E1 FOK for 3 cannot fill, and cancels nothing.
    assert _limit(engine, 3, BUY, "50.00", 3, entity="E1", tif=FOK)[1:] == [
        Cancelled(POWER, 3, D(3), CancelReason.FOK_UNFILLABLE)
    ]
    assert engine.open_orders() == before
    assert _limit(engine, 4, BUY, "50.00", 2, entity="E1", tif=FOK)[1:] == [
        Cancelled(POWER, 1, D(5), CancelReason.SELF_TRADE_PREVENTION),
        _fill(4, 2, "50.00", 2, BUY),
    ]


def test_min_quantity_under_stp_cancel_incoming_counts_only_up_to_the_own_order():
    engine = _engine(StpMode.CANCEL_INCOMING)
    _limit(engine, 1, SELL, "50.00", 2, entity="E2")
    _limit(engine, 2, SELL, "50.00", 1, entity="E1")
    _limit(engine, 3, SELL, "50.00", 9, entity="E2")
    assert _limit(engine, 4, BUY, "50.00", 5, entity="E1", min_quantity="3")[1:] == [
        Cancelled(POWER, 4, D(5), CancelReason.MIN_QUANTITY_UNAVAILABLE)
    ]
    assert _limit(engine, 5, BUY, "50.00", 5, entity="E1", min_quantity="2")[1:] == [
        _fill(5, 1, "50.00", 2, BUY),
        Cancelled(POWER, 5, D(3), CancelReason.SELF_TRADE_PREVENTION),
    ]


def test_replace_that_crosses_an_own_order_is_subject_to_stp():
    engine = _engine(StpMode.CANCEL_RESTING)
    _limit(engine, 1, SELL, "50.10", 2, entity="E1")
    _limit(engine, 2, BUY, "50.00", 2, entity="E1")
    assert engine.replace(2, price=D("50.10"))[1:] == [
        Cancelled(POWER, 1, D(2), CancelReason.SELF_TRADE_PREVENTION)
    ]
    assert engine.top_of_book(POWER) == TopOfBook(D("50.10"), D(2), None, None)


# --- Reads ------------------------------------------------------------------------------------


def test_depth_aggregates_each_level_best_first_and_stops_at_the_asked_count():
    engine = _engine()
    _limit(engine, 1, BUY, "49.90", 2)
    _limit(engine, 2, BUY, "49.95", 3)
    _limit(engine, 3, BUY, "49.95", 4)
    _limit(engine, 4, BUY, "49.80", 1)
    _limit(engine, 5, SELL, "50.05", 6)
    _limit(engine, 6, SELL, "50.10", 1)
    assert engine.depth(POWER, levels=2) == Depth(
        bids=(DepthLevel(D("49.95"), D(7), 2), DepthLevel(D("49.90"), D(2), 1)),
        asks=(DepthLevel(D("50.05"), D(6), 1), DepthLevel(D("50.10"), D(1), 1)),
    )
    assert engine.top_of_book(POWER) == TopOfBook(D("49.95"), D(7), D("50.05"), D(6))
    assert engine.top_of_book(GAS) == TopOfBook(None, None, None, None)
    assert len(engine.depth(POWER).bids) == 3  # ten levels by default, three exist
    assert engine.depth(POWER, levels=0) == engine.depth(POWER, levels=-1) == Depth((), ())


def test_reads_of_an_unknown_contract_raise():
    engine = _engine()
    with pytest.raises(UnknownContractError):
        engine.depth(("nbp", "2026-03"))
    with pytest.raises(UnknownContractError):
        engine.open_orders(("nbp", "2026-03"))


def test_open_orders_of_one_contract_in_time_priority():
    engine = _engine()
    _limit(engine, 1, BUY, "30.000", 1, contract=GAS)
    _limit(engine, 2, BUY, "49.00", 1)
    _limit(engine, 3, SELL, "31.000", 1, contract=GAS)
    assert [order.order_id for order in engine.open_orders(GAS)] == [1, 3]


def test_a_contract_is_added_once_with_positive_steps():
    engine = _engine()
    with pytest.raises(ValueError, match="already"):
        engine.add_contract(POWER, tick_size=D("0.01"), lot_size=D(1))
    with pytest.raises(ValueError, match="tick_size"):
        engine.add_contract("x", tick_size=D(0), lot_size=D(1))
    with pytest.raises(ValueError, match="lot_size"):
        engine.add_contract("x", tick_size=D("0.01"), lot_size=0.1)


# --- Restore ----------------------------------------------------------------------------------


def test_restore_rebuilds_the_same_book_with_the_same_priorities():
    engine = _engine()
    _three_offers_at_50(engine)
    engine.replace(1, quantity=D(9))  # now behind 2 and 3
    _limit(engine, 4, BUY, "49.00", 3, entity="E3")
    _limit(engine, 5, SELL, "30.500", "1.5", contract=GAS)
    restored = _engine()
    restored.restore(reversed(engine.open_orders()), next_sequence=engine.next_sequence)
    assert restored.open_orders() == engine.open_orders()
    assert restored.depth(POWER) == engine.depth(POWER)
    assert restored.next_sequence == engine.next_sequence == 7
    assert _who_fills_first(restored) == [2, 3, 1]


def test_restore_without_a_stored_counter_continues_after_the_highest_sequence():
    engine = _engine()
    engine.restore([OpenOrder(POWER, 10, "a", "E1", BUY, D("49.00"), D(1), 41)])
    assert _limit(engine, 11, BUY, "49.00", 1) == [Accepted(POWER, 11, 42)]


@pytest.mark.parametrize(
    ("stored", "error"),
    [
        (OpenOrder(("nbp", "2026-03"), 9, "a", "E1", BUY, D(1), D(1), 9), UnknownContractError),
        (OpenOrder(POWER, 1, "a", "E1", BUY, D("49.00"), D(1), 9), ValueError),  # id open
        (OpenOrder(POWER, 9, "a", "E1", BUY, D("49.001"), D(1), 9), ValueError),
        (OpenOrder(POWER, 9, "a", "E1", BUY, D("49.00"), D(0), 9), ValueError),
        (OpenOrder(POWER, 9, "a", "E1", BUY, D("50.00"), D(1), 9), ValueError),  # crosses
    ],
)
def test_restore_of_state_the_engine_could_not_have_made_raises_and_restores_nothing(stored, error):
    engine = _engine()
    _limit(engine, 1, SELL, "50.00", 1)
    good = OpenOrder(POWER, 8, "a", "E2", SELL, D("51.00"), D(1), 8)
    with pytest.raises(error):
        engine.restore([good, stored])
    assert [order.order_id for order in engine.open_orders()] == [1]
    assert engine.next_sequence == 2
