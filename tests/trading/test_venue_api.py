"""The venue API: submit (with Idempotency-Key), cancel, replace, my orders (cursor pages), the
book; bad input as 400 field errors, another desk's order as 404."""

# The fixtures imported from test_venue_support are injected by pytest through test arguments
# of the same names, which ruff reads as redefinitions.
# ruff: noqa: F811

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from apps.compliance.models import AuditEntry
from apps.trading.models import Counterparty, KycStatus, Market, Order, OrderEvent, Trade
from apps.trading.venue import contract_open, order_submit
from tests.trading.test_venue_support import (  # noqa: F401 - pytest fixtures
    _fresh_engines,
    contract,
    ticket,
    venue_data,
)

D = Decimal
ORDERS = "/api/v1/venue/orders/"


@pytest.fixture
def api_a(trader) -> APIClient:
    client = APIClient()
    client.force_authenticate(trader)
    return client


@pytest.fixture
def api_b(other_desk_trader) -> APIClient:
    client = APIClient()
    client.force_authenticate(other_desk_trader)
    return client


def _order(on, **values) -> dict:
    body = {"contract": on.pk, "side": "buy", "price": "50.00", "quantity": "10"}
    body["book"] = "PEU-FLOW"
    body.update(values)
    return body


def test_submit_answers_the_order_with_its_events(api_a, api_b, contract) -> None:
    response = api_a.post(ORDERS, _order(contract), format="json")
    assert response.status_code == 201, response.data
    order = response.data["order"]
    assert (order["status"], order["open_quantity"], order["book"], order["desk"]) == (
        "open",
        "10.000000",
        "PEU-FLOW",
        "power-eu",
    )
    assert [e["kind"] for e in order["events"]] == ["accepted"]
    response = api_b.post(
        ORDERS, _order(contract, side="sell", price="49", book="GUS-FLOW"), format="json"
    )
    assert response.status_code == 201
    assert response.data["fills"] == 1
    fill = response.data["order"]["events"][1]
    assert (fill["kind"], fill["price"], fill["quantity"], fill["aggressor"]) == (
        "fill",
        "50.000000",
        "10.000000",
        True,
    )
    assert fill["trade"].startswith("T-")
    assert "counter_order" not in fill
    assert "actor" not in fill


def test_idempotency_key_replay_books_nothing_twice(api_a, api_b, contract) -> None:
    api_a.post(ORDERS, _order(contract), format="json")
    body = _order(contract, side="sell", price="50", book="GUS-FLOW")
    first = api_b.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="sell-1")
    again = api_b.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="sell-1")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.data == first.data
    assert Order.objects.filter(side="sell").count() == 1
    assert Trade.objects.count() == 2
    assert AuditEntry.objects.filter(action="trading.order_submitted").count() == 2
    # The key names one request: another body is refused, nothing done.
    other = api_b.post(
        ORDERS, {**body, "quantity": "3"}, format="json", HTTP_IDEMPOTENCY_KEY="sell-1"
    )
    assert other.status_code == 422
    assert Order.objects.count() == 2


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "many"}, "quantity"),
        ({"price": "1e40"}, "price"),
        ({"price": None}, "price"),
        ({"contract": 999_999}, "contract"),
        ({"contract": "abc"}, "contract"),
        ({"side": "up"}, "side"),
        ({"book": "GUS-FLOW"}, "book"),
        ({"book": "", "counterparty": "NOPE"}, "counterparty"),
    ],
)
def test_bad_input_is_a_400_with_field_errors_and_nothing_written(
    api_a, contract, values, field
) -> None:
    response = api_a.post(ORDERS, _order(contract, **values), format="json")
    assert response.status_code == 400
    assert field in response.data
    assert not Order.objects.exists()
    assert not OrderEvent.objects.exists()


@pytest.mark.parametrize(
    ("values", "field"),
    [({"price": "50.003"}, "price"), ({"quantity": "0.5"}, "quantity")],
)
def test_off_grid_order_is_a_400_and_recorded_as_rejected(
    api_a, contract, trader, other_desk_trader, values, field
) -> None:
    # A book with both sides: the off-grid bid (at 50.003 or 50 for half a lot) would cross
    # the 50.00 offer if it entered the book.
    order_submit(user=trader, ticket=ticket(contract, "buy", 5, "49.50"))
    order_submit(user=other_desk_trader, ticket=ticket(contract, "sell", 3, "50", book="GUS-FLOW"))
    book_url = f"/api/v1/venue/contracts/{contract.pk}/book/"
    before = api_a.get(book_url).data

    response = api_a.post(ORDERS, _order(contract, **values), format="json")

    assert response.status_code == 400
    assert field in response.data
    order = Order.objects.get(pk=response.data["order"])
    assert order.status == "rejected"
    after = api_a.get(book_url).data
    assert (after["bids"], after["asks"], after["last_trades"]) == (
        [{"price": "49.50", "quantity": "5", "orders": 1}],
        [{"price": "50.00", "quantity": "3", "orders": 1}],
        [],
    )
    assert after == before
    assert Trade.objects.count() == 0


def test_refused_fill_is_reported_with_its_reasons(api_a, api_b, contract, trader) -> None:
    bid = order_submit(user=trader, ticket=ticket(contract, "buy", 10, "50")).order
    # The resting bid books against QZ-US: its side of the fill is refused, the fill voided.
    Counterparty.objects.filter(short_code="QZ-US").update(kyc_status=KycStatus.EXPIRED)

    response = api_b.post(
        ORDERS, _order(contract, side="sell", price="50", quantity="4", book="GUS-FLOW"),
        format="json",
    )  # fmt: skip

    assert response.status_code == 201, response.data
    assert (response.data["fills"], response.data["fills_refused"]) == (0, 1)
    sell = response.data["order"]
    assert (sell["status"], sell["filled_quantity"], sell["cancelled_quantity"]) == (
        "cancelled",
        "0.000000",
        "4.000000",
    )
    refused, voided = sell["events"][1:]
    assert (refused["kind"], refused["quantity"], refused["price"], refused["reason"]) == (
        "fill_refused",
        "4.000000",
        "50.000000",
        "",
    )
    assert (voided["kind"], voided["reason"]) == ("cancel", "fill_voided")
    # The checks name the refused side (the bid) and the rule that blocked it.
    assert list(refused["checks"]) == [str(bid.pk)]
    blocked = [c for c in refused["checks"][str(bid.pk)] if c["outcome"] == "block"]
    assert [c["rule"] for c in blocked] == ["kyc_valid"]
    # The bidder reads their side on their own order: refused, and cancelled for it.
    mine = api_a.get(f"{ORDERS}{bid.pk}/").data
    assert mine["status"] == "cancelled"
    assert [(e["kind"], e["reason"]) for e in mine["events"]] == [
        ("accepted", ""),
        ("fill_refused", "booking_refused"),
        ("cancel", "booking_refused"),
    ]
    assert Trade.objects.count() == 0


def test_order_on_expired_contract_is_a_400(api_a, venue_data) -> None:
    expired = contract_open(market=Market.objects.get(code="eex-de-power"), period_code="2026-01")
    response = api_a.post(ORDERS, _order(expired), format="json")
    assert response.status_code == 400
    assert response.data["contract"] == [
        "Trading in eex-de-power 2026-01 ended at 2025-12-31 23:00 UTC: it takes no more orders."
    ]
    contracts = api_a.get("/api/v1/venue/contracts/").data["results"]
    assert expired.pk not in [c["id"] for c in contracts]


def test_another_desks_order_is_404_everywhere(api_a, api_b, contract, trader) -> None:
    order = order_submit(user=trader, ticket=ticket(contract, "buy", 5, "49")).order
    assert api_b.get(f"{ORDERS}{order.pk}/").status_code == 404
    assert api_b.post(f"{ORDERS}{order.pk}/cancel/").status_code == 404
    assert api_b.post(f"{ORDERS}{order.pk}/replace/", {"price": "48"}).status_code == 404
    assert api_b.get(f"{ORDERS}999999/").status_code == 404
    assert api_b.get(ORDERS).data["results"] == []
    order.refresh_from_db()
    assert (order.status, order.price) == ("open", D(49))


def test_cancel_and_replace(api_a, contract, trader) -> None:
    order = order_submit(user=trader, ticket=ticket(contract, "buy", 5, "49")).order
    response = api_a.post(f"{ORDERS}{order.pk}/replace/", {"price": "48.5"}, format="json")
    assert response.status_code == 200
    assert response.data["order"]["price"] == "48.500000"
    response = api_a.post(f"{ORDERS}{order.pk}/replace/", {"quantity": "-1"}, format="json")
    assert response.status_code == 400
    assert "quantity" in response.data
    response = api_a.post(f"{ORDERS}{order.pk}/replace/", {}, format="json")
    assert response.status_code == 400
    response = api_a.post(f"{ORDERS}{order.pk}/cancel/", HTTP_IDEMPOTENCY_KEY="c-1")
    assert response.status_code == 200
    assert response.data["order"]["status"] == "cancelled"
    replay = api_a.post(f"{ORDERS}{order.pk}/cancel/", HTTP_IDEMPOTENCY_KEY="c-1")
    assert replay.data == response.data
    response = api_a.post(f"{ORDERS}{order.pk}/cancel/")
    assert response.status_code == 409
    assert response.data["code"] == "order_not_open"


def test_my_orders_are_cursor_paginated_newest_first(api_a, contract, trader) -> None:
    ids = [
        order_submit(user=trader, ticket=ticket(contract, "buy", 1, f"4{n}")).order.pk
        for n in range(3)
    ]
    first = api_a.get(ORDERS, {"page_size": 2}).data
    listed = [o["id"] for o in first["results"]]
    follow = api_a.get(first["next"]).data if first["next"] else {"results": []}
    listed += [o["id"] for o in follow["results"]]
    assert listed == sorted(ids, reverse=True)
    assert [o["id"] for o in api_a.get(ORDERS, {"status": "open"}).data["results"]][:1] == [ids[-1]]


def test_book_answers_depth_and_last_trades(api_a, contract, trader, other_desk_trader) -> None:
    order_submit(user=trader, ticket=ticket(contract, "buy", 5, "49"))
    order_submit(user=trader, ticket=ticket(contract, "buy", 2, "48"))
    order_submit(user=other_desk_trader, ticket=ticket(contract, "sell", 1, "48", book="GUS-FLOW"))
    data = api_a.get(f"/api/v1/venue/contracts/{contract.pk}/book/").data
    assert data["code"] == contract.code
    assert data["bids"] == [
        {"price": "49.00", "quantity": "4", "orders": 1},
        {"price": "48.00", "quantity": "2", "orders": 1},
    ]
    assert [(t["price"], t["quantity"], t["side"]) for t in data["last_trades"]] == [
        ("49.00", "1", "sell")
    ]
    assert api_a.get("/api/v1/venue/contracts/0/book/").status_code == 404


def test_schema_describes_the_venue(api_a) -> None:
    schema = api_a.get("/api/schema/", {"format": "json"}).json()
    assert "/api/v1/venue/orders/" in schema["paths"]
    post = schema["paths"]["/api/v1/venue/orders/"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])


def test_my_orders_list_query_count_does_not_grow_with_rows(api_a, contract, trader) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api_a.get(ORDERS).status_code == 200
        return len(captured)

    order_submit(user=trader, ticket=ticket(contract, "buy", 1, "49"))
    one = queries()
    order_submit(user=trader, ticket=ticket(contract, "buy", 1, "48"))
    order_submit(
        user=trader, ticket=ticket(contract, "sell", 1, "52", book="", counterparty="NORDWIND")
    )
    assert queries() == one
