"""The database itself holds the venue's and the trades' records append-only (PostgreSQL):
order events and trade versions refuse UPDATE and DELETE whatever path the statement takes,
and an order's quantity stays conserved (quantity = open + filled + cancelled)."""

# The fixtures imported from test_venue_support are injected by pytest through test arguments
# of the same names, which ruff reads as redefinitions.
# ruff: noqa: F811

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from apps.trading.models import Order, OrderEvent, TradeVersion
from apps.trading.venue import order_submit
from tests.trading.test_venue_support import (  # noqa: F401 - pytest fixtures
    _fresh_engines,
    contract,
    ticket,
    venue_data,
)

D = Decimal


def _raw(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _refused(error: type[Exception], match: str, statement: Callable[[], object]) -> None:
    """`statement` fails with `error` and, in its own savepoint, leaves the test going."""
    with pytest.raises(error, match=match), transaction.atomic():
        statement()


def _save_changed(row: Any, **values: Any) -> None:
    for name, value in values.items():
        setattr(row, name, value)
    row.save()


@pytest.fixture
def crossed(postgres, contract, trader, other_desk_trader) -> tuple[Order, Order]:
    """A resting bid of 10 and a sell of 4 that hit it: events, and a trade on each side."""
    bid = order_submit(user=trader, ticket=ticket(contract, "buy", 10, "50")).order
    sell = order_submit(
        user=other_desk_trader, ticket=ticket(contract, "sell", 4, "50", book="GUS-FLOW")
    ).order
    return bid, sell


def test_order_event_update_and_delete_are_refused_by_postgresql(crossed) -> None:
    bid, _sell = crossed
    event = OrderEvent.objects.get(order=bid, kind="fill")
    table = OrderEvent._meta.db_table

    update, delete = "order events are append-only: UPDATE", "order events are append-only: DELETE"
    sql_update = f"UPDATE {table} SET quantity = 9 WHERE id = %s"  # noqa: S608 - our table
    sql_delete = f"DELETE FROM {table} WHERE id = %s"  # noqa: S608 - our table

    _refused(DatabaseError, update, lambda: _raw(sql_update, [event.pk]))
    _refused(DatabaseError, delete, lambda: _raw(sql_delete, [event.pk]))
    _refused(
        DatabaseError, update, lambda: OrderEvent.objects.filter(pk=event.pk).update(reason="x")
    )
    _refused(
        DatabaseError, update, lambda: _save_changed(OrderEvent.objects.get(pk=event.pk), price=1)
    )
    _refused(DatabaseError, delete, lambda: OrderEvent.objects.filter(order=bid).delete())

    stored = OrderEvent.objects.get(pk=event.pk)
    assert (stored.kind, stored.quantity, stored.price, stored.reason) == (
        "fill",
        D(4),
        D(50),
        "",
    )
    assert OrderEvent.objects.filter(order=bid).count() == 2


def test_order_quantity_conservation_is_held_by_postgresql(crossed) -> None:
    bid, _sell = crossed
    # Open 6 + filled 4 + cancelled 0 = 10: moving any one of them alone breaks the sum.
    for changes in ({"open_quantity": D(7)}, {"filled_quantity": D(3)}, {"quantity": D(11)}):
        _refused(
            IntegrityError,
            "order_quantity_conserved",
            lambda changes=changes: Order.objects.filter(pk=bid.pk).update(**changes),
        )
    # A consistent move (what a cancel writes) passes.
    Order.objects.filter(pk=bid.pk).update(open_quantity=D(0), cancelled_quantity=D(6))
    bid.refresh_from_db()
    assert (bid.quantity, bid.open_quantity, bid.filled_quantity, bid.cancelled_quantity) == (
        D(10),
        D(0),
        D(4),
        D(6),
    )


def test_rejected_order_is_outside_the_conservation_rule(postgres, contract, trader) -> None:
    # A rejected order never entered the book: its quantity is what was asked, none of it open.
    result = order_submit(user=trader, ticket=ticket(contract, "buy", 5, "50.001"))
    order = Order.objects.get(pk=result.order.pk)
    assert (order.status, order.quantity, order.open_quantity) == ("rejected", D(5), D(0))
    _refused(
        IntegrityError,
        "order_quantity_conserved",
        lambda: Order.objects.filter(pk=order.pk).update(status="cancelled"),
    )


def test_trade_version_update_and_delete_are_refused_by_postgresql(crossed) -> None:
    version = TradeVersion.objects.order_by("id").first()
    table = TradeVersion._meta.db_table

    update, delete = (
        "trade versions are append-only: UPDATE",
        "trade versions are append-only: DELETE",
    )
    sql_update = f"UPDATE {table} SET price = 1 WHERE id = %s"  # noqa: S608 - our table
    sql_delete = f"DELETE FROM {table} WHERE id = %s"  # noqa: S608 - our table

    _refused(DatabaseError, update, lambda: _raw(sql_update, [version.pk]))
    _refused(DatabaseError, delete, lambda: _raw(sql_delete, [version.pk]))
    _refused(
        DatabaseError,
        update,
        lambda: TradeVersion.objects.filter(pk=version.pk).update(status="cancelled"),
    )
    _refused(
        DatabaseError,
        update,
        lambda: _save_changed(TradeVersion.objects.get(pk=version.pk), quantity=1),
    )

    stored = TradeVersion.objects.get(pk=version.pk)
    assert (stored.version, stored.status, stored.price, stored.quantity) == (
        1,
        "booked",
        D(50),
        D(4),
    )
    assert TradeVersion.objects.count() == 2
