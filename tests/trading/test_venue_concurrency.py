"""One matcher per contract (PostgreSQL): web processes, each with its own engines, enter
crossing orders on one contract at once. The contract's advisory lock serialises them and each
rebuilds its engine when another has written since, so no resting quantity fills twice, no book
is left crossed, and every fill is booked on both sides."""

# The fixtures imported from test_venue_support are injected by pytest through test arguments
# of the same names, which ruff reads as redefinitions.
# ruff: noqa: F811

import random
import threading
from decimal import Decimal

import pytest
from django.db import connections
from django.db.models import Sum

from apps.trading import venue
from apps.trading.models import Order, OrderEvent, Trade
from apps.trading.venue import book_depth, order_submit
from tests.trading.test_venue import assert_projection_is_the_fold
from tests.trading.test_venue_support import (  # noqa: F401 - pytest fixtures
    _fresh_engines,
    contract,
    ticket,
    venue_data,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres")]

ORDERS_PER_PROCESS = 8


class _EnginesPerThread:
    """Each thread its own engines: threads stand for separate web processes."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _books(self) -> venue._ProcessBooks:
        if not hasattr(self._local, "books"):
            self._local.books = venue._ProcessBooks()
        return self._local.books

    def synced(self, contract):
        return self._books().synced(contract)

    def clear(self) -> None:
        self._books().clear()


def test_processes_matching_one_contract_at_once_stay_consistent(
    contract, trader, other_desk_trader, monkeypatch
) -> None:
    monkeypatch.setattr(venue, "_PROCESS_BOOKS", _EnginesPerThread())
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def process(user, book: str, side: str, seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            for _ in range(ORDERS_PER_PROCESS):
                # Prices around 50 that cross the other process's orders half the time.
                offset = Decimal(rng.randint(-3, 3)) / 10
                price = Decimal(50) + (offset if side == "buy" else -offset)
                order_submit(
                    user=user,
                    ticket=ticket(contract, side, rng.randint(1, 5), price, book=book),
                )
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=process, args=(trader, "PEU-FLOW", "buy", 1)),
        threading.Thread(target=process, args=(other_desk_trader, "GUS-FLOW", "sell", 2)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []

    bought = Order.objects.filter(side="buy").aggregate(q=Sum("filled_quantity"))["q"]
    sold = Order.objects.filter(side="sell").aggregate(q=Sum("filled_quantity"))["q"]
    assert bought == sold
    fills = OrderEvent.objects.filter(kind="fill", aggressor=True).count()
    assert fills > 0
    assert Trade.objects.count() == 2 * fills
    # Sequences were handed out once each, in one order.
    sequences = list(
        OrderEvent.objects.filter(kind="accepted").order_by("id").values_list("sequence", flat=True)
    )
    assert sequences == list(range(1, 2 * ORDERS_PER_PROCESS + 1))
    depth = book_depth(contract)
    if depth["bids"] and depth["asks"]:
        assert Decimal(depth["bids"][0]["price"]) < Decimal(depth["asks"][0]["price"])
    assert_projection_is_the_fold()
