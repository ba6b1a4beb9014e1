from datetime import UTC, date, datetime
from decimal import Decimal

import factory
from django.db import connection

from apps.accounts.models import Desk, Jurisdiction
from apps.trading.lei import lei_check_digits
from apps.trading.models import (
    AgreementKind,
    Book,
    Commodity,
    Counterparty,
    DealType,
    DeskTradingPolicy,
    Dimension,
    HolidayCalendar,
    KycStatus,
    LegalEntity,
    Market,
    MasterAgreement,
    Position,
    Sector,
    Side,
    TradeVersion,
    Unit,
)
from apps.trading.services import TradeTerms
from tests.factories import DeskFactory


def make_lei(n: int) -> str:
    """A valid, fictitious LEI (prefix QZ99, used by no issuer)."""
    base = f"QZ9900TEST{n:08d}"
    return base + lei_check_digits(base)


class CommodityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Commodity
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"commodity-{n}")
    name_en = factory.Sequence(lambda n: f"Commodity {n}")


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unit
        django_get_or_create = ("code",)

    code = "MWh"
    name_en = "megawatt hour"
    dimension = Dimension.ENERGY


class HolidayCalendarFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HolidayCalendar
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"calendar-{n}")
    name_en = factory.Sequence(lambda n: f"Calendar {n}")


class MarketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Market
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"market-{n}")
    name_en = factory.Sequence(lambda n: f"Market {n}")
    commodity = factory.SubFactory(CommodityFactory, code="power", name_en="Power")
    time_zone = "Europe/Berlin"
    currency = "EUR"
    quotation_unit = factory.SubFactory(UnitFactory)
    holiday_calendar = factory.SubFactory(HolidayCalendarFactory)
    tick_size = Decimal("0.01")
    lot_size = Decimal("1")


class LegalEntityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LegalEntity
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"entity-{n}")
    name = factory.Sequence(lambda n: f"Entity {n} B.V.")
    lei = factory.Sequence(lambda n: make_lei(50_000 + n))
    country = "NL"
    jurisdiction = Jurisdiction.MIFID_REMIT


class BookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Book
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"BOOK-{n}")
    name = factory.Sequence(lambda n: f"Book {n}")
    currency = "EUR"
    desk = factory.SubFactory(DeskFactory)
    legal_entity = factory.SubFactory(LegalEntityFactory)


class CounterpartyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Counterparty
        django_get_or_create = ("short_code",)

    legal_name = factory.Sequence(lambda n: f"Counterparty {n} GmbH")
    short_code = factory.Sequence(lambda n: f"CP{n:04d}")
    lei = factory.Sequence(make_lei)
    country = "DE"
    sector = Sector.UTILITY
    kyc_status = KycStatus.APPROVED
    kyc_expires_on = date(2027, 12, 31)
    credit_limit = Decimal("1000000.00")
    credit_currency = "EUR"


class MasterAgreementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MasterAgreement

    kind = AgreementKind.EFET
    counterparty = factory.SubFactory(CounterpartyFactory)
    legal_entity = factory.SubFactory(LegalEntityFactory)
    signed_on = date(2024, 1, 15)
    netting = True


# --- Trades ---------------------------------------------------------------------------------------


class DeskTradingPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeskTradingPolicy

    @classmethod
    def _create(
        cls, model_class: type[DeskTradingPolicy], *args: object, **kwargs: object
    ) -> object:
        # The desk's policy set to these values, replacing the seeded desks' own.
        desk = kwargs.pop("desk")
        return model_class.objects.update_or_create(desk=desk, defaults=kwargs)[0]

    desk = factory.SubFactory(DeskFactory)
    approval_threshold = Decimal("1000000.00")
    currency = "EUR"


SEEDED_DESK_CURRENCIES = {"power-eu": "EUR", "gas-us": "USD", "crude-me": "USD"}


def seeded_desk_policies() -> None:
    """A four-eyes threshold for each seeded desk in its books' currency, as a deployment
    configures its desks: without one a desk has settings.DEFAULT_APPROVAL_THRESHOLD (1,000,000
    EUR; with no USD/EUR rate in the test data every USD trade would wait for approval). High
    enough that only a test setting its own threshold (DeskTradingPolicyFactory) sees four eyes."""
    desks = Desk.objects.in_bulk(list(SEEDED_DESK_CURRENCIES), field_name="code")
    for code, desk in desks.items():
        DeskTradingPolicy.objects.get_or_create(
            desk=desk,
            defaults={
                "approval_threshold": Decimal("1000000000.00"),
                "currency": SEEDED_DESK_CURRENCIES[code],
            },
        )


def trade_terms(**overrides: object) -> TradeTerms:
    """A 10 MW base-load EEX power purchase for March 2026 from NORDWIND into PEU-FLOW, at
    85.50 EUR/MWh, traded on 2026-01-15 (the seeded reference data)."""
    values: dict[str, object] = {
        "book": "PEU-FLOW",
        "counterparty": "NORDWIND",
        "deal_type": DealType.PHYSICAL_FIXED,
        "side": Side.BUY,
        "market": "eex-de-power",
        "quantity": Decimal("10"),
        "price": Decimal("85.50"),
        "currency": "EUR",
        "period": "2026-03",
        "trade_date": date(2026, 1, 15),
        "executed_at": datetime(2026, 1, 15, 9, 30, tzinfo=UTC),
    }
    values.update(overrides)
    return TradeTerms(**values)  # type: ignore[arg-type]


def gas_trade_terms(**overrides: object) -> TradeTerms:
    """`trade_terms` for desk B: a Henry Hub purchase from PRAIRIE into GUS-FLOW at 3.25 USD."""
    values: dict[str, object] = {
        "book": "GUS-FLOW",
        "counterparty": "PRAIRIE",
        "market": "henry-hub",
        "currency": "USD",
        "price": Decimal("3.25"),
    }
    values.update(overrides)
    return trade_terms(**values)


def position_rows() -> list[tuple[str, str, date, Decimal]]:
    """Every kept position as (book, market, month, quantity), oldest row first."""
    return list(
        Position.objects.order_by("id").values_list(
            "book__code", "market__code", "month", "quantity"
        )
    )


def trade_versions_dated(created_at: datetime, **lookup: object) -> None:
    """Test set-up only: date the stored trade versions matching `lookup` as if written at
    `created_at` (the services stamp the real time; some cases happen on fixed days).

    Trade versions are append-only: on PostgreSQL a trigger refuses UPDATE (trading migration
    0010). Replica mode skips ordinary triggers for this one statement (the test database's
    user owns it), as tests/compliance/test_audit_chain.py's _tamper does for audit entries."""
    if connection.vendor != "postgresql":
        TradeVersion.objects.filter(**lookup).update(created_at=created_at)
        return
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        TradeVersion.objects.filter(**lookup).update(created_at=created_at)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
