"""Create the demo reference data: commodities, units, conversions, holiday calendars, markets,
our legal entities (each also an internal counterparty, for the internal venue's crosses), books
per demo desk, a handful of fictitious counterparties, and the internal venue's contracts for the
next months that still trade.

Idempotent: every row is found by its natural key and updated, so running it again changes
nothing and duplicates nothing. The LEIs are made up (prefix QZ99, which no LEI issuer uses), with
valid check digits; none belongs to a real company.
"""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Desk, Jurisdiction, Region
from apps.trading.calendars import holiday_calendar_load
from apps.trading.lei import lei_check_digits
from apps.trading.models import (
    AgreementKind,
    Book,
    Commodity,
    Counterparty,
    Dimension,
    HolidayCalendar,
    HolidaySource,
    KycStatus,
    LegalEntity,
    Market,
    MasterAgreement,
    Sector,
    Unit,
    UnitConversion,
)
from apps.trading.venue import contract_last_trading_at, contract_open

COMMODITIES = [
    ("power", "Power", "الكهرباء"),
    ("natural-gas", "Natural gas", "الغاز الطبيعي"),
    ("crude-oil", "Crude oil", "النفط الخام"),
    ("refined-products", "Refined products", "المنتجات النفطية المكررة"),
    ("lng", "LNG", "الغاز الطبيعي المسال"),
    ("emissions", "Emissions", "الانبعاثات"),
]

UNITS = [
    ("MWh", "megawatt hour", "ميغاواط ساعة", Dimension.ENERGY),
    ("MMBtu", "million British thermal units", "مليون وحدة حرارية بريطانية", Dimension.ENERGY),
    ("therm", "therm", "ثيرم", Dimension.ENERGY),
    ("GJ", "gigajoule", "غيغاجول", Dimension.ENERGY),
    ("bbl", "barrel", "برميل", Dimension.VOLUME),
    ("t", "metric tonne", "طن متري", Dimension.MASS),
    ("tCO2e", "tonne of CO2 equivalent", "طن مكافئ ثاني أكسيد الكربون", Dimension.EMISSIONS),
]

# (from, to, factor, commodity or None). One factor per pair of units: the inverse and chains
# are derived (GJ -> MMBtu goes through MWh), so no two paths can disagree.
CONVERSIONS = [
    # 1 MWh = 3.6 GJ; 1 Btu (IT) = 1055.05585262 J, so 1 MWh = 3.412141633 MMBtu.
    ("MWh", "MMBtu", "3.412141633", None),
    ("MWh", "GJ", "3.6", None),
    ("therm", "MMBtu", "0.1", None),  # 1 therm = 100,000 Btu (the NBP therm)
    # Heat content by commodity (EIA's conventional figures): they hold only for that commodity.
    ("bbl", "MMBtu", "5.8", "crude-oil"),
    ("t", "MMBtu", "52", "lng"),  # typical; a cargo's own gross heating value replaces it
]

CALENDARS = [
    ("nymex", "NYMEX (NYSE holidays)", "تقويم نايمكس (عطلات بورصة نيويورك)", HolidaySource.NYSE),
    ("nerc", "NERC holidays", "عطلات NERC", HolidaySource.NERC),
    (
        "ice-europe",
        "ICE Futures Europe",
        "تقويم بورصة ICE للعقود الآجلة في أوروبا",
        HolidaySource.ICE_FUTURES_EUROPE,
    ),
    ("target", "ECB TARGET2", "تقويم TARGET2 للبنك المركزي الأوروبي", HolidaySource.ECB_TARGET),
    (
        "uk-england",
        "UK bank holidays (England)",
        "العطلات المصرفية في المملكة المتحدة (إنجلترا)",
        HolidaySource.ENGLAND,
    ),
    (
        "uae",
        "United Arab Emirates",
        "العطلات الرسمية في الإمارات العربية المتحدة",
        HolidaySource.UAE,
    ),
]

WEEKDAYS = [0, 1, 2, 3, 4]

MARKETS: list[dict[str, Any]] = [
    {
        "code": "eex-de-power",
        "name_en": "EEX German power (Phelix DE)",
        "name_ar": "الكهرباء الألمانية (EEX فيليكس)",
        "commodity": "power",
        "time_zone": "Europe/Berlin",
        "currency": "EUR",
        "unit": "MWh",
        "calendar": "target",
        # EU peak: 08-20 on weekdays, holidays included (EEX's Phelix peak counts them).
        "peak": (WEEKDAYS, 8, 20, None),
        "expiry_rule": {"kind": "last_business_day", "months_before": 1},
        "tick_size": "0.01",
        "lot_size": "1",
    },
    {
        "code": "ttf",
        "name_en": "TTF natural gas",
        "name_ar": "الغاز الطبيعي TTF (هولندا)",
        "commodity": "natural-gas",
        "time_zone": "Europe/Amsterdam",
        "currency": "EUR",
        "unit": "MWh",
        "calendar": "target",
        "day_start_hour": 6,  # the EU gas day, 06:00-06:00 local
        "expiry_rule": {"kind": "nth_last_business_day", "n": 2, "months_before": 1},
        "tick_size": "0.005",
        "lot_size": "1",
    },
    {
        "code": "nbp",
        "name_en": "NBP natural gas",
        "name_ar": "الغاز الطبيعي NBP (بريطانيا)",
        "commodity": "natural-gas",
        "time_zone": "Europe/London",
        "currency": "GBP",
        "quote_scale": "0.01",  # quoted in pence per therm
        "unit": "therm",
        "calendar": "uk-england",
        # The UK gas day runs 05:00-05:00 UK time, i.e. 06:00 CET like the EU gas day.
        "day_start_hour": 5,
        "expiry_rule": {"kind": "nth_last_business_day", "n": 2, "months_before": 1},
        "tick_size": "0.01",
        "lot_size": "1000",
    },
    {
        "code": "henry-hub",
        "name_en": "Henry Hub natural gas",
        "name_ar": "الغاز الطبيعي - هنري هب",
        "commodity": "natural-gas",
        "time_zone": "America/Chicago",
        "currency": "USD",
        "unit": "MMBtu",
        "calendar": "nymex",
        "day_start_hour": 9,  # the US gas day, from 09:00 Central
        "day_start_zone": "America/Chicago",
        # NYMEX NG: trading ends three business days before the first day of delivery.
        "expiry_rule": {"kind": "nth_last_business_day", "n": 3, "months_before": 1},
        "tick_size": "0.001",
        "lot_size": "10000",
    },
    {
        "code": "pjm-west",
        "name_en": "PJM Western Hub power",
        "name_ar": "الكهرباء - المحور الغربي لشبكة PJM",
        "commodity": "power",
        "time_zone": "America/New_York",
        "currency": "USD",
        "unit": "MWh",
        "calendar": "nymex",
        # US 5x16: 07-23 on weekdays, NERC holidays off-peak.
        "peak": (WEEKDAYS, 7, 23, "nerc"),
        "expiry_rule": {"kind": "last_business_day", "months_before": 1},
        "tick_size": "0.05",
        "lot_size": "1",
    },
    {
        "code": "ice-brent",
        "name_en": "ICE Brent crude",
        "name_ar": "خام برنت (ICE)",
        "commodity": "crude-oil",
        "time_zone": "Europe/London",
        "currency": "USD",
        "unit": "bbl",
        "calendar": "ice-europe",
        # The last business day of the second month before delivery.
        "expiry_rule": {"kind": "last_business_day", "months_before": 2},
        "tick_size": "0.01",
        "lot_size": "1000",
    },
    {
        "code": "nymex-wti",
        "name_en": "NYMEX WTI crude",
        "name_ar": "خام غرب تكساس الوسيط (نايمكس)",
        "commodity": "crude-oil",
        "time_zone": "America/New_York",
        "currency": "USD",
        "unit": "bbl",
        "calendar": "nymex",
        # Three business days before the 25th of the month before delivery.
        "expiry_rule": {
            "kind": "business_days_before_day",
            "day": 25,
            "n": 3,
            "months_before": 1,
        },
        "tick_size": "0.01",
        "lot_size": "1000",
    },
    {
        "code": "dme-oman",
        "name_en": "DME Oman crude",
        "name_ar": "خام عُمان (بورصة دبي للطاقة)",
        "commodity": "crude-oil",
        "time_zone": "Asia/Dubai",
        "currency": "USD",
        "unit": "bbl",
        "calendar": "uae",
        "expiry_rule": {"kind": "last_business_day", "months_before": 2},
        "tick_size": "0.01",
        "lot_size": "1000",
    },
    {
        "code": "dubai-crude",
        "name_en": "Dubai crude swap",
        "name_ar": "مبادلة خام دبي",
        "commodity": "crude-oil",
        "time_zone": "Asia/Dubai",
        "currency": "USD",
        "unit": "bbl",
        "calendar": "uae",
        # Priced over its own month: the last pricing day is that month's last business day.
        "expiry_rule": {"kind": "last_business_day", "months_before": 0},
        "tick_size": "0.01",
        "lot_size": "1000",
    },
    {
        "code": "eua",
        "name_en": "EU ETS allowances (EUA)",
        "name_ar": "حصص الانبعاثات الأوروبية (EUA)",
        "commodity": "emissions",
        "time_zone": "Europe/Berlin",
        "currency": "EUR",
        "unit": "tCO2e",
        "calendar": "target",
        # December futures expire on the last Monday of their month, a rule periods does not
        # know (yet): no expiry rule rather than a wrong one.
        "expiry_rule": None,
        "tick_size": "0.01",
        "lot_size": "1000",
    },
]

DESKS = [
    ("power-eu", "Power Europe", Region.EU),
    ("gas-us", "Gas US", Region.US),
    ("crude-me", "Crude Middle East", Region.MIDDLE_EAST),
]


def fictitious_lei(base: str) -> str:
    return base + lei_check_digits(base)


LEGAL_ENTITIES = [
    ("qz-eu", "Qenergyz Trading Europe B.V.", "QZ9900QENERGYZEU01", "NL", Jurisdiction.MIFID_REMIT),
    ("qz-us", "Qenergyz Energy Marketing LLC", "QZ9900QENERGYZUS01", "US", Jurisdiction.CFTC),
    ("qz-me", "Qenergyz Middle East DMCC", "QZ9900QENERGYZME01", "AE", Jurisdiction.SHARIA),
]

BOOKS = [
    ("PEU-FLOW", "Power Europe flow", "power-eu", "qz-eu", "EUR"),
    ("PEU-HEDGE", "Power Europe hedges", "power-eu", "qz-eu", "EUR"),
    ("GUS-FLOW", "Gas US flow", "gas-us", "qz-us", "USD"),
    ("GUS-HEDGE", "Gas US hedges", "gas-us", "qz-us", "USD"),
    ("CME-PHYS", "Crude Middle East physical", "crude-me", "qz-me", "USD"),
    ("CME-PAPER", "Crude Middle East paper", "crude-me", "qz-me", "USD"),
]

# (short code, legal name, LEI base, country, sector, KYC, KYC expiry, credit limit, currency,
#  internal entity)
COUNTERPARTIES = [
    (
        "NORDWIND",
        "Nordwind Energiehandel GmbH",
        "QZ9900NORDWINDDE01",
        "DE",
        Sector.UTILITY,
        KycStatus.APPROVED,
        date(2027, 12, 31),
        "50000000.00",
        "EUR",
        None,
    ),
    (
        "GULFSTAR",
        "Gulf Star Petroleum Trading FZE",
        "QZ9900GULFSTARAE01",
        "AE",
        Sector.TRADING_HOUSE,
        KycStatus.APPROVED,
        date(2027, 9, 30),
        "100000000.00",
        "USD",
        None,
    ),
    (
        "PRAIRIE",
        "Lone Prairie Gas Marketing LLC",
        "QZ9900PRAIRIEUS001",
        "US",
        Sector.PRODUCER,
        KycStatus.APPROVED,
        date(2027, 3, 31),
        "25000000.00",
        "USD",
        None,
    ),
    (
        "ALBION",
        "Albion Power Supply Ltd",
        "QZ9900ALBIONGB0001",
        "GB",
        Sector.UTILITY,
        KycStatus.EXPIRED,
        date(2026, 6, 30),
        "10000000.00",
        "GBP",
        None,
    ),
    (
        "MERIDIAN",
        "Meridian Commodities SA",
        "QZ9900MERIDIANCH01",
        "CH",
        Sector.TRADING_HOUSE,
        KycStatus.PENDING,
        None,
        "5000000.00",
        "USD",
        None,
    ),
    (
        "QZ-EU",
        "Qenergyz Trading Europe B.V.",
        "QZ9900QENERGYZEU01",
        "NL",
        Sector.INTERNAL,
        KycStatus.APPROVED,
        date(2030, 12, 31),
        "250000000.00",
        "EUR",
        "qz-eu",
    ),
    (
        "QZ-US",
        "Qenergyz Energy Marketing LLC",
        "QZ9900QENERGYZUS01",
        "US",
        Sector.INTERNAL,
        KycStatus.APPROVED,
        date(2030, 12, 31),
        "250000000.00",
        "USD",
        "qz-us",
    ),
    (
        "QZ-ME",
        "Qenergyz Middle East DMCC",
        "QZ9900QENERGYZME01",
        "AE",
        Sector.INTERNAL,
        KycStatus.APPROVED,
        date(2030, 12, 31),
        "250000000.00",
        "USD",
        "qz-me",
    ),
]

# The internal venue's markets: contracts for the next VENUE_MONTHS delivery months that still
# trade (by each market's expiry rule) are opened when this runs.
VENUE_MARKETS = ["eex-de-power", "ttf", "henry-hub", "ice-brent"]
VENUE_MONTHS = 3

# (counterparty, our entity, kind, signed, netting, threshold, currency)
AGREEMENTS = [
    ("NORDWIND", "qz-eu", AgreementKind.EFET, date(2024, 3, 15), True, "5000000.00", "EUR"),
    ("GULFSTAR", "qz-me", AgreementKind.ISDA, date(2023, 11, 1), True, "10000000.00", "USD"),
    ("PRAIRIE", "qz-us", AgreementKind.NAESB, date(2022, 6, 1), True, None, ""),
    ("ALBION", "qz-eu", AgreementKind.EFET, date(2021, 9, 10), False, "2000000.00", "GBP"),
    ("QZ-EU", "qz-us", AgreementKind.ISDA, date(2024, 1, 10), True, None, ""),
]


class Command(BaseCommand):
    help = "Create or update the demo reference data and counterparties (safe to repeat)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from-year", type=int, default=2020)
        parser.add_argument("--to-year", type=int, default=2030)

    @transaction.atomic
    def handle(self, *args: Any, from_year: int, to_year: int, **options: Any) -> None:
        commodities = {
            code: Commodity.objects.update_or_create(
                code=code, defaults={"name_en": en, "name_ar": ar}
            )[0]
            for code, en, ar in COMMODITIES
        }
        units = {
            code: Unit.objects.update_or_create(
                code=code, defaults={"name_en": en, "name_ar": ar, "dimension": dimension}
            )[0]
            for code, en, ar, dimension in UNITS
        }
        for source, target, factor, commodity in CONVERSIONS:
            UnitConversion.objects.update_or_create(
                from_unit=units[source],
                to_unit=units[target],
                commodity=commodities[commodity] if commodity else None,
                defaults={"factor": Decimal(factor)},
            )

        calendars = {}
        years = range(from_year, to_year + 1)
        for code, en, ar, source in CALENDARS:
            calendar = HolidayCalendar.objects.update_or_create(
                code=code, defaults={"name_en": en, "name_ar": ar, "source": source}
            )[0]
            count = holiday_calendar_load(calendar=calendar, years=years)
            self.stdout.write(f"calendar {code}: {count} holidays {from_year}-{to_year}")
            calendars[code] = calendar

        for spec in MARKETS:
            weekdays, peak_start, peak_end, peak_calendar = spec.get("peak") or (
                [],
                None,
                None,
                None,
            )
            Market.objects.update_or_create(
                code=spec["code"],
                defaults={
                    "name_en": spec["name_en"],
                    "name_ar": spec["name_ar"],
                    "commodity": commodities[spec["commodity"]],
                    "time_zone": spec["time_zone"],
                    "currency": spec["currency"],
                    "quote_scale": Decimal(spec.get("quote_scale", "1")),
                    "quotation_unit": units[spec["unit"]],
                    "holiday_calendar": calendars[spec["calendar"]],
                    "day_start_hour": spec.get("day_start_hour", 0),
                    "day_start_zone": spec.get("day_start_zone", ""),
                    "peak_weekdays": weekdays,
                    "peak_start_hour": peak_start,
                    "peak_end_hour": peak_end,
                    "peak_holiday_calendar": calendars[peak_calendar] if peak_calendar else None,
                    "expiry_rule": spec["expiry_rule"],
                    "tick_size": Decimal(spec["tick_size"]),
                    "lot_size": Decimal(spec["lot_size"]),
                },
            )

        desks = {
            code: Desk.objects.get_or_create(code=code, defaults={"name": name, "region": region})[
                0
            ]
            for code, name, region in DESKS
        }
        entities = {
            code: LegalEntity.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "lei": fictitious_lei(base),
                    "country": country,
                    "jurisdiction": jurisdiction,
                },
            )[0]
            for code, name, base, country, jurisdiction in LEGAL_ENTITIES
        }
        for code, name, desk, entity, currency in BOOKS:
            Book.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "desk": desks[desk],
                    "legal_entity": entities[entity],
                    "currency": currency,
                },
            )

        counterparties = {}
        for (
            short_code,
            legal_name,
            base,
            country,
            sector,
            kyc_status,
            kyc_expires_on,
            credit_limit,
            currency,
            internal,
        ) in COUNTERPARTIES:
            counterparties[short_code] = Counterparty.objects.update_or_create(
                short_code=short_code,
                defaults={
                    "legal_name": legal_name,
                    "lei": fictitious_lei(base),
                    "country": country,
                    "sector": sector,
                    "kyc_status": kyc_status,
                    "kyc_expires_on": kyc_expires_on,
                    "credit_limit": Decimal(credit_limit),
                    "credit_currency": currency,
                    "internal_entity": entities[internal] if internal else None,
                },
            )[0]
        for short_code, entity, kind, signed_on, netting, threshold, currency in AGREEMENTS:
            MasterAgreement.objects.update_or_create(
                counterparty=counterparties[short_code],
                legal_entity=entities[entity],
                kind=kind,
                defaults={
                    "signed_on": signed_on,
                    "netting": netting,
                    "collateral_threshold": Decimal(threshold) if threshold else None,
                    "collateral_currency": currency,
                },
            )
        contracts = self._venue_contracts()
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(MARKETS)} markets, {len(entities)} legal entities, {len(BOOKS)} books, "
                f"{len(counterparties)} counterparties, {contracts} venue contracts"
            )
        )

    def _venue_contracts(self) -> int:
        """Open the venue's contracts for the next delivery months that still take orders."""
        now = timezone.now()
        count = 0
        for code in VENUE_MARKETS:
            market = Market.objects.get(code=code)
            month, opened = now.date().replace(day=1), 0
            while opened < VENUE_MONTHS:
                month = (month + timedelta(days=32)).replace(day=1)
                if contract_last_trading_at(market, month) <= now:
                    continue  # already expired: its trading has ended
                contract_open(market=market, period_code=f"{month:%Y-%m}")
                opened += 1
            count += opened
        return count
