"""The trade and position API: create, bulk, amend, cancel, approve; scoping; bad input."""

import json
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.compliance.models import AuditEntry
from apps.trading.marketdata import MAX_IMPORT_BYTES
from apps.trading.models import CurvePoint, CurveSnapshot, Position, Trade, TradeVersion
from apps.trading.services import trade_book
from apps.trading.trades_api import TradeCursorPagination
from tests.trading.factories import DeskTradingPolicyFactory, position_rows, trade_terms

pytestmark = pytest.mark.usefixtures("seeded")

TRADES = "/api/v1/trades/"
BULK = "/api/v1/trades/bulk/"

PAYLOAD = {
    "book": "PEU-FLOW",
    "counterparty": "NORDWIND",
    "deal_type": "physical_fixed",
    "side": "buy",
    "market": "eex-de-power",
    "quantity": "10",
    "price": "85.50",
    "currency": "EUR",
    "period": "2026-03",
    "trade_date": "2026-01-15",
    "executed_at": "2026-01-15T09:30:00Z",
}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, url: str, data, **headers):
    return client.post(url, data=json.dumps(data), content_type="application/json", headers=headers)


def test_create_books_trade_and_returns_it(trader):
    response = _post(_client(trader), TRADES, PAYLOAD)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["trade_ref"] == "T-000001"
    assert body["status"] == "booked"
    assert body["book"] == "PEU-FLOW"
    assert body["desk"] == "power-eu"
    assert body["terms"]["total_quantity"] == "7430.000000"
    assert body["terms"]["notional"] == "635265.00"
    assert [v["version"] for v in body["versions"]] == [1]
    assert {r["rule"]: r["outcome"] for r in body["terms"]["pretrade_results"]} == {
        "kyc_valid": "pass",
        "credit_limit": "pass",
        "self_trade": "pass",
    }


def test_create_with_same_idempotency_key_books_once(trader):
    client = _client(trader)
    first = _post(client, TRADES, PAYLOAD, **{"Idempotency-Key": "order-42"})
    second = _post(client, TRADES, PAYLOAD, **{"Idempotency-Key": "order-42"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert Trade.objects.count() == 1
    assert AuditEntry.objects.filter(action="trading.trade_booked").count() == 1


def test_create_same_key_other_body_is_422(trader):
    client = _client(trader)
    _post(client, TRADES, PAYLOAD, **{"Idempotency-Key": "order-42"})
    response = _post(
        client, TRADES, {**PAYLOAD, "quantity": "11"}, **{"Idempotency-Key": "order-42"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Trade.objects.count() == 1


def test_create_blocked_is_422_with_reasons_and_position_unchanged(trader):
    trade_book(user=trader, terms=trade_terms())
    before = position_rows()
    assert before == [("PEU-FLOW", "eex-de-power", date(2026, 3, 1), Decimal("7430"))]

    response = _post(_client(trader), TRADES, {**PAYLOAD, "counterparty": "ALBION"})

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "blocked"
    assert body["checks"][0] == {
        "rule": "kyc_valid",
        "outcome": "block",
        "reason": "The counterparty's KYC has expired.",
    }
    assert Trade.objects.count() == 1
    assert position_rows() == before
    assert AuditEntry.objects.filter(action="trading.trade_blocked").count() == 1


# 700 MW x 743 h x 85.50 EUR = 44,468,550 EUR: 88.94% of NORDWIND's 50,000,000 EUR credit
# limit, over the credit rule's 80% warning line and under the limit.
CREDIT_WARNING = {
    "rule": "credit_limit",
    "outcome": "warn",
    "reason": (
        "Credit use would reach 88.94% of the limit of 50,000,000.00 EUR (warning above "
        "80.00%): exposure 0.00 EUR plus this trade 44,468,550.00 EUR."
    ),
}


def test_create_with_warning_books_and_returns_the_warning(trader):
    response = _post(_client(trader), TRADES, {**PAYLOAD, "quantity": "700"})

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "booked"
    assert body["terms"]["pretrade_results"] == [
        {"rule": "kyc_valid", "outcome": "pass", "reason": ""},
        CREDIT_WARNING,
        {"rule": "self_trade", "outcome": "pass", "reason": ""},
    ]
    assert position_rows() == [("PEU-FLOW", "eex-de-power", date(2026, 3, 1), Decimal("520100"))]


def test_bulk_item_with_warning_is_booked_with_the_warning(trader):
    response = _post(_client(trader), BULK, [{**PAYLOAD, "quantity": "700"}])

    result = response.json()["results"][0]
    assert (result["status"], result["trade"]["trade_ref"]) == ("booked", "T-000001")
    assert [c for c in result["checks"] if c["outcome"] != "pass"] == [CREDIT_WARNING]


def test_create_blocked_replayed_is_audited_once(trader):
    client = _client(trader)
    for _ in range(2):
        response = _post(
            client, TRADES, {**PAYLOAD, "counterparty": "ALBION"}, **{"Idempotency-Key": "b-1"}
        )
        assert response.status_code == 422
    assert AuditEntry.objects.filter(action="trading.trade_blocked").count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"book": "NOPE"}, "book"),
        ({"book": "GUS-FLOW"}, "book"),
        ({"counterparty": "NOPE"}, "counterparty"),
        ({"market": "nope"}, "market"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-10"}, "quantity"),
        ({"quantity": "ten"}, "quantity"),
        ({"quantity": "NaN"}, "quantity"),
        ({"currency": "USD"}, "currency"),
        (
            {"period": "", "delivery_start": "2026-03-10", "delivery_end": "2026-03-01"},
            "delivery_end",
        ),
        ({"deal_type": "barter"}, "deal_type"),
        ({"trade_date": "15/01/2026"}, "trade_date"),
        ({"side": None}, "side"),
    ],
)
def test_create_bad_input_is_400_naming_the_field(trader, change, field):
    response = _post(_client(trader), TRADES, {**PAYLOAD, **change})
    assert response.status_code == 400
    assert field in response.json()
    assert Trade.objects.count() == 0
    assert not AuditEntry.objects.filter(action__startswith="trading.").exists()


def test_create_malformed_json_is_400(trader):
    response = _client(trader).post(TRADES, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert Trade.objects.count() == 0


def test_create_refused_to_risk_manager(risk_manager):
    assert _post(_client(risk_manager), TRADES, PAYLOAD).status_code == 403


# --- Bulk ---------------------------------------------------------------------------------------


def test_bulk_gives_results_by_index(trader):
    items = [PAYLOAD, {**PAYLOAD, "quantity": "-1"}, {**PAYLOAD, "counterparty": "ALBION"}]
    response = _post(_client(trader), BULK, items, **{"Idempotency-Key": "batch-1"})
    assert response.status_code == 200
    body = response.json()
    assert body["counts"] == {"booked": 1, "pending_approval": 0, "blocked": 1, "invalid": 1}
    assert [(r["index"], r["status"]) for r in body["results"]] == [
        (0, "booked"),
        (1, "invalid"),
        (2, "blocked"),
    ]
    assert body["results"][0]["trade"]["trade_ref"] == "T-000001"
    assert "quantity" in body["results"][1]["errors"]
    assert body["results"][2]["checks"][0]["rule"] == "kyc_valid"
    assert Trade.objects.count() == 1
    replay = _post(_client(trader), BULK, items, **{"Idempotency-Key": "batch-1"})
    assert replay.json() == body
    assert Trade.objects.count() == 1


def test_bulk_serializer_errors_are_per_item(trader):
    response = _post(_client(trader), BULK, [PAYLOAD, {"book": "PEU-FLOW"}, "not an object"])
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["booked", "invalid", "invalid"]
    assert "counterparty" in results[1]["errors"]


def test_bulk_over_1000_is_400(trader):
    response = _post(_client(trader), BULK, [PAYLOAD] * 1001)
    assert response.status_code == 400
    assert response.json()["non_field_errors"] == [
        "Send from 1 to 1000 trades per request (this one has 1001)."
    ]
    assert Trade.objects.count() == 0


def test_bulk_not_a_list_is_400(trader):
    assert _post(_client(trader), BULK, PAYLOAD).status_code == 400


# --- Request size -------------------------------------------------------------------------------


def test_bulk_of_1000_indented_trades_fits_the_body_limit(settings):
    body = json.dumps([{**PAYLOAD, "trader": "someone-else"}] * 1000, indent=2)
    assert len(body.encode()) < settings.API_MAX_BODY_BYTES


def test_bulk_oversized_payload_is_413_and_books_nothing(trader, settings):
    # 1,000 items, each padded with an unknown term: over the limit before any item is read.
    items = [{**PAYLOAD, "padding": "x" * 2100}] * 1000
    body = json.dumps(items)
    assert len(body) > settings.API_MAX_BODY_BYTES

    response = _client(trader).post(BULK, data=body, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {
        "detail": (
            f"The request body is larger than the {settings.API_MAX_BODY_BYTES} bytes the API "
            "accepts. Send less per request (the bulk endpoint takes up to 1,000 trades)."
        )
    }
    assert Trade.objects.count() == 0


def test_oversized_payload_with_idempotency_key_is_413_and_leaves_the_key_free(trader, settings):
    settings.API_MAX_BODY_BYTES = 200
    client = _client(trader)
    too_big = _post(client, TRADES, PAYLOAD, **{"Idempotency-Key": "big-1"})
    assert too_big.status_code == 413
    assert Trade.objects.count() == 0
    settings.API_MAX_BODY_BYTES = 2000
    assert _post(client, TRADES, PAYLOAD, **{"Idempotency-Key": "big-1"}).status_code == 201


def test_oversized_form_body_is_413(trader, settings):
    settings.API_MAX_BODY_BYTES = 100
    response = _client(trader).post(
        TRADES,
        data=urlencode({**PAYLOAD, "notes": "x" * 200}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert Trade.objects.count() == 0


CURVE_UPLOAD = "/api/v1/curves/upload/"


def _oversized_curve() -> bytes:
    """A well-formed curve CSV one byte over the import limit."""
    head = b"period,price\n2026-09,35.25\n"
    return head + b" " * (MAX_IMPORT_BYTES + 1 - len(head))


@pytest.mark.parametrize("how", ["text/csv body", "multipart file"])
def test_curve_upload_over_the_byte_limit_is_400_and_writes_nothing(risk_manager, how):
    client = _client(risk_manager)
    content = _oversized_curve()
    if how == "text/csv body":
        response = client.post(
            f"{CURVE_UPLOAD}?market=ttf&pricing_date=2026-08-18",
            data=content,
            content_type="text/csv",
        )
    else:
        upload = SimpleUploadedFile("curve.csv", content, content_type="text/csv")
        response = client.post(
            CURVE_UPLOAD, {"market": "ttf", "pricing_date": "2026-08-18", "file": upload}
        )

    assert response.status_code == 400
    assert response.json() == {"errors": [{"line": 0, "message": "The file is larger than 2 MB."}]}
    assert CurveSnapshot.objects.count() == 0
    assert CurvePoint.objects.count() == 0


# --- Reading, scoping -------------------------------------------------------------------------


def test_list_scoped_to_desks_and_filtered(trader, other_desk_trader):
    trade_book(user=trader, terms=trade_terms())
    trade_book(user=trader, terms=trade_terms(book="PEU-HEDGE", period="2026-04"))
    gas = trade_terms(
        book="GUS-FLOW",
        counterparty="PRAIRIE",
        market="henry-hub",
        currency="USD",
        price=Decimal("3.25"),
    )
    trade_book(user=other_desk_trader, terms=gas)

    mine = _client(trader).get(TRADES).json()["results"]
    assert [t["trade_ref"] for t in mine] == ["T-000002", "T-000001"]
    hedges = _client(trader).get(TRADES, {"book": "PEU-HEDGE"}).json()["results"]
    assert [t["trade_ref"] for t in hedges] == ["T-000002"]
    theirs = _client(other_desk_trader).get(TRADES).json()["results"]
    assert [t["trade_ref"] for t in theirs] == ["T-000003"]
    assert _client(trader).get(TRADES, {"desk": "gas-us"}).json()["results"] == []


def test_list_filters_by_code(trader):
    trade_book(user=trader, terms=trade_terms())
    trade_book(user=trader, terms=trade_terms(market="ttf", book="PEU-HEDGE"))
    client = _client(trader)

    def refs(**params: str) -> list[str]:
        return [t["trade_ref"] for t in client.get(TRADES, params).json()["results"]]

    assert refs(desk="power-eu") == ["T-000002", "T-000001"]
    assert refs(market="ttf") == ["T-000002"]
    assert refs(book="PEU-FLOW") == ["T-000001"]
    assert refs(counterparty="NORDWIND", market="eex-de-power") == ["T-000001"]
    assert refs(counterparty="GULFSTAR") == []
    assert refs(desk="no-such-desk") == refs(market="no-such-market") == []


def test_list_query_count_does_not_grow(trader, other_desk_trader):
    client = _client(trader)
    trade_book(user=trader, terms=trade_terms())
    client.get(TRADES)  # warm the session
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(TRADES).json()["results"]) == 1
    for n in range(5):
        trade_book(user=trader, terms=trade_terms(market=("eex-de-power", "ttf")[n % 2]))
    with CaptureQueriesContext(connection) as six:
        assert len(client.get(TRADES).json()["results"]) == 6
    # Session, user, roles and two kinds of OTP device; the trades, their current versions, and
    # one query per kind of reference the versions name (counterparties, markets, units,
    # creators, traders).
    assert len(six) == len(one) <= 12


def test_other_desk_gets_404_on_retrieve_amend_cancel(trader, other_desk_trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    client = _client(other_desk_trader)
    assert client.get(f"{TRADES}{trade.pk}/").status_code == 404
    assert (
        _post(client, f"{TRADES}{trade.pk}/amend/", {"version": 1, "quantity": "1"}).status_code
        == 404
    )
    assert _post(client, f"{TRADES}{trade.pk}/cancel/", {"version": 1}).status_code == 404
    assert _post(client, f"{TRADES}{trade.pk}/approve/", {"version": 1}).status_code == 404
    assert TradeVersion.objects.count() == 1


def test_retrieve_shows_versions(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    client = _client(trader)
    _post(client, f"{TRADES}{trade.pk}/amend/", {"version": 1, "price": "90"})
    body = client.get(f"{TRADES}{trade.pk}/").json()
    assert body["current_version"] == 2
    assert [(v["version"], v["price"]) for v in body["versions"]] == [
        (1, "85.500000"),
        (2, "90.000000"),
    ]


# --- Amend, cancel, approve ------------------------------------------------------------------


def test_amend_stale_version_is_409(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    client = _client(trader)
    assert (
        _post(client, f"{TRADES}{trade.pk}/amend/", {"version": 1, "price": "90"}).status_code
        == 200
    )
    response = _post(client, f"{TRADES}{trade.pk}/amend/", {"version": 1, "price": "91"})
    assert response.status_code == 409
    assert response.json()["code"] == "stale_version"


def test_amend_without_version_is_400(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    response = _post(_client(trader), f"{TRADES}{trade.pk}/amend/", {"price": "90"})
    assert response.status_code == 400
    assert "version" in response.json()


def test_amend_bad_quantity_is_400_and_nothing_written(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    response = _post(_client(trader), f"{TRADES}{trade.pk}/amend/", {"version": 1, "quantity": "0"})
    assert response.status_code == 400
    assert "quantity" in response.json()
    assert TradeVersion.objects.count() == 1


def test_cancel_reverses_positions(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    response = _post(_client(trader), f"{TRADES}{trade.pk}/cancel/", {"version": 1, "reason": "x"})
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert Position.objects.count() == 0
    again = _post(_client(trader), f"{TRADES}{trade.pk}/cancel/", {"version": 2})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")


def test_approve_four_eyes_over_api(trader, risk_manager, desk_a):
    DeskTradingPolicyFactory(desk=desk_a, approval_threshold=Decimal("100000"))
    created = _post(_client(trader), TRADES, PAYLOAD).json()
    assert created["status"] == "pending_approval"
    url = f"{TRADES}{created['id']}/approve/"
    own = _post(_client(trader), url, {"version": 1})
    assert own.status_code == 403
    approved = _post(_client(risk_manager), url, {"version": 1})
    assert approved.status_code == 200
    assert approved.json()["status"] == "booked"
    assert Position.objects.get().quantity == Decimal("7430")


def test_list_cursor_pagination_walks_every_trade_once(trader, monkeypatch):
    monkeypatch.setattr(TradeCursorPagination, "page_size", 2)
    for _ in range(5):
        trade_book(user=trader, terms=trade_terms())
    client = _client(trader)

    pages: list[list[str]] = []
    url: str | None = TRADES
    while url is not None:
        body = client.get(url).json()
        pages.append([t["trade_ref"] for t in body["results"]])
        if len(pages) == 1:
            # Booked while the client walks: newest first, so it is not on a later page.
            trade_book(user=trader, terms=trade_terms())
        url = body["next"]

    assert pages == [
        ["T-000005", "T-000004"],
        ["T-000003", "T-000002"],
        ["T-000001"],
    ]
    first = client.get(TRADES).json()
    assert [t["trade_ref"] for t in first["results"]] == ["T-000006", "T-000005"]
    assert first["previous"] is None
    # Back from the second page: the first page as it is now (the newest trade included).
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()
    assert [t["trade_ref"] for t in back["results"]] == ["T-000006", "T-000005"]


def test_list_cursor_pagination_with_filter_keeps_the_filter(trader, monkeypatch):
    monkeypatch.setattr(TradeCursorPagination, "page_size", 2)
    for n in range(6):
        trade_book(user=trader, terms=trade_terms(book=("PEU-FLOW", "PEU-HEDGE")[n % 2]))
    client = _client(trader)

    refs: list[str] = []
    url: str | None = f"{TRADES}?book=PEU-HEDGE"
    while url is not None:
        body = client.get(url).json()
        refs += [t["trade_ref"] for t in body["results"]]
        url = body["next"]

    assert refs == ["T-000006", "T-000004", "T-000002"]


def test_list_bad_cursor_is_400_not_500(trader):
    response = _client(trader).get(TRADES, {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("The page cursor is not valid.")


def test_positions_list_scoped_and_filtered(trader, other_desk_trader):
    trade_book(user=trader, terms=trade_terms(period="2026-Q1"))
    response = _client(trader).get("/api/v1/positions/", {"month": "2026-02"})
    assert [
        (p["book"], p["month"], p["quantity"], p["quantity_mwh"])
        for p in response.json()["results"]
    ] == [("PEU-FLOW", "2026-02", "6720.000000", "6720.000000")]
    assert _client(other_desk_trader).get("/api/v1/positions/").json()["results"] == []


def test_schema_generates(trader):
    response = _client(trader).get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/trades/bulk/" in response.content


def test_create_malformed_json_with_idempotency_key_is_400_parse_error(trader):
    client = _client(trader)
    response = client.post(
        TRADES,
        data="{not json",
        content_type="application/json",
        headers={"Idempotency-Key": "broken-1"},
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    assert Trade.objects.count() == 0
    # The key was not spent on the broken request: the real one books.
    assert _post(client, TRADES, PAYLOAD, **{"Idempotency-Key": "broken-1"}).status_code == 201


def test_curve_upload_form_body_over_the_api_limit_is_413_and_writes_nothing(
    risk_manager, settings
):
    settings.API_MAX_BODY_BYTES = 100
    response = _client(risk_manager).post(
        CURVE_UPLOAD,
        data=urlencode({"market": "ttf", "pricing_date": "2026-08-18", "notes": "x" * 200}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert CurveSnapshot.objects.count() == 0
