from datetime import date
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError
from django.utils import translation

from apps.trading.calendars import (
    holiday_calendar_load,
    holiday_source_dates,
    market_calendar,
    market_contract_expiry,
)
from apps.trading.models import (
    Commodity,
    Counterparty,
    HolidayCalendar,
    HolidayDate,
    HolidaySource,
    LegalEntity,
    Market,
)
from apps.trading.periods import Profile, hours_in, parse_period
from apps.trading.serializers import MarketSerializer
from tests.trading.factories import HolidayCalendarFactory, MarketFactory


def _hours(market_code: str, period_code: str, profile: Profile = Profile.BASE) -> int:
    market = Market.objects.get(code=market_code)
    period = parse_period(period_code)
    calendar = market_calendar(market, start=period.start, end=period.end)
    return hours_in(period, calendar, profile)


@pytest.mark.parametrize(
    ("market", "period", "hours"),
    [
        ("eex-de-power", "2026-03-29", 23),  # Europe/Berlin springs forward
        ("eex-de-power", "2026-10-25", 25),
        ("eex-de-power", "2026-03-30", 24),
        ("pjm-west", "2026-11-01", 25),  # America/New_York falls back
        ("pjm-west", "2026-03-08", 23),
        ("henry-hub", "2026-03-07", 23),  # the gas day 09:00 CST Sat -> 09:00 CDT Sun
        ("henry-hub", "2026-03-08", 24),
        ("ttf", "2026-03-28", 23),  # the gas day 06:00 Sat -> 06:00 Sun holds the change
        ("ttf", "2026-03-29", 24),
        ("nbp", "2026-03-28", 23),  # 05:00 UK time, the same instant as TTF's 06:00
        ("eex-de-power", "2026-03", 743),
        ("pjm-west", "2026-11", 721),
    ],
)
def test_market_calendar_gives_23_and_25_hours_on_dst_days(seeded, market, period, hours):
    assert _hours(market, period) == hours


def test_pjm_peak_hours_of_may_2026_exclude_memorial_day(seeded):
    # 21 weekdays in May 2026, less Memorial Day (25 May, a NERC holiday): 20 x 16 = 320.
    assert _hours("pjm-west", "2026-05", Profile.PEAK) == 320
    assert _hours("pjm-west", "2026-05", Profile.OFF_PEAK) == 744 - 320


def test_eex_peak_hours_count_holidays_as_peak(seeded):
    # 21 weekdays x 12 hours (08-20); 1 May, 14 May and 25 May are holidays but still peak.
    assert _hours("eex-de-power", "2026-05", Profile.PEAK) == 252


def test_market_calendar_reads_its_holidays_in_one_bounded_query(seeded, django_assert_num_queries):
    market = Market.objects.get(code="pjm-west")
    with django_assert_num_queries(1):
        calendar = market_calendar(market, start=date(2026, 5, 1), end=date(2026, 6, 1))
    assert calendar.holidays == frozenset({date(2026, 5, 25)})
    assert calendar.time_zone == "America/New_York"
    assert calendar.peak is not None
    assert (calendar.peak.start_hour, calendar.peak.end_hour) == (7, 23)


def test_henry_hub_january_2027_contract_expires_on_29_december_2026(
    seeded, django_assert_num_queries
):
    # Third-last business day of December 2026 on the NYMEX calendar: 31 (Thu), 30 (Wed),
    # 29 (Tue); Christmas (Fri 25) is before them and changes nothing.
    market = Market.objects.get(code="henry-hub")
    with django_assert_num_queries(1):
        assert market_contract_expiry(market, date(2027, 1, 1)) == date(2026, 12, 29)


def test_henry_hub_expiry_skips_a_holiday(seeded):
    # The June 2026 contract: May 2026 ends Fri 29, Thu 28, Wed 27 -> 27 May; the July one:
    # June ends Tue 30, Mon 29, Fri 26 -> 26 June (Juneteenth, Fri 19, is earlier).
    market = Market.objects.get(code="henry-hub")
    assert market_contract_expiry(market, date(2026, 6, 1)) == date(2026, 5, 27)
    # The January 2026 contract: December 2025 ends Wed 31, Tue 30, Mon 29 -> 29 December.
    assert market_contract_expiry(market, date(2026, 1, 1)) == date(2025, 12, 29)


def test_wti_and_brent_expiries_follow_their_rules(seeded):
    wti = Market.objects.get(code="nymex-wti")
    # 25 Dec 2026 is a holiday: from Thu 24, three business days back: 23, 22, 21 -> 21 Dec.
    assert market_contract_expiry(wti, date(2027, 1, 1)) == date(2026, 12, 21)
    brent = Market.objects.get(code="ice-brent")
    # March 2027 Brent: the last business day of January 2027, Friday the 29th.
    assert market_contract_expiry(brent, date(2027, 3, 1)) == date(2027, 1, 29)


def test_market_without_expiry_rule_refuses_to_compute_one(seeded):
    with pytest.raises(ValueError, match="no contract expiry rule"):
        market_contract_expiry(Market.objects.get(code="eua"), date(2026, 12, 1))


def test_nerc_calendar_moves_sunday_holidays_to_monday_only():
    # 2022: New Year's Day is a Saturday (not moved), Christmas a Sunday (Monday the 26th).
    dates = holiday_source_dates(HolidaySource.NERC, [2022])
    assert sorted(dates) == [
        date(2022, 1, 1),
        date(2022, 5, 30),
        date(2022, 7, 4),
        date(2022, 9, 5),
        date(2022, 11, 24),
        date(2022, 12, 26),
    ]
    assert dates[date(2022, 12, 26)].en == "Christmas Day (observed)"
    assert dates[date(2022, 5, 30)].ar == "يوم الذكرى"


def test_holiday_calendar_load_keeps_hand_entered_dates_and_drops_stale_loaded_ones(db):
    calendar = HolidayCalendarFactory(code="nerc", source=HolidaySource.NERC)
    HolidayDate.objects.create(
        calendar=calendar, date=date(2026, 3, 2), name_en="Stale", loaded=True
    )
    HolidayDate.objects.create(calendar=calendar, date=date(2026, 8, 3), name_en="Ice storm")
    assert holiday_calendar_load(calendar=calendar, years=[2026]) == 6
    assert holiday_calendar_load(calendar=calendar, years=[2026]) == 6
    assert list(calendar.dates.values_list("date", "loaded")) == [
        (date(2026, 1, 1), True),
        (date(2026, 5, 25), True),
        (date(2026, 7, 4), True),
        (date(2026, 8, 3), False),
        (date(2026, 9, 7), True),
        (date(2026, 11, 26), True),
        (date(2026, 12, 25), True),
    ]


def test_seed_reference_data_is_idempotent(db):
    models = list(apps.get_app_config("trading").get_models())
    call_command("seed_reference_data", verbosity=0)
    first = {model.__name__: model.objects.count() for model in models}
    call_command("seed_reference_data", verbosity=0)
    second = {model.__name__: model.objects.count() for model in models}
    assert first == second
    assert first["Market"] == 10
    assert first["Counterparty"] == 8  # five external, and our own QZ-EU, QZ-US, QZ-ME
    assert first["Book"] == 6
    assert first["LegalEntity"] == 3
    assert first["HolidayCalendar"] == 6
    assert first["HolidayDate"] > 500


def test_seeded_reference_data_passes_model_validation(seeded):
    for model in (Market, Counterparty, LegalEntity, HolidayCalendar, Commodity):
        for row in model.objects.all():
            row.full_clean()


def test_seeded_nbp_is_quoted_in_pence_per_therm(seeded):
    nbp = Market.objects.select_related("quotation_unit").get(code="nbp")
    assert (nbp.currency, nbp.quote_scale, nbp.quotation_unit.code) == (
        "GBP",
        Decimal("0.01"),
        "therm",
    )
    assert nbp.price_unit_label == "0.01 GBP/therm"


def test_market_name_is_arabic_when_the_language_is_arabic(seeded):
    with translation.override("ar"):
        market = Market.objects.select_related("commodity").get(code="henry-hub")
        assert market.name == "الغاز الطبيعي - هنري هب"
        assert market.commodity.name == "الغاز الطبيعي"
        assert MarketSerializer(market).data["name"] == "الغاز الطبيعي - هنري هب"
    with translation.override("en"):
        assert Market.objects.get(code="henry-hub").name == "Henry Hub natural gas"


def test_holiday_name_falls_back_to_english_without_an_arabic_one(seeded):
    with translation.override("ar"):
        nymex = HolidayDate.objects.get(calendar__code="nymex", date=date(2026, 11, 26))
        assert nymex.name == "Thanksgiving Day"
        uae = HolidayDate.objects.get(calendar__code="uae", date=date(2026, 12, 2))
        assert uae.name == "اليوم الوطني"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"kind": "third_friday"}, "needs a kind"),
        ({"kind": "nth_last_business_day", "months_before": 1}, "n must be a whole number"),
        ({"kind": "nth_last_business_day", "n": 0}, "n must be a whole number from 1"),
        ({"kind": "last_business_day", "n": 2}, "keys its kind does not take: n"),
        ({"kind": "business_days_before_day", "day": 31, "n": 3}, "day must be"),
        (["last_business_day"], "needs a kind"),
    ],
)
def test_market_expiry_rule_is_validated_against_the_known_kinds(db, rule, message):
    market = MarketFactory(expiry_rule=rule)
    with pytest.raises(ValidationError) as error:
        market.full_clean()
    assert list(error.value.message_dict) == ["expiry_rule"]
    assert message in error.value.message_dict["expiry_rule"][0]


def test_market_validates_time_zone_and_peak_definition(db):
    market = MarketFactory(time_zone="Europe/Atlantis", peak_start_hour=8, peak_end_hour=None)
    with pytest.raises(ValidationError) as error:
        market.full_clean()
    assert sorted(error.value.message_dict) == ["peak_end_hour", "time_zone"]

    market = MarketFactory(peak_weekdays=[0, 7], peak_start_hour=8, peak_end_hour=20)
    with pytest.raises(ValidationError) as error:
        market.full_clean()
    assert list(error.value.message_dict) == ["peak_weekdays"]


def test_market_peak_hours_are_checked_by_the_database(db):
    with pytest.raises(IntegrityError):
        MarketFactory(peak_weekdays=[0], peak_start_hour=20, peak_end_hour=8)


def test_market_day_start_hour_is_checked_by_the_database(db):
    with pytest.raises(IntegrityError):
        MarketFactory(day_start_hour=24)


ADMIN_MODELS = [
    "commodity",
    "unit",
    "unitconversion",
    "holidaycalendar",
    "holidaydate",
    "market",
    "legalentity",
    "book",
    "counterparty",
    "masteragreement",
]


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_trading_admin_changelist_and_add_pages_render(
    seeded, administrator, verified_client, model
):
    client = verified_client(administrator)
    assert client.get(f"/admin/trading/{model}/").status_code == 200
    assert client.get(f"/admin/trading/{model}/add/").status_code == 200


def test_counterparty_admin_filters_by_kyc_status(seeded, administrator, verified_client):
    response = verified_client(administrator).get(
        "/admin/trading/counterparty/?kyc_status__exact=expired"
    )
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_market_admin_change_page_shows_arabic_and_english_names(
    seeded, administrator, verified_client
):
    market = Market.objects.get(code="ttf")
    response = verified_client(administrator).get(f"/admin/trading/market/{market.pk}/change/")
    assert response.status_code == 200
    assert "الغاز الطبيعي TTF (هولندا)" in response.text
    assert 'name="name_ar"' in response.text


def test_market_peak_weekdays_need_peak_hours_and_day_start_is_an_hour(db):
    market = MarketFactory.build(
        commodity=MarketFactory().commodity,
        quotation_unit=MarketFactory().quotation_unit,
        holiday_calendar=HolidayCalendarFactory(),
        code="weekdays-only",
        name_en="Weekdays only",
        peak_weekdays=[0, 1, 2, 3, 4],
        day_start_hour=24,
    )
    with pytest.raises(ValidationError) as error:
        market.full_clean()
    assert sorted(error.value.message_dict) == ["day_start_hour", "peak_start_hour"]
