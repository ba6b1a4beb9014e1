"""Market data: curve and FX imports, curve and FX reads, the demo history command."""

# ruff: noqa: E501 -- the bad-input cases are laid out as a table, one case a line

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from apps.compliance.models import AuditEntry
from apps.trading.marketdata import (
    MarketDataError,
    curve_import_csv,
    curve_on,
    curve_price,
    curves_on,
    fx_convert,
    fx_import_csv,
    fx_rate,
)
from apps.trading.models import CurvePoint, CurveSnapshot, FxRate, Market
from tests.trading.factories import MarketFactory

PRICING_DATE = date(2026, 8, 18)
GOOD_CSV = "period,price\n2026-09,35.25\n2026-10,36.1\n2027-Q1,40.125\n"


@pytest.fixture
def ttf(db) -> Market:
    return MarketFactory(code="ttf", currency="EUR")


def _import(market: Market, text: str | bytes, day: date = PRICING_DATE, user=None):
    return curve_import_csv(user=user, market=market, pricing_date=day, text=text)


def _prices(snapshot: CurveSnapshot) -> list[tuple[str, str, date, date, Decimal]]:
    return list(snapshot.points.values_list("period", "kind", "start", "end", "price"))


# --- Curve import -------------------------------------------------------------------------------


def test_curve_import_csv_writes_the_snapshot_its_points_and_one_audit_entry(ttf, risk_manager):
    result = _import(ttf, GOOD_CSV, user=risk_manager)

    assert result.ok
    snapshot = result.snapshot
    assert (snapshot.market, snapshot.pricing_date, snapshot.revision) == (ttf, PRICING_DATE, 1)
    assert snapshot.point_count == 3
    assert snapshot.created_by == risk_manager
    assert _prices(snapshot) == [
        ("2026-09", "month", date(2026, 9, 1), date(2026, 10, 1), Decimal("35.250000")),
        ("2026-10", "month", date(2026, 10, 1), date(2026, 11, 1), Decimal("36.100000")),
        ("2027-Q1", "quarter", date(2027, 1, 1), date(2027, 4, 1), Decimal("40.125000")),
    ]
    entry = AuditEntry.objects.get()
    assert entry.action == "marketdata.curve_imported"
    assert entry.actor == risk_manager
    assert (entry.object_type, entry.object_id) == ("trading.curvesnapshot", str(snapshot.pk))
    assert {
        key: entry.payload[key] for key in ("market", "pricing_date", "revision", "points")
    } == {
        "market": "ttf",
        "pricing_date": "2026-08-18",
        "revision": 1,
        "points": 3,
    }


def test_curve_import_csv_accepts_bytes_with_bom_crlf_and_lower_case_quarters(ttf):
    result = _import(ttf, "\ufeffPeriod, Price\r\n2027-q2,41\r\n\r\n".encode())
    assert result.ok, result.errors
    assert _prices(result.snapshot) == [
        ("2027-Q2", "quarter", date(2027, 4, 1), date(2027, 7, 1), Decimal("41.000000"))
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", [(1, "The file is empty.")], id="empty"),
        pytest.param("\n \n", [(1, "The file is empty.")], id="blank"),
        pytest.param("period,price\n", [(1, "no data lines")], id="header-only"),
        pytest.param("month,price\n2026-09,1\n", [(1, "header period,price")], id="header"),
        pytest.param("period,price\n2026-09,35\n2026-13,36\n", [(3, "'2026-13' is not a month")], id="bad-period"),
        pytest.param("period,price\n2026-09-01,35\n", [(2, "only monthly")], id="day-period"),
        pytest.param("period,price\nCAL-2027,35\n", [(2, "only monthly")], id="year-period"),
        pytest.param("period,price\n2026-07,35\n", [(2, "delivered before the pricing date 2026-08-18")], id="expired"),
        pytest.param("period,price\n2026-09,abc\n", [(2, "'abc' is not a number")], id="non-numeric"),
        pytest.param("period,price\n2026-09,NaN\n", [(2, "'NaN' is not a number")], id="nan"),
        pytest.param("period,price\n2026-09,1.1234567\n", [(2, "At most 6 decimal places")], id="too-precise"),
        pytest.param("period,price\n2026-09,1234567890123\n", [(2, "too large")], id="too-large"),
        pytest.param("period,price\n2026-09,1\n2026-10,2\n2026-09,3\n", [(4, "2026-09 is given twice (first on line 2)")], id="duplicate"),
        pytest.param("period,price\n2026-09,1,2\n", [(2, "Expected 2 values")], id="columns"),
        pytest.param("period,price\n2026-09,35\n2026-10,\"36\n", [(3, "The CSV is malformed")], id="unterminated-quote"),
        pytest.param(b"period,price\n2026-09,35\n2026-10,\xff36\n", [(3, "not UTF-8")], id="not-utf8"),
        pytest.param("period,price\n" + "2026-09,1\n" * 10_001, [(10_002, "more than 10,000 data lines")], id="too-long"),
    ],
)  # fmt: skip
def test_curve_import_csv_bad_input_reports_the_line_and_writes_nothing(ttf, text, expected):
    result = _import(ttf, text)

    assert not result.ok
    assert result.snapshot is None
    assert [error.line for error in result.errors] == [line for line, _fragment in expected]
    for (_line, fragment), error in zip(expected, result.errors, strict=True):
        assert fragment in str(error.message)
    assert CurveSnapshot.objects.count() == 0
    assert CurvePoint.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_curve_import_csv_reports_every_bad_line_at_once(ttf):
    result = _import(ttf, "period,price\n2026-09,35\n2026-XX,36\n2026-11,abc\n2026-12,37\n")
    assert [(e.line, str(e.message)) for e in result.errors] == [
        (3, "'2026-XX' is not a month (2027-01) or quarter (2027-Q1) code."),
        (4, "'abc' is not a number."),
    ]


def test_curve_import_csv_accepts_zero_and_negative_prices(ttf):
    # Power and gas settle below zero at times (and WTI spot did on 2020-04-20): a curve
    # point is a price, not a magnitude.
    result = _import(ttf, "period,price\n2026-09,-12.5\n2026-10,0\n2026-11,41.25\n")
    assert result.ok
    points = dict(result.snapshot.points.values_list("period", "price"))
    assert points == {
        "2026-09": Decimal("-12.5"),
        "2026-10": Decimal(0),
        "2026-11": Decimal("41.25"),
    }


def test_curve_import_csv_again_for_the_same_date_adds_revision_2_and_keeps_revision_1(ttf):
    first = _import(ttf, GOOD_CSV).snapshot
    second = _import(ttf, "period,price\n2026-09,34.5\n").snapshot

    assert (first.revision, second.revision) == (1, 2)
    curve = curve_on(ttf, PRICING_DATE)
    assert (curve.snapshot_id, curve.revision) == (second.pk, 2)
    assert curve_price(curve, date(2026, 9, 1)) == Decimal("34.500000")
    # Revision 1 is untouched: history is kept.
    assert CurveSnapshot.objects.filter(market=ttf, pricing_date=PRICING_DATE).count() == 2
    assert _prices(first)[0][-1] == Decimal("35.250000")
    assert AuditEntry.objects.filter(action="marketdata.curve_imported").count() == 2


# --- Curve reads --------------------------------------------------------------------------------


def test_curve_on_takes_the_latest_snapshot_at_or_before_the_date(ttf):
    _import(ttf, "period,price\n2026-09,30\n", day=date(2026, 8, 14))
    _import(ttf, "period,price\n2026-09,31\n", day=date(2026, 8, 17))
    _import(ttf, "period,price\n2026-09,32\n", day=date(2026, 8, 19))

    on_saturday = curve_on(ttf, date(2026, 8, 16))
    assert on_saturday.pricing_date == date(2026, 8, 14)
    assert curve_price(on_saturday, "2026-09") == Decimal("30.000000")
    assert curve_on(ttf, date(2026, 8, 18)).pricing_date == date(2026, 8, 17)
    assert curve_on(ttf, date(2026, 8, 19)).pricing_date == date(2026, 8, 19)


def test_curve_on_without_a_curve_names_the_market_and_date(ttf, django_assert_num_queries):
    _import(ttf, "period,price\n2026-09,30\n", day=date(2026, 8, 14))
    with pytest.raises(MarketDataError) as error:
        curve_on(ttf, date(2026, 8, 13))
    assert str(error.value) == "There is no forward curve for ttf on or before 2026-08-13."


def test_curve_on_costs_two_queries(ttf, django_assert_num_queries):
    _import(ttf, GOOD_CSV)
    with django_assert_num_queries(2):
        curve = curve_on(ttf, PRICING_DATE)
    assert len(curve.points) == 3


def test_curve_price_uses_the_month_then_the_quarter_then_refuses(ttf):
    _import(ttf, "period,price\n2027-01,40\n2027-Q1,42\n")
    curve = curve_on(ttf, PRICING_DATE)

    assert curve_price(curve, date(2027, 1, 15)) == Decimal("40.000000")  # its own month
    assert curve_price(curve, date(2027, 2, 1)) == Decimal("42.000000")  # the quarter
    assert curve_price(curve, "2027-03") == Decimal("42.000000")
    with pytest.raises(MarketDataError) as error:
        curve_price(curve, date(2027, 4, 1))
    assert str(error.value) == (
        "The ttf curve of 2026-08-18 (revision 1) has no price for 2027-04, neither monthly "
        "nor quarterly."
    )
    with pytest.raises(MarketDataError):
        curve_price(curve, "2027-Q1")


def test_curves_on_loads_many_markets_in_a_fixed_number_of_queries(ttf, django_assert_num_queries):
    hub = MarketFactory(code="henry-hub", currency="USD")
    empty = MarketFactory(code="nbp", currency="GBP")
    _import(ttf, "period,price\n2026-09,30\n", day=date(2026, 8, 14))
    _import(ttf, "period,price\n2026-09,31\n", day=date(2026, 8, 14))
    _import(hub, "period,price\n2026-09,2.82\n2026-10,2.9\n")

    with django_assert_num_queries(2):
        curves = curves_on([ttf, hub, empty], PRICING_DATE)

    assert sorted(curves) == ["henry-hub", "ttf"]
    assert (curves["ttf"].revision, curve_price(curves["ttf"], "2026-09")) == (2, Decimal("31"))
    assert curve_price(curves["henry-hub"], "2026-10") == Decimal("2.9")


# --- FX -----------------------------------------------------------------------------------------


@pytest.fixture
def fx_rates(db) -> None:
    FxRate.objects.bulk_create(
        [
            FxRate(base="EUR", quote="USD", date=date(2026, 8, 14), rate=Decimal("1.25")),
            FxRate(base="EUR", quote="USD", date=date(2026, 8, 17), rate=Decimal("1.1")),
            FxRate(base="USD", quote="AED", date=date(2026, 8, 17), rate=Decimal("3.6725")),
        ]
    )


def test_fx_rate_direct_is_the_latest_fixing_at_or_before_the_date(fx_rates):
    assert fx_rate("EUR", "USD", date(2026, 8, 14)) == Decimal("1.25")
    assert fx_rate("EUR", "USD", date(2026, 8, 16)) == Decimal("1.25")
    assert fx_rate("eur", "usd", date(2026, 8, 18)) == Decimal("1.1")


def test_fx_rate_inverse_when_only_the_other_way_is_held(fx_rates):
    assert fx_rate("USD", "EUR", date(2026, 8, 14)) == Decimal("0.8")
    assert fx_rate("AED", "USD", date(2026, 8, 18)) == Decimal(1) / Decimal("3.6725")


def test_fx_rate_of_a_currency_to_itself_is_one_without_a_query(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert fx_rate("GBP", "GBP", date(2026, 8, 18)) == Decimal(1)


@pytest.mark.parametrize(
    ("base", "quote", "day"),
    [("EUR", "USD", date(2026, 8, 13)), ("GBP", "USD", date(2026, 8, 18))],
)
def test_fx_rate_unknown_is_an_error(fx_rates, base, quote, day):
    with pytest.raises(MarketDataError) as error:
        fx_rate(base, quote, day)
    assert str(error.value) == (
        f"There is no {base}/{quote} FX rate on or before {day.isoformat()}."
    )


def test_fx_convert_multiplies_by_the_rate(fx_rates):
    assert fx_convert(Decimal("1000.00"), "EUR", "USD", date(2026, 8, 14)) == Decimal("1250.0000")
    assert fx_convert(Decimal("1250"), "USD", "EUR", date(2026, 8, 14)) == Decimal("1000.0")


def test_fx_import_csv_writes_rates_is_idempotent_and_refuses_overwrites(db):
    text = "date,base,quote,rate\n2026-08-17,eur,usd,1.1\n2026-08-17,GBP,USD,1.3\n"
    assert fx_import_csv(user=None, text=text).created == 2
    assert fx_rate("GBP", "USD", date(2026, 8, 17)) == Decimal("1.3")

    again = fx_import_csv(user=None, text=text)
    assert (again.ok, again.created) == (True, 0)

    changed = fx_import_csv(user=None, text="date,base,quote,rate\n2026-08-17,GBP,USD,1.31\n")
    assert [(e.line, str(e.message)) for e in changed.errors] == [
        (2, "GBP/USD on 2026-08-17 is already held at 1.3; FX rates are not overwritten.")
    ]
    assert FxRate.objects.count() == 2
    assert AuditEntry.objects.filter(action="marketdata.fx_imported").count() == 2


def test_fx_import_csv_bad_lines_are_reported_and_nothing_is_written(db):
    text = (
        "date,base,quote,rate\n"
        "2026-08-32,EUR,USD,1.1\n"
        "2026-08-17,EURO,USD,1.1\n"
        "2026-08-17,USD,USD,1\n"
        "2026-08-17,EUR,USD,0\n"
        "2026-08-18,EUR,USD,1.1\n"
        "2026-08-18,EUR,USD,1.1\n"
    )
    result = fx_import_csv(user=None, text=text)
    assert [(e.line, str(e.message)) for e in result.errors] == [
        (2, "'2026-08-32' is not a date (2026-08-18)."),
        (3, "'EURO' is not a currency code (e.g. EUR)."),
        (4, "Base and quote are the same currency."),
        (5, "The value must be greater than zero, not 0."),
        (7, "EUR/USD on 2026-08-18 is given twice (first on line 6)."),
    ]
    assert FxRate.objects.count() == 0
    assert AuditEntry.objects.count() == 0


# --- The demo history ---------------------------------------------------------------------------


def test_seed_market_data_front_month_is_the_real_henry_hub_spot_and_reruns_add_nothing(seeded):
    call_command("seed_market_data", "--from", "2026-08-12", "--to", "2026-08-18", verbosity=0)
    counts = (CurveSnapshot.objects.count(), CurvePoint.objects.count(), FxRate.objects.count())

    hub = Market.objects.get(code="henry-hub")
    # henry-hub-daily.csv: 2026-08-14,2.79 and 2026-08-18,2.82 (EIA).
    assert curve_price(curve_on(hub, date(2026, 8, 14)), "2026-09") == Decimal("2.790")
    curve = curve_on(hub, date(2026, 8, 18))
    assert curve_price(curve, "2026-09") == Decimal("2.820")
    assert len(curve.points) == 28  # 24 months and 4 quarters
    assert [p.period for p in curve.points if p.kind == "quarter"] == [
        "2028-Q3",
        "2028-Q4",
        "2029-Q1",
        "2029-Q2",
    ]
    # brent-daily.csv: 2026-08-18,95.29.
    brent = curve_on(Market.objects.get(code="ice-brent"), date(2026, 8, 18))
    assert curve_price(brent, "2026-09") == Decimal("95.290")
    # Five EIA trading days in the window (12, 13, 14, 17, 18 August) for each of 10 markets.
    assert counts[0] == 50
    assert CurveSnapshot.objects.filter(market=hub).count() == 5
    assert set(CurveSnapshot.objects.values_list("source", flat=True)) == {
        "demo curve derived from EIA spot prices; not market data"
    }
    assert fx_rate("USD", "AED", date(2026, 8, 18)) == Decimal("3.6725")
    assert counts[2] == 4 * 5  # four pairs, five weekdays

    call_command("seed_market_data", "--from", "2026-08-12", "--to", "2026-08-18", verbosity=0)
    assert (
        CurveSnapshot.objects.count(),
        CurvePoint.objects.count(),
        FxRate.objects.count(),
    ) == counts
    assert AuditEntry.objects.filter(action="marketdata.demo_seeded").count() == 1


def test_seed_market_data_without_the_data_folder_fails_unless_told_to_skip(seeded, tmp_path):
    missing = Path(tmp_path) / "nowhere"
    with pytest.raises(CommandError, match="EIA spot price files are not in"):
        call_command("seed_market_data", "--data-dir", str(missing), verbosity=0)
    call_command("seed_market_data", "--data-dir", str(missing), "--if-missing-skip", verbosity=0)
    assert CurveSnapshot.objects.count() == 0


# The real EIA files cut to a few days around each edge of the default history (two years to
# the last day of the data, and CRISIS_WINDOW for the 2021–22 stress scenario).
EDGES = [
    (date(2021, 6, 28), date(2021, 8, 6)),
    (date(2022, 8, 22), date(2022, 9, 2)),
    (date(2024, 8, 12), date(2024, 8, 23)),
    (date(2026, 8, 12), date(2026, 8, 18)),
]


@pytest.fixture
def edge_data(tmp_path) -> Path:
    source = Path(django_settings.BASE_DIR) / "data" / "market"
    for name in ("henry-hub-daily.csv", "brent-daily.csv", "wti-daily.csv"):
        lines = (source / name).read_text().splitlines()
        kept = [
            line
            for line in lines[1:]
            if any(a <= date.fromisoformat(line.split(",")[0]) <= b for a, b in EDGES)
        ]
        (tmp_path / name).write_text("\n".join([lines[0], *kept]) + "\n")
    return tmp_path


def test_seed_market_data_by_default_holds_two_years_and_the_2021_22_window(seeded, edge_data):
    # As of the day after the last EIA day: nothing to roll forward (0 weeks), real dates.
    call_command(
        "seed_market_data", "--data-dir", str(edge_data), "--as-of", "2026-08-19", verbosity=0
    )

    hub = Market.objects.get(code="henry-hub")
    days = sorted(CurveSnapshot.objects.filter(market=hub).values_list("pricing_date", flat=True))
    # From 2021-07-01 to 2022-08-31, and from 2024-08-18 (two years before 2026-08-18): the
    # days outside both (June 2021, September 2022, mid-August 2024) are left out.
    assert days[0] == date(2021, 7, 1)
    assert max(d for d in days if d.year < 2024) == date(2022, 8, 31)
    assert min(d for d in days if d.year >= 2024) == date(2024, 8, 19)
    assert days[-1] == date(2026, 8, 18)
    assert all(
        date(2021, 7, 1) <= d <= date(2022, 8, 31) or date(2024, 8, 18) <= d <= date(2026, 8, 18)
        for d in days
    )
    # The scenario's two ends are days of the history (henry-hub-daily.csv: 4.02 and 9.48).
    assert curve_price(curve_on(hub, date(2021, 8, 2)), "2021-09") == Decimal("4.020")
    assert curve_price(curve_on(hub, date(2022, 8, 26)), "2022-09") == Decimal("9.480")
    assert fx_rate("EUR", "USD", date(2021, 8, 2)) is not None
    entry = AuditEntry.objects.get(action="marketdata.demo_seeded")
    assert entry.payload["windows"] == [
        ["2021-07-01", "2022-08-31"],
        ["2024-08-18", "2026-08-18"],
    ]
    assert entry.payload["weeks_forward"] == 0


def test_seed_market_data_rolls_the_last_two_years_forward_by_whole_weeks(seeded, edge_data):
    # As of Monday 2026-12-07: T = Friday 2026-12-04; 2026-08-18 + 16 weeks = 2026-12-08 ≥ T
    # (15 weeks: 2026-12-01 < T), so each EIA day moves 112 days forward and 17-18 August,
    # landing after T, are dropped.
    call_command(
        "seed_market_data", "--data-dir", str(edge_data), "--as-of", "2026-12-07", verbosity=0
    )

    hub = Market.objects.get(code="henry-hub")
    snapshots = CurveSnapshot.objects.filter(market=hub, pricing_date__gte=date(2024, 1, 1))
    assert sorted(snapshots.values_list("pricing_date", flat=True)) == [
        # EIA 2024-08-14 … 2024-08-23 (two years before T: 2024-12-04 = 2024-08-14 + 112 days)
        date(2024, 12, 4), date(2024, 12, 5), date(2024, 12, 6), date(2024, 12, 9),
        date(2024, 12, 10), date(2024, 12, 11), date(2024, 12, 12), date(2024, 12, 13),
        # EIA 2026-08-12, 13, 14
        date(2026, 12, 2), date(2026, 12, 3), date(2026, 12, 4),
    ]  # fmt: skip
    assert set(snapshots.values_list("source", flat=True)) == {
        "demo history: curve derived from EIA spot prices moved 16 weeks forward; not market data"
    }
    # henry-hub-daily.csv: 2026-08-14,2.79 (a Friday, now Friday 2026-12-04); front month Jan.
    assert curve_price(curve_on(hub, date(2026, 12, 4)), "2027-01") == Decimal("2.790")
    brent = curve_on(Market.objects.get(code="ice-brent"), date(2026, 12, 4))
    assert brent.pricing_date == date(2026, 12, 4)
    # The 2021–22 window keeps its real dates and the plain source.
    crisis = CurveSnapshot.objects.get(market=hub, pricing_date=date(2022, 8, 26))
    assert crisis.source == "demo curve derived from EIA spot prices; not market data"
    assert curve_price(curve_on(hub, date(2022, 8, 26)), "2022-09") == Decimal("9.480")
    entry = AuditEntry.objects.get(action="marketdata.demo_seeded")
    assert entry.payload["weeks_forward"] == 16
    assert entry.payload["windows"] == [
        ["2021-07-01", "2022-08-31"],
        ["2024-12-04", "2026-12-04"],
    ]

    counts = (CurveSnapshot.objects.count(), CurvePoint.objects.count(), FxRate.objects.count())
    call_command(
        "seed_market_data", "--data-dir", str(edge_data), "--as-of", "2026-12-07", verbosity=0
    )
    assert (
        CurveSnapshot.objects.count(),
        CurvePoint.objects.count(),
        FxRate.objects.count(),
    ) == counts


def test_seed_market_data_rolled_history_ends_on_t_when_the_eia_skips_that_day(seeded, tmp_path):
    for name in ("henry-hub-daily.csv", "brent-daily.csv", "wti-daily.csv"):
        # No price on Friday 2026-08-14 (as on a U.S. holiday): T − 16 weeks.
        (tmp_path / name).write_text("Date,Price\n2026-08-13,2.75\n2026-08-18,2.82\n")
    call_command(
        "seed_market_data",
        "--data-dir",
        str(tmp_path),
        "--as-of",
        "2026-12-05",  # a Saturday: T is Friday 2026-12-04 too
        verbosity=0,
    )

    hub = Market.objects.get(code="henry-hub")
    assert sorted(
        CurveSnapshot.objects.filter(market=hub).values_list("pricing_date", flat=True)
    ) == [date(2026, 12, 3), date(2026, 12, 4)]
    # Thursday's price carried to T.
    assert curve_price(curve_on(hub, date(2026, 12, 4)), "2027-01") == Decimal("2.750")


def test_seed_market_data_gas_crisis_scenario_applies_to_the_demo_book(
    seeded, edge_data, settings, django_capture_on_commit_callbacks
):
    from apps.risk.models import RunStatus, StressOutcome, StressScenario
    from apps.risk.services import risk_run_request, snapshot_inputs

    settings.DEBUG = True  # the demo commands refuse to run otherwise
    call_command("seed_market_data", "--data-dir", str(edge_data), verbosity=0)
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo_trades", verbosity=0)
    scenario = StressScenario.objects.get(name="Gas crisis 2021–22")

    with django_capture_on_commit_callbacks(execute=True):
        run = risk_run_request(
            user=None,
            desk=None,
            parameters={
                "window": 3, "confidences": [0.95], "methods": ["historical"],
                "credit": False, "backtest": False,
            },
        )  # fmt: skip
    run.refresh_from_db()

    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), (run.error, run.problems)
    total = StressOutcome.objects.get(run=run, scenario=scenario, desk=None, label="total")
    assert total.error == ""
    # Every demo curve is August's shape on both days (front month September), so each of a
    # market's tenors moves by its spot series' ratio (EIA, 2021-08-02 → 2022-08-26); the
    # gas and crude desks' books are linear and in USD: P&L = Σ exposure × move (the power
    # desk's, in euros with an option, is left out of the sum).
    moves = {
        "henry-hub": 9.48 / 4.02 - 1,
        "ice-brent": 101.13 / 73.91 - 1,
        "dubai-crude": 101.13 / 73.91 - 1,
        "nymex-wti": 93.63 / 71.31 - 1,
    }
    inputs, _scenarios = snapshot_inputs(run)
    usd = {"gas-us", "crude-me"}
    linear = [
        (float(exposure), str(market))
        for exposure, market, desk in zip(
            inputs.linear_exposure,
            inputs.linear_labels["market"],
            inputs.linear_labels["desk"],
            strict=True,
        )
        if str(desk) in usd
    ]
    assert {market for _e, market in linear} == set(moves)
    expected = sum(exposure * moves[market] for exposure, market in linear)
    assert abs(expected) > 100_000  # gas up 136 %, crude up 31–37 %: no small move
    desks = StressOutcome.objects.filter(run=run, scenario=scenario, label="total").exclude(
        desk=None
    )
    assert {o.desk.code for o in desks} == {"gas-us", "crude-me", "power-eu"}
    in_usd = sum(float(o.pnl) for o in desks if o.desk.code in usd)
    assert in_usd == pytest.approx(expected, rel=1e-3)  # curves rounded to 0.001
    # Each figure is rounded to the cent on its own.
    assert abs(sum(o.pnl for o in desks) - total.pnl) <= Decimal("0.02")
