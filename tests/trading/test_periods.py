from datetime import UTC, date, datetime

import pytest

from apps.trading.periods import (
    MarketCalendar,
    PeakDefinition,
    Period,
    PeriodError,
    PeriodKind,
    Profile,
    contract_expiry,
    hours_in,
    intervals,
    parse_period,
)

WEEKDAYS = frozenset(range(5))
EEX_POWER = MarketCalendar("Europe/Berlin", peak=PeakDefinition(WEEKDAYS, 8, 20))
EU_GAS = MarketCalendar("Europe/Amsterdam", day_start_hour=6)
US_GAS = MarketCalendar("America/New_York", day_start_hour=9, day_start_zone="America/Chicago")
# PJM: 5x16 (07:00-23:00 Mon-Fri) without NERC holidays; 2026-05-25 is Memorial Day.
PJM = MarketCalendar(
    "America/New_York",
    peak=PeakDefinition(WEEKDAYS, 7, 23, exclude_holidays=True),
    holidays=frozenset({date(2026, 5, 25)}),
)


@pytest.mark.parametrize(
    ("code", "kind", "start", "end"),
    [
        ("2026-03-29", PeriodKind.DAY, date(2026, 3, 29), date(2026, 3, 30)),
        ("2026-W13", PeriodKind.WEEK, date(2026, 3, 23), date(2026, 3, 30)),
        ("2026-02", PeriodKind.MONTH, date(2026, 2, 1), date(2026, 3, 1)),
        ("2026-Q4", PeriodKind.QUARTER, date(2026, 10, 1), date(2027, 1, 1)),
        ("sum-2026", PeriodKind.SEASON, date(2026, 4, 1), date(2026, 10, 1)),
        ("WIN-2026", PeriodKind.SEASON, date(2026, 10, 1), date(2027, 4, 1)),
        ("CAL-2027", PeriodKind.YEAR, date(2027, 1, 1), date(2028, 1, 1)),
    ],
)
def test_parse_period_gives_calendar_span(code, kind, start, end):
    assert parse_period(code) == Period(kind, start, end)


@pytest.mark.parametrize("code", ["2026-13", "2026-02-30", "2026-Q5", "2026-W54", "next month", ""])
def test_parse_period_refuses_nonsense(code):
    with pytest.raises(PeriodError):
        parse_period(code)


def test_period_that_ends_before_it_starts_is_refused():
    with pytest.raises(PeriodError, match="end after it starts"):
        Period(PeriodKind.DAY, date(2026, 3, 2), date(2026, 3, 1))


@pytest.mark.parametrize(
    ("code", "calendar", "hours"),
    [
        ("2026-03-29", EEX_POWER, 23),  # CET -> CEST
        ("2026-10-25", EEX_POWER, 25),  # CEST -> CET
        ("2026-03-30", EEX_POWER, 24),
        ("2026-03-08", PJM, 23),  # EST -> EDT
        ("2026-11-01", PJM, 25),
        ("2026-03", EEX_POWER, 743),
        ("2026-10", EEX_POWER, 745),
        ("CAL-2026", EEX_POWER, 8760),
        ("2026-03-28", EU_GAS, 23),  # gas day 06:00 28 Mar CET to 06:00 29 Mar CEST
        ("2026-03-07", US_GAS, 23),  # gas day 09:00 7 Mar CST to 09:00 8 Mar CDT
        ("2026-10-31", US_GAS, 25),
    ],
)
def test_hours_in_counts_daylight_saving_days(code, calendar, hours):
    assert hours_in(parse_period(code), calendar) == hours


def test_quarter_hours_on_spring_forward_day_are_92():
    assert sum(1 for _ in intervals(parse_period("2026-03-29"), EEX_POWER, minutes=15)) == 92


def test_intervals_are_utc_and_start_at_local_midnight():
    first = next(intervals(parse_period("2026-07-01"), EEX_POWER))
    assert first == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)


def test_eu_gas_day_starts_at_six_local():
    first = next(intervals(parse_period("2026-01-15"), EU_GAS))
    assert first == datetime(2026, 1, 15, 5, 0, tzinfo=UTC)


def test_peak_and_offpeak_partition_a_month():
    march = parse_period("2026-03")
    peak = hours_in(march, EEX_POWER, Profile.PEAK)
    assert peak == 22 * 12  # 22 weekdays of 08:00-20:00
    assert peak + hours_in(march, EEX_POWER, Profile.OFF_PEAK) == 743


def test_us_peak_excludes_nerc_holiday():
    may = parse_period("2026-05")
    assert hours_in(may, PJM, Profile.PEAK) == 20 * 16  # 21 weekdays less Memorial Day


def test_peak_without_definition_is_an_error():
    with pytest.raises(PeriodError, match="no peak definition"):
        hours_in(parse_period("2026-05-04"), EU_GAS, Profile.PEAK)


def test_peak_definition_checks_its_hours():
    with pytest.raises(PeriodError):
        PeakDefinition(WEEKDAYS, 20, 8)


CHRISTMAS_AND_NEW_YEAR = frozenset({date(2025, 12, 25), date(2026, 1, 1)})


def test_henry_hub_expiry_is_third_last_business_day_of_prior_month():
    rule = {"kind": "nth_last_business_day", "n": 3, "months_before": 1}
    # January 2026 contract: December 2025 ends Wed 31, Tue 30, Mon 29.
    assert contract_expiry(rule, date(2026, 1, 1), CHRISTMAS_AND_NEW_YEAR) == date(2025, 12, 29)
    # March 2026: February 2026 ends on Saturday the 28th -> Fri 27, Thu 26, Wed 25.
    assert contract_expiry(rule, date(2026, 3, 1), frozenset()) == date(2026, 2, 25)


def test_wti_expiry_is_three_business_days_before_the_25th():
    rule = {"kind": "business_days_before_day", "day": 25, "n": 3, "months_before": 1}
    # May 2026 contract: 25 April 2026 is a Saturday -> before Friday 24th: Tue 21.
    assert contract_expiry(rule, date(2026, 5, 1), frozenset()) == date(2026, 4, 21)
    # June 2026: 25 May 2026 is Memorial Day (a holiday) -> before Fri 22nd: Tue 19.
    assert contract_expiry(rule, date(2026, 6, 1), frozenset({date(2026, 5, 25)})) == date(
        2026, 5, 19
    )
    # July 2026: Thursday 25 June is a business day -> Mon 22.
    assert contract_expiry(rule, date(2026, 7, 1), frozenset()) == date(2026, 6, 22)


def test_brent_expiry_is_last_business_day_two_months_before():
    rule = {"kind": "last_business_day", "months_before": 2}
    # March 2026 contract: January 2026 ends on Saturday the 31st -> Friday 30th.
    assert contract_expiry(rule, date(2026, 3, 1), frozenset()) == date(2026, 1, 30)


def test_unknown_expiry_rule_is_refused():
    with pytest.raises(PeriodError, match="unknown expiry rule"):
        contract_expiry({"kind": "whenever"}, date(2026, 3, 1), frozenset())
