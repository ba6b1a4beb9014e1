"""The trading pages: blotter (and CSV), deal capture and the trade page, scoped by desk."""

import csv
import io
import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext

from apps.accounts.models import Role
from apps.compliance.models import AuditEntry
from apps.trading.models import (
    CurvePoint,
    CurveSnapshot,
    FxRate,
    Market,
    MarketVolatility,
    Trade,
    TradeStatus,
)
from apps.trading.services import trade_amend, trade_book, trade_cancel
from apps.trading.views import csv_cell
from tests.factories import UserFactory
from tests.trading.factories import CounterpartyFactory, gas_trade_terms, position_rows, trade_terms

pytestmark = pytest.mark.usefixtures("seeded")

BLOTTER = "/trading/blotter/"
BLOTTER_CSV = "/trading/blotter.csv"
NEW_TRADE = "/trading/trades/new/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _refs(html: str) -> list[str]:
    """The trade references of the blotter's rows, top to bottom."""
    body = re.split(r'<tbody id="blotter-rows(?:-filtered)?">', html)[1].split("</tbody>")[0]
    return re.findall(r'<tr id="trade-\d+"[^>]*>\s*<td><bdi>(T-\d+)</bdi></td>', body)


def _csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def _option_form(**overrides) -> dict[str, str]:
    values = {
        "deal_type": "option",
        "option_type": "call",
        "strike": "75",
        "expiry_date": "2026-02-26",
        "price": "6.20",
    }
    values.update(overrides)
    return _form(**values)


def _form(**overrides) -> dict[str, str]:
    data = {
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
    data.update(overrides)
    return data


# --- Blotter ---------------------------------------------------------------------------------


def test_blotter_shows_own_desk_trades_newest_first_and_not_other_desks(trader, other_desk_trader):
    trade_book(user=trader, terms=trade_terms())
    trade_book(user=trader, terms=trade_terms(book="PEU-HEDGE", period="2026-04"))
    trade_book(user=other_desk_trader, terms=gas_trade_terms())

    response = _client(trader).get(BLOTTER)

    assert response.status_code == 200
    assert _refs(response.text) == ["T-000002", "T-000001"]
    assert "GUS-FLOW" not in response.text
    assert "T-000003" not in response.text
    assert _refs(_client(other_desk_trader).get(BLOTTER).text) == ["T-000003"]


def test_blotter_row_matches_live_row(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade

    text = _client(trader).get(BLOTTER).text

    row = text.split(f'<tr id="trade-{trade.pk}"')[1].split("</tr>")[0]
    assert 'class="trade-row status-booked" data-version="1">' in row
    assert "hx-swap-oob" not in row  # only pushed rows carry it
    assert "<td><bdi>PEU-FLOW</bdi></td>" in row
    assert '<td class="number"><bdi>10 MWh</bdi></td>' in row
    assert '<td class="number"><bdi>85.50 EUR</bdi></td>' in row
    assert f'href="/trading/trades/{trade.pk}/"' in row


def test_blotter_takes_new_live_rows_only_on_newest_unfiltered_page(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    client = _client(trader)
    assert '<tbody id="blotter-rows">' in client.get(BLOTTER).text
    for params in ({"book": "PEU-FLOW"}, {"before": trade.pk + 1}):
        text = client.get(BLOTTER, params).text
        assert '<tbody id="blotter-rows-filtered">' in text
        assert 'id="blotter-rows"' not in text


def test_blotter_empty_state(trader):
    text = _client(trader).get(BLOTTER).text
    assert _refs(text) == []
    assert '<tr class="blotter-empty"><td colspan="11">No trades match.</td></tr>' in text


def test_blotter_field_operator_forbidden(field_operator):
    assert _client(field_operator).get(BLOTTER).status_code == 403
    assert _client(field_operator).get(BLOTTER_CSV).status_code == 403


def test_blotter_keyset_pagination(trader, monkeypatch):
    monkeypatch.setattr("apps.trading.views.BLOTTER_PAGE_SIZE", 2)
    trades = [trade_book(user=trader, terms=trade_terms()).trade for _ in range(5)]
    client = _client(trader)

    first = client.get(BLOTTER).text
    assert _refs(first) == ["T-000005", "T-000004"]
    assert f'href="?before={trades[3].pk}" rel="next"' in first

    second = client.get(BLOTTER, {"before": trades[3].pk}).text
    assert _refs(second) == ["T-000003", "T-000002"]
    assert f'href="?before={trades[1].pk}" rel="next"' in second

    last = client.get(BLOTTER, {"before": trades[1].pk}).text
    assert _refs(last) == ["T-000001"]
    assert 'rel="next"' not in last


def test_blotter_bad_page_position_is_400(trader):
    response = _client(trader).get(BLOTTER, {"before": "x"})
    assert response.status_code == 400
    assert _refs(response.text) == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"book": "PEU-HEDGE"}, ["T-000002"]),
        ({"desk": "power-eu"}, ["T-000003", "T-000002", "T-000001"]),
        ({"counterparty": "GULFSTAR"}, ["T-000003"]),
        ({"market": "eex-de-power"}, ["T-000002", "T-000001"]),
        ({"status": "cancelled"}, ["T-000001"]),
        ({"status": "booked", "book": "PEU-FLOW"}, ["T-000003"]),
        ({"status": "pending_approval"}, []),
    ],
)
def test_blotter_filters(trader, params, expected):
    # The USD trade is compared with the desk's EUR four-eyes threshold at this rate.
    FxRate.objects.create(base="EUR", quote="USD", date=date(2026, 1, 14), rate=Decimal("1.10"))
    first = trade_book(user=trader, terms=trade_terms()).trade
    trade_book(user=trader, terms=trade_terms(book="PEU-HEDGE", period="2026-04"))
    trade_book(
        user=trader,
        terms=trade_terms(counterparty="GULFSTAR", market="ice-brent", currency="USD"),
    )
    trade_cancel(user=trader, trade=first, version=1)

    response = _client(trader).get(BLOTTER, params)

    assert response.status_code == 200
    assert _refs(response.text) == expected


@pytest.mark.parametrize("url", [BLOTTER, BLOTTER_CSV])
@pytest.mark.parametrize(
    "params",
    [
        {"book": "GUS-FLOW"},  # another desk's book
        {"desk": "gas-us"},  # another desk
        {"book": "NO-SUCH-BOOK"},
        {"desk": "no-such-desk"},
        {"desk": "power-eu", "book": "GUS-FLOW"},
    ],
)
def test_blotter_filter_by_other_desk_or_missing_book_is_404(
    trader, other_desk_trader, url, params
):
    trade_book(user=other_desk_trader, terms=gas_trade_terms())
    response = _client(trader).get(url, params)
    assert response.status_code == 404
    assert b"T-000001" not in response.content


def test_blotter_filter_by_other_desk_book_is_allowed_to_its_own_desk(other_desk_trader):
    trade_book(user=other_desk_trader, terms=gas_trade_terms())
    client = _client(other_desk_trader)
    assert _refs(client.get(BLOTTER, {"book": "GUS-FLOW"}).text) == ["T-000001"]
    assert [r[0] for r in _csv(client.get(BLOTTER_CSV, {"desk": "gas-us"}))[1:]] == ["T-000001"]


def test_blotter_csv_bad_filter_other_than_scope_is_400(trader):
    response = _client(trader).get(BLOTTER_CSV, {"status": "lost"})
    assert response.status_code == 400
    assert response.text == "The filters are not valid."


def test_blotter_query_count_same_for_1_and_3_trades(trader):
    client = _client(trader)
    client.get(BLOTTER)  # warm the session and the caches

    trade_book(user=trader, terms=trade_terms())
    with CaptureQueriesContext(connection) as one:
        assert _refs(client.get(BLOTTER).text) == ["T-000001"]
    trade_book(user=trader, terms=trade_terms())
    trade_book(user=trader, terms=trade_terms(book="PEU-HEDGE"))
    with CaptureQueriesContext(connection) as three:
        assert len(_refs(client.get(BLOTTER).text)) == 3

    assert len(three) == len(one)
    # session, user, roles, desks, the filter choices, trades, versions, the curves in use
    assert len(one) <= 15


def test_blotter_renders_in_arabic_rtl(trader):
    trader.language = "ar"
    trader.save()
    trade_book(user=trader, terms=trade_terms())
    client = _client(trader)
    client.cookies["django_language"] = "ar"

    response = client.get(BLOTTER, headers={"accept-language": "ar"})

    assert response.status_code == 200
    assert '<html lang="ar" dir="rtl">' in response.text
    assert _refs(response.text) == ["T-000001"]
    assert 'data-version="1"' in response.text


def test_trade_pages_render_in_arabic_rtl(trader):
    trader.language = "ar"
    trader.save()
    trade = trade_book(user=trader, terms=trade_terms()).trade
    client = _client(trader)
    client.cookies["django_language"] = "ar"

    for url in (NEW_TRADE, f"/trading/trades/{trade.pk}/"):
        response = client.get(url, headers={"accept-language": "ar"})
        assert response.status_code == 200
        assert '<html lang="ar" dir="rtl">' in response.text
    detail = client.get(f"/trading/trades/{trade.pk}/", headers={"accept-language": "ar"}).text
    assert "<bdi>10.000000 MWh</bdi>" in detail  # numbers unlocalised, with their unit


def test_home_links_blotter_and_new_trade_for_trader(trader):
    text = _client(trader).get("/").text
    assert 'href="/trading/blotter/"' in text
    assert 'href="/trading/trades/new/"' in text


# --- CSV export ------------------------------------------------------------------------------


def test_blotter_csv_scoped_filtered_and_streamed(trader, other_desk_trader):
    trade_book(user=trader, terms=trade_terms())
    trade_book(user=trader, terms=trade_terms(book="PEU-HEDGE", period="2026-04"))
    trade_book(user=other_desk_trader, terms=gas_trade_terms())

    response = _client(trader).get(BLOTTER_CSV)

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = _csv(response)
    assert rows[0][:3] == ["Trade reference", "Desk", "Book"]
    assert [r[0] for r in rows[1:]] == ["T-000002", "T-000001"]
    assert rows[2] == [
        "T-000001",
        "power-eu",
        "PEU-FLOW",
        "physical_fixed",
        "buy",
        "eex-de-power",
        "2026-03",
        "base",
        "10.000000",
        "7430.000000",
        "MWh",
        "85.500000",
        "EUR",
        "NORDWIND",
        "booked",
        "1",
        "2026-01-15",
    ]
    hedges = _csv(_client(trader).get(BLOTTER_CSV, {"book": "PEU-HEDGE"}))
    assert [r[0] for r in hedges[1:]] == ["T-000002"]
    theirs = _csv(_client(other_desk_trader).get(BLOTTER_CSV))
    assert [r[0] for r in theirs[1:]] == ["T-000003"]


def test_blotter_csv_headers_translated(trader):
    client = _client(trader)
    client.cookies["django_language"] = "ar"
    trader.language = "ar"
    trader.save()
    rows = _csv(client.get(BLOTTER_CSV, headers={"accept-language": "ar"}))
    with translation.override("ar"):
        market, currency = gettext("Market"), gettext("Currency")
    assert market != "Market"  # the catalogue has them
    assert (rows[0][5], rows[0][12]) == (market, currency)


def test_blotter_csv_neutralises_formulas(trader):
    CounterpartyFactory(short_code="=HYPERLINK(1)", legal_name="Formula GmbH")
    trade_book(user=trader, terms=trade_terms(counterparty="=HYPERLINK(1)"))

    rows = _csv(_client(trader).get(BLOTTER_CSV))

    assert rows[1][13] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+41", "'+41"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("NORDWIND", "NORDWIND"),
        (Decimal("-12.50"), "-12.50"),  # a number we produce is a number, negative prices too
        (None, ""),
    ],
)
def test_csv_cell(value, expected):
    assert csv_cell(value) == expected


# --- Trade page ------------------------------------------------------------------------------


def test_trade_detail_shows_terms_versions_and_audit(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    trade_amend(
        user=trader, trade=trade, version=1, changes={"price": Decimal("86")}, reason="typo"
    )

    response = _client(trader).get(f"/trading/trades/{trade.pk}/")

    assert response.status_code == 200
    text = response.text
    assert "Trade <bdi>T-000001</bdi>" in text
    assert "<dd><bdi>86.000000 EUR</bdi></dd>" in text  # the current version's price
    versions = text.split('id="versions-title"')[1].split("</table>")[0]
    assert versions.count("<tr") == 3  # head and two versions
    assert "typo" in versions
    audit = text.split('id="audit-title"')[1].split("</table>")[0]
    actions = list(
        AuditEntry.objects.filter(object_type="trading.trade", object_id=str(trade.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == ["trading.trade_booked", "trading.trade_amended"]
    for action in actions:
        assert f"<code>{action}</code>" in audit


def test_trade_detail_other_desk_is_404_like_missing(trader, other_desk_trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    client = _client(other_desk_trader)

    response = client.get(f"/trading/trades/{trade.pk}/")

    assert response.status_code == 404
    assert "T-000001" not in response.text
    assert client.get("/trading/trades/999999/").status_code == 404
    assert _refs(client.get(BLOTTER).text) == []
    assert _csv(client.get(BLOTTER_CSV))[1:] == []


def test_trade_detail_risk_manager_sees_both_desks(trader, other_desk_trader, risk_manager):
    mine = trade_book(user=trader, terms=trade_terms()).trade
    theirs = trade_book(user=other_desk_trader, terms=gas_trade_terms()).trade
    client = _client(risk_manager)
    assert client.get(f"/trading/trades/{mine.pk}/").status_code == 200
    assert client.get(f"/trading/trades/{theirs.pk}/").status_code == 200


# --- Deal capture ----------------------------------------------------------------------------


def test_deal_capture_books_and_redirects_to_trade(trader):
    client = _client(trader)
    response = client.post(NEW_TRADE, _form())

    trade = Trade.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/trading/trades/{trade.pk}/"
    assert trade.book.code == "PEU-FLOW"
    assert trade.status == TradeStatus.BOOKED
    version = trade.versions.get()
    assert (version.quantity, version.price, version.period_code) == (
        Decimal("10"),
        Decimal("85.50"),
        "2026-03",
    )
    page = client.get(response.headers["Location"]).text
    assert "Trade T-000001 booked." in page


def test_deal_capture_invalid_quantity_is_field_error_and_writes_nothing(trader):
    response = _client(trader).post(NEW_TRADE, _form(quantity="-5"))

    assert response.status_code == 400
    assert Trade.objects.count() == 0
    field = response.text.split('class="field field-quantity"')[1].split("</div>")[0]
    assert "The quantity must be a number greater than zero." in field


def test_deal_capture_unparseable_quantity_is_field_error(trader):
    response = _client(trader).post(NEW_TRADE, _form(quantity="ten"))

    assert response.status_code == 400
    assert Trade.objects.count() == 0
    field = response.text.split('class="field field-quantity"')[1].split("</div>")[0]
    assert "Enter a number in plain digits, such as 1000 or -12.5." in field


def test_deal_capture_blocked_shows_reason_and_leaves_position_unchanged(trader):
    trade_book(user=trader, terms=trade_terms())
    before = position_rows()
    assert before == [("PEU-FLOW", "eex-de-power", date(2026, 3, 1), Decimal("7430"))]

    response = _client(trader).post(NEW_TRADE, _form(counterparty="ALBION"))

    assert response.status_code == 422
    assert Trade.objects.count() == 1
    assert position_rows() == before
    assert "The pre-trade checks blocked this trade. Nothing was booked." in response.text
    assert "The counterparty&#x27;s KYC has expired." in response.text
    assert AuditEntry.objects.filter(action="trading.trade_blocked").count() == 1


def test_deal_capture_blocked_reason_shown_in_arabic(trader):
    trader.language = "ar"
    trader.save()
    client = _client(trader)
    client.cookies["django_language"] = "ar"

    response = client.post(
        NEW_TRADE, _form(counterparty="ALBION"), headers={"accept-language": "ar"}
    )

    assert response.status_code == 422
    with translation.override("ar"):
        reason = gettext("The counterparty's KYC has expired.")
        title = gettext("The pre-trade checks blocked this trade. Nothing was booked.")
    assert reason != "The counterparty's KYC has expired."  # the catalogue has it
    assert '<html lang="ar" dir="rtl">' in response.text
    assert escape(title) in response.text
    assert f"<code>kyc_valid</code> {escape(reason)}</li>" in response.text
    assert Trade.objects.count() == 0


def test_deal_capture_warning_is_shown_after_booking(trader):
    # 700 MW x 743 h x 85.50 EUR = 44,468,550 EUR: 88.94% of NORDWIND's 50,000,000 EUR limit,
    # over the credit rule's 80% warning line and under the limit.
    client = _client(trader)
    response = client.post(NEW_TRADE, _form(quantity="700"))

    assert response.status_code == 302
    trade = Trade.objects.get()
    assert trade.status == TradeStatus.BOOKED
    page = client.get(response.headers["Location"]).text
    messages = page.split('<ul class="messages">')[1].split("</ul>")[0]
    assert '<li class="notice notice-success">Trade T-000001 booked.</li>' in messages
    assert (
        '<li class="notice notice-warning">Pre-trade warning: Credit use would reach 88.94% of '
        "the limit of 50,000,000.00 EUR (warning above 80.00%): exposure 0.00 EUR plus this "
        "trade 44,468,550.00 EUR.</li>"
    ) in messages


def test_amend_page_warning_is_shown_after_saving(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    client = _client(trader)
    form = _form(quantity="700", version="1", reason="bigger")

    response = client.post(f"/trading/trades/{trade.pk}/amend/", form)

    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    messages = page.split('<ul class="messages">')[1].split("</ul>")[0]
    assert "Trade T-000001 amended (version 2)." in messages
    # The amended terms replace the trade's own exposure (not added to it): 44,468,550 EUR.
    assert (
        '<li class="notice notice-warning">Pre-trade warning: Credit use would reach 88.94% of '
        "the limit of 50,000,000.00 EUR (warning above 80.00%): exposure 0.00 EUR plus this "
        "trade 44,468,550.00 EUR.</li>"
    ) in messages


def test_deal_capture_without_warning_shows_none(trader):
    client = _client(trader)
    response = client.post(NEW_TRADE, _form())
    page = client.get(response.headers["Location"]).text
    messages = page.split('<ul class="messages">')[1].split("</ul>")[0]
    assert "Pre-trade warning" not in messages


def _field_errors(text: str, name: str) -> list[str]:
    field = text.split(f'class="field field-{name}"')[1].split("</div>")[0]
    return re.findall(r'<p class="error">([^<]*)</p>', field)


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        (
            {"currency": "USD"},
            "currency",
            "eex-de-power is priced in EUR; give the price in EUR.",
        ),
        (
            {"market": "no-such-market"},
            "market",
            "Select a valid choice. no-such-market is not one of the available choices.",
        ),
        (
            {"counterparty": "NOBODY"},
            "counterparty",
            "Select a valid choice. NOBODY is not one of the available choices.",
        ),
        (
            {"book": "NO-SUCH-BOOK"},
            "book",
            "Select a valid choice. NO-SUCH-BOOK is not one of the available choices.",
        ),
        (
            {"period": "2026-13"},
            "period",
            "Unknown period code; use e.g. 2026-03, 2026-Q2, SUM-2026, CAL-2027.",
        ),
        # The page takes a period code, not dates: dates posted anyway (ending before they
        # start) are not read, and the missing code is the error.
        (
            {"period": "", "delivery_start": "2026-03-10", "delivery_end": "2026-03-01"},
            "period",
            "Give a period code or both delivery dates.",
        ),
    ],
)
def test_deal_capture_bad_input_is_field_error_and_writes_nothing(trader, change, field, error):
    trade_book(user=trader, terms=trade_terms())
    client = _client(trader)  # signing in is audited too: count from here
    before = (position_rows(), AuditEntry.objects.count())

    response = client.post(NEW_TRADE, _form(**change))

    assert response.status_code == 400
    assert _field_errors(response.text, field) == [error]
    assert Trade.objects.count() == 1
    assert (position_rows(), AuditEntry.objects.count()) == before


def test_deal_capture_book_choices_are_own_desks(trader):
    text = _client(trader).get(NEW_TRADE).text
    assert 'value="PEU-FLOW"' in text
    assert 'value="GUS-FLOW"' not in text


def test_deal_capture_other_desk_book_refused(trader):
    response = _client(trader).post(NEW_TRADE, _form(book="GUS-FLOW"))
    assert response.status_code == 400
    assert Trade.objects.count() == 0


def test_deal_capture_forbidden_to_risk_manager_and_field_operator(risk_manager, field_operator):
    assert _client(risk_manager).get(NEW_TRADE).status_code == 403
    assert _client(field_operator).post(NEW_TRADE, _form()).status_code == 403
    assert Trade.objects.count() == 0


def test_deal_capture_fields_partial_follows_deal_type(trader):
    client = _client(trader)
    hx = {"HX-Request": "true"}

    option = client.get(NEW_TRADE, {"deal_type": "option", "quantity": "7"}, headers=hx)
    fixed = client.get(NEW_TRADE, {"deal_type": "physical_fixed"}, headers=hx)
    index = client.get(NEW_TRADE, {"deal_type": "physical_index"}, headers=hx)

    assert option.status_code == 200
    assert option.text.lstrip().startswith('<div id="trade-fields"')
    assert "<html" not in option.text
    assert 'name="strike"' in option.text
    assert 'name="option_type"' in option.text
    assert 'name="expiry_date"' in option.text
    assert 'value="7"' in option.text  # what was typed is kept
    assert 'name="strike"' not in fixed.text
    assert 'name="index_market"' not in fixed.text
    assert 'name="index_market"' in index.text
    assert 'name="strike"' not in index.text


def test_deal_capture_page_wires_htmx_without_inline_script(trader):
    text = _client(trader).get(NEW_TRADE).text
    assert 'hx-get="/trading/trades/new/"' in text
    assert 'hx-target="#trade-fields"' in text
    assert "<script>" not in text
    assert "onchange" not in text


def test_deal_capture_option_without_curve_is_an_error_not_a_500(trader):
    response = _client(trader).post(NEW_TRADE, _option_form())

    assert response.status_code == 400
    assert Trade.objects.count() == 0
    assert "No curve for eex-de-power on 2026-01-15 to compute the option&#x27;s delta." in (
        response.text
    )


def test_deal_capture_books_option(trader):
    market = Market.objects.get(code="eex-de-power")
    snapshot = CurveSnapshot.objects.create(
        market=market, pricing_date=date(2026, 1, 15), revision=1, point_count=1
    )
    CurvePoint.objects.create(
        snapshot=snapshot,
        period="2026-03",
        kind="month",
        start=date(2026, 3, 1),
        end=date(2026, 4, 1),
        price=Decimal("80"),
    )
    MarketVolatility.objects.create(market=market, volatility=Decimal("0.5"))

    response = _client(trader).post(NEW_TRADE, _option_form())

    assert response.status_code == 302
    version = Trade.objects.get().versions.get()
    assert (version.deal_type, version.option_type, version.strike, version.expiry_date) == (
        "option",
        "call",
        Decimal("75"),
        date(2026, 2, 26),
    )


def test_blotter_refused_to_compliance_officer(compliance_officer, verified_client):
    client = verified_client(compliance_officer)
    assert client.get(BLOTTER).status_code == 403
    assert client.get(BLOTTER_CSV).status_code == 403


def test_blotter_for_trader_without_desk_is_empty(trader):
    trade_book(user=trader, terms=trade_terms())
    deskless = UserFactory(roles=[Role.TRADER])
    assert _refs(_client(deskless).get(BLOTTER).text) == []
