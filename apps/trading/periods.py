"""Delivery periods: calendar spans in a market's time zone, expanded to UTC intervals.

Pure: imports nothing from Django. A market's conventions (its time zone, when its trading day
starts, what "peak" means, its holidays) are data handed in by the caller, never constants here.

- A power day runs 00:00–24:00 local; the EU gas day 06:00–06:00 local; the US gas day starts
  09:00 Central. Expanding a day to hours in local time gives 23 or 25 hours on the days the
  clocks change, because the span is measured in UTC between two local wall-clock starts.
- Period codes: `2026-03-29` (day), `2026-W13` (ISO week), `2026-03` (month), `2026-Q2`
  (quarter), `SUM-2026` (Apr–Sep), `WIN-2026` (Oct 2026–Mar 2027), `CAL-2027` (year).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from qenergyz.date_range import SANE_DATE_MAX, SANE_DATE_MIN, date_in_range


class PeriodKind(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    SEASON = "season"
    YEAR = "year"


class Profile(StrEnum):
    BASE = "base"
    PEAK = "peak"
    OFF_PEAK = "offpeak"


class PeriodError(ValueError):
    """A period code or span that does not make sense; the message says why."""


@dataclass(frozen=True)
class PeakDefinition:
    """Which local hours are peak: e.g. EU 08–20 Mon–Fri; US 5×16 is 07–23 Mon–Fri without
    NERC holidays."""

    weekdays: frozenset[int]  # Monday = 0
    start_hour: int  # local, inclusive
    end_hour: int  # local, exclusive
    exclude_holidays: bool = False

    def __post_init__(self) -> None:
        if not (0 <= self.start_hour < self.end_hour <= 24):
            raise PeriodError("peak hours must satisfy 0 <= start < end <= 24")
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise PeriodError("peak weekdays must be a non-empty subset of 0..6")


@dataclass(frozen=True)
class MarketCalendar:
    """What a market contributes to period arithmetic."""

    time_zone: str
    day_start_hour: int = 0  # 6 for the EU gas day; 9 (in US Central) for the US gas day
    day_start_zone: str | None = None  # the zone the day start is counted in, if not time_zone
    peak: PeakDefinition | None = None
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class Period:
    """A span of delivery days [start, end) in the market's calendar, with its kind."""

    kind: PeriodKind
    start: date
    end: date  # exclusive

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise PeriodError("a period must end after it starts")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def months(self) -> list[date]:
        """First days of the calendar months this period touches."""
        months, current = [], self.start.replace(day=1)
        while current < self.end:
            months.append(current)
            current = _add_months(current, 1)
        return months


_DAY = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_WEEK = re.compile(r"^([0-9]{4})-W([0-9]{2})$")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_QUARTER = re.compile(r"^([0-9]{4})-Q([1-4])$")
_SEASON = re.compile(r"^(SUM|WIN)-([0-9]{4})$")
_YEAR = re.compile(r"^CAL-([0-9]{4})$")


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_period(code: str) -> Period:
    """Turn a period code into its span; raises PeriodError naming what is wrong."""
    period = _parse_period(code)
    # The desk's date range (qenergyz.date_range): not CAL-0001, nor 9999-W52.
    if not (date_in_range(period.start) and date_in_range(period.end - timedelta(days=1))):
        raise PeriodError(f"{code!r} lies outside {SANE_DATE_MIN} to {SANE_DATE_MAX}")
    return period


def _parse_period(code: str) -> Period:
    text = code.strip().upper()
    try:
        if m := _DAY.match(text):
            start = date(int(m[1]), int(m[2]), int(m[3]))
            return Period(PeriodKind.DAY, start, start + timedelta(days=1))
        if m := _WEEK.match(text):
            start = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            return Period(PeriodKind.WEEK, start, start + timedelta(days=7))
        if m := _MONTH.match(text):
            start = date(int(m[1]), int(m[2]), 1)
            return Period(PeriodKind.MONTH, start, _add_months(start, 1))
        if m := _QUARTER.match(text):
            start = date(int(m[1]), 3 * (int(m[2]) - 1) + 1, 1)
            return Period(PeriodKind.QUARTER, start, _add_months(start, 3))
        if m := _SEASON.match(text):
            start = date(int(m[2]), 4 if m[1] == "SUM" else 10, 1)
            return Period(PeriodKind.SEASON, start, _add_months(start, 6))
        if m := _YEAR.match(text):
            start = date(int(m[1]), 1, 1)
            return Period(PeriodKind.YEAR, start, date(start.year + 1, 1, 1))
    except (ValueError, OverflowError) as exc:  # e.g. month 13, day 31 of April, week 54
        raise PeriodError(f"{code!r} is not a valid date: {exc}") from exc
    raise PeriodError(f"{code!r} is not a period code (e.g. 2026-03, 2026-Q2, CAL-2027)")


def day_bounds_utc(day: date, calendar: MarketCalendar) -> tuple[datetime, datetime]:
    """The UTC instants at which the market's delivery day `day` starts and ends."""
    zone = ZoneInfo(calendar.day_start_zone) if calendar.day_start_zone else calendar.zone
    start_of_day = time(calendar.day_start_hour)
    start = datetime.combine(day, start_of_day, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), start_of_day, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def is_peak(instant_utc: datetime, calendar: MarketCalendar) -> bool:
    """Whether the interval starting at `instant_utc` lies in the market's peak hours."""
    peak = calendar.peak
    if peak is None:
        raise PeriodError("this market has no peak definition")
    local = instant_utc.astimezone(calendar.zone)
    if local.weekday() not in peak.weekdays:
        return False
    if peak.exclude_holidays and local.date() in calendar.holidays:
        return False
    return peak.start_hour <= local.hour < peak.end_hour


def intervals(
    period: Period,
    calendar: MarketCalendar,
    *,
    profile: Profile = Profile.BASE,
    minutes: int = 60,
) -> Iterator[datetime]:
    """UTC start instants of each delivery interval of `period` in `profile`.

    Steps are taken in UTC between the local day boundaries, so a spring-forward day has 23
    hours (92 quarter-hours) and a fall-back day 25 (100).
    """
    if minutes not in (15, 30, 60):
        raise PeriodError("intervals are 15, 30 or 60 minutes long")
    step = timedelta(minutes=minutes)
    day = period.start
    while day < period.end:
        start, end = day_bounds_utc(day, calendar)
        instant = start
        while instant < end:
            if profile is Profile.BASE:
                yield instant
            else:
                peak = is_peak(instant, calendar)
                if peak == (profile is Profile.PEAK):
                    yield instant
            instant += step
        day += timedelta(days=1)


def hours_in(period: Period, calendar: MarketCalendar, profile: Profile = Profile.BASE) -> int:
    """Number of delivery hours of `period` in `profile` (e.g. 744, 743 or 745 for a month)."""
    return sum(1 for _ in intervals(period, calendar, profile=profile))


def is_business_day(day: date, holidays: frozenset[date] | set[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def _previous_business_day(day: date, holidays: frozenset[date] | set[date]) -> date:
    day -= timedelta(days=1)
    while not is_business_day(day, holidays):
        day -= timedelta(days=1)
    return day


def contract_expiry(
    rule: dict[str, int | str], delivery_month: date, holidays: frozenset[date] | set[date]
) -> date:
    """Last trading day of the contract for `delivery_month`, by a rule held as market data.

    Rules:
    - {"kind": "nth_last_business_day", "n": 3, "months_before": 1} — NYMEX Henry Hub: the
      third-last business day of the month before delivery.
    - {"kind": "business_days_before_day", "day": 25, "n": 3, "months_before": 1} — NYMEX WTI:
      three business days before the 25th of the prior month (before the business day
      preceding the 25th when the 25th is not a business day).
    - {"kind": "last_business_day", "months_before": 2} — ICE Brent: the last business day of
      the second month before delivery.
    """
    kind = rule.get("kind")
    month = _add_months(delivery_month.replace(day=1), -int(rule.get("months_before", 1)))
    next_month = _add_months(month, 1)
    if kind in ("nth_last_business_day", "last_business_day"):
        n = int(rule.get("n", 1)) if kind == "nth_last_business_day" else 1
        if n < 1:
            raise PeriodError("n must be at least 1")
        day = next_month
        for _ in range(n):
            day = _previous_business_day(day, holidays)
        return day
    if kind == "business_days_before_day":
        anchor = month.replace(day=int(rule["day"]))
        if not is_business_day(anchor, holidays):
            anchor = _previous_business_day(anchor, holidays)
        day = anchor
        for _ in range(int(rule["n"])):
            day = _previous_business_day(day, holidays)
        return day
    raise PeriodError(f"unknown expiry rule {kind!r}")
