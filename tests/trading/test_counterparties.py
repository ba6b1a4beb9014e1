from datetime import date
from decimal import Decimal

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.test import RequestFactory
from django.urls import reverse

from apps.trading.lei import lei_check_digits
from apps.trading.models import Counterparty, KycStatus, Sector
from tests.trading.factories import (
    BookFactory,
    CounterpartyFactory,
    LegalEntityFactory,
    MarketFactory,
    MasterAgreementFactory,
    make_lei,
)

VALID_LEI = make_lei(1)
# The same code with its last check digit changed: the MOD 97-10 check fails.
BAD_CHECK_DIGITS = VALID_LEI[:-1] + str((int(VALID_LEI[-1]) + 1) % 10)

LIST_URL = "/api/v1/counterparties/"


def test_counterparty_with_valid_lei_passes_validation(db):
    CounterpartyFactory(lei=VALID_LEI).full_clean()


@pytest.mark.parametrize("lei", [BAD_CHECK_DIGITS, VALID_LEI.lower(), VALID_LEI[:-1], ""])
def test_counterparty_lei_with_bad_check_digits_or_shape_is_a_field_error(db, lei):
    counterparty = CounterpartyFactory.build(lei=lei)
    with pytest.raises(ValidationError) as error:
        counterparty.full_clean()
    assert list(error.value.message_dict) == ["lei"]


def test_counterparty_admin_form_reports_a_bad_lei_on_the_lei_field(administrator):
    request = RequestFactory().get("/admin/trading/counterparty/add/")
    request.user = administrator
    model_admin = admin.site._registry[Counterparty]
    form_class = model_admin.get_form(request)
    data = {
        "legal_name": "Fjord Kraft AS",
        "short_code": "FJORD",
        "lei": BAD_CHECK_DIGITS,
        "country": "NO",
        "sector": Sector.UTILITY,
        "kyc_status": KycStatus.PENDING,
        "credit_limit": "2500000.00",
        "credit_currency": "EUR",
    }
    form = form_class(data=data)
    assert not form.is_valid()
    assert list(form.errors) == ["lei"]
    assert "is not a valid LEI" in form.errors["lei"][0]

    form = form_class(data={**data, "lei": VALID_LEI})
    assert form.is_valid(), form.errors


def test_legal_entity_lei_is_validated(db):
    entity = LegalEntityFactory.build(lei=BAD_CHECK_DIGITS)
    with pytest.raises(ValidationError) as error:
        entity.full_clean()
    assert list(error.value.message_dict) == ["lei"]


@pytest.mark.parametrize("country", ["XX", "de", "DEU", ""])
def test_counterparty_country_must_be_an_iso_3166_alpha_2_code(db, country):
    with pytest.raises(ValidationError) as error:
        CounterpartyFactory.build(country=country).full_clean()
    assert list(error.value.message_dict) == ["country"]


def test_counterparty_credit_limit_must_be_positive(db):
    with pytest.raises(ValidationError) as error:
        CounterpartyFactory.build(credit_limit=Decimal("0")).full_clean()
    assert list(error.value.message_dict) == ["credit_limit"]
    with pytest.raises(IntegrityError):
        CounterpartyFactory(credit_limit=Decimal("-1.00"))


def test_counterparty_approved_kyc_needs_an_expiry_date(db):
    with pytest.raises(ValidationError) as error:
        CounterpartyFactory.build(kyc_expires_on=None).full_clean()
    assert list(error.value.message_dict) == ["kyc_expires_on"]
    with pytest.raises(IntegrityError):
        CounterpartyFactory(kyc_expires_on=None)


def test_counterparty_short_code_is_unique(db):
    Counterparty.objects.create(
        legal_name="A",
        short_code="SAME",
        lei=make_lei(10),
        country="DE",
        sector=Sector.BANK,
        credit_limit=Decimal("1.00"),
        credit_currency="EUR",
    )
    with pytest.raises(IntegrityError):
        Counterparty.objects.create(
            legal_name="B",
            short_code="SAME",
            lei=make_lei(11),
            country="DE",
            sector=Sector.BANK,
            credit_limit=Decimal("1.00"),
            credit_currency="EUR",
        )


def test_counterparty_kyc_is_valid_only_while_approved_and_unexpired(db):
    approved = CounterpartyFactory.build(kyc_expires_on=date(2026, 12, 31))
    assert approved.kyc_valid_on(date(2026, 12, 31))
    assert not approved.kyc_valid_on(date(2027, 1, 1))
    expired = CounterpartyFactory.build(kyc_status=KycStatus.EXPIRED)
    assert not expired.kyc_valid_on(date(2026, 1, 1))


def test_internal_counterparty_has_the_lei_of_its_legal_entity(db):
    entity = LegalEntityFactory()
    counterparty = CounterpartyFactory.build(internal_entity=entity, lei=VALID_LEI)
    with pytest.raises(ValidationError) as error:
        counterparty.full_clean()
    assert list(error.value.message_dict) == ["lei"]
    counterparty.lei = entity.lei
    counterparty.full_clean()
    assert counterparty.is_internal


def test_master_agreement_threshold_needs_its_currency(db):
    agreement = MasterAgreementFactory.build(
        counterparty=CounterpartyFactory(),
        legal_entity=LegalEntityFactory(),
        collateral_threshold=Decimal("1000000.00"),
    )
    with pytest.raises(ValidationError) as error:
        agreement.full_clean()
    assert list(error.value.message_dict) == ["collateral_currency"]
    with pytest.raises(IntegrityError):
        agreement.save()


def test_book_belongs_to_a_desk_and_a_legal_entity(desk_a):
    book = BookFactory(code="PEU-TEST", desk=desk_a)
    assert list(desk_a.books.all()) == [book]
    assert list(book.legal_entity.books.all()) == [book]


def test_seed_creates_an_expired_kyc_and_an_internal_counterparty(seeded):
    expired = Counterparty.objects.get(kyc_status=KycStatus.EXPIRED)
    assert expired.short_code == "ALBION"
    assert not expired.kyc_valid_on(date(2026, 11, 25))
    internal = Counterparty.objects.select_related("internal_entity").filter(
        internal_entity__isnull=False
    )
    # One per legal entity of ours, so that desks of different entities can trade together.
    assert {c.short_code: c.internal_entity.code for c in internal} == {
        "QZ-EU": "qz-eu",
        "QZ-US": "qz-us",
        "QZ-ME": "qz-me",
    }
    for counterparty in internal:
        assert counterparty.lei == counterparty.internal_entity.lei
        assert counterparty.lei[-2:] == lei_check_digits(counterparty.lei[:18])


# --- API -----------------------------------------------------------------------------------


def test_counterparty_api_lists_counterparties_for_a_trader(seeded, trader, verified_client):
    response = verified_client(trader).get(LIST_URL)
    assert response.status_code == 200
    body = response.json()
    assert [row["short_code"] for row in body["results"]] == [
        "ALBION",
        "GULFSTAR",
        "MERIDIAN",
        "NORDWIND",
        "PRAIRIE",
        "QZ-EU",
        "QZ-ME",
        "QZ-US",
    ]
    nordwind = body["results"][3]
    assert nordwind["legal_name"] == "Nordwind Energiehandel GmbH"
    assert nordwind["credit_limit"] == "50000000.00"
    assert nordwind["credit_currency"] == "EUR"
    assert nordwind["kyc_expires_on"] == "2027-12-31"
    assert nordwind["agreements"] == [
        {
            "kind": "efet",
            "legal_entity": "qz-eu",
            "signed_on": "2024-03-15",
            "netting": True,
            "collateral_threshold": "5000000.00",
            "collateral_currency": "EUR",
        }
    ]
    assert body["results"][5]["internal_entity"] == "qz-eu"


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ("kyc_status=expired", ["ALBION"]),
        ("kyc_status=pending", ["MERIDIAN"]),
        ("country=US", ["PRAIRIE", "QZ-US"]),
        ("country=gb", ["ALBION"]),
        ("sector=trading_house", ["GULFSTAR", "MERIDIAN"]),
        ("sector=utility&kyc_status=approved", ["NORDWIND"]),
    ],
)
def test_counterparty_api_filters(seeded, trader, verified_client, query, codes):
    response = verified_client(trader).get(f"{LIST_URL}?{query}")
    assert response.status_code == 200
    assert [row["short_code"] for row in response.json()["results"]] == codes


def test_counterparty_api_refuses_an_unknown_filter_value(seeded, trader, verified_client):
    response = verified_client(trader).get(f"{LIST_URL}?kyc_status=maybe")
    assert response.status_code == 400
    assert "kyc_status" in response.json()


def test_counterparty_api_detail(seeded, trader, verified_client):
    albion = Counterparty.objects.get(short_code="ALBION")
    response = verified_client(trader).get(
        reverse("trading-api:counterparty-detail", args=[albion.pk])
    )
    assert response.status_code == 200
    assert response.json()["kyc_status"] == "expired"
    assert response.json()["lei"] == albion.lei


def test_counterparty_api_detail_of_a_missing_counterparty_is_404(seeded, trader, verified_client):
    response = verified_client(trader).get(f"{LIST_URL}999999/")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("trader", 200),
        ("other_desk_trader", 200),
        ("risk_manager", 200),
        ("compliance_officer", 200),
        ("field_operator", 403),
        ("administrator", 403),
    ],
)
@pytest.mark.parametrize(
    "url", [LIST_URL, "/api/v1/markets/", "/api/v1/markets/henry-hub/", "counterparty-detail"]
)
def test_trading_api_permission_matrix(db, request, verified_client, role, status, url):
    MarketFactory(code="henry-hub")
    counterparty = CounterpartyFactory()
    if url == "counterparty-detail":
        url = reverse("trading-api:counterparty-detail", args=[counterparty.pk])
    user = request.getfixturevalue(role)
    assert verified_client(user).get(url).status_code == status


@pytest.mark.parametrize("url", [LIST_URL, "/api/v1/markets/"])
def test_trading_api_refuses_anonymous_users(db, client, url):
    CounterpartyFactory()
    assert client.get(url).status_code in (401, 403)


def test_counterparty_api_query_count_does_not_grow_with_rows(
    db, trader, verified_client, django_assert_max_num_queries
):
    client = verified_client(trader)
    entity = LegalEntityFactory()
    first = MasterAgreementFactory(legal_entity=entity).counterparty
    with django_assert_max_num_queries(100) as one:
        assert len(client.get(LIST_URL).json()["results"]) == 1
    for _ in range(5):
        counterparty = CounterpartyFactory(internal_entity=None)
        MasterAgreementFactory(counterparty=counterparty, legal_entity=entity)
        MasterAgreementFactory(counterparty=counterparty, legal_entity=LegalEntityFactory())
    assert first.agreements.count() == 1
    with django_assert_max_num_queries(100) as many:
        assert len(client.get(LIST_URL).json()["results"]) == 6
    assert len(many.captured_queries) == len(one.captured_queries)


def test_market_api_lists_markets_with_their_conventions(seeded, trader, verified_client):
    response = verified_client(trader).get("/api/v1/markets/?commodity__code=power")
    assert response.status_code == 200
    assert [row["code"] for row in response.json()["results"]] == ["eex-de-power", "pjm-west"]
    pjm = response.json()["results"][1]
    assert pjm["peak"] == {
        "weekdays": [0, 1, 2, 3, 4],
        "start_hour": 7,
        "end_hour": 23,
        "holiday_calendar": "nerc",
    }
    assert pjm["price_unit"] == "USD/MWh"
    assert pjm["tick_size"] == "0.050000"


def test_market_api_detail_gives_the_arabic_name_in_arabic(seeded, trader, verified_client):
    trader.language = "ar"
    trader.save(update_fields=["language"])
    body = verified_client(trader).get("/api/v1/markets/henry-hub/").json()
    assert body["name"] == "الغاز الطبيعي - هنري هب"
    assert body["expiry_rule"] == {"kind": "nth_last_business_day", "n": 3, "months_before": 1}
    assert body["day_start_hour"] == 9
    assert body["peak"] is None
