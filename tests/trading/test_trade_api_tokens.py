"""The trade API through a real API token (Authorization: Token ...), as a bulk client calls it:
a trader's token sees and books only their desks' books."""

import pytest
from rest_framework.test import APIClient

from apps.accounts.services import api_token_create
from apps.compliance.models import AuditEntry
from apps.trading.models import Position, Trade, TradeVersion
from apps.trading.services import trade_book
from tests.trading.factories import gas_trade_terms, trade_terms
from tests.trading.test_trade_api import PAYLOAD

pytestmark = pytest.mark.usefixtures("seeded")

TRADES = "/api/v1/trades/"
POSITIONS = "/api/v1/positions/"


def _token_client(user) -> APIClient:
    """A client holding only a token of `user`: no session, no CSRF cookie."""
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='ci').plaintext}"
    )
    return client


@pytest.fixture
def both_desks_trades(trader, other_desk_trader):
    """T-000001 in desk A's PEU-FLOW, T-000002 in desk B's GUS-FLOW."""
    return (
        trade_book(user=trader, terms=trade_terms()).trade,
        trade_book(user=other_desk_trader, terms=gas_trade_terms()).trade,
    )


def test_token_list_shows_only_own_desks_trades(trader, other_desk_trader, both_desks_trades):
    mine = _token_client(trader).get(TRADES)
    assert mine.status_code == 200
    assert [(t["trade_ref"], t["book"]) for t in mine.json()["results"]] == [
        ("T-000001", "PEU-FLOW")
    ]
    theirs = _token_client(other_desk_trader).get(TRADES).json()["results"]
    assert [(t["trade_ref"], t["book"]) for t in theirs] == [("T-000002", "GUS-FLOW")]


def test_token_list_filtered_to_other_desk_book_is_empty(trader, both_desks_trades):
    client = _token_client(trader)
    assert client.get(TRADES, {"book": "GUS-FLOW"}).json()["results"] == []
    assert client.get(TRADES, {"desk": "gas-us"}).json()["results"] == []


def test_token_detail_of_other_desk_trade_is_404_like_missing(trader, both_desks_trades):
    mine, theirs = both_desks_trades
    client = _token_client(trader)
    assert client.get(f"{TRADES}{mine.pk}/").json()["trade_ref"] == "T-000001"
    other = client.get(f"{TRADES}{theirs.pk}/")
    missing = client.get(f"{TRADES}999999/")
    assert (other.status_code, missing.status_code) == (404, 404)
    assert other.json() == missing.json()


def test_token_amend_and_cancel_of_other_desk_trade_is_404(trader, both_desks_trades):
    _mine, theirs = both_desks_trades
    client = _token_client(trader)
    amend = client.post(
        f"{TRADES}{theirs.pk}/amend/", {"version": 1, "quantity": "1"}, format="json"
    )
    cancel = client.post(
        f"{TRADES}{theirs.pk}/cancel/", {"version": 1, "reason": "x"}, format="json"
    )
    assert (amend.status_code, cancel.status_code) == (404, 404)
    assert TradeVersion.objects.filter(trade=theirs).count() == 1


def test_token_create_books_into_own_desk_book(trader):
    response = _token_client(trader).post(TRADES, PAYLOAD, format="json")
    assert response.status_code == 201, response.json()
    trade = Trade.objects.get()
    assert (trade.trade_ref, trade.book.code, trade.created_by) == ("T-000001", "PEU-FLOW", trader)


def test_token_create_into_other_desk_book_is_refused_and_writes_nothing(trader, other_desk_trader):
    client = _token_client(trader)
    audited = AuditEntry.objects.count()
    gas = {
        **PAYLOAD,
        "book": "GUS-FLOW",
        "counterparty": "PRAIRIE",
        "market": "henry-hub",
        "currency": "USD",
        "price": "3.25",
    }

    single = client.post(TRADES, gas, format="json")
    bulk = client.post(f"{TRADES}bulk/", [gas], format="json")

    assert single.status_code == 400
    assert list(single.json()) == ["book"]
    assert bulk.status_code == 200
    assert bulk.json()["counts"] == {
        "booked": 0,
        "pending_approval": 0,
        "blocked": 0,
        "invalid": 1,
    }
    assert list(bulk.json()["results"][0]["errors"]) == ["book"]
    assert single.json()["book"] == bulk.json()["results"][0]["errors"]["book"]
    assert Trade.objects.count() == 0
    assert Position.objects.count() == 0
    assert AuditEntry.objects.count() == audited


def test_token_positions_show_only_own_desks_books(trader, other_desk_trader, both_desks_trades):
    mine = _token_client(trader).get(POSITIONS)
    assert mine.status_code == 200
    assert [(p["book"], p["market"], p["month"]) for p in mine.json()["results"]] == [
        ("PEU-FLOW", "eex-de-power", "2026-03")
    ]
    assert _token_client(trader).get(POSITIONS, {"book": "GUS-FLOW"}).json()["results"] == []
    theirs = _token_client(other_desk_trader).get(POSITIONS).json()["results"]
    assert {p["book"] for p in theirs} == {"GUS-FLOW"}


def test_token_of_risk_manager_reads_both_desks_but_cannot_book(risk_manager, both_desks_trades):
    client = _token_client(risk_manager)
    refs = [t["trade_ref"] for t in client.get(TRADES).json()["results"]]
    assert refs == ["T-000002", "T-000001"]
    assert client.post(TRADES, PAYLOAD, format="json").status_code == 403
    assert Trade.objects.count() == 2
