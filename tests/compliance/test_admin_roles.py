"""The admin walked as each role, with OTP-verified sessions: what each role sees, that every
change is audited through a service, and four eyes (a change request that a second holder of the
change permission approves) for KYC approvals, pre-trade rules and desk thresholds."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.accounts.regions import region_defaults
from apps.accounts.services import role_groups_ensure, user_save
from apps.compliance.models import AuditEntry, ChangeRequest, PreTradeRule
from apps.trading.models import (
    Book,
    Counterparty,
    DeskTradingPolicy,
    KycStatus,
    Market,
    MarketVolatility,
    TradeStatus,
)
from apps.trading.services import trade_book
from tests.compliance.test_pretrade import rule_form
from tests.conftest import login_verified
from tests.risk.test_support import seeded  # noqa: F401 - a fixture
from tests.trading.factories import CounterpartyFactory, trade_terms

pytestmark = pytest.mark.usefixtures("seeded")

CHANGE_REQUESTS = "/admin/compliance/changerequest/"


def _user(username: str, role: str, desks: tuple = ()) -> User:
    """A user made as the admin makes one (user_save: staff follows the role)."""
    groups = role_groups_ensure()
    return user_save(actor=None, user=User(username=username), groups=[groups[role]], desks=desks)


@pytest.fixture
def officer() -> Client:
    return login_verified(Client(), _user("officer-1", Role.COMPLIANCE_OFFICER))


@pytest.fixture
def second_officer() -> Client:
    return login_verified(Client(), _user("officer-2", Role.COMPLIANCE_OFFICER))


@pytest.fixture
def administrator_client() -> Client:
    return login_verified(Client(), _user("admin-1", Role.ADMINISTRATOR))


@pytest.fixture
def second_administrator() -> Client:
    return login_verified(Client(), _user("admin-2", Role.ADMINISTRATOR))


def _index(client: Client) -> dict[str, list[str]]:
    response = client.get("/admin/")
    assert response.status_code == 200
    return {
        app["app_label"]: sorted(model["object_name"] for model in app["models"])
        for app in response.context["app_list"]
    }


def _actions(**filters: Any) -> list[str]:
    return list(
        AuditEntry.objects.filter(**filters).order_by("seq").values_list("action", flat=True)
    )


def _messages(response: Any) -> list[str]:
    """The messages shown by this page (those of earlier redirected requests first)."""
    return [str(message) for message in response.context["messages"]]


def _decide(client: Client, request: ChangeRequest, button: str, note: str = "") -> Any:
    return client.post(
        reverse("admin:compliance_changerequest_decide", args=[request.pk]),
        {button: "1", "note": note},
        follow=True,
    )


# --- Who sees what -------------------------------------------------------------------------------


def test_admin_index_shows_the_compliance_officer_exactly_its_models(officer):
    assert _index(officer) == {
        "compliance": ["AuditEntry", "ChangeRequest", "PreTradeRule"],
        "trading": ["Counterparty", "MasterAgreement", "Trade"],
    }


def test_admin_index_shows_the_administrator_exactly_its_models(administrator_client):
    assert _index(administrator_client) == {
        "accounts": ["ApiToken", "Desk", "User"],
        "auth": ["Group"],
        "compliance": ["ChangeRequest"],
        "trading": [
            "Book",
            "Commodity",
            "DeskTradingPolicy",
            "HolidayCalendar",
            "HolidayDate",
            "LegalEntity",
            "Market",
            "MarketVolatility",
            "Unit",
            "UnitConversion",
            "VenueContract",
        ],
    }


@pytest.mark.parametrize("role", [Role.TRADER, Role.RISK_MANAGER, Role.FIELD_OPERATOR])
def test_admin_refuses_trader_risk_manager_and_field_operator(role, desk_a):
    user = _user(f"user-{role}", role, desks=(desk_a,))
    assert user.is_staff is False
    client = login_verified(Client(), user)
    for url in ("/admin/", "/admin/trading/book/", CHANGE_REQUESTS):
        response = client.get(url)
        assert (response.status_code, response.headers["Location"]) == (
            302,
            f"/admin/login/?next={url}",
        )


def test_administrator_cannot_change_a_groups_permissions(administrator_client):
    traders = Group.objects.get(name=Role.TRADER)
    before = set(traders.permissions.values_list("codename", flat=True))
    everything = Permission.objects.get(codename="change_counterparty")
    url = f"/admin/auth/group/{traders.pk}/change/"

    assert administrator_client.get(url).status_code == 200  # viewed, read-only
    response = administrator_client.post(
        url, {"name": "trader", "permissions": [str(everything.pk)]}
    )

    assert response.status_code == 403
    assert set(traders.permissions.values_list("codename", flat=True)) == before


# --- KYC: four eyes ------------------------------------------------------------------------------


def _counterparty_form(counterparty: Counterparty, **changes: str) -> dict[str, str]:
    data = {
        "legal_name": counterparty.legal_name,
        "short_code": counterparty.short_code,
        "lei": counterparty.lei,
        "country": counterparty.country,
        "sector": counterparty.sector,
        "kyc_status": counterparty.kyc_status,
        "kyc_expires_on": counterparty.kyc_expires_on.isoformat()
        if counterparty.kyc_expires_on
        else "",
        "credit_limit": str(counterparty.credit_limit),
        "credit_currency": counterparty.credit_currency,
        "internal_entity": "",
        "agreements-TOTAL_FORMS": "0",
        "agreements-INITIAL_FORMS": "0",
        "agreements-MIN_NUM_FORMS": "0",
        "agreements-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


@pytest.fixture
def pending_counterparty() -> Counterparty:
    return CounterpartyFactory(
        short_code="NEWCO", kyc_status=KycStatus.PENDING, kyc_expires_on=None
    )


def test_kyc_approval_by_one_officer_waits_for_and_is_applied_by_another(
    officer, second_officer, pending_counterparty
):
    url = f"/admin/trading/counterparty/{pending_counterparty.pk}/change/"

    response = officer.post(
        url,
        _counterparty_form(
            pending_counterparty, kyc_status="approved", kyc_expires_on="2027-06-30"
        ),
        follow=True,
    )

    assert response.status_code == 200
    (request,) = ChangeRequest.objects.all()
    assert _messages(response)[0] == (
        f"The change to “NEWCO — {pending_counterparty.legal_name}” is awaiting a second "
        f"person's approval (request #{request.pk})."
    )
    pending_counterparty.refresh_from_db()
    assert (pending_counterparty.kyc_status, pending_counterparty.kyc_expires_on) == (
        "pending",
        None,
    )
    assert (request.kind, request.status, request.values) == (
        "trading.counterparty.kyc",
        "pending",
        {"kyc_status": "approved", "kyc_expires_on": "2027-06-30"},
    )

    # The requester cannot approve it: not by the decision form, not by the action.
    page = officer.get(f"{CHANGE_REQUESTS}{request.pk}/change/")
    assert page.context["can_decide"] is False
    refused = _decide(officer, request, "_approve")
    assert _messages(refused) == [
        f"Request #{request.pk}: A second person must decide: you made this request."
    ]
    officer.post(CHANGE_REQUESTS, {"action": "approve_selected", "_selected_action": [request.pk]})
    request.refresh_from_db()
    assert request.status == "pending"

    assert second_officer.get(f"{CHANGE_REQUESTS}{request.pk}/change/").context["can_decide"]
    approved = _decide(second_officer, request, "_approve", note="documents checked")

    assert _messages(approved) == ["1 change approved and applied."]
    pending_counterparty.refresh_from_db()
    assert (pending_counterparty.kyc_status, pending_counterparty.kyc_expires_on) == (
        "approved",
        date(2027, 6, 30),
    )
    request.refresh_from_db()
    assert (request.status, request.decided_by.username, request.note) == (
        "approved",
        "officer-2",
        "documents checked",
    )
    changed = AuditEntry.objects.get(action="trading.counterparty_changed")
    assert changed.actor.username == "officer-2"
    assert changed.payload["changes"] == {
        "kyc_status": {"old": "pending", "new": "approved"},
        "kyc_expires_on": {"old": None, "new": "2027-06-30"},
    }
    assert _actions(object_type="compliance.changerequest") == [
        "compliance.change_requested",
        "compliance.change_approved",
    ]


def test_kyc_moving_away_from_approved_takes_effect_at_once(officer):
    counterparty = CounterpartyFactory(short_code="OLDCO")
    response = officer.post(
        f"/admin/trading/counterparty/{counterparty.pk}/change/",
        _counterparty_form(counterparty, kyc_status="expired"),
    )
    assert response.status_code == 302
    counterparty.refresh_from_db()
    assert counterparty.kyc_status == "expired"
    assert not ChangeRequest.objects.exists()


def test_stale_kyc_request_is_refused_on_approval(officer, second_officer, pending_counterparty):
    url = f"/admin/trading/counterparty/{pending_counterparty.pk}/change/"
    officer.post(
        url,
        _counterparty_form(
            pending_counterparty, kyc_status="approved", kyc_expires_on="2027-06-30"
        ),
    )
    request = ChangeRequest.objects.get()
    pending_counterparty.refresh_from_db()
    # The counterparty changes after the request: what was checked is no longer what is there.
    second_officer.post(url, _counterparty_form(pending_counterparty, credit_limit="2000000.00"))

    response = _decide(second_officer, request, "_approve")

    assert _messages(response)[1:] == [
        f"Request #{request.pk}: NEWCO — {pending_counterparty.legal_name} has changed since "
        "this request was made: reject it and request the change again."
    ]
    pending_counterparty.refresh_from_db()
    assert pending_counterparty.kyc_status == "pending"
    request.refresh_from_db()
    assert request.status == "pending"

    rejected = _decide(second_officer, request, "_reject", note="stale")
    assert _messages(rejected) == ["1 change rejected."]
    request.refresh_from_db()
    assert (request.status, request.note) == ("rejected", "stale")
    assert _actions(action__startswith="compliance.change_") == [
        "compliance.change_requested",
        "compliance.change_rejected",
    ]


# --- Pre-trade rules: four eyes ------------------------------------------------------------------


def test_compliance_officer_adds_a_pretrade_rule_through_four_eyes(officer, second_officer):
    start = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    zone = region_defaults("US").time_zone  # the users' region (the model's default)

    response = officer.post("/admin/compliance/pretraderule/add/", rule_form(start, zone))

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/compliance/pretraderule/"
    assert not PreTradeRule.objects.filter(jurisdiction="UK_FCA").exists()
    request = ChangeRequest.objects.get(kind="compliance.pretraderule.save")
    assert request.object_id == ""

    second_officer.post(
        CHANGE_REQUESTS, {"action": "approve_selected", "_selected_action": [request.pk]}
    )

    rule = PreTradeRule.objects.get(jurisdiction="UK_FCA")
    assert (rule.code, rule.outcome, rule.effective_from, rule.description_en) == (
        "kyc_valid",
        "warn",
        start,
        "KYC, warning only, for the UK",
    )
    added = AuditEntry.objects.get(action="pretrade_rule.added")
    assert (added.actor.username, added.object_id) == ("officer-2", str(rule.pk))


# --- Administrator: reference data audited, desk thresholds with four eyes -----------------------


def test_administrator_edits_a_book_audited_old_to_new(administrator_client):
    book = Book.objects.get(code="PEU-FLOW")
    data = {
        "code": book.code,
        "name": "Power Europe flow (renamed)",
        "desk": str(book.desk_id),
        "legal_entity": str(book.legal_entity_id),
        "currency": book.currency,
    }
    old_name = book.name

    response = administrator_client.post(f"/admin/trading/book/{book.pk}/change/", data)

    assert response.status_code == 302
    book.refresh_from_db()
    assert book.name == "Power Europe flow (renamed)"
    entry = AuditEntry.objects.get(action="trading.book_changed")
    assert (entry.actor.username, entry.object_id) == ("admin-1", str(book.pk))
    assert entry.payload == {
        "object": "PEU-FLOW",
        "changes": {"name": {"old": old_name, "new": "Power Europe flow (renamed)"}},
    }


def test_administrator_book_with_bad_input_gets_form_errors_and_nothing_is_written(
    administrator_client,
):
    book = Book.objects.get(code="PEU-FLOW")
    response = administrator_client.post(
        "/admin/trading/book/add/",
        {"code": "bad code", "name": "", "desk": "999999", "legal_entity": "", "currency": "eu"},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"code", "name", "desk", "legal_entity", "currency"}
    assert Book.objects.exclude(pk=book.pk).filter(name="").count() == 0
    assert not AuditEntry.objects.filter(action__startswith="trading.book_").exists()


def test_administrator_sets_a_volatility_audited(administrator_client):
    market = Market.objects.get(code="henry-hub")
    MarketVolatility.objects.filter(market=market).delete()

    response = administrator_client.post(
        "/admin/trading/marketvolatility/add/",
        {"market": str(market.pk), "volatility": "0.55"},
    )

    assert response.status_code == 302
    assert MarketVolatility.objects.get(market=market).volatility == Decimal("0.55")
    entry = AuditEntry.objects.get(action="trading.marketvolatility_created")
    assert entry.payload["changes"] == {
        "market": {"old": None, "new": market.pk},
        "volatility": {"old": None, "new": "0.550000"},
    }


def test_desk_threshold_is_set_by_a_second_administrator_and_then_holds_trades(
    administrator_client, second_administrator, trader, desk_a
):
    DeskTradingPolicy.objects.filter(desk=desk_a).delete()
    data = {"desk": str(desk_a.pk), "approval_threshold": "500000", "currency": "EUR"}

    response = administrator_client.post("/admin/trading/desktradingpolicy/add/", data)

    assert response.status_code == 302
    assert not DeskTradingPolicy.objects.filter(desk=desk_a).exists()
    request = ChangeRequest.objects.get(kind="trading.desktradingpolicy.save")
    # Not by the one who asked.
    own = _decide(administrator_client, request, "_approve")
    assert _messages(own)[1:] == [
        f"Request #{request.pk}: A second person must decide: you made this request."
    ]
    assert not DeskTradingPolicy.objects.filter(desk=desk_a).exists()

    approved = _decide(second_administrator, request, "_approve")

    assert _messages(approved) == ["1 change approved and applied."]
    policy = DeskTradingPolicy.objects.get(desk=desk_a)
    assert (policy.approval_threshold, policy.currency) == (Decimal("500000.00"), "EUR")
    entry = AuditEntry.objects.get(action="trading.desktradingpolicy_created")
    assert entry.actor.username == "admin-2"
    assert entry.payload["changes"]["approval_threshold"] == {"old": None, "new": "500000.00"}
    # March 2026 at 85.50 EUR/MWh for 10 MW is 635,265 EUR: over the new threshold.
    assert trade_book(user=trader, terms=trade_terms()).status == TradeStatus.PENDING_APPROVAL


def test_desk_threshold_with_bad_input_gets_form_errors_and_no_request(
    administrator_client, desk_a
):
    DeskTradingPolicy.objects.filter(desk=desk_a).delete()
    response = administrator_client.post(
        "/admin/trading/desktradingpolicy/add/",
        {"desk": str(desk_a.pk), "approval_threshold": "-1", "currency": "euro"},
    )
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"approval_threshold", "currency"}
    assert not ChangeRequest.objects.exists()


def test_desk_threshold_removal_waits_for_a_second_administrator(
    administrator_client, second_administrator, desk_a
):
    policy, _ = DeskTradingPolicy.objects.update_or_create(
        desk=desk_a, defaults={"approval_threshold": Decimal("1000000"), "currency": "EUR"}
    )

    response = administrator_client.post(
        f"/admin/trading/desktradingpolicy/{policy.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 302
    assert DeskTradingPolicy.objects.filter(pk=policy.pk).exists()
    request = ChangeRequest.objects.get(kind="trading.desktradingpolicy.delete")
    _decide(second_administrator, request, "_approve")
    assert not DeskTradingPolicy.objects.filter(pk=policy.pk).exists()
    assert _actions(action="trading.desktradingpolicy_deleted") == [
        "trading.desktradingpolicy_deleted"
    ]


def test_compliance_officer_may_not_decide_a_desk_threshold(administrator_client, officer, desk_a):
    DeskTradingPolicy.objects.filter(desk=desk_a).delete()
    administrator_client.post(
        "/admin/trading/desktradingpolicy/add/",
        {"desk": str(desk_a.pk), "approval_threshold": "1", "currency": "EUR"},
    )
    request = ChangeRequest.objects.get()

    response = _decide(officer, request, "_approve")

    assert _messages(response) == [
        f"Request #{request.pk}: You may not decide changes of this kind."
    ]
    assert not DeskTradingPolicy.objects.filter(desk=desk_a).exists()
