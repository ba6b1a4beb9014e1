"""Which curves a page's figures stand on, and whether they are stale: one selector for every
page that values something (blotter, trade, positions, P&L, risk dashboard)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from apps.trading.models import CurveSnapshot, HolidayDate, Market

# The source of the demo's rolled-forward curves starts with this (seed_market_data).
DEMO_HISTORY = "demo history"
# Far enough back to find a business day before any run of holidays and weekends.
LOOKBACK = timedelta(days=15)


@dataclass(frozen=True)
class CurveStatus:
    """`day`: the oldest of the markets' latest curve dates at or before the valuation day (the
    figures stand on curves at least that recent), None when no market has a curve. `stale`:
    some market's curve is older than that market's last business day closed by then
    (`expected`, the latest such day among the stale ones). `demo`: some curve is the demo's
    rolled-forward history, which the pages label."""

    day: date | None
    stale: bool
    expected: date | None
    demo: bool


def _last_business_day(closed_by: date, holidays: set[date]) -> date:
    day = closed_by
    while day.weekday() >= 5 or day in holidays:
        day -= timedelta(days=1)
    return day


def curve_status(on: date, markets: Iterable[Market] | None = None) -> CurveStatus:
    """The status of the curves valuing on `on`: of `markets`, or of every market holding a
    curve when None. Today's curve is not expected before the day ends, so for today (or
    later) a market's last business day is the one before; for a past day, that day itself
    when it is a business day. Three queries."""
    candidates = (
        Market.objects.all()
        if markets is None
        else Market.objects.filter(pk__in=[m.pk for m in markets])
    )
    latest = (
        CurveSnapshot.objects.filter(market=OuterRef("pk"), pricing_date__lte=on)
        .order_by("-pricing_date", "-revision")
        .values("pk")[:1]
    )
    snapshots = list(
        CurveSnapshot.objects.filter(
            pk__in=Subquery(
                candidates.annotate(snapshot_id=Subquery(latest))
                .filter(snapshot_id__isnull=False)
                .values("snapshot_id")
            )
        ).values_list("pricing_date", "source", "market__holiday_calendar_id")
    )
    if not snapshots:
        return CurveStatus(day=None, stale=False, expected=None, demo=False)
    closed_by = min(on, timezone.now().date() - timedelta(days=1))
    holidays: dict[int | None, set[date]] = {}
    for calendar_id, day in HolidayDate.objects.filter(
        calendar_id__in={c for _d, _s, c in snapshots if c is not None},
        date__gt=closed_by - LOOKBACK,
        date__lte=closed_by,
    ).values_list("calendar_id", "date"):
        holidays.setdefault(calendar_id, set()).add(day)
    behind = [
        expected
        for day, _source, calendar_id in snapshots
        if day < (expected := _last_business_day(closed_by, holidays.get(calendar_id, set())))
    ]
    return CurveStatus(
        day=min(day for day, _s, _c in snapshots),
        stale=bool(behind),
        expected=max(behind) if behind else None,
        demo=any(source.startswith(DEMO_HISTORY) for _d, source, _c in snapshots),
    )
