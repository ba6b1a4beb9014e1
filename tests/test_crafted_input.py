"""Crafted input: every request below answers 400 or a form error, never a 500, and writes
nothing; plain input (Arabic text among it) is still accepted."""

import json
from base64 import b64encode
from datetime import date
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from apps.compliance.models import AuditEntry
from apps.trading.models import CurveSnapshot, Trade
from qenergyz.parsers import JSON_MAX_DEPTH, json_depth

TRADES = "/api/v1/trades/"
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


@pytest.fixture
def seeded(db: None) -> None:
    call_command("seed_reference_data", verbosity=0)


def _client(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _post_json(client: Client, url: str, body: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json")


# --- Pagination cursors -------------------------------------------------------------------------


def _paginated_list_urls() -> list[str]:
    """Every API URL without arguments whose view paginates, from the URL configuration."""
    found: list[str] = []

    def walk(patterns: Any, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and "<" not in route:
                view = getattr(pattern.callback, "view_class", None)
                if view is not None and getattr(view, "pagination_class", None) is not None:
                    found.append("/" + route.lstrip("^").replace("\\Z", "").rstrip("$"))

    walk(get_resolver().url_patterns, "")
    return sorted(found)


def _cursor(query: str) -> str:
    return b64encode(query.encode()).decode()


TAMPERED_CURSORS = [
    "!!not-base64!!",
    _cursor("o=-1"),
    _cursor("r=x"),
    _cursor("p=abc"),
    _cursor("p=1%00"),
    _cursor("p=99999999999999999999999"),
    _cursor("p=" + "9" * 400),
    _cursor("p=\x1b[31m"),
]
ALWAYS_BAD_CURSORS = [
    "!!not-base64!!",
    _cursor("o=-1"),
    _cursor("r=x"),
    _cursor("p=1%00"),
    _cursor("p=" + "9" * 400),
    _cursor("p=%1B[31m"),
]


def _lister(url: str, users: list[Any]) -> Client:
    """A client of the first of `users` that may read the list."""
    for user in users:
        client = _client(user)
        client.force_login(user)
        if client.get(url).status_code == 200:
            return client
    raise AssertionError(f"no role reads {url}")


def test_crafted_every_paginated_list_is_found():
    assert _paginated_list_urls() == [
        "/api/v1/counterparties/",
        "/api/v1/curves/",
        "/api/v1/fx-rates/",
        "/api/v1/markets/",
        "/api/v1/positions/",
        "/api/v1/risk/alerts/",
        "/api/v1/risk/limits/",
        "/api/v1/risk/runs/",
        "/api/v1/risk/scenarios/",
        "/api/v1/tokens/",
        "/api/v1/trades/",
        "/api/v1/venue/contracts/",
        "/api/v1/venue/orders/",
    ]


def test_crafted_cursor_on_every_list_is_400(seeded, trader, risk_manager):
    answers = {}
    for url in _paginated_list_urls():
        client = _lister(url, [trader, risk_manager])
        for cursor in ALWAYS_BAD_CURSORS:
            response = client.get(url, {"cursor": cursor})
            answers[(url, cursor)] = (response.status_code, response.json()["detail"][:24])
    assert set(answers.values()) == {(400, "The page cursor is not v")}


def test_crafted_cursor_position_is_read_by_the_ordering_field(seeded, trader):
    client = _client(trader)
    by_id = client.get(TRADES, {"cursor": _cursor("p=abc")})
    by_date = client.get("/api/v1/curves/", {"cursor": _cursor("p=2026-02-30")})
    by_code = client.get("/api/v1/markets/", {"cursor": _cursor("p=abc")})
    by_huge_id = client.get(TRADES, {"cursor": _cursor("p=99999999999999999999999")})
    assert (by_id.status_code, by_date.status_code, by_huge_id.status_code) == (400, 400, 400)
    assert by_id.json() == {
        "detail": "The page cursor is not valid. Follow the next or previous link of a page as "
        "it was given, or leave the cursor out for the first page."
    }
    # A code is a fine position for a list by code: the markets after it, as a next link holds.
    assert by_code.status_code == 200
    after_eua = client.get("/api/v1/markets/", {"cursor": _cursor("p=eua")})
    assert [m["code"] for m in after_eua.json()["results"]] == [
        "henry-hub",
        "ice-brent",
        "nbp",
        "nymex-wti",
        "pjm-west",
        "ttf",
    ]


# --- JSON depth ---------------------------------------------------------------------------------


def test_crafted_json_depth_counts_brackets_outside_strings():
    assert json_depth(b'{"a": [1, {"b": "[[[{{"}], "c": "\\"]]"}') == 3
    assert json_depth(b"[" * 100_000 + b"]" * 100_000) == 100_000
    assert json_depth(b'"text"') == 0


def test_crafted_json_nested_100000_deep_is_400_and_books_nothing(seeded, trader):
    client = _client(trader)
    audit_before = AuditEntry.objects.count()
    response = _post_json(client, TRADES, "[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"The JSON body is nested deeper than the {JSON_MAX_DEPTH} levels the API "
        "accepts."
    }
    assert (Trade.objects.count(), AuditEntry.objects.count()) == (0, audit_before)


def test_crafted_json_at_the_depth_limit_reaches_the_serializer(seeded, trader):
    # The payload's object is one level, the book's lists the others.
    nested = "[" * (JSON_MAX_DEPTH - 1) + "]" * (JSON_MAX_DEPTH - 1)
    response = _post_json(_client(trader), TRADES, {**PAYLOAD, "book": json.loads(nested)})
    assert response.status_code == 400
    assert list(response.json()) == ["book"]


# --- Dates outside 1990-01-01..2100-12-31 -------------------------------------------------------


def test_crafted_api_dates_out_of_range_are_400(seeded, trader):
    client = _client(trader)
    booked = _post_json(client, TRADES, PAYLOAD)
    assert booked.status_code == 201
    pk = Trade.objects.get().pk
    answers = {
        url: client.get(url, query).status_code
        for url, query in [
            ("/api/v1/pnl/", {"date": "0001-01-01"}),
            (f"/api/v1/trades/{pk}/valuation/", {"date": "0001-01-01"}),
            (f"/api/v1/trades/{pk}/valuation/", {"date": "1900-01-01"}),
            (
                "/api/v1/positions/hourly/",
                {"book": "PEU-FLOW", "market": "eex-de-power", "month": "9999-12"},
            ),
            (
                "/api/v1/positions/hourly/",
                {"book": "PEU-FLOW", "market": "eex-de-power", "month": "0000-01"},
            ),
        ]
    }
    assert set(answers.values()) == {400}
    response = client.get("/api/v1/pnl/", {"date": "0001-01-01"})
    assert response.json() == {"date": ["Enter a date between 1990-01-01 and 2100-12-31."]}


def test_crafted_pages_dates_out_of_range_are_form_errors(seeded, trader):
    client = _client(trader)
    for url in ("/trading/positions/", "/trading/pnl/"):
        response = client.get(url, {"date": "0001-01-01"})
        assert response.status_code == 200
        assert response.context["form"].errors == {
            "date": ["Enter a date between 1990-01-01 and 2100-12-31."]
        }


@pytest.mark.parametrize("trade_date", ["0001-01-01", "1900-06-01", "2101-01-01"])
def test_crafted_trade_date_out_of_range_is_refused(seeded, trader, trade_date):
    client = _client(trader)
    response = _post_json(client, TRADES, {**PAYLOAD, "trade_date": trade_date})
    bulk = _post_json(client, "/api/v1/trades/bulk/", [{**PAYLOAD, "trade_date": trade_date}])
    assert response.status_code == 400
    assert response.json() == {"trade_date": ["Enter a date between 1990-01-01 and 2100-12-31."]}
    assert bulk.json()["results"][0]["errors"] == {
        "trade_date": ["Enter a date between 1990-01-01 and 2100-12-31."]
    }
    assert Trade.objects.count() == 0


# --- Numbers: ASCII digits, a sign, one dot ----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", "１０"),
        ("quantity", "1_000"),
        ("quantity", "1e3"),
        ("quantity", "NaN"),
        ("price", "٨٥"),
        ("price", "85_50"),
        ("price", " 85.5.0"),
    ],
)
def test_crafted_decimals_not_in_plain_digits_are_400(seeded, trader, field, value):
    response = _post_json(_client(trader), TRADES, {**PAYLOAD, field: value})
    assert response.status_code == 400
    assert response.json() == {field: ["Enter a number in plain digits, such as 1000 or -12.5."]}
    assert Trade.objects.count() == 0


def test_crafted_plain_decimals_still_book(seeded, trader):
    response = _post_json(_client(trader), TRADES, {**PAYLOAD, "quantity": " +10.0 ", "price": 85})
    assert response.status_code == 201, response.json()
    assert response.json()["terms"]["quantity"] == "10.000000"


def test_crafted_venue_order_quantity_with_underscore_is_400(seeded, trader):
    client = _client(trader)
    response = _post_json(
        client,
        "/api/v1/venue/orders/",
        {"contract": 1, "side": "buy", "price": "85", "quantity": "1_0"},
    )
    assert response.status_code == 400
    assert response.json()["quantity"] == ["Enter a number in plain digits, such as 1000 or -12.5."]


# --- Free text: no control or bidi-override characters -----------------------------------------

TEXT_ERROR = [
    "Remove the control or text-direction characters (such as NUL, escape or a right-to-left "
    "override); they are not accepted."
]


@pytest.mark.parametrize(
    "reason",
    ["\x1b[31mred\x1b[0m", "invoice \u202efdp.exe", "nul\x00byte", "isolate \u2066x\u2069", "\x7f"],
)
def test_crafted_reason_with_control_characters_is_400(seeded, trader, reason):
    client = _client(trader)
    _post_json(client, TRADES, PAYLOAD)
    trade = Trade.objects.get()
    audit_before = AuditEntry.objects.count()
    response = _post_json(
        client, f"/api/v1/trades/{trade.pk}/cancel/", {"version": 1, "reason": reason}
    )
    assert response.status_code == 400
    assert response.json() == {"reason": TEXT_ERROR}
    trade.refresh_from_db()
    assert (trade.status, AuditEntry.objects.count()) == ("booked", audit_before)


def test_crafted_arabic_reason_is_accepted(seeded, trader):
    client = _client(trader)
    _post_json(client, TRADES, PAYLOAD)
    trade = Trade.objects.get()
    reason = "إلغاء الصفقة بسبب خطأ في السعر\nسطر ثانٍ\u200f"
    response = _post_json(
        client, f"/api/v1/trades/{trade.pk}/cancel/", {"version": 1, "reason": reason}
    )
    assert response.status_code == 200, response.json()
    assert (
        AuditEntry.objects.filter(action="trading.trade_cancelled").get().payload["reason"]
        == reason
    )


def test_crafted_trade_page_refuses_escape_in_reason(seeded, trader):
    client = _client(trader)
    _post_json(client, TRADES, PAYLOAD)
    trade = Trade.objects.get()
    response = client.post(
        f"/trading/trades/{trade.pk}/cancel/", {"version": "1", "reason": "ok\x1b]0;pwned\x07"}
    )
    assert response.status_code == 400
    trade.refresh_from_db()
    assert trade.status == "booked"
    assert TEXT_ERROR[0] in response.content.decode()


FORM = {
    "deal_type": "physical_fixed",
    "book": "PEU-FLOW",
    "counterparty": "NORDWIND",
    "side": "buy",
    "market": "eex-de-power",
    "period": "2026-03",
    "profile": "base",
    "quantity": "10",
    "price": "85.50",
    "currency": "EUR",
    "trade_date": "2026-01-15",
}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("trade_date", "0001-01-01", "Enter a date between 1990-01-01 and 2100-12-31."),
        ("trade_date", "1900-01-01", "Enter a date between 1990-01-01 and 2100-12-31."),
        ("quantity", "１０", "Enter a number in plain digits, such as 1000 or -12.5."),
        ("price", "1_000", "Enter a number in plain digits, such as 1000 or -12.5."),
    ],
)
def test_crafted_trade_page_form_errors(seeded, trader, field, value, message):
    response = _client(trader).post("/trading/trades/new/", {**FORM, field: value})
    assert response.status_code == 400
    assert response.context["form"].errors == {field: [message]}
    assert Trade.objects.count() == 0


def test_crafted_trade_page_books_plain_input(seeded, trader):
    response = _client(trader).post("/trading/trades/new/", FORM)
    assert response.status_code == 302
    assert Trade.objects.count() == 1


# --- Curve upload and login ---------------------------------------------------------------------


def test_crafted_curve_upload_with_nul_in_market_is_400(seeded, risk_manager):
    from django.contrib.auth.models import Permission
    from django.core.files.uploadedfile import SimpleUploadedFile

    risk_manager.user_permissions.add(Permission.objects.get(codename="add_curvesnapshot"))
    client = _client(risk_manager)
    response = client.post(
        "/api/v1/curves/upload/",
        {
            "market": "ttf\x00",
            "pricing_date": "2026-08-18",
            "file": SimpleUploadedFile("c.csv", b"period,price\n2026-09,35\n"),
        },
    )
    raw = client.post(
        "/api/v1/curves/upload/?market=ttf%00&pricing_date=2026-08-18",
        b"period,price\n2026-09,35\n",
        content_type="text/csv",
    )
    assert (response.status_code, raw.status_code) == (400, 400)
    assert response.json() == {"market": TEXT_ERROR}
    assert CurveSnapshot.objects.count() == 0


def test_crafted_curve_upload_full_width_price_is_refused(seeded, risk_manager):
    from apps.trading.marketdata import curve_import_csv
    from apps.trading.models import Market

    result = curve_import_csv(
        user=None,
        market=Market.objects.get(code="ttf"),
        pricing_date=date(2026, 8, 18),
        text="period,price\n2026-09,３５\n2026-10,1_000\n",
    )
    assert [e.line for e in result.errors] == [2, 3]
    assert CurveSnapshot.objects.count() == 0


def test_crafted_login_with_10000_character_username_is_a_form_error(db, client):
    from axes.models import AccessAttempt

    response = client.post(
        "/accounts/login/", {"username": "u" * 10_000, "password": "whatever-123456"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["username"] == [
        "Ensure this value has at most 150 characters (it has 10000)."
    ]
    assert AccessAttempt.objects.count() == 0


# --- Query strings ------------------------------------------------------------------------------

QUERY_ERROR = (
    "The address holds control or text-direction characters (such as NUL or escape); they are "
    "not accepted."
)


def test_crafted_nul_in_an_api_filter_is_400(seeded, trader):
    client = _client(trader)
    answers = [
        client.get("/api/v1/trades/", {"book": "PEU-FLOW\x00"}),
        client.get("/api/v1/risk/runs/", {"desk": "\x1b[2J"}),
        client.get("/api/v1/positions/", {"market\u202e": "x"}),
    ]
    assert [(r.status_code, r.json()) for r in answers] == [(400, {"detail": QUERY_ERROR})] * 3


def test_crafted_escape_in_a_page_query_is_the_400_page(seeded, trader):
    response = _client(trader).get("/trading/blotter/", {"book": "\x1b[31m"})
    assert response.status_code == 400
    assert response.templates[0].name == "errors/400.html"


def test_crafted_arabic_in_a_query_is_accepted(seeded, trader):
    response = _client(trader).get("/api/v1/trades/", {"book": "دفتر"})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_crafted_token_name_with_escape_is_400(db, trader):
    response = _post_json(_client(trader), "/api/v1/tokens/", {"name": "ci\x1b[8m"})
    assert response.status_code == 400
    assert response.json() == {"name": TEXT_ERROR}


# --- Periods and uploaded dates -----------------------------------------------------------------


@pytest.mark.parametrize("period", ["9999-W52", "CAL-0001", "SUM-9999", "２０２６-03"])
def test_crafted_trade_period_out_of_range_is_400(seeded, trader, period):
    response = _post_json(_client(trader), TRADES, {**PAYLOAD, "period": period})
    assert response.status_code == 400
    assert response.json() == {
        "period": ["Unknown period code; use e.g. 2026-03, 2026-Q2, SUM-2026, CAL-2027."]
    }
    assert Trade.objects.count() == 0


def test_crafted_fx_upload_date_out_of_range_is_refused(db):
    from apps.trading.marketdata import fx_import_csv
    from apps.trading.models import FxRate

    result = fx_import_csv(
        user=None, text="date,base,quote,rate\n0001-01-01,EUR,USD,1.1\n2026-08-18,EUR,USD,1_1\n"
    )
    assert [e.line for e in result.errors] == [2, 3]
    assert FxRate.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", "1_000", "Enter a number."),
        ("amount", "１０٠٠", "Enter a number."),
        ("confidence", "0.9_5", "The confidence lies strictly between 0 and 1."),
        ("warning_level", "٠.٨", "Enter a number."),
    ],
)
def test_crafted_risk_limit_amounts_in_plain_digits_only(
    seeded, risk_manager, field, value, message
):
    from apps.risk.models import LimitVersion

    body = {
        "kind": "var",
        "desk": "power-eu",
        "method": "historical",
        "confidence": "0.95",
        "amount": "1000",
        field: value,
    }
    response = _post_json(_client(risk_manager), "/api/v1/risk/limits/", body)
    assert response.status_code == 400
    assert response.json()[field] == [message]
    assert LimitVersion.objects.count() == 0


# --- The shared parser and checks ---------------------------------------------------------------


def test_crafted_parse_decimal_reads_plain_digits_only():
    from decimal import Decimal

    from qenergyz.validators import parse_decimal

    assert [parse_decimal(t) for t in ("10", " -12.5 ", "+.5", "7.", 3)] == [
        Decimal("10"),
        Decimal("-12.5"),
        Decimal("0.5"),
        Decimal("7"),
        Decimal("3"),
    ]
    refused = []
    for text in ("１０", "1_000", "1e3", "NaN", "Infinity", "1.2.3", "", "٣", "--1", True, 1.5):
        try:
            parse_decimal(text)
        except ValueError:
            refused.append(text)
    assert len(refused) == 11


def test_crafted_text_check_refuses_controls_and_overrides_only():
    from qenergyz.validators import text_is_plain

    plain = ["مرحبا بالعالم", "line one\nline two\ttab\r\n", "שלום", "a\u200fb\u200e\u061c"]
    crafted = ["\x00", "\x1b[0m", "\x7f", "\x85", "\u202a", "\u202e", "\u2066", "\u2069"]
    assert [text_is_plain(t) for t in plain] == [True] * 4
    assert [text_is_plain(t) for t in crafted] == [False] * 8


def test_crafted_keyset_pages_read_ascii_digits_only(seeded, trader, risk_manager):
    # "²".isdigit() is True, int("²") a ValueError: both pages once answered 500.
    venue = _client(trader).get("/trading/venue/orders/", {"before": "²"})
    runs = _client(risk_manager).get("/risk/runs/", {"before": "²"})
    huge = _client(trader).get("/trading/venue/orders/", {"before": "9" * 40})
    assert (venue.status_code, runs.status_code, huge.status_code) == (200, 200, 200)
