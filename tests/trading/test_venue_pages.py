"""The venue's pages: the contract's book with its ticket, the ticket's errors, my orders (desk
scoped, bounded queries), an order's page with its events, cancel and replace; in Arabic too."""

# The fixtures imported from test_venue_support are injected by pytest through test arguments
# of the same names, which ruff reads as redefinitions.
# ruff: noqa: F811

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.trading.models import Market, Order, OrderEvent, Trade
from apps.trading.venue import book_depth, contract_open, order_submit
from tests.trading.test_venue_support import (  # noqa: F401 - pytest fixtures
    _fresh_engines,
    contract,
    ticket,
    venue_data,
)

D = Decimal


@pytest.fixture
def client_a(client: Client, trader) -> Client:
    client.force_login(trader)
    return client


@pytest.fixture
def client_b(other_desk_trader) -> Client:
    other = Client()
    other.force_login(other_desk_trader)
    return other


def _ladder_html(text: str, on) -> str:
    """The contract page's depth ladder, as drawn."""
    start = text.index(f'<div id="venue-depth-{on.pk}"')
    return text[start : text.index("</table>", text.index("venue-asks", start))]


def _post_ticket(client: Client, on, **values) -> object:
    data = {
        "contract": str(on.pk),
        "side": "buy",
        "order_type": "limit",
        "time_in_force": "gtc",
        "price": "50.00",
        "quantity": "10",
        "min_quantity": "",
        "book": "PEU-FLOW",
        "counterparty": "",
        "desk": "",
    }
    data.update(values)
    return client.post("/trading/venue/orders/new/", data)


def test_venue_lists_contracts_with_best_prices(client_a, contract, trader) -> None:
    order_submit(user=trader, ticket=ticket(contract, "buy", 5, "49.50"))
    text = client_a.get("/trading/venue/").text
    assert f'href="/trading/venue/contracts/{contract.pk}/"' in text
    assert "<bdi>49.50</bdi>" in text
    assert 'href="/trading/venue/"' in text  # the nav link


def test_contract_page_shows_ladder_tape_and_ticket(
    client_a, contract, trader, other_desk_trader
) -> None:
    order_submit(user=trader, ticket=ticket(contract, "buy", 5, "49.50"))
    order_submit(user=trader, ticket=ticket(contract, "buy", 3, "49.50", book="PEU-HEDGE"))
    order_submit(
        user=other_desk_trader, ticket=ticket(contract, "sell", 2, "49.00", book="GUS-FLOW")
    )
    response = client_a.get(f"/trading/venue/contracts/{contract.pk}/")
    assert response.status_code == 200
    text = response.text
    assert f'<div id="venue-depth-{contract.pk}" class="venue-depth">' in text
    assert (
        '<tr class="venue-level"><td class="number"><bdi>2</bdi></td><td class="number">'
        '<bdi>6</bdi></td><td class="number venue-price"><bdi>49.50</bdi></td></tr>'
    ) in text
    assert f'<tbody id="venue-tape-{contract.pk}">' in text
    assert '<tr class="venue-trade side-sell">' in text
    assert 'action="/trading/venue/orders/new/"' in text
    assert f'<option value="{contract.pk}" selected>' in text
    assert "style=" not in text
    assert "<script>" not in text


def test_ticket_books_a_cross_and_returns_to_the_book(client_a, client_b, contract, trader) -> None:
    response = _post_ticket(client_a, contract)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/trading/venue/contracts/{contract.pk}/"
    page = client_a.get(response.headers["Location"]).text
    assert "rests in the book: 10." in page
    response = _post_ticket(client_b, contract, side="sell", book="GUS-FLOW", price="49")
    page = client_b.get(response.headers["Location"]).text
    order = Order.objects.get(side="sell")
    assert f"Order #{order.pk} filled: 10." in page
    assert Trade.objects.count() == 2


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"price": "50.001"}, "The price must be a multiple of the tick size 0.01."),
        ({"quantity": "0"}, "The quantity must be a number greater than zero."),
        ({"quantity": "-2"}, "The quantity must be a number greater than zero."),
        ({"quantity": "2.5"}, "The quantity must be a whole number of lots of 1."),
        ({"price": "abc"}, "Enter a number in plain digits, such as 1000 or -12.5."),
        ({"contract": "999999"}, "This contract takes no orders: unknown, or its trading ended."),
        ({"book": "GUS-FLOW"}, "Select a valid choice."),
        ({"order_type": "market"}, "A market order has no price: it takes the best prices."),
    ],
)
def test_ticket_errors_are_form_errors_and_leave_the_book(
    client_a, contract, trader, other_desk_trader, values, message
) -> None:
    # Both sides rest; the ticket's bid at 50.00 (or a market buy) would take the 50.00 offer.
    order_submit(user=trader, ticket=ticket(contract, "buy", 2, "49"))
    order_submit(user=other_desk_trader, ticket=ticket(contract, "sell", 1, "50", book="GUS-FLOW"))
    page = f"/trading/venue/contracts/{contract.pk}/"
    before = _ladder_html(client_a.get(page).text, contract)

    response = _post_ticket(client_a, contract, **values)

    assert response.status_code == 400
    assert message in response.text
    depth = book_depth(contract)
    assert (depth["bids"], depth["asks"]) == (
        [{"price": "49.00", "quantity": "2", "orders": 1}],
        [{"price": "50.00", "quantity": "1", "orders": 1}],
    )
    assert _ladder_html(client_a.get(page).text, contract) == before
    assert Order.objects.filter(status="open").count() == 2
    assert Trade.objects.count() == 0


def test_ticket_on_an_expired_contract_is_refused(client_a, venue_data) -> None:
    expired = contract_open(market=Market.objects.get(code="eex-de-power"), period_code="2026-01")
    response = _post_ticket(client_a, expired)
    assert response.status_code == 400
    assert "This contract takes no orders: unknown, or its trading ended." in response.text
    assert not Order.objects.exists()
    page = client_a.get(f"/trading/venue/contracts/{expired.pk}/").text
    assert "This contract takes no more orders: its trading has ended." in page
    assert 'action="/trading/venue/orders/new/"' not in page


def test_my_orders_shows_only_my_desks_orders(
    client_a, client_b, contract, trader, other_desk_trader
) -> None:
    mine = order_submit(user=trader, ticket=ticket(contract, "buy", 5, "49")).order
    theirs = order_submit(
        user=other_desk_trader, ticket=ticket(contract, "sell", 5, "52", book="GUS-FLOW")
    ).order
    text = client_a.get("/trading/venue/orders/").text
    assert f'<tr id="venue-order-{mine.pk}" class="venue-order status-open">' in text
    assert f"venue-order-{theirs.pk}" not in text
    assert '<tbody id="venue-order-rows">' in text
    assert f'hx-post="/trading/venue/orders/{mine.pk}/cancel/"' in text


def test_my_orders_query_count_does_not_grow_with_rows(client_a, contract, trader) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client_a.get("/trading/venue/orders/").status_code == 200
        return len(captured)

    order_submit(user=trader, ticket=ticket(contract, "buy", 1, "49"))
    one = queries()
    order_submit(user=trader, ticket=ticket(contract, "buy", 1, "48"))
    order_submit(
        user=trader, ticket=ticket(contract, "sell", 1, "52", book="", counterparty="NORDWIND")
    )
    assert queries() == one


def test_another_desks_order_is_404_on_every_page(client_b, contract, trader) -> None:
    order = order_submit(user=trader, ticket=ticket(contract, "buy", 5, "49")).order
    for url in (
        f"/trading/venue/orders/{order.pk}/",
        f"/trading/venue/orders/{order.pk}/cancel/",
        f"/trading/venue/orders/{order.pk}/replace/",
    ):
        assert client_b.get(url).status_code == 404
        if not url.endswith(f"{order.pk}/"):
            assert client_b.post(url, {"price": "48"}).status_code == 404
    order.refresh_from_db()
    assert (order.status, order.price) == ("open", D(49))


def test_order_page_cancel_and_replace(client_a, contract, trader) -> None:
    order = order_submit(user=trader, ticket=ticket(contract, "buy", 5, "49")).order
    page = client_a.get(f"/trading/venue/orders/{order.pk}/").text
    assert 'name="price" value="49.00"' in page
    response = client_a.post(f"/trading/venue/orders/{order.pk}/replace/", {"price": "49.005"})
    assert response.status_code == 400
    assert "The price must be a multiple of the tick size 0.01." in response.text
    response = client_a.post(
        f"/trading/venue/orders/{order.pk}/replace/", {"price": "48.50", "quantity": "4"}
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.price, order.open_quantity) == (D("48.50"), D(4))
    response = client_a.post(f"/trading/venue/orders/{order.pk}/cancel/")
    assert response.status_code == 302
    page = client_a.get(response.headers["Location"]).text
    assert f"Order #{order.pk} cancelled." in page
    assert "cancelled by a trader" in page
    assert [e.kind for e in OrderEvent.objects.filter(order=order)] == [
        "accepted",
        "reject",
        "replace",
        "cancel",
    ]
    # Again: no longer open, said on the page.
    response = client_a.post(f"/trading/venue/orders/{order.pk}/cancel/", follow=True)
    assert "This order is no longer open" in response.text


def test_htmx_cancel_answers_204(client_a, contract, trader) -> None:
    order = order_submit(user=trader, ticket=ticket(contract, "buy", 5, "49")).order
    response = client_a.post(f"/trading/venue/orders/{order.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    response = client_a.post(f"/trading/venue/orders/{order.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 409


def test_refused_fill_is_explained_on_the_order_page(
    client_a, contract, trader, other_desk_trader
) -> None:
    from apps.trading.models import Counterparty

    bid = order_submit(user=trader, ticket=ticket(contract, "buy", 5, "50")).order
    Counterparty.objects.filter(short_code="QZ-US").update(kyc_status="expired")
    order_submit(user=other_desk_trader, ticket=ticket(contract, "sell", 5, "50", book="GUS-FLOW"))
    page = client_a.get(f"/trading/venue/orders/{bid.pk}/").text
    assert "fill refused by booking" in page
    assert "booking refused this order's side" in page
    assert "<code>kyc_valid</code> The counterparty&#x27;s KYC has expired." in page


def test_contract_page_in_arabic_is_right_to_left(client_a, contract) -> None:
    client_a.cookies[settings.LANGUAGE_COOKIE_NAME] = "ar"
    text = client_a.get(f"/trading/venue/contracts/{contract.pk}/").text
    assert '<html lang="ar" dir="rtl">' in text
    assert f'id="venue-depth-{contract.pk}"' in text


def test_contract_page_shows_the_grid_as_traders_write_it(client_a, venue_data) -> None:
    gas = contract_open(market=Market.objects.get(code="henry-hub"), period_code="2029-03")
    text = client_a.get(f"/trading/venue/contracts/{gas.pk}/").text
    assert "<dd><bdi>0.001</bdi></dd>" in text
    assert "<dd><bdi>10000 MMBtu</bdi></dd>" in text
    assert "<bdi>2029-03-01 – 2029-04-01</bdi>" in text
