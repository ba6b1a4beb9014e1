"""Reference data kept in the admin by an administrator (the role, not a superuser): every add,
change and inline row goes through `compliance.services.record_save`, audited old → new in the
save's transaction; a refused form writes neither the row nor an entry."""

from datetime import date
from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import Role, User
from apps.accounts.services import role_groups_ensure, user_save
from apps.compliance.audit import audit_verify
from apps.compliance.models import AuditEntry
from apps.trading.models import (
    Commodity,
    Counterparty,
    HolidayCalendar,
    LegalEntity,
    MasterAgreement,
    Unit,
    UnitConversion,
)
from tests.conftest import login_verified
from tests.trading.factories import CounterpartyFactory, LegalEntityFactory, make_lei

pytestmark = pytest.mark.django_db


def _client(role: str, username: str) -> Client:
    groups = role_groups_ensure()
    user = user_save(actor=None, user=User(username=username), groups=[groups[role]])
    return login_verified(Client(), user)


@pytest.fixture
def admin_role() -> Client:
    return _client(Role.ADMINISTRATOR, "admin-role")


def _entry(action: str) -> AuditEntry:
    (entry,) = AuditEntry.objects.filter(action=action)
    return entry


def test_commodity_add_then_change_are_audited_with_both_languages(admin_role):
    response = admin_role.post(
        "/admin/trading/commodity/add/", {"code": "lng", "name_en": "LNG", "name_ar": ""}
    )
    assert response.status_code == 302
    commodity = Commodity.objects.get(code="lng")
    created = _entry("trading.commodity_created")
    assert (created.actor.username, created.object_id) == ("admin-role", str(commodity.pk))
    assert created.payload == {
        "object": "LNG",
        "changes": {
            "code": {"old": None, "new": "lng"},
            "name_en": {"old": None, "new": "LNG"},
            "name_ar": {"old": None, "new": None},  # an empty translation is stored as NULL
        },
    }

    admin_role.post(
        f"/admin/trading/commodity/{commodity.pk}/change/",
        {"code": "lng", "name_en": "LNG", "name_ar": "غاز طبيعي مسال"},
    )

    assert _entry("trading.commodity_changed").payload["changes"] == {
        "name_ar": {"old": None, "new": "غاز طبيعي مسال"}
    }
    assert audit_verify().ok


def test_unit_conversion_is_audited_with_the_factor_as_stored(admin_role):
    mwh = Unit.objects.create(code="MWh", name="megawatt hour", dimension="energy")
    gj = Unit.objects.create(code="GJ", name="gigajoule", dimension="energy")

    response = admin_role.post(
        "/admin/trading/unitconversion/add/",
        {"from_unit": str(mwh.pk), "to_unit": str(gj.pk), "factor": "3.6", "commodity": ""},
    )

    assert response.status_code == 302
    conversion = UnitConversion.objects.get()
    assert _entry("trading.unitconversion_created").payload == {
        "object": str(conversion),
        "changes": {
            "from_unit": {"old": None, "new": mwh.pk},
            "to_unit": {"old": None, "new": gj.pk},
            "factor": {"old": None, "new": "3.600000000000"},
            "commodity": {"old": None, "new": None},
        },
    }


def test_unit_conversion_across_dimensions_without_commodity_is_refused_unwritten(admin_role):
    mwh = Unit.objects.create(code="MWh", name="megawatt hour", dimension="energy")
    bbl = Unit.objects.create(code="bbl", name="barrel", dimension="volume")

    response = admin_role.post(
        "/admin/trading/unitconversion/add/",
        {"from_unit": str(bbl.pk), "to_unit": str(mwh.pk), "factor": "1.7", "commodity": ""},
    )

    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"commodity"}
    assert not UnitConversion.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="trading.unitconversion").exists()


def test_legal_entity_with_a_bad_lei_is_refused_unwritten(admin_role):
    response = admin_role.post(
        "/admin/trading/legalentity/add/",
        {
            "code": "qz-de",
            "name": "Qenergyz DE",
            "lei": "NOTALEI",
            "country": "XX",
            "jurisdiction": "EU_MIFID_REMIT",
        },
    )
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"lei", "country"}
    assert not LegalEntity.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="trading.").exists()


def test_holiday_calendar_and_its_inline_dates_are_audited(admin_role):
    data = {
        "code": "xmas",
        "name_en": "Christmas only",
        "name_ar": "",
        "source": "",
        "dates-TOTAL_FORMS": "1",
        "dates-INITIAL_FORMS": "0",
        "dates-MIN_NUM_FORMS": "0",
        "dates-MAX_NUM_FORMS": "1000",
        "dates-0-date": "2026-12-25",
        "dates-0-name_en": "Christmas Day",
        "dates-0-name_ar": "",
    }

    response = admin_role.post("/admin/trading/holidaycalendar/add/", data)

    assert response.status_code == 302
    calendar = HolidayCalendar.objects.get(code="xmas")
    assert list(calendar.dates.values_list("date", flat=True)) == [date(2026, 12, 25)]
    trading_entries = AuditEntry.objects.filter(action__startswith="trading.").order_by("seq")
    assert list(trading_entries.values_list("action", "payload__object")) == [
        ("trading.holidaycalendar_created", "Christmas only"),
        ("trading.holidaydate_created", "2026-12-25 Christmas Day"),
    ]


def test_compliance_officer_adds_a_master_agreement_inline_audited(desk_a):
    officer = _client(Role.COMPLIANCE_OFFICER, "officer")
    counterparty = CounterpartyFactory(short_code="NORDWIND", lei=make_lei(7100))
    entity = LegalEntityFactory(code="qz-nl")
    data: dict[str, Any] = {
        "legal_name": counterparty.legal_name,
        "short_code": counterparty.short_code,
        "lei": counterparty.lei,
        "country": counterparty.country,
        "sector": counterparty.sector,
        "kyc_status": counterparty.kyc_status,
        "kyc_expires_on": counterparty.kyc_expires_on.isoformat(),
        "credit_limit": str(counterparty.credit_limit),
        "credit_currency": counterparty.credit_currency,
        "internal_entity": "",
        "agreements-TOTAL_FORMS": "1",
        "agreements-INITIAL_FORMS": "0",
        "agreements-MIN_NUM_FORMS": "0",
        "agreements-MAX_NUM_FORMS": "1000",
        "agreements-0-kind": "efet",
        "agreements-0-legal_entity": str(entity.pk),
        "agreements-0-signed_on": "2026-01-15",
        "agreements-0-netting": "on",
        "agreements-0-collateral_threshold": "",
        "agreements-0-collateral_currency": "",
    }

    response = officer.post(f"/admin/trading/counterparty/{counterparty.pk}/change/", data)

    assert response.status_code == 302
    agreement = MasterAgreement.objects.get(counterparty=counterparty)
    entry = _entry("trading.masteragreement_created")
    assert (entry.actor.username, entry.object_id) == ("officer", str(agreement.pk))
    assert entry.payload["changes"]["signed_on"] == {"old": None, "new": "2026-01-15"}
    # Nothing else of the counterparty changed: its own save wrote no entry.
    assert not AuditEntry.objects.filter(action__startswith="trading.counterparty_").exists()
    assert Counterparty.objects.get(pk=counterparty.pk).kyc_status == "approved"


def test_calendar_reload_from_its_source_is_audited(admin_role):
    calendar = HolidayCalendar.objects.create(code="nyse", name="NYSE", source="XNYS")

    response = admin_role.post(
        "/admin/trading/holidaycalendar/",
        {"action": "reload_from_source", "_selected_action": [calendar.pk]},
    )

    assert response.status_code == 302
    entry = _entry("trading.holidaycalendar_reloaded")
    assert entry.payload["code"] == "nyse"
    assert entry.payload["loaded"] == calendar.dates.count() > 0
