"""Holiday calendars as rows, and a market's rows turned into `periods.MarketCalendar`.

Calendars are data: `holiday_calendar_load` copies a source's dates from the `holidays` package
into HolidayDate rows once (the seed command, or an admin refresh); everything else reads rows.

NERC holidays are not in the `holidays` package (0.108): they are derived from its US federal
list. NERC's off-peak holidays are New Year's Day, Memorial Day, Independence Day, Labor Day,
Thanksgiving Day and Christmas Day; one falling on a Sunday is observed on the Monday after, one
falling on a Saturday is not moved (Saturday is off-peak already) — unlike the federal rule,
which moves a Saturday holiday to the Friday before.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import holidays
from django.db import transaction

from apps.trading.models import HolidayCalendar, HolidayDate, HolidaySource, Market
from apps.trading.periods import MarketCalendar, contract_expiry


@dataclass(frozen=True)
class HolidayName:
    en: str
    ar: str = ""  # empty: shown in English


# The six NERC holidays, as the US federal list names them, with their Arabic names.
NERC_HOLIDAYS: dict[str, str] = {
    "New Year's Day": "رأس السنة الميلادية",
    "Memorial Day": "يوم الذكرى",
    "Independence Day": "عيد الاستقلال",
    "Labor Day": "عيد العمال",
    "Thanksgiving Day": "عيد الشكر",
    "Christmas Day": "عيد الميلاد المجيد",
}


def _package_holidays(source: str, years: list[int], language: str | None) -> holidays.HolidayBase:
    options = {"years": years, "language": language}
    if source == HolidaySource.ENGLAND:
        return holidays.country_holidays("GB", subdiv="ENG", **options)
    if source in (HolidaySource.UAE, HolidaySource.OMAN):
        return holidays.country_holidays(source, **options)
    return holidays.financial_holidays(source, **options)


def _supports(source: str, language: str) -> bool:
    return language in _package_holidays(source, [], None).supported_languages


def nerc_holidays(years: Iterable[int]) -> dict[date, HolidayName]:
    """NERC holidays of `years`, with the Sunday-to-Monday rule (see the module docstring)."""
    years = list(years)
    federal = holidays.country_holidays("US", years=years, observed=False, language="en_US")
    result: dict[date, HolidayName] = {}
    for name_en, name_ar in NERC_HOLIDAYS.items():
        days = federal.get_named(name_en, lookup="exact")
        if len(days) != len(years):  # the package renamed one: fail loud, never load a gap
            raise LookupError(f"the US federal list has {len(days)} {name_en!r} for {years}")
        for day in days:
            if day.weekday() == 6:
                day += timedelta(days=1)
                result[day] = HolidayName(f"{name_en} (observed)", f"{name_ar} (بديل)")
            else:
                result[day] = HolidayName(name_en, name_ar)
    return result


def holiday_source_dates(source: str, years: Iterable[int]) -> dict[date, HolidayName]:
    """The dates a source gives for `years`, with English and (where known) Arabic names."""
    years = list(years)
    if source == HolidaySource.NERC:
        return nerc_holidays(years)
    if source == HolidaySource.MANUAL:
        return {}
    english = "en_US" if _supports(source, "en_US") else None
    names_en = _package_holidays(source, years, english)
    names_ar = _package_holidays(source, years, "ar") if _supports(source, "ar") else {}
    return {
        day: HolidayName(names_en[day], names_ar.get(day, "")) for day in sorted(names_en.keys())
    }


def holiday_calendar_load(*, calendar: HolidayCalendar, years: Iterable[int]) -> int:
    """Load the calendar's source dates for `years` into rows; returns how many there are.

    Idempotent: loaded rows of those years that the source no longer gives are removed, the rest
    are upserted; rows entered by hand are left alone (the source wins on a date both have).
    """
    years = list(years)
    dates = holiday_source_dates(calendar.source, years)
    start, end = date(min(years), 1, 1), date(max(years), 12, 31)
    with transaction.atomic():
        HolidayDate.objects.filter(
            calendar=calendar, loaded=True, date__range=(start, end)
        ).exclude(date__in=list(dates)).delete()
        HolidayDate.objects.bulk_create(
            [
                HolidayDate(
                    calendar=calendar, date=day, name_en=name.en, name_ar=name.ar, loaded=True
                )
                for day, name in dates.items()
            ],
            update_conflicts=True,
            unique_fields=["calendar", "date"],
            update_fields=["name", "name_en", "name_ar", "loaded"],
        )
    return len(dates)


def holiday_dates(calendar_id: int | None, start: date, end: date) -> frozenset[date]:
    """The calendar's holidays in [start, end): one bounded query."""
    if calendar_id is None:
        return frozenset()
    return frozenset(
        HolidayDate.objects.filter(
            calendar_id=calendar_id, date__gte=start, date__lt=end
        ).values_list("date", flat=True)
    )


def market_calendar(market: Market, *, start: date, end: date) -> MarketCalendar:
    """The market's conventions for period arithmetic over delivery days [start, end).

    Its holidays are the off-peak ones (peak hours on them are off-peak); a market whose peak
    counts on holidays (EEX) carries none, as holidays matter to nothing else in MarketCalendar.
    """
    return MarketCalendar(
        time_zone=market.time_zone,
        day_start_hour=market.day_start_hour,
        day_start_zone=market.day_start_zone or None,
        peak=market.peak_definition(),
        holidays=holiday_dates(market.peak_holiday_calendar_id, start, end),
    )


def _month_shift(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def market_contract_expiry(market: Market, delivery_month: date) -> date:
    """Last trading day of the market's contract for `delivery_month`, by its rule and calendar."""
    if not market.expiry_rule:
        raise ValueError(f"the market {market.code} has no contract expiry rule")
    months_before = int(market.expiry_rule.get("months_before", 1))
    first = delivery_month.replace(day=1)
    # The expiry falls in the month `months_before` ahead of delivery; a month either side is
    # enough for walking back over weekends and holidays.
    window_start = _month_shift(first, -months_before - 1)
    window_end = _month_shift(first, -months_before + 1)
    holidays_in_window = holiday_dates(market.holiday_calendar_id, window_start, window_end)
    return contract_expiry(market.expiry_rule, first, holidays_in_window)
