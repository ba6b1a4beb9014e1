"""Counterparties' KYC and credit terms kept in the admin: every save is audited, old → new, in
the transaction of the save (services.counterparty_save)."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError

from apps.compliance.audit import audit_verify
from apps.compliance.models import AuditEntry, ChangeRequest
from apps.trading.models import Counterparty, KycStatus
from apps.trading.services import counterparty_save
from tests.trading.factories import CounterpartyFactory, LegalEntityFactory, make_lei

ADD = "/admin/trading/counterparty/add/"


def _change(counterparty: Counterparty) -> str:
    return f"/admin/trading/counterparty/{counterparty.pk}/change/"


def _form(counterparty: Counterparty | None = None, **overrides: object) -> dict[str, object]:
    """The admin's change form as it is filled for `counterparty`, with `overrides`."""
    data: dict[str, object] = {
        "legal_name": "Nordwind Energie GmbH",
        "short_code": "NORDWIND",
        "lei": make_lei(7001),
        "country": "DE",
        "sector": "utility",
        "kyc_status": "approved",
        "kyc_expires_on": "2027-12-31",
        "credit_limit": "1000000.00",
        "credit_currency": "EUR",
        "internal_entity": "",
        # The master agreements inline: none.
        "agreements-TOTAL_FORMS": "0",
        "agreements-INITIAL_FORMS": "0",
        "agreements-MIN_NUM_FORMS": "0",
        "agreements-MAX_NUM_FORMS": "1000",
    }
    if counterparty is not None:
        data.update(
            legal_name=counterparty.legal_name,
            short_code=counterparty.short_code,
            lei=counterparty.lei,
            country=counterparty.country,
            sector=counterparty.sector,
            kyc_status=counterparty.kyc_status,
            kyc_expires_on=counterparty.kyc_expires_on.isoformat(),
            credit_limit=str(counterparty.credit_limit),
            credit_currency=counterparty.credit_currency,
        )
    data.update(overrides)
    return data


@pytest.fixture
def counterparty() -> Counterparty:
    return CounterpartyFactory(
        short_code="NORDWIND",
        legal_name="Nordwind Energie GmbH",
        kyc_status=KycStatus.APPROVED,
        kyc_expires_on=date(2026, 6, 30),
        credit_limit=Decimal("1000000.00"),
    )


def _entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action__startswith="trading.counterparty_"))


def test_admin_kyc_and_credit_edit_writes_one_audit_entry_with_diff(
    administrator, verified_client, counterparty
):
    client = verified_client(administrator)

    response = client.post(
        _change(counterparty),
        _form(
            counterparty,
            kyc_status="expired",
            kyc_expires_on="2026-03-31",
            credit_limit="2500000",
        ),
    )

    assert response.status_code == 302
    counterparty.refresh_from_db()
    assert (counterparty.kyc_status, counterparty.credit_limit) == ("expired", Decimal("2500000"))
    (entry,) = _entries()
    assert entry.action == "trading.counterparty_changed"
    assert entry.actor == administrator
    assert (entry.object_type, entry.object_id) == ("trading.counterparty", str(counterparty.pk))
    assert entry.payload == {
        "short_code": "NORDWIND",
        "changes": {
            "kyc_status": {"old": "approved", "new": "expired"},
            "kyc_expires_on": {"old": "2026-06-30", "new": "2026-03-31"},
            "credit_limit": {"old": "1000000.00", "new": "2500000.00"},
        },
    }
    assert audit_verify().ok


def test_admin_create_writes_one_audit_entry_with_every_term(administrator, verified_client):
    entity = LegalEntityFactory(code="qz-nl")
    client = verified_client(administrator)

    response = client.post(
        ADD, _form(internal_entity=str(entity.pk), sector="internal", lei=entity.lei)
    )

    assert response.status_code == 302
    counterparty = Counterparty.objects.get(short_code="NORDWIND")
    (entry,) = _entries()
    assert entry.action == "trading.counterparty_created"
    assert entry.object_id == str(counterparty.pk)
    changes = entry.payload["changes"]
    # The KYC approval waits for a second person: the counterparty is created pending.
    assert changes["kyc_status"] == {"old": None, "new": "pending"}
    assert changes["kyc_expires_on"] == {"old": None, "new": None}
    (request,) = ChangeRequest.objects.all()
    assert (request.kind, request.object_id, request.status) == (
        "trading.counterparty.kyc",
        str(counterparty.pk),
        "pending",
    )
    assert request.values == {"kyc_status": "approved", "kyc_expires_on": "2027-12-31"}
    assert changes["credit_limit"] == {"old": None, "new": "1000000.00"}
    assert changes["internal_entity"] == {"old": None, "new": "qz-nl"}
    assert set(changes) == {
        "legal_name",
        "short_code",
        "lei",
        "country",
        "sector",
        "kyc_status",
        "kyc_expires_on",
        "credit_limit",
        "credit_currency",
        "internal_entity",
    }


def test_admin_save_without_change_writes_no_entry(administrator, verified_client, counterparty):
    response = verified_client(administrator).post(_change(counterparty), _form(counterparty))
    assert response.status_code == 302
    assert _entries() == []


def test_admin_refused_save_writes_nothing(administrator, verified_client, counterparty):
    # An approved KYC needs its expiry date: the form refuses, nothing is saved or audited.
    response = verified_client(administrator).post(
        _change(counterparty), _form(counterparty, kyc_expires_on="", credit_limit="5")
    )

    assert response.status_code == 200
    assert "An approved KYC needs the date it expires." in response.text
    counterparty.refresh_from_db()
    assert counterparty.credit_limit == Decimal("1000000.00")
    assert _entries() == []


def test_failing_save_writes_no_entry(administrator, counterparty):
    # Past the form's checks (as a race or a direct call could be), the database refuses a credit
    # limit of zero: the save and its audit entry go together, so no entry is left either.
    counterparty.credit_limit = Decimal("0")

    with pytest.raises(IntegrityError):
        counterparty_save(user=administrator, counterparty=counterparty)

    assert _entries() == []
    assert Counterparty.objects.get(pk=counterparty.pk).credit_limit == Decimal("1000000.00")


def test_counterparty_admin_refused_to_unverified_administrator(administrator, counterparty):
    from django.test import Client

    client = Client()
    client.force_login(administrator)  # no second factor yet
    response = client.post(_change(counterparty), _form(counterparty, kyc_status="expired"))
    assert response.status_code == 302
    counterparty.refresh_from_db()
    assert counterparty.kyc_status == "approved"
    assert _entries() == []
