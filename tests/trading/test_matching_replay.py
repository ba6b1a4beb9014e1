"""Replay of a recorded order stream through the matching engine.

`data/matching_replay.json` holds a stream of 600 operations on two contracts (one per
self-trade prevention mode) and the fills it gave when it was recorded. The engine must give
exactly those fills on every replay, and the same again when it is restarted mid-stream from its
open orders, as the venue does after a crash.

The stream was made by `record()` below (a seeded random mix of every kind of order, cancels and
replaces of open orders). Re-record it only when a rule of the venue changes on purpose:

    DEBUG=1 .venv/bin/python -m tests.trading.test_matching_replay
"""

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest

from apps.trading.matching import (
    Fill,
    MatchingEngine,
    OrderType,
    Side,
    StpMode,
    TimeInForce,
)

DATA = Path(__file__).parent / "data" / "matching_replay.json"
CONTRACTS = {
    "eex-de-power/2026-03": (Decimal("0.01"), Decimal("0.1"), StpMode.CANCEL_RESTING),
    "ttf/2026-Q2": (Decimal("0.005"), Decimal(1), StpMode.CANCEL_INCOMING),
}


def _engine() -> MatchingEngine:
    engine = MatchingEngine()
    for contract, (tick, lot, mode) in CONTRACTS.items():
        engine.add_contract(contract, tick_size=tick, lot_size=lot, stp_mode=mode)
    return engine


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _apply(engine: MatchingEngine, op: list) -> list:
    """One recorded operation: ["submit", contract, id, entity, side, price, quantity, type,
    tif, min_quantity], ["cancel", id] or ["replace", id, price, quantity]."""
    if op[0] == "cancel":
        return engine.cancel(op[1])
    if op[0] == "replace":
        return engine.replace(op[1], price=_decimal(op[2]), quantity=_decimal(op[3]))
    _, contract, order_id, entity, side, price, quantity, order_type, tif, min_quantity = op
    return engine.submit(
        contract=contract,
        order_id=order_id,
        account=f"acct-{entity}",
        entity=entity,
        side=Side(side),
        price=_decimal(price),
        quantity=Decimal(quantity),
        order_type=OrderType(order_type),
        time_in_force=TimeInForce(tif),
        min_quantity=_decimal(min_quantity),
    )


def _fills(events: list) -> list[list]:
    return [
        [
            event.contract,
            event.aggressor_order_id,
            event.resting_order_id,
            str(event.price),
            str(event.quantity),
            str(event.aggressor_side),
        ]
        for event in events
        if isinstance(event, Fill)
    ]


def _replay(engine: MatchingEngine, ops: list[list]) -> list:
    return [event for op in ops for event in _apply(engine, op)]


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(DATA.read_text())


def test_replay_gives_the_recorded_fills(recorded):
    events = _replay(_engine(), recorded["operations"])
    assert _fills(events) == recorded["fills"]
    assert len(recorded["fills"]) == 172


def test_replay_gives_the_same_events_every_time(recorded):
    assert _replay(_engine(), recorded["operations"]) == _replay(_engine(), recorded["operations"])


@pytest.mark.parametrize("cut", [1, 137, 300, 451, 599])
def test_restart_mid_stream_continues_with_the_same_events(recorded, cut):
    ops = recorded["operations"]
    running = _engine()
    before = _replay(running, ops[:cut])
    # The restart: a fresh engine rebuilt from the open orders and the stored sequence counter.
    restarted = _engine()
    restarted.restore(running.open_orders(), next_sequence=running.next_sequence)
    assert restarted.open_orders() == running.open_orders()
    after = _replay(restarted, ops[cut:])
    assert after == _replay(running, ops[cut:])
    assert _fills(before + after) == recorded["fills"]


def test_restart_without_the_stored_counter_still_gives_the_same_fills(recorded):
    ops, cut = recorded["operations"], 300
    running = _engine()
    before = _replay(running, ops[:cut])
    restarted = _engine()
    restarted.restore(running.open_orders())  # sequences differ from here, priorities do not
    assert _fills(before + _replay(restarted, ops[cut:])) == recorded["fills"]


# --- Recording --------------------------------------------------------------------------------


def _price(tick: Decimal, side: str, mid: int, through: int) -> str:
    """A price `through` ticks into the other side of `mid` (negative: a passive price)."""
    ticks = mid + through if side == "buy" else mid - through
    return str(tick * ticks)


def record(seed: int = 5, count: int = 600) -> dict:
    """Make the stream and run it once for the fills it gives."""
    rng = random.Random(seed)
    engine = _engine()
    ops: list[list] = []
    events: list = []
    next_id = 1
    mids = {"eex-de-power/2026-03": 5000, "ttf/2026-Q2": 6000}
    while len(ops) < count:
        contract = rng.choice(list(CONTRACTS))
        tick, lot, _mode = CONTRACTS[contract]
        open_orders = engine.open_orders(contract)
        draw = rng.random()
        if draw < 0.10 and open_orders:
            op = ["cancel", rng.choice(open_orders).order_id]
        elif draw < 0.18 and open_orders:
            order = rng.choice(open_orders)
            price = quantity = None
            if rng.random() < 0.6:
                price = _price(tick, order.side, mids[contract], rng.randint(-6, 2))
            if rng.random() < 0.6:
                quantity = str(lot * rng.randint(1, 40))
            op = ["replace", order.order_id, price, quantity]
        else:
            side = rng.choice(["buy", "sell"])
            entity = rng.choice(["E1", "E2", "E3", "E4"])
            quantity = str(lot * rng.randint(1, 40))
            if draw > 0.92:
                order_type, tif, price = "market", rng.choice(["ioc", "fok", "gtc"]), None
            else:
                order_type = "limit"
                tif = rng.choices(["gtc", "ioc", "fok"], weights=[8, 2, 1])[0]
                price = _price(tick, side, mids[contract], rng.randint(-8, 3))
            min_quantity = str(lot * rng.randint(1, 10)) if rng.random() < 0.07 else None
            op = ["submit", contract, next_id, entity, side, price, quantity, order_type, tif]
            op.append(min_quantity)
            next_id += 1
        events.extend(_apply(engine, op))
        ops.append(op)
    return {"seed": seed, "operations": ops, "fills": _fills(events)}


def _dump(stream: dict) -> str:
    """JSON with one operation or fill a line, so that a diff of the file reads."""

    def rows(items: list) -> str:
        return ",\n".join(json.dumps(item) for item in items)

    return (
        f'{{"seed": {stream["seed"]},\n"operations": [\n{rows(stream["operations"])}\n],\n'
        f'"fills": [\n{rows(stream["fills"])}\n]}}\n'
    )


if __name__ == "__main__":
    DATA.parent.mkdir(exist_ok=True)
    stream = record()
    DATA.write_text(_dump(stream))
    print(f"{len(stream['operations'])} operations, {len(stream['fills'])} fills -> {DATA}")
