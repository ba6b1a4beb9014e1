"""Create the demo market-data history: daily forward curves for the demo markets and daily FX.

THE CURVES ARE NOT MARKET DATA. They are derived from real EIA daily spot prices (U.S. Energy
Information Administration, public domain; data/market/ in the repository, see its README):

- Each business day of the source series gets one snapshot per market (revision 1) with 24
  monthly points, M+1 … M+24 after the pricing date's month, and 4 quarters from the quarter
  holding M+25 (they overlap the last monthly points; a month's own point wins).
- The front month (M+1) is the day's spot price times the market's factor; month k after it is
  front × (1 + carry × k) × season[month] / season[front month]. Carry is a simple monthly
  contango; season is a fixed winter-premium table for gas and power, flat for oil and EUAs.
  Quarters are the mean of their three months' shape.
- Henry Hub, ICE Brent and NYMEX WTI use their own spot series (factor 1: the front month is the
  real spot price of that day). The other markets have no public daily series here and use the
  nearest one with a fixed factor (MARKETS below): TTF, NBP, EEX German power and PJM West from
  Henry Hub; DME Oman, Dubai and EUAs from Brent.

Demo history rolled forward to today (the default). The EIA series end on 2026-08-18, and a
demo valued on curves months old would warn on every page. So, with T the last weekday before
--as-of (default: today, UTC), the series are shifted by 7n days, n the smallest whole number of
weeks with (last EIA day + 7n) ≥ T (a whole number of weeks keeps each price on its weekday):
each EIA day d gives the curve of pricing date d + 7n, days landing after T are dropped, and when
the EIA has no price on T − 7n (a U.S. holiday) the last price before it is used for T, so the
history always ends on T. The shifted history covers the two years up to T. Its snapshots' source
starts with "demo history" (DEMO_HISTORY), which the pages show beside the curve date.

The 2021–22 window (CRISIS_WINDOW) stays at its real dates, unshifted, so that the seeded
historical stress scenario "Gas crisis 2021–22" applies to the demo book; the years between are
left out (they would add about 60 % to the first `make run`'s seeding, for nothing the demo
shows). The curves there are derived from Henry Hub and Brent like all the others: the scenario
moves every demo gas and power curve by Henry Hub's 2021–22 rise (about ×2.4), not by the TTF or
EEX moves of that year, which no public daily series here holds.

--from/--to load real dates instead, unshifted: two years up to --to (default: the last EIA day)
and the 2021–22 window, or exactly --from … --to when --from is given.

FX rates (EUR/USD, GBP/USD, USD/AED, USD/GYD, every weekday) are SYNTHETIC: a deterministic
mean-reverting walk around a plausible level, computed in Decimal from a hash of the pair and
the day (so a day's rate does not depend on the window asked for). USD/AED is the fixed peg
3.6725.

Idempotent: a market and date that already has a snapshot (demo or uploaded) is left alone, and
so is an FX fixing already held. Curves are written with bulk_create.
"""

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from apps.compliance.audit import audit_append
from apps.trading.curve_status import DEMO_HISTORY
from apps.trading.marketdata import spot_series_read
from apps.trading.models import (
    CurvePoint,
    CurvePointKind,
    CurveSnapshot,
    FxRate,
    InterestRate,
    Market,
)

SOURCE = "demo curve derived from EIA spot prices; not market data"
# The rolled-forward history's source starts with DEMO_HISTORY; the pages label such curves.
DEMO_HISTORY_SOURCE = (
    DEMO_HISTORY + ": curve derived from EIA spot prices moved {weeks} weeks forward; "
    "not market data"
)
FX_SOURCE = "synthetic demo FX rate; not market data"
SEEDED = "marketdata.demo_seeded"

SERIES_FILES = {
    "henry-hub": "henry-hub-daily.csv",
    "brent": "brent-daily.csv",
    "wti": "wti-daily.csv",
}

ONE = Decimal(1)
FLAT = dict.fromkeys(range(1, 13), ONE)
# Winter premium, summer discount: a simple demo shape, not fitted to anything.
GAS_SEASON = {
    m: Decimal(v)
    for m, v in zip(
        range(1, 13),
        [
            "1.12",
            "1.10",
            "1.04",
            "0.97",
            "0.95",
            "0.95",
            "0.96",
            "0.96",
            "0.97",
            "1.00",
            "1.05",
            "1.10",
        ],
        strict=True,
    )
}
POWER_SEASON = {
    m: Decimal(v)
    for m, v in zip(
        range(1, 13),
        [
            "1.15",
            "1.12",
            "1.03",
            "0.95",
            "0.92",
            "0.94",
            "1.00",
            "0.99",
            "0.96",
            "1.00",
            "1.06",
            "1.12",
        ],
        strict=True,
    )
}


@dataclass(frozen=True)
class DemoMarket:
    series: str  # a key of SERIES_FILES
    factor: Decimal  # market price = spot × factor (front month)
    carry: Decimal  # contango per month
    season: dict[int, Decimal]


# Factors bring the source spot to the market's quotation at a plausible level for 2024–26.
MARKETS: dict[str, DemoMarket] = {
    "henry-hub": DemoMarket("henry-hub", ONE, Decimal("0.004"), GAS_SEASON),  # USD/MMBtu
    "ice-brent": DemoMarket("brent", ONE, Decimal("0.002"), FLAT),  # USD/bbl
    "nymex-wti": DemoMarket("wti", ONE, Decimal("0.002"), FLAT),  # USD/bbl
    "ttf": DemoMarket("henry-hub", Decimal("12.5"), Decimal("0.003"), GAS_SEASON),  # EUR/MWh
    "nbp": DemoMarket("henry-hub", Decimal("30"), Decimal("0.003"), GAS_SEASON),  # GBp/therm
    "eex-de-power": DemoMarket("henry-hub", Decimal("30"), Decimal("0.002"), POWER_SEASON),
    "pjm-west": DemoMarket("henry-hub", Decimal("18"), Decimal("0.002"), POWER_SEASON),
    "dme-oman": DemoMarket("brent", Decimal("0.985"), Decimal("0.002"), FLAT),  # USD/bbl
    "dubai-crude": DemoMarket("brent", Decimal("0.98"), Decimal("0.002"), FLAT),  # USD/bbl
    "eua": DemoMarket("brent", Decimal("0.85"), Decimal("0.0025"), FLAT),  # EUR/tCO2e
}

MONTHS, QUARTERS = 24, 4
# The risk app's seeded scenario "Gas crisis 2021–22" runs from 2021-08-02 to 2022-08-26; its
# history with a margin on each side (the scenario takes the last curve at or before each end).
CRISIS_WINDOW = (date(2021, 7, 1), date(2022, 8, 31))
PRICE_STEP = Decimal("0.001")


@dataclass(frozen=True)
class DemoFx:
    centre: Decimal
    pip: Decimal  # the size of one step of the walk
    places: Decimal


FX_PAIRS: dict[tuple[str, str], DemoFx] = {
    ("EUR", "USD"): DemoFx(Decimal("1.10"), Decimal("0.0004"), Decimal("0.0001")),
    ("GBP", "USD"): DemoFx(Decimal("1.29"), Decimal("0.0005"), Decimal("0.0001")),
    ("USD", "AED"): DemoFx(Decimal("3.6725"), Decimal(0), Decimal("0.0001")),  # the peg
    ("USD", "GYD"): DemoFx(Decimal("209.0"), Decimal("0.02"), Decimal("0.01")),
}
FX_EPOCH = date(2020, 1, 1)  # the walk starts here, so every window sees the same rates
FX_REVERSION = Decimal("0.03")


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def demo_curve(spot: Decimal, pricing_date: date, market: DemoMarket) -> list[CurvePoint]:
    """The demo curve's points (unsaved) for one day's spot; see the module docstring."""
    front = spot * market.factor
    first = _add_months(pricing_date.replace(day=1), 1)
    front_season = market.season[first.month]

    # Month k after the front month; computed once, quarters reuse them (speed: ~140k points).
    months = [_add_months(first, k) for k in range(MONTHS + 3 * QUARTERS + 1)]
    shape = [
        front * (ONE + market.carry * k) * market.season[month.month] / front_season
        for k, month in enumerate(months)
    ]

    points = []
    for k in range(MONTHS):
        points.append(
            CurvePoint(
                period=months[k].strftime("%Y-%m"),
                kind=CurvePointKind.MONTH,
                start=months[k],
                end=months[k + 1],
                price=shape[k].quantize(PRICE_STEP),
            )
        )
    after = months[MONTHS]
    quarter = date(after.year, 3 * ((after.month - 1) // 3) + 1, 1)
    for _ in range(QUARTERS):
        offset = (quarter.year - first.year) * 12 + quarter.month - first.month
        price = sum(shape[offset : offset + 3], Decimal(0)) / 3
        points.append(
            CurvePoint(
                period=f"{quarter.year}-Q{(quarter.month - 1) // 3 + 1}",
                kind=CurvePointKind.QUARTER,
                start=quarter,
                end=_add_months(quarter, 3),
                price=price.quantize(PRICE_STEP),
            )
        )
        quarter = _add_months(quarter, 3)
    return points


def last_weekday_before(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def roll_forward_weeks(real_last: date, target: date) -> int:
    """The smallest whole number of weeks n with real_last + 7n ≥ target (0 if already so)."""
    return max(0, -(-(target - real_last).days // 7))


def rolled_series(
    spots: dict[date, Decimal], weeks: int, first: date, last: date
) -> dict[date, Decimal]:
    """`spots` moved `weeks` weeks forward and cut to [first, last]; `last` always has a price
    (the last one at or before it), so the history ends on `last` (module docstring)."""
    shift = timedelta(weeks=weeks)
    moved = {day + shift: price for day, price in spots.items() if first <= day + shift <= last}
    if last not in moved:
        before = [day for day in spots if day + shift <= last]
        if before:
            moved[last] = spots[max(before)]
    return dict(sorted(moved.items()))


def _fx_step(base: str, quote: str, day: date) -> int:
    """A reproducible pseudo-random step in -100..100 for the pair and day."""
    digest = hashlib.sha256(f"{base}{quote}{day.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 201 - 100


def demo_fx(first: date, last: date) -> list[FxRate]:
    """Synthetic weekday fixings for FX_PAIRS from `first` to `last` (unsaved)."""
    rates = []
    for (base, quote), spec in FX_PAIRS.items():
        level = spec.centre
        day = FX_EPOCH
        while day <= last:
            if day.weekday() < 5:
                level += (
                    spec.pip * _fx_step(base, quote, day) / 10
                    - (level - spec.centre) * FX_REVERSION
                )
                if day >= first:
                    rates.append(
                        FxRate(
                            base=base,
                            quote=quote,
                            date=day,
                            rate=level.quantize(spec.places),
                            source=FX_SOURCE,
                        )
                    )
            day += timedelta(days=1)
    return rates


# Synthetic flat discount rates per currency, one per weekday: round figures near the 2024–25
# policy rates, for the demo's discounting only. NOT market data.
DEMO_RATES = {
    "USD": Decimal("0.0425"),
    "EUR": Decimal("0.0200"),
    "GBP": Decimal("0.0400"),
    "AED": Decimal("0.0440"),
    "GYD": Decimal("0.0500"),
}
RATE_SOURCE = "Synthetic demo discount rates (flat per currency), not market data"


def demo_rates(first: date, last: date) -> list[InterestRate]:
    """One rate per currency and weekday from `first` to `last` (unsaved)."""
    rates = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            rates.extend(
                InterestRate(currency=currency, date=day, rate=rate, source=RATE_SOURCE)
                for currency, rate in DEMO_RATES.items()
            )
        day += timedelta(days=1)
    return rates


class Command(BaseCommand):
    help = (
        "Load the demo market-data history: business-day forward curves for the demo markets, "
        "DERIVED from real EIA daily spot prices (Henry Hub, Brent, WTI) — the front month is "
        "the day's spot times a fixed factor, later months add a simple contango and seasonal "
        "shape; markets without a public series use the nearest one with a fixed factor. NOT "
        "market data. Also synthetic daily FX (EUR/USD, GBP/USD, USD/AED at the 3.6725 peg, "
        "USD/GYD) and flat demo discount rates. Reads data/market/ in the repository. By "
        "default the last two years are moved forward by whole weeks to end on the last "
        'weekday before today ("demo history"); the 2021-22 window stays at its real dates. '
        "Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from",
            dest="first",
            type=date.fromisoformat,
            help=(
                "First real pricing date, unshifted (default: the demo history rolled forward "
                "to today, and the 2021–22 window of CRISIS_WINDOW as well)."
            ),
        )
        parser.add_argument(
            "--to",
            dest="last",
            type=date.fromisoformat,
            help="Last real pricing date, unshifted (default: the latest date in the data).",
        )
        parser.add_argument(
            "--as-of",
            type=date.fromisoformat,
            default=None,
            help=(
                "The day the rolled-forward history is made for: it ends on the last weekday "
                "before it (default: today, UTC). Ignored with --from or --to."
            ),
        )
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="Folder of the EIA CSV files (default: data/market in the repository).",
        )
        parser.add_argument(
            "--if-missing-skip",
            action="store_true",
            help="Exit quietly (status 0) when the data folder is missing, for `make run`.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data_dir: Path = options["data_dir"] or Path(settings.BASE_DIR) / "data" / "market"
        missing = [name for name in SERIES_FILES.values() if not (data_dir / name).is_file()]
        if missing:
            message = (
                f"The EIA spot price files are not in {data_dir} (missing: {', '.join(missing)}); "
                "no demo market data was loaded."
            )
            if options["if_missing_skip"]:
                self.stderr.write(self.style.WARNING(message))
                return
            raise CommandError(message)

        series = {
            key: dict(spot_series_read(data_dir / name)) for key, name in SERIES_FILES.items()
        }
        real_last = max(max(days) for days in series.values())
        weeks = 0
        if options["first"] or options["last"]:
            last = options["last"] or real_last
            first = options["first"] or _years_before(last, 2)
        else:
            last = last_weekday_before(options["as_of"] or timezone.now().date())
            first = _years_before(last, 2)
            weeks = roll_forward_weeks(real_last, last)
        if first > last:
            raise CommandError("--from must not be after --to.")
        windows = [(first, last)]
        if options["first"] is None and CRISIS_WINDOW[0] < first:
            # One window when they meet (a --to in 2024), two otherwise.
            meet = CRISIS_WINDOW[1] >= first - timedelta(days=1) and not weeks
            windows = [(CRISIS_WINDOW[0], last)] if meet else [CRISIS_WINDOW, (first, last)]
        rolled = {key: rolled_series(spots, weeks, first, last) for key, spots in series.items()}
        rolled_source = DEMO_HISTORY_SOURCE.format(weeks=weeks) if weeks else SOURCE

        markets = {m.code: m for m in Market.objects.filter(code__in=MARKETS)}
        absent = sorted(set(MARKETS) - set(markets))
        if absent:
            raise CommandError(
                f"Markets {', '.join(absent)} do not exist: run seed_reference_data first."
            )

        snapshots = points = rates = discount_rates = 0
        with transaction.atomic():
            for start, end in windows:
                shifted = bool(weeks) and start == first
                added = self._curves(
                    markets,
                    rolled if shifted else series,
                    start,
                    end,
                    rolled_source if shifted else SOURCE,
                )
                snapshots, points = snapshots + added[0], points + added[1]
                rates += self._fx(start, end)
                # Rates run to today, not to the end of the EIA data: a valuation today needs
                # one (at most RATE_LOOKBACK old), and these rates are synthetic anyway.
                if end == last:
                    end = max(last, timezone.now().date())
                discount_rates += self._rates(start, end)
            if snapshots or rates or discount_rates:
                audit_append(
                    actor=None,
                    action=SEEDED,
                    payload={
                        "from": windows[0][0],
                        "to": last,
                        "windows": [[start, end] for start, end in windows],
                        "weeks_forward": weeks,
                        "snapshots": snapshots,
                        "points": points,
                        "fx_rates": rates,
                        "interest_rates": discount_rates,
                        "source": rolled_source,
                    },
                )
        if options["verbosity"]:
            held = ", ".join(f"{start}…{end}" for start, end in windows)
            if weeks:
                held += f" (the last two years moved {weeks} weeks forward: demo history)"
            self.stdout.write(
                f"Demo market data {held}: {snapshots} curve snapshots ({points} points), "
                f"{rates} FX rates and {discount_rates} interest rates added. Curves are derived "
                "from EIA spot prices, not market data."
            )

    def _curves(
        self,
        markets: dict[str, Market],
        series: dict[str, dict[date, Decimal]],
        first: date,
        last: date,
        source: str,
    ) -> tuple[int, int]:
        held = set(
            CurveSnapshot.objects.filter(
                market__in=markets.values(), pricing_date__range=(first, last)
            ).values_list("market_id", "pricing_date")
        )
        now = timezone.now()
        snapshots: list[CurveSnapshot] = []
        plans: list[list[CurvePoint]] = []
        for code, spec in MARKETS.items():
            market = markets[code]
            for day, spot in series[spec.series].items():
                if not first <= day <= last or (market.pk, day) in held:
                    continue
                curve = demo_curve(spot, day, spec)
                snapshots.append(
                    CurveSnapshot(
                        market=market,
                        pricing_date=day,
                        revision=1,
                        point_count=len(curve),
                        source=source,
                        created_at=now,
                    )
                )
                plans.append(curve)
        if not snapshots:
            return 0, 0
        # bulk_create sets primary keys on PostgreSQL and on SQLite 3.35+ (RETURNING).
        CurveSnapshot.objects.bulk_create(snapshots, batch_size=1000)
        points = []
        for snapshot, curve in zip(snapshots, plans, strict=True):
            for point in curve:
                point.snapshot = snapshot
            points.extend(curve)
        CurvePoint.objects.bulk_create(points, batch_size=2000)
        return len(snapshots), len(points)

    def _fx(self, first: date, last: date) -> int:
        rates = demo_fx(first, last)
        held = set(
            FxRate.objects.filter(date__range=(first, last)).values_list("base", "quote", "date")
        )
        new = [r for r in rates if (r.base, r.quote, r.date) not in held]
        FxRate.objects.bulk_create(new, batch_size=2000)
        return len(new)

    def _rates(self, first: date, last: date) -> int:
        held = set(
            InterestRate.objects.filter(date__range=(first, last)).values_list("currency", "date")
        )
        new = [r for r in demo_rates(first, last) if (r.currency, r.date) not in held]
        InterestRate.objects.bulk_create(new, batch_size=2000)
        return len(new)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)
