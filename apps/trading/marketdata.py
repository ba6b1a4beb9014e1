"""Market data: the domain operations (CSV imports) and the reads (curves, FX) others build on.

Reads are used by valuation, risk and the booking flow, so each costs a fixed number of queries
and fails loudly: a missing curve point or FX rate raises, never answers zero. Imports validate
every line first and write nothing unless all lines are good.
"""

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext_lazy as _

from apps.compliance.audit import audit_append
from apps.trading.models import (
    CurvePoint,
    CurvePointKind,
    CurveSnapshot,
    FxRate,
    InterestRate,
    Market,
)
from apps.trading.periods import Period, PeriodError, PeriodKind, parse_period
from qenergyz.validators import parse_decimal, validate_date

# An upload is a day's curve or a batch of FX fixings, not a data dump: past this it is refused
# before any line is parsed, so a huge file costs no more than reading it.
MAX_IMPORT_LINES = 10_000
MAX_IMPORT_BYTES = 2 * 1024 * 1024

CURVE_HEADER = ["period", "price"]
FX_HEADER = ["date", "base", "quote", "rate"]

# The database columns: Decimal(18, 6) prices and Decimal(18, 8) rates.
PRICE_PLACES, PRICE_DIGITS = 6, 18
RATE_PLACES, RATE_DIGITS = 8, 18

CURVE_IMPORTED = "marketdata.curve_imported"
FX_IMPORTED = "marketdata.fx_imported"


class MarketDataError(LookupError):
    """A curve, curve point or FX rate that is not there; the message names what and when."""


# --- Reads: curves ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurvePointValue:
    period: str
    kind: str
    start: date
    end: date  # exclusive
    price: Decimal


@dataclass(frozen=True)
class Curve:
    """A loaded curve snapshot: looking prices up in it costs no query."""

    snapshot_id: int
    market_code: str
    pricing_date: date
    revision: int
    points: tuple[CurvePointValue, ...]
    _months: dict[date, Decimal] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        months = {p.start: p.price for p in self.points if p.kind == CurvePointKind.MONTH}
        object.__setattr__(self, "_months", months)


def _points_by_snapshot(snapshot_ids: Iterable[int]) -> dict[int, list[CurvePointValue]]:
    rows = (
        CurvePoint.objects.filter(snapshot_id__in=list(snapshot_ids))
        .order_by("snapshot_id", "start", "kind")
        .values_list("snapshot_id", "period", "kind", "start", "end", "price")
    )
    points: dict[int, list[CurvePointValue]] = {}
    for snapshot_id, *values in rows:
        points.setdefault(snapshot_id, []).append(CurvePointValue(*values))
    return points


def _latest_snapshots(pricing_date: date) -> QuerySet[CurveSnapshot]:
    # Latest pricing date first, then its latest revision: a correction wins over what it
    # corrects, and an older date is used only when the market has nothing newer.
    return CurveSnapshot.objects.filter(pricing_date__lte=pricing_date).order_by(
        "-pricing_date", "-revision"
    )


def curve_on(market: Market, pricing_date: date) -> Curve:
    """The latest revision of the latest snapshot at or before `pricing_date` (two queries)."""
    snapshot = (
        _latest_snapshots(pricing_date)
        .filter(market=market)
        .values_list("pk", "pricing_date", "revision")
        .first()
    )
    if snapshot is None:
        raise MarketDataError(
            _("There is no forward curve for %(market)s on or before %(date)s.")
            % {"market": market.code, "date": pricing_date.isoformat()}
        )
    pk, snapshot_date, revision = snapshot
    points = _points_by_snapshot([pk]).get(pk, [])
    return Curve(pk, market.code, snapshot_date, revision, tuple(points))


def curves_on(markets: Iterable[Market], pricing_date: date) -> dict[str, Curve]:
    """`curve_on` for many markets at once (two queries), by market code; markets without a
    curve are left out, so the caller decides whether that is an error."""
    markets = list(markets)
    latest = Subquery(
        _latest_snapshots(pricing_date).filter(market=OuterRef("pk")).values("pk")[:1]
    )
    snapshot_ids = (
        Market.objects.filter(pk__in=[m.pk for m in markets])
        .annotate(snapshot_id=latest)
        .filter(snapshot_id__isnull=False)
        .values_list("snapshot_id", flat=True)
    )
    snapshots = CurveSnapshot.objects.filter(pk__in=Subquery(snapshot_ids)).values_list(
        "pk", "market__code", "pricing_date", "revision"
    )
    snapshots = list(snapshots)
    points = _points_by_snapshot(pk for pk, *_rest in snapshots)
    return {
        code: Curve(pk, code, day, revision, tuple(points.get(pk, [])))
        for pk, code, day, revision in snapshots
    }


def curve_price(curve: Curve, delivery_month: date | str) -> Decimal:
    """The curve's price for a delivery month: its monthly point, else the quarterly point that
    contains it; raises MarketDataError when neither exists (never a silent zero).

    `delivery_month` is any day of the month or a month code such as "2027-01".
    """
    if isinstance(delivery_month, str):
        period = parse_period(delivery_month)
        if period.kind is not PeriodKind.MONTH:
            raise MarketDataError(_("%(code)s is not a delivery month.") % {"code": delivery_month})
        month = period.start
    else:
        month = delivery_month.replace(day=1)
    price = curve._months.get(month)
    if price is not None:
        return price
    for point in curve.points:
        if point.kind == CurvePointKind.QUARTER and point.start <= month < point.end:
            return point.price
    raise MarketDataError(
        _(
            "The %(market)s curve of %(date)s (revision %(revision)s) has no price for "
            "%(month)s, neither monthly nor quarterly."
        )
        % {
            "market": curve.market_code,
            "date": curve.pricing_date.isoformat(),
            "revision": curve.revision,
            "month": month.strftime("%Y-%m"),
        }
    )


# How far back a price "as of" a date may come from: a settlement older than this is stale, and
# is reported as missing rather than used.
AS_OF_LOOKBACK = timedelta(days=14)
RATE_LOOKBACK = timedelta(days=31)


def month_prices_as_of(
    requests: Iterable[tuple[str, date, date]],
) -> dict[tuple[str, date, date], Decimal]:
    """For each (market code, delivery month, as-of date): the month's price on the latest curve
    at or before the as-of date, at most AS_OF_LOOKBACK older (two queries in all).

    A month's settlement price is its price as of the day before it begins delivering; an
    option's underlying at expiry is the month's price as of the expiry date. Requests that
    find no price are left out: the caller reports them.
    """
    requests = set(requests)
    if not requests:
        return {}
    as_of_dates = [as_of for _m, _month, as_of in requests]
    snapshots = (
        CurveSnapshot.objects.filter(
            market__code__in={market for market, _month, _as_of in requests},
            pricing_date__gte=min(as_of_dates) - AS_OF_LOOKBACK,
            pricing_date__lte=max(as_of_dates),
        )
        .order_by("market__code", "pricing_date", "revision")
        .values_list("pk", "market__code", "pricing_date")
    )
    by_market: dict[str, list[tuple[date, int]]] = {}
    for pk, market, day in snapshots:
        # Ordered by date then revision: the last one kept per date is the latest revision.
        days = by_market.setdefault(market, [])
        if days and days[-1][0] == day:
            days[-1] = (day, pk)
        else:
            days.append((day, pk))
    chosen: dict[tuple[str, date, date], int] = {}
    for market, month, as_of in requests:
        candidates = [
            pk for day, pk in by_market.get(market, []) if as_of - AS_OF_LOOKBACK <= day <= as_of
        ]
        if candidates:
            chosen[(market, month, as_of)] = candidates[-1]
    points = _points_by_snapshot(set(chosen.values()))
    prices: dict[tuple[str, date, date], Decimal] = {}
    for (market, month, as_of), pk in chosen.items():
        curve = Curve(pk, market, as_of, 0, tuple(points.get(pk, [])))
        try:
            prices[(market, month, as_of)] = curve_price(curve, month)
        except MarketDataError:
            continue
    return prices


def interest_rates(currencies: Iterable[str], on_date: date) -> dict[str, Decimal]:
    """Each currency's latest discount rate at or before `on_date`, at most RATE_LOOKBACK older
    (one query); currencies without one are left out."""
    rows = (
        InterestRate.objects.filter(
            currency__in=set(currencies),
            date__lte=on_date,
            date__gte=on_date - RATE_LOOKBACK,
        )
        .order_by("currency", "-date")
        .values_list("currency", "rate")
    )
    rates: dict[str, Decimal] = {}
    for currency, rate in rows:
        rates.setdefault(currency, rate)
    return rates


# --- Reads: FX ----------------------------------------------------------------------------------


def fx_rate(base: str, quote: str, on_date: date) -> Decimal:
    """Units of `quote` for one `base` on `on_date`: the latest fixing at or before the date,
    either way round (the inverse when only quote/base is held); 1 for the same currency.
    Raises MarketDataError when unknown: a caller converting money must fail closed."""
    base, quote = base.upper(), quote.upper()
    if base == quote:
        return Decimal(1)
    rows = list(
        FxRate.objects.filter(
            Q(base=base, quote=quote) | Q(base=quote, quote=base), date__lte=on_date
        )
        .order_by("-date")
        .values_list("base", "date", "rate")[:2]
    )
    if not rows:
        raise MarketDataError(
            _("There is no %(base)s/%(quote)s FX rate on or before %(date)s.")
            % {"base": base, "quote": quote, "date": on_date.isoformat()}
        )
    # The latest date wins; on that date a direct quotation wins over an inverted one.
    latest = [row for row in rows if row[1] == rows[0][1]]
    found_base, _day, rate = next((row for row in latest if row[0] == base), latest[0])
    return rate if found_base == base else Decimal(1) / rate


def fx_convert(amount: Decimal, from_ccy: str, to_ccy: str, on_date: date) -> Decimal:
    """`amount` of `from_ccy` in `to_ccy` at the rate of `on_date` (see fx_rate)."""
    return amount * fx_rate(from_ccy, to_ccy, on_date)


# --- Imports ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "message": str(self.message)}


@dataclass
class ImportResult:
    """What an import did: the snapshot (curves) or the count (FX), or the errors by line."""

    errors: list[LineError] = field(default_factory=list)
    snapshot: CurveSnapshot | None = None
    created: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _decode(text: str | bytes) -> tuple[str | None, list[LineError]]:
    if isinstance(text, str):
        return text, []
    if len(text) > MAX_IMPORT_BYTES:
        return None, [
            LineError(
                0,
                _("The file is larger than %(size)s MB.") % {"size": MAX_IMPORT_BYTES // 2**20},
            )
        ]
    try:
        # utf-8-sig: spreadsheet programs like to start a CSV with a byte-order mark.
        return text.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = text[: exc.start].count(b"\n") + 1
        return None, [LineError(line, _("The file is not UTF-8 text (save it as CSV UTF-8)."))]


def _rows(
    text: str | bytes, header: list[str]
) -> tuple[list[tuple[int, list[str]]], list[LineError]]:
    """(line number, cells) of each non-blank data line, or the errors that stop the whole file
    (encoding, emptiness, header, size)."""
    decoded, errors = _decode(text)
    if decoded is None:
        return [], errors
    # Count lines before parsing anything: an oversized file is refused cheaply.
    lines = decoded.splitlines()
    if len(lines) > MAX_IMPORT_LINES + 1:
        return [], [
            LineError(
                MAX_IMPORT_LINES + 2,
                _("The file has more than %(max)s data lines; split it.")
                % {"max": f"{MAX_IMPORT_LINES:,}"},
            )
        ]
    # strict: an unterminated quote is an error, not a value running to the end of the file.
    reader = csv.reader(io.StringIO(decoded), strict=True)
    rows: list[tuple[int, list[str]]] = []
    seen_header = False
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if not seen_header:
                seen_header = True
                if [cell.strip().lower() for cell in cells] != header:
                    return [], [
                        LineError(
                            reader.line_num,
                            _("The first line must be the header %(header)s.")
                            % {"header": ",".join(header)},
                        )
                    ]
                continue
            rows.append((reader.line_num, [cell.strip() for cell in cells]))
    except csv.Error as exc:
        return [], [
            LineError(reader.line_num, _("The CSV is malformed: %(error)s") % {"error": exc})
        ]
    if not seen_header:
        return [], [LineError(1, _("The file is empty."))]
    if not rows:
        return [], [LineError(reader.line_num or 1, _("The file has a header but no data lines."))]
    return rows, []


def _decimal(
    text: str, places: int, digits: int, *, positive: bool = True
) -> tuple[Decimal | None, str | None]:
    """A Decimal that fits the column (and is positive, unless `positive` is off), or why not."""
    try:
        value = parse_decimal(text)  # plain digits only: not "１０" or "1_000"
    except ValueError:
        return None, _("%(value)r is not a number.") % {"value": text}
    if not value.is_finite():
        return None, _("%(value)r is not a number.") % {"value": text}
    if positive and value <= 0:
        return None, _("The value must be greater than zero, not %(value)s.") % {"value": text}
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        return None, _("At most %(places)s decimal places, not %(value)s.") % {
            "places": places,
            "value": text,
        }
    if value.adjusted() >= digits - places:
        return None, _("%(value)s is too large.") % {"value": text}
    return value, None


def _period_code(period: Period) -> str:
    if period.kind is PeriodKind.QUARTER:
        return f"{period.start.year}-Q{(period.start.month - 1) // 3 + 1}"
    return period.start.strftime("%Y-%m")


def _parse_curve_rows(
    rows: list[tuple[int, list[str]]], pricing_date: date
) -> tuple[list[CurvePoint], list[LineError]]:
    points: list[CurvePoint] = []
    errors: list[LineError] = []
    first_line: dict[str, int] = {}
    for line, cells in rows:
        if len(cells) != 2:
            errors.append(
                LineError(
                    line, _("Expected 2 values (period,price), found %(n)s.") % {"n": len(cells)}
                )
            )
            continue
        code, price_text = cells
        try:
            period = parse_period(code)
        except PeriodError:
            errors.append(
                LineError(
                    line,
                    _("%(code)r is not a month (2027-01) or quarter (2027-Q1) code.")
                    % {"code": code},
                )
            )
            period = None
        if period is not None and period.kind not in (PeriodKind.MONTH, PeriodKind.QUARTER):
            errors.append(
                LineError(
                    line,
                    _(
                        "%(code)s: a curve has only monthly (2027-01) and quarterly (2027-Q1) "
                        "points."
                    )
                    % {"code": code},
                )
            )
            period = None
        if period is not None and period.end <= pricing_date:
            errors.append(
                LineError(
                    line,
                    _("%(code)s was delivered before the pricing date %(date)s.")
                    % {"code": code, "date": pricing_date.isoformat()},
                )
            )
            period = None
        if period is not None:
            normalised = _period_code(period)
            if normalised in first_line:
                errors.append(
                    LineError(
                        line,
                        _("%(code)s is given twice (first on line %(first)s).")
                        % {"code": normalised, "first": first_line[normalised]},
                    )
                )
                period = None
            else:
                first_line[normalised] = line
        price, problem = _decimal(price_text, PRICE_PLACES, PRICE_DIGITS, positive=False)
        if problem:
            errors.append(LineError(line, problem))
        if period is not None and price is not None:
            points.append(
                CurvePoint(
                    period=_period_code(period),
                    kind=CurvePointKind(str(period.kind)),
                    start=period.start,
                    end=period.end,
                    price=price,
                )
            )
    return points, errors


def curve_import_csv(
    *,
    user: Any | None,
    market: Market,
    pricing_date: date,
    text: str | bytes,
    source: str = "",
    notes: str = "",
) -> ImportResult:
    """Import one market's curve for one pricing date from `period,price` CSV.

    All or nothing: any bad line and nothing is written, the errors come back by line. A date
    that already has a curve gets the next revision; the earlier ones stay as they were.
    """
    rows, errors = _rows(text, CURVE_HEADER)
    if errors:
        return ImportResult(errors=errors)
    points, errors = _parse_curve_rows(rows, pricing_date)
    if errors:
        return ImportResult(errors=errors)
    digest = hashlib.sha256(text if isinstance(text, bytes) else text.encode()).hexdigest()
    with transaction.atomic():
        # Two uploads for the same market and date would both read the same last revision and
        # collide on the unique constraint; locking the market row queues the second one.
        Market.objects.select_for_update().filter(pk=market.pk).values_list("pk").get()
        last = (
            CurveSnapshot.objects.filter(market=market, pricing_date=pricing_date)
            .order_by("-revision")
            .values_list("revision", flat=True)
            .first()
        )
        snapshot = CurveSnapshot.objects.create(
            market=market,
            pricing_date=pricing_date,
            revision=(last or 0) + 1,
            point_count=len(points),
            source=source,
            notes=notes,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        for point in points:
            point.snapshot = snapshot
        CurvePoint.objects.bulk_create(points)
        audit_append(
            actor=user,
            action=CURVE_IMPORTED,
            obj=snapshot,
            payload={
                "market": market.code,
                "pricing_date": pricing_date,
                "revision": snapshot.revision,
                "points": len(points),
                "sha256": digest,
            },
        )
    return ImportResult(snapshot=snapshot, created=len(points))


def _parse_fx_rows(
    rows: list[tuple[int, list[str]]],
) -> tuple[list[FxRate], list[LineError]]:
    rates: list[FxRate] = []
    errors: list[LineError] = []
    first_line: dict[tuple[str, str, date], int] = {}
    for line, cells in rows:
        if len(cells) != 4:
            errors.append(
                LineError(
                    line,
                    _("Expected 4 values (date,base,quote,rate), found %(n)s.") % {"n": len(cells)},
                )
            )
            continue
        day_text, base, quote, rate_text = cells
        base, quote = base.upper(), quote.upper()
        day: date | None
        try:
            day = date.fromisoformat(day_text)
            validate_date(day)  # 1990-01-01 to 2100-12-31, as every date the desk accepts
        except (ValueError, DjangoValidationError):
            errors.append(
                LineError(line, _("%(value)r is not a date (2026-08-18).") % {"value": day_text})
            )
            day = None
        currencies_ok = True
        for code in (base, quote):
            if not (len(code) == 3 and code.isascii() and code.isalpha()):
                errors.append(
                    LineError(
                        line, _("%(value)r is not a currency code (e.g. EUR).") % {"value": code}
                    )
                )
                currencies_ok = False
        if currencies_ok and base == quote:
            errors.append(LineError(line, _("Base and quote are the same currency.")))
            currencies_ok = False
        rate, problem = _decimal(rate_text, RATE_PLACES, RATE_DIGITS)
        if problem:
            errors.append(LineError(line, problem))
        if day is None or not currencies_ok or rate is None:
            continue
        key = (base, quote, day)
        if key in first_line:
            errors.append(
                LineError(
                    line,
                    _("%(base)s/%(quote)s on %(date)s is given twice (first on line %(first)s).")
                    % {"base": base, "quote": quote, "date": day_text, "first": first_line[key]},
                )
            )
            continue
        first_line[key] = line
        rates.append(FxRate(base=base, quote=quote, date=day, rate=rate))
    return rates, errors


def fx_import_csv(*, user: Any | None, text: str | bytes, source: str = "") -> ImportResult:
    """Import FX fixings from `date,base,quote,rate` CSV, all or nothing.

    A fixing already held with the same rate is skipped (re-importing a file changes nothing);
    one held with a different rate is an error on its line: rates are not overwritten.
    """
    rows, errors = _rows(text, FX_HEADER)
    if errors:
        return ImportResult(errors=errors)
    rates, errors = _parse_fx_rows(rows)
    if errors:
        return ImportResult(errors=errors)
    line_of = {
        (r.base, r.quote, r.date): line for (line, _cells), r in zip(rows, rates, strict=True)
    }
    with transaction.atomic():
        held = _held_rates(rates)
        new = []
        for rate in rates:
            key = (rate.base, rate.quote, rate.date)
            if key not in held:
                rate.source = source
                new.append(rate)
            elif held[key] != rate.rate:
                errors.append(
                    LineError(
                        line_of[key],
                        _(
                            "%(base)s/%(quote)s on %(date)s is already held at %(held)s; FX "
                            "rates are not overwritten."
                        )
                        % {
                            "base": rate.base,
                            "quote": rate.quote,
                            "date": rate.date.isoformat(),
                            "held": held[key].normalize(),
                        },
                    )
                )
        if errors:
            return ImportResult(errors=errors)
        FxRate.objects.bulk_create(new)
        audit_append(
            actor=user,
            action=FX_IMPORTED,
            obj=("trading.fxrate", ""),
            payload={
                "rates": len(new),
                "skipped": len(rates) - len(new),
                "pairs": sorted({f"{r.base}/{r.quote}" for r in new}),
                "first_date": min((r.date for r in new), default=None),
                "last_date": max((r.date for r in new), default=None),
            },
        )
    return ImportResult(created=len(new))


def _held_rates(rates: list[FxRate]) -> dict[tuple[str, str, date], Decimal]:
    """The fixings already stored for the pairs and dates of `rates` (one query)."""
    if not rates:
        return {}
    pairs = {(r.base, r.quote) for r in rates}
    scope = Q()
    for base, quote in pairs:
        scope |= Q(base=base, quote=quote)
    days = [r.date for r in rates]
    held = FxRate.objects.filter(scope, date__gte=min(days), date__lte=max(days)).values_list(
        "base", "quote", "date", "rate"
    )
    return {(base, quote, day): rate for base, quote, day, rate in held}


# --- Source files -------------------------------------------------------------------------------


def spot_series_read(path: Path) -> list[tuple[date, Decimal]]:
    """A `Date,Price` daily series (the EIA files in data/market/), oldest first.

    Prices are read as Decimal straight from their text; rows without a price are skipped.
    """
    series: list[tuple[date, Decimal]] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            price = (row.get("Price") or "").strip()
            if price:
                series.append((date.fromisoformat(row["Date"].strip()), Decimal(price)))
    series.sort()
    return series
