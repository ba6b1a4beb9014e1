"""The trade page's actions: amend (its own page), cancel, approve and reject.

Each form carries the version it acts on; the services' refusals (a stale version, four eyes,
the pre-trade checks, a status that forbids the change) come back as form errors on the page
with nothing written, and another desk's trader meets a 404 on every URL.
"""

import re
from datetime import date
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client

from apps.accounts.live import desk_group
from apps.accounts.models import Role
from apps.compliance.models import AuditEntry
from apps.trading.models import (
    CurvePoint,
    CurveSnapshot,
    Market,
    MarketVolatility,
    Position,
    Trade,
    TradeStatus,
    TradeVersion,
)
from apps.trading.services import trade_amend, trade_book, trade_cancel
from tests.factories import UserFactory
from tests.trading.factories import DeskTradingPolicyFactory, trade_terms

pytestmark = pytest.mark.usefixtures("seeded")

STALE = (
    "This trade has changed since you loaded it (another version was saved). Reload it and try "
    "again."
)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(trade: Trade, action: str = "") -> str:
    return f"/trading/trades/{trade.pk}/" + (f"{action}/" if action else "")


def _amend_form(**overrides) -> dict[str, str]:
    """The amend page's form as it is prefilled for trade_terms(), at version 1."""
    data = {
        "version": "1",
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
        "reason": "",
    }
    data.update(overrides)
    return data


def _form_html(text: str, action: str) -> str:
    """The trade page's form of `action` (cancel, approve, reject)."""
    return text.split(f'class="form trade-action trade-action-{action}"')[1].split("</form>")[0]


def _versions(trade: Trade) -> list[tuple[int, str]]:
    return list(trade.versions.order_by("version").values_list("version", "status"))


@pytest.fixture
def trade(trader) -> Trade:
    return trade_book(user=trader, terms=trade_terms()).trade


@pytest.fixture
def second_trader(desk_a):
    return UserFactory(username="trader2", roles=[Role.TRADER], desks=[desk_a])


@pytest.fixture
def pending(trader, desk_a) -> Trade:
    """A trade over the desk's approval threshold (635,265 EUR over 500,000): pending."""
    DeskTradingPolicyFactory(desk=desk_a, approval_threshold=Decimal("500000"))
    trade = trade_book(user=trader, terms=trade_terms()).trade
    assert trade.status == TradeStatus.PENDING_APPROVAL
    return trade


# --- The trade page offers what the user may do ---------------------------------------------


def test_trade_page_offers_amend_and_cancel_to_desk_trader(trader, trade):
    text = _client(trader).get(_url(trade)).text

    assert f'href="/trading/trades/{trade.pk}/amend/"' in text
    cancel = _form_html(text, "cancel")
    assert 'method="post"' in text.split('class="form trade-action trade-action-cancel"')[0][-200:]
    assert f'action="/trading/trades/{trade.pk}/cancel/"' in text
    assert 'name="csrfmiddlewaretoken"' in cancel
    assert '<input type="hidden" name="version" value="1" id="id_cancel_version">' in cancel
    assert 'name="reason"' in cancel
    assert "trade-action-approve" not in text  # booked: nothing to approve
    assert "<script>" not in text


def test_trade_page_offers_nothing_to_risk_manager_on_booked_trade(risk_manager, trade):
    text = _client(risk_manager).get(_url(trade)).text
    assert 'id="actions"' not in text
    assert "/amend/" not in text


def test_trade_page_offers_approval_to_second_person_only(trader, second_trader, pending):
    own = _client(trader).get(_url(pending)).text
    assert "trade-action-approve" not in own
    assert "someone else must approve or reject it" in own

    other = _client(second_trader).get(_url(pending)).text
    assert '<input type="hidden" name="version" value="1" id="id_approve_version">' in (
        _form_html(other, "approve")
    )
    assert f'action="/trading/trades/{pending.pk}/reject/"' in other


def test_trade_page_offers_nothing_on_cancelled_trade(trader, trade):
    trade_cancel(user=trader, trade=trade, version=1, reason="typo")
    text = _client(trader).get(_url(trade)).text
    assert 'id="actions"' not in text


# --- Amend --------------------------------------------------------------------------------------


def test_amend_page_prefilled_with_current_terms(trader, trade):
    trade_amend(user=trader, trade=trade, version=1, changes={"price": Decimal("86.25")})

    response = _client(trader).get(_url(trade, "amend"))

    assert response.status_code == 200
    text = response.text
    assert "Amend trade <bdi>T-000001</bdi>" in text
    assert '<input type="hidden" name="version" value="2" id="id_version">' in text
    assert 'name="price" value="86.25"' in text
    assert 'name="quantity" value="10"' in text
    assert 'name="period" value="2026-03"' in text
    assert '<option value="NORDWIND" selected>' in text
    assert 'value="PEU-HEDGE"' not in text  # a trade stays in its book
    assert f'hx-get="/trading/trades/{trade.pk}/amend/"' in text
    assert f'action="/trading/trades/{trade.pk}/amend/"' in text


def test_amend_fields_partial_follows_deal_type(trader, trade):
    response = _client(trader).get(
        _url(trade, "amend"),
        {"deal_type": "option", "quantity": "7", "version": "1"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="trade-fields"')
    assert 'name="strike"' in response.text
    assert 'value="7"' in response.text
    assert 'name="version"' not in response.text  # outside the swapped fields


def test_amend_writes_new_version_and_redirects_with_message(trader, trade):
    client = _client(trader)

    response = client.post(_url(trade, "amend"), _amend_form(price="86", reason="typo"))

    assert response.status_code == 302
    assert response.headers["Location"] == _url(trade)
    assert _versions(trade) == [(1, "booked"), (2, "booked")]
    current = trade.versions.get(version=2)
    assert (current.price, current.quantity, current.reason, current.created_by) == (
        Decimal("86"),
        Decimal("10"),
        "typo",
        trader,
    )
    page = client.get(response.headers["Location"]).text
    assert "Trade T-000001 amended (version 2)." in page
    assert AuditEntry.objects.filter(action="trading.trade_amended").count() == 1


def test_amend_pushes_changed_row_to_desk(
    trader, trade, desk_a, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(desk_group(desk_a.pk), channel)

    with django_capture_on_commit_callbacks(execute=True):
        _client(trader).post(_url(trade, "amend"), _amend_form(quantity="12"))

    event = async_to_sync(layer.receive)(channel)
    async_to_sync(layer.group_discard)(desk_group(desk_a.pk), channel)
    assert event["template"] == "live/trade_row.html"
    assert event["context"]["new"] is False  # replaces its row, on any page
    (row,) = event["context"]["trades"]
    assert (row["id"], row["version"], row["quantity"]) == (trade.pk, 2, "12")


def test_amend_stale_version_is_form_error_and_writes_nothing(trader, second_trader, trade):
    client = _client(trader)
    assert 'name="version" value="1"' in client.get(_url(trade, "amend")).text
    # Meanwhile someone else on the desk amends the trade.
    trade_amend(user=second_trader, trade=trade, version=1, changes={"price": Decimal("90")})
    audit_before = AuditEntry.objects.count()

    response = client.post(_url(trade, "amend"), _amend_form(quantity="20"))

    assert response.status_code == 400
    assert STALE.replace("'", "&#x27;") in response.text
    assert TradeVersion.objects.filter(trade=trade).count() == 2
    trade.refresh_from_db()
    assert trade.current_version == 2
    assert trade.versions.get(version=2).quantity == Decimal("10")
    assert AuditEntry.objects.count() == audit_before
    assert 'name="quantity" value="20"' in response.text  # what was typed is kept


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"quantity": "0"}, "quantity", "The quantity must be a number greater than zero."),
        ({"quantity": "ten"}, "quantity", "Enter a number in plain digits, such as 1000 or -12.5."),
        ({"period": "2026-13"}, "period", "Unknown period code; use e.g. 2026-03, 2026-Q2"),
        ({"currency": "USD"}, "currency", "eex-de-power is priced in EUR; give the price in EUR."),
        ({"book": "PEU-HEDGE"}, "book", "Select a valid choice."),
    ],
)
def test_amend_bad_input_is_field_error_and_writes_nothing(
    trader, trade, overrides, field, message
):
    response = _client(trader).post(_url(trade, "amend"), _amend_form(**overrides))

    assert response.status_code == 400
    assert _versions(trade) == [(1, "booked")]
    html = response.text.split(f'class="field field-{field}"')[1].split("</div>")[0]
    assert message in html


def test_amend_without_version_is_form_error(trader, trade):
    data = _amend_form()
    del data["version"]
    response = _client(trader).post(_url(trade, "amend"), data)
    assert response.status_code == 400
    assert "does not say which version of the trade it acts on" in response.text
    assert _versions(trade) == [(1, "booked")]


def test_amend_blocked_by_checks_shows_reason_and_writes_nothing(trader, trade):
    response = _client(trader).post(_url(trade, "amend"), _amend_form(counterparty="ALBION"))

    assert response.status_code == 422
    assert "The pre-trade checks blocked this amendment. Nothing was saved." in response.text
    assert "The counterparty&#x27;s KYC has expired." in response.text
    assert _versions(trade) == [(1, "booked")]
    assert AuditEntry.objects.filter(action="trading.trade_blocked").count() == 1


def test_amend_option_to_fixed_forward_clears_option_terms(trader):
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
    option = trade_terms(
        deal_type="option",
        option_type="call",
        strike=Decimal("75"),
        expiry_date=date(2026, 2, 26),
        price=Decimal("6.20"),
    )
    trade = trade_book(user=trader, terms=option).trade
    client = _client(trader)
    assert 'name="strike" value="75"' in client.get(_url(trade, "amend")).text

    # The option's fields are not on the page once the deal type is a fixed-price forward.
    response = client.post(_url(trade, "amend"), _amend_form(price="85.50"))

    assert response.status_code == 302
    current = trade.versions.get(version=2)
    assert (current.deal_type, current.option_type, current.strike, current.expiry_date) == (
        "physical_fixed",
        "",
        None,
        None,
    )


def test_amend_cancelled_trade_redirects_with_message(trader, trade):
    trade_cancel(user=trader, trade=trade, version=1, reason="typo")
    client = _client(trader)

    response = client.get(_url(trade, "amend"))

    assert response.status_code == 302
    assert "This trade is cancelled: it cannot change any more." in client.get(_url(trade)).text
    posted = client.post(_url(trade, "amend"), _amend_form(version="2"))
    assert posted.status_code == 400
    assert "This trade is cancelled: it cannot change any more." in posted.text
    assert TradeVersion.objects.filter(trade=trade).count() == 2


def test_amend_in_arabic_renders_rtl(trader, trade):
    trader.language = "ar"
    trader.save()
    client = _client(trader)
    client.cookies["django_language"] = "ar"
    response = client.get(_url(trade, "amend"), headers={"accept-language": "ar"})
    assert response.status_code == 200
    assert '<html lang="ar" dir="rtl">' in response.text
    assert 'name="price" value="85.50"' in response.text  # never localised


# --- Cancel -------------------------------------------------------------------------------------


def test_cancel_writes_cancelled_version_and_leaves_positions(trader, trade):
    assert Position.objects.get().quantity == Decimal("7430")
    client = _client(trader)

    response = client.post(_url(trade, "cancel"), {"version": "1", "reason": "wrong month"})

    assert response.status_code == 302
    assert response.headers["Location"] == _url(trade)
    assert _versions(trade) == [(1, "booked"), (2, "cancelled")]
    assert trade.versions.get(version=2).reason == "wrong month"
    assert not Position.objects.exclude(quantity=0).exists()
    assert "Trade T-000001 cancelled." in client.get(_url(trade)).text


def test_cancel_needs_a_reason(trader, trade):
    response = _client(trader).post(_url(trade, "cancel"), {"version": "1", "reason": ""})

    assert response.status_code == 400
    form = _form_html(response.text, "cancel")
    assert "This field is required." in form
    assert _versions(trade) == [(1, "booked")]


def test_cancel_stale_version_is_form_error_and_writes_nothing(trader, second_trader, trade):
    trade_amend(user=second_trader, trade=trade, version=1, changes={"price": Decimal("90")})

    response = _client(trader).post(_url(trade, "cancel"), {"version": "1", "reason": "oops"})

    assert response.status_code == 400
    assert STALE.replace("'", "&#x27;") in _form_html(response.text, "cancel")
    assert _versions(trade) == [(1, "booked"), (2, "booked")]
    # The page shows the trade as it is now: version 2 at 90.
    assert "<dd><bdi>90.000000 EUR</bdi></dd>" in response.text


def test_cancel_get_leads_to_trade_page(trader, trade):
    response = _client(trader).get(_url(trade, "cancel"))
    assert response.status_code == 302
    assert response.headers["Location"] == _url(trade)


# --- Approve and reject (four eyes) -------------------------------------------------------------


def test_approve_by_second_trader_books_trade(trader, second_trader, pending):
    client = _client(second_trader)

    response = client.post(_url(pending, "approve"), {"version": "1", "reason": ""})

    assert response.status_code == 302
    assert _versions(pending) == [(1, "pending_approval"), (2, "booked")]
    assert Position.objects.get().quantity == Decimal("7430")
    assert "Trade T-000001 approved and booked." in client.get(_url(pending)).text


def test_approve_by_risk_manager_as_second_person(risk_manager, pending):
    # The service counts a risk manager who sees the desk as a second person (as the API does).
    response = _client(risk_manager).post(_url(pending, "approve"), {"version": "1"})
    assert response.status_code == 302
    assert _versions(pending)[-1] == (2, "booked")


def test_approve_own_trade_is_four_eyes_form_error(trader, pending):
    response = _client(trader).post(_url(pending, "approve"), {"version": "1", "reason": ""})

    assert response.status_code == 400
    form = _form_html(response.text, "approve")
    assert "Four eyes: someone else must approve your own trade." in form
    assert _versions(pending) == [(1, "pending_approval")]
    assert Position.objects.count() == 0


def test_reject_own_trade_is_four_eyes_form_error(trader, pending):
    response = _client(trader).post(_url(pending, "reject"), {"version": "1", "reason": "no"})
    assert response.status_code == 400
    assert "Four eyes: someone else must approve your own trade." in response.text
    assert _versions(pending) == [(1, "pending_approval")]


def test_approve_stale_version_is_form_error(trader, second_trader, pending):
    trade_amend(user=trader, trade=pending, version=1, changes={"price": Decimal("86")})

    response = _client(second_trader).post(_url(pending, "approve"), {"version": "1"})

    assert response.status_code == 400
    assert STALE.replace("'", "&#x27;") in _form_html(response.text, "approve")
    assert _versions(pending) == [(1, "pending_approval"), (2, "pending_approval")]


def test_approve_blocked_by_checks_shows_reasons(trader, second_trader, pending):
    # The counterparty's KYC ran out after the trade was captured: the approval re-checks.
    pending.counterparty.kyc_expires_on = date(2026, 1, 1)
    pending.counterparty.save()

    response = _client(second_trader).post(_url(pending, "approve"), {"version": "1"})

    assert response.status_code == 422
    form = _form_html(response.text, "approve")
    assert "The pre-trade checks blocked this trade." in form
    assert (
        "<code>kyc_valid</code> The counterparty&#x27;s KYC expired on 2026-01-01, before the "
        "trade date 2026-01-15."
    ) in form
    assert _versions(pending) == [(1, "pending_approval")]


def test_approve_booked_trade_is_form_error(second_trader, trade):
    response = _client(second_trader).post(_url(trade, "approve"), {"version": "1"})
    assert response.status_code == 400
    assert "Only a trade pending approval can be approved or rejected." in response.text
    assert _versions(trade) == [(1, "booked")]


def test_reject_by_second_trader_with_reason(second_trader, pending):
    client = _client(second_trader)

    response = client.post(_url(pending, "reject"), {"version": "1", "reason": "too large"})

    assert response.status_code == 302
    assert _versions(pending) == [(1, "pending_approval"), (2, "rejected")]
    assert pending.versions.get(version=2).reason == "too large"
    assert Position.objects.count() == 0
    assert "Trade T-000001 rejected." in client.get(_url(pending)).text


def test_reject_needs_a_reason(second_trader, pending):
    response = _client(second_trader).post(_url(pending, "reject"), {"version": "1"})
    assert response.status_code == 400
    assert "This field is required." in _form_html(response.text, "reject")
    assert _versions(pending) == [(1, "pending_approval")]


# --- Who may reach these URLs -------------------------------------------------------------------

ACTIONS = ("amend", "cancel", "approve", "reject")


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_other_desk_trader_gets_404_on_every_action(
    trader, other_desk_trader, pending, action, method
):
    client = _client(other_desk_trader)
    data = _amend_form() if action == "amend" else {"version": "1", "reason": "x"}

    response = getattr(client, method)(_url(pending, action), data)

    assert response.status_code == 404
    assert "T-000001" not in response.text
    assert _versions(pending) == [(1, "pending_approval")]


@pytest.mark.parametrize("action", ["amend", "cancel"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_risk_manager_may_not_amend_or_cancel(risk_manager, trade, action, method):
    data = _amend_form() if action == "amend" else {"version": "1", "reason": "x"}
    response = getattr(_client(risk_manager), method)(_url(trade, action), data)
    assert response.status_code == 403
    assert _versions(trade) == [(1, "booked")]


@pytest.mark.parametrize("action", ACTIONS)
def test_field_operator_and_anonymous_refused(field_operator, trade, action):
    assert _client(field_operator).post(_url(trade, action), {"version": "1"}).status_code == 403
    anonymous = Client().post(_url(trade, action), {"version": "1"})
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/accounts/login/")
    assert _versions(trade) == [(1, "booked")]


def test_post_without_csrf_token_is_refused(trader, trade):
    client = Client(enforce_csrf_checks=True)
    client.force_login(trader)
    response = client.post(_url(trade, "cancel"), {"version": "1", "reason": "x"})
    assert response.status_code == 403
    assert _versions(trade) == [(1, "booked")]


def test_trade_page_forms_unique_ids(second_trader, pending):
    text = _client(second_trader).get(_url(pending)).text
    ids = re.findall(r' id="(id_[a-z_]+)"', text)
    assert len(ids) == len(set(ids))
