"""Venue contracts kept in the admin: staff with the permission add contracts and set their
tick and lot size, self-trade prevention mode and active flag through venue.contract_save —
checked (no grid change under resting orders), audited old → new, and every process's engine
for the contract rebuilt with the new settings before its next order."""

# The fixtures imported from test_venue_support are injected by pytest through test arguments
# of the same names, which ruff reads as redefinitions.
# ruff: noqa: F811

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from apps.compliance.audit import audit_verify
from apps.compliance.models import AuditEntry
from apps.trading.models import Market, Order, OrderEvent, Trade, VenueContract
from apps.trading.venue import order_cancel, order_submit
from tests.factories import UserFactory
from tests.trading.test_venue_support import (  # noqa: F401 - pytest fixtures
    PERIOD,
    _fresh_engines,
    contract,
    ticket,
    venue_data,
)

D = Decimal
ADD = "/admin/trading/venuecontract/add/"
ORDERS = "/api/v1/venue/orders/"


def _change(contract: VenueContract) -> str:
    return f"/admin/trading/venuecontract/{contract.pk}/change/"


def _settings(contract: VenueContract, **overrides: str) -> dict[str, str]:
    """The change form as the admin shows it filled for `contract`, with `overrides`."""
    data = {
        "tick_size": str(contract.tick_size),
        "lot_size": str(contract.lot_size),
        "stp_mode": contract.stp_mode,
    }
    if contract.active:
        data["active"] = "on"
    data.update(overrides)
    return data


@pytest.fixture
def venue_admin(db):
    """Staff who may add and change venue contracts, and nothing else."""
    user = UserFactory(username="venue-admin", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="trading",
            codename__in=["view_venuecontract", "change_venuecontract", "add_venuecontract"],
        )
    )
    return user


@pytest.fixture
def api_a(trader) -> APIClient:
    client = APIClient()
    client.force_authenticate(trader)
    return client


def _entries() -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(action__startswith="trading.venue_contract_").order_by("seq")
    )


def test_cancel_incoming_set_in_admin_is_what_the_api_orders_meet(
    contract, trader, venue_admin, verified_client, api_a
) -> None:
    # A resting bid first: this process's engine for the contract exists, made under the
    # default mode (cancel the resting order).
    bid = api_a.post(
        ORDERS,
        {
            "contract": contract.pk,
            "side": "buy",
            "price": "50",
            "quantity": "5",
            "book": "PEU-FLOW",
        },
        format="json",
    ).data["order"]
    token = VenueContract.objects.get(pk=contract.pk).book_token

    response = verified_client(venue_admin).post(
        _change(contract), _settings(contract, stp_mode="cancel_incoming")
    )

    assert response.status_code == 302
    contract.refresh_from_db()
    assert contract.stp_mode == "cancel_incoming"
    assert contract.book_token != token
    (entry,) = _entries()
    assert (entry.action, entry.actor) == ("trading.venue_contract_changed", venue_admin)
    assert entry.payload == {
        "contract": f"eex-de-power {PERIOD}",
        "changes": {"stp_mode": {"old": "cancel_resting", "new": "cancel_incoming"}},
    }
    # The same legal entity (qz-eu) sells into its own bid from another book: the incoming
    # order is cancelled, the resting bid keeps its place, nothing trades.
    sell = api_a.post(
        ORDERS,
        {"contract": contract.pk, "side": "sell", "price": "49", "quantity": "3",
         "book": "PEU-HEDGE"},
        format="json",
    )  # fmt: skip
    assert sell.status_code == 201, sell.data
    assert (sell.data["fills"], sell.data["order"]["status"]) == (0, "cancelled")
    assert [(e["kind"], e["quantity"], e["reason"]) for e in sell.data["order"]["events"]] == [
        ("accepted", "3.000000", ""),
        ("cancel", "3.000000", "self_trade_prevention"),
    ]
    resting = Order.objects.get(pk=bid["id"])
    assert (resting.status, resting.open_quantity, resting.sequence) == ("open", D(5), 1)
    book = api_a.get(f"/api/v1/venue/contracts/{contract.pk}/book/").data
    assert (book["bids"], book["asks"]) == ([{"price": "50.00", "quantity": "5", "orders": 1}], [])
    assert Trade.objects.count() == 0
    assert audit_verify().ok


def test_grid_change_is_a_form_error_while_orders_rest(
    contract, trader, venue_admin, verified_client
) -> None:
    bid = order_submit(user=trader, ticket=ticket(contract, "buy", 5, "50.01")).order
    client = verified_client(venue_admin)

    response = client.post(_change(contract), _settings(contract, tick_size="0.05"))

    assert response.status_code == 200
    assert (
        "The tick size cannot change while orders rest in the book (1 now): they were priced "
        "on the present grid."
    ) in response.text
    response = client.post(_change(contract), _settings(contract, lot_size="5"))
    assert "The lot size cannot change while orders rest in the book (1 now)" in response.text
    contract.refresh_from_db()
    assert (contract.tick_size, contract.lot_size) == (D("0.01"), D(1))
    assert _entries() == []

    # Closed to new orders meanwhile: allowed with orders resting.
    response = client.post(_change(contract), {**_settings(contract), "active": ""})
    assert response.status_code == 302
    refused = order_submit(user=trader, ticket=ticket(contract, "buy", 1, "49"))
    assert refused.errors["contract"][0].startswith(f"Trading in eex-de-power {PERIOD} ended")
    # Once the book is empty the grid may change, and orders meet the new one.
    order_cancel(user=trader, order=bid)
    response = client.post(_change(contract), _settings(contract, tick_size="0.05", active="on"))
    assert response.status_code == 302
    contract.refresh_from_db()
    assert (contract.tick_size, contract.active) == (D("0.05"), True)
    assert [e.payload["changes"] for e in _entries()] == [
        {"active": {"old": True, "new": False}},
        {
            "active": {"old": False, "new": True},
            "tick_size": {"old": "0.010000", "new": "0.050000"},
        },
    ]
    off_grid = order_submit(user=trader, ticket=ticket(contract, "buy", 1, "50.01"))
    assert off_grid.errors == {"price": ["The price must be a multiple of the tick size 0.05."]}
    on_grid = order_submit(user=trader, ticket=ticket(contract, "buy", 1, "50.05"))
    assert (on_grid.rejected, on_grid.order.status) == (False, "open")


def test_contract_added_in_admin_is_audited_and_takes_orders(
    venue_data, trader, venue_admin, verified_client
) -> None:
    market = Market.objects.get(code="henry-hub")
    response = verified_client(venue_admin).post(
        ADD,
        {
            "market": str(market.pk),
            "period_code": "2029-q2",
            "deal_type": "future",
            "tick_size": "0.005",
            "lot_size": "10000",
            "stp_mode": "cancel_incoming",
            "active": "on",
        },
    )

    assert response.status_code == 302
    added = VenueContract.objects.get(market=market, period_code="2029-Q2")
    assert (added.period_code, added.deal_type, added.tick_size, added.stp_mode) == (
        "2029-Q2",
        "future",
        D("0.005"),
        "cancel_incoming",
    )
    assert (added.delivery_start.isoformat(), added.delivery_end.isoformat()) == (
        "2029-04-01",
        "2029-07-01",
    )
    # NYMEX NG: the third-last business day of the month before delivery, to its end in Chicago.
    assert added.last_trading_at.isoformat() == "2029-03-28T05:00:00+00:00"
    assert added.book_token != ""
    (entry,) = _entries()
    assert entry.action == "trading.venue_contract_added"
    assert entry.payload == {
        "contract": "henry-hub 2029-Q2",
        "deal_type": "future",
        "last_trading_at": "2029-03-28T05:00:00+00:00",
        "tick_size": "0.005000",
        "lot_size": "10000.0000",
        "stp_mode": "cancel_incoming",
        "active": True,
    }
    result = order_submit(user=trader, ticket=ticket(added, "buy", 20000, "3.105"))
    assert (result.rejected, result.order.status) == (False, "open")


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"period_code": "2029-13"}, "period_code", "Unknown period code"),
        ({"period_code": PERIOD}, "period_code", "already has a contract for this period"),
        ({"tick_size": "0"}, "tick_size", "The tick size must be greater than zero."),
        ({"lot_size": "-1"}, "lot_size", "The lot size must be greater than zero."),
        ({"deal_type": "option"}, "deal_type", "Select a valid choice."),
    ],
)
def test_bad_contract_is_a_form_error_and_nothing_written(
    contract, venue_admin, verified_client, values, field, message
) -> None:
    data = {
        "market": str(contract.market_id),
        "period_code": "2029-04",
        "deal_type": "physical_fixed",
        "tick_size": "0.01",
        "lot_size": "1",
        "stp_mode": "cancel_resting",
        "active": "on",
    }
    before = VenueContract.objects.count()
    response = verified_client(venue_admin).post(ADD, data | values)
    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors[field])
    assert VenueContract.objects.count() == before
    assert _entries() == []


def test_unchanged_save_writes_nothing_and_keeps_the_engine(
    contract, trader, venue_admin, verified_client
) -> None:
    order_submit(user=trader, ticket=ticket(contract, "buy", 5, "50"))
    token = VenueContract.objects.get(pk=contract.pk).book_token
    client = verified_client(venue_admin)
    page = client.get(_change(contract))
    assert page.status_code == 200
    assert set(page.context["adminform"].form.fields) == {
        "tick_size",
        "lot_size",
        "stp_mode",
        "active",
    }
    response = client.post(_change(contract), _settings(contract))
    assert response.status_code == 302
    assert VenueContract.objects.get(pk=contract.pk).book_token == token
    assert _entries() == []


def test_staff_without_the_permission_cannot_change_or_add(
    contract, verified_client, trader
) -> None:
    staff = UserFactory(username="staff-only", is_staff=True)
    client = verified_client(staff)
    assert client.get(_change(contract)).status_code == 403
    assert (
        client.post(_change(contract), _settings(contract, stp_mode="cancel_incoming")).status_code
        == 403
    )
    assert client.post(ADD, {"market": str(contract.market_id)}).status_code == 403
    contract.refresh_from_db()
    assert contract.stp_mode == "cancel_resting"
    assert _entries() == []
    assert not OrderEvent.objects.exists()


def test_venue_admin_has_no_delete(contract, venue_admin, verified_client) -> None:
    client = verified_client(venue_admin)
    assert client.post(f"/admin/trading/venuecontract/{contract.pk}/delete/").status_code == 403
    assert VenueContract.objects.filter(pk=contract.pk).exists()
