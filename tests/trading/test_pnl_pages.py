"""The positions grid, the P&L page and the valuation/P&L/hourly API, through their doors."""

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import translation

from apps.trading.models import Book, BookPnl, InterestRate, Market, MarketVolatility
from apps.trading.pnl import pnl_close
from tests.conftest import login_verified
from tests.trading.test_pnl import TUESDAY, WEDNESDAY, book, book_each_deal_type, curve

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.fixture
def market(seeded):
    """Today's and yesterday's curves and rates, and a 10 MW January position in PEU-FLOW."""
    InterestRate.objects.create(currency="EUR", date=TUESDAY, rate=Decimal(0))
    curve("eex-de-power", TUESDAY, "85")
    curve("eex-de-power", WEDNESDAY, "87")


@pytest.fixture
def position(market, trader):
    return book(trader, datetime(2026, 11, 24, 10, tzinfo=UTC))


def _client(client, user):
    login_verified(client, user)
    return client


# --- Positions grid ----------------------------------------------------------------------------


def test_positions_grid_shows_quantity_and_mtm_per_month(client, trader, position):
    response = _client(client, trader).get(reverse("trading:positions"), {"date": "2026-11-25"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<bdi>2027-01</bdi>" in html
    assert "PEU-FLOW" in html
    # 10 MW × 744 h = 7,440 MWh; MtM (87 − 80) × 7,440 = 52,080 EUR (rate 0).
    assert '<bdi class="quantity">7,440</bdi>' in html
    assert "52,080.00" in html


def test_positions_grid_partial_for_htmx(client, trader, position):
    response = _client(client, trader).get(
        reverse("trading:positions"), {"date": "2026-11-25"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert "<table" in html
    assert "<html" not in html
    assert "52,080.00" in html


def test_positions_grid_shows_nothing_of_another_desk(client, other_desk_trader, position):
    response = _client(client, other_desk_trader).get(
        reverse("trading:positions"), {"book": "PEU-FLOW", "date": "2026-11-25"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<bdi>PEU-FLOW</bdi>" not in html
    assert "<bdi>GUS-FLOW</bdi>" in html
    assert "52,080.00" not in html


def test_positions_grid_reloads_on_live_events(client, trader, position):
    html = _client(client, trader).get(reverse("trading:positions")).content.decode()
    grid = re.search(r'<div id="positions-grid"[^>]*>', html).group(0)
    assert f'hx-get="{reverse("trading:positions")}"' in grid
    assert 'hx-trigger="htmx:wsAfterMessage from:body throttle:1s"' in grid
    assert 'ws-connect="/ws/notifications/"' in html


# --- P&L page ----------------------------------------------------------------------------------


def test_pnl_page_shows_close_explain_and_chart_numbers(client, trader, position):
    pnl_close(on=WEDNESDAY, book_ids=[position.book_id])
    response = _client(client, trader).get(
        reverse("trading:pnl"), {"date": "2026-11-25", "book": "PEU-FLOW"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    # Curve 85 → 87 on 7,440 MWh: 14,880 EUR, all curve moves.
    assert "14,880.00" in html
    assert "Curve moves" in html
    data = json.loads(re.search(r'id="pnl-chart-data"[^>]*>(.*?)</script>', html).group(1))
    assert data == {"dates": ["2026-11-25"], "daily": [14880.0], "cumulative": [14880.0]}
    # A trader reads P&L but does not close it.
    assert reverse("trading:pnl-close") not in html


def test_pnl_page_month_and_year_to_date_sum_the_closes(client, trader, position):
    book_id = position.book_id
    BookPnl.objects.bulk_create(
        BookPnl(
            book_id=book_id,
            date=day,
            prior_date=day,
            currency="EUR",
            realised=0,
            unrealised=0,
            daily=amount,
            daily_realised=0,
            time_roll=0,
            curve_moves=amount,
            fx=0,
            new_trades=0,
            amendments=0,
            cancellations=0,
            unexplained=0,
            trade_count=1,
            computed_at=datetime(2026, 11, 25, tzinfo=UTC),
        )
        for day, amount in [
            (date(2025, 12, 31), Decimal(1000)),  # last year: in neither sum
            (date(2026, 10, 30), Decimal(100)),  # this year, last month
            (date(2026, 11, 2), Decimal(20)),
            (date(2026, 11, 24), Decimal(3)),
        ]
    )
    response = _client(client, trader).get(reverse("trading-api:pnl"), {"date": "2026-11-24"})
    [row] = [r for r in response.json() if r["book"] == "PEU-FLOW"]
    assert row["month_to_date"] == "23.00"
    assert row["year_to_date"] == "123.00"
    assert row["close_date"] == "2026-11-24"
    assert row["daily"] == "3.00"


def test_risk_manager_closes_the_day_from_the_page(client, risk_manager, position):
    response = _client(client, risk_manager).post(
        reverse("trading:pnl-close"), {"date": "2026-11-25"}
    )
    assert response.status_code == 302
    row = BookPnl.objects.get(book=position.book, date=WEDNESDAY)
    assert row.daily == Decimal("14880.00")
    # Every book of the risk manager's desks is closed, and nothing else.
    closed = set(BookPnl.objects.values_list("book__desk__code", flat=True))
    assert closed <= set(risk_manager.desks.values_list("code", flat=True))


def test_trader_cannot_close_the_day(client, trader, position):
    response = _client(client, trader).post(reverse("trading:pnl-close"), {"date": "2026-11-25"})
    assert response.status_code == 403
    assert not BookPnl.objects.exists()


def test_closing_a_future_day_is_refused(client, risk_manager, position):
    response = _client(client, risk_manager).post(
        reverse("trading:pnl-close"), {"date": "2999-01-01"}
    )
    assert response.status_code == 302
    assert not BookPnl.objects.exists()


# --- API ---------------------------------------------------------------------------------------


def test_trade_valuation_api(client, trader, position):
    response = _client(client, trader).get(
        reverse("trading-api:trade-valuation", kwargs={"pk": position.pk}), {"date": "2026-11-25"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["mtm"] == "52080.00"
    assert body["unrealised"] == "52080.00"
    assert body["currency"] == "EUR"
    assert body["missing"] == []


def test_trade_valuation_api_is_404_for_another_desk(client, other_desk_trader, position):
    response = _client(client, other_desk_trader).get(
        reverse("trading-api:trade-valuation", kwargs={"pk": position.pk})
    )
    assert response.status_code == 404


def test_trade_valuation_api_names_missing_market_data(client, trader, market):
    trade = book(trader, datetime(2026, 11, 24, 10, tzinfo=UTC), period="2027-02")
    response = _client(client, trader).get(
        reverse("trading-api:trade-valuation", kwargs={"pk": trade.pk}), {"date": "2026-11-25"}
    )
    body = response.json()
    assert body["mtm"] == "0.00"
    assert body["missing"] == [
        {
            "kind": "forward",
            "what": "eex-de-power 2027-02",
            "message": "No forward price for eex-de-power 2027-02.",
        }
    ]


def test_trade_valuation_api_rejects_a_bad_date(client, trader, position):
    response = _client(client, trader).get(
        reverse("trading-api:trade-valuation", kwargs={"pk": position.pk}), {"date": "25/11/2026"}
    )
    assert response.status_code == 400
    assert "date" in response.json()


def test_pnl_api_lists_only_the_users_books(client, other_desk_trader, position):
    pnl_close(on=WEDNESDAY)
    response = _client(client, other_desk_trader).get(
        reverse("trading-api:pnl"), {"date": "2026-11-25"}
    )
    assert response.status_code == 200
    books = {row["book"] for row in response.json()}
    assert books == set(
        Book.objects.filter(desk__members=other_desk_trader).values_list("code", flat=True)
    )
    assert "PEU-FLOW" not in books


# --- Hourly power positions --------------------------------------------------------------------


def test_hourly_positions_have_743_hours_in_march_and_follow_the_profile(client, trader, seeded):
    moment = datetime(2026, 11, 24, 10, tzinfo=UTC)
    book(trader, moment, period="2027-03", quantity=Decimal(10))
    book(trader, moment, period="2027-03", quantity=Decimal(5), profile="peak", side="sell")
    response = _client(client, trader).get(
        reverse("trading-api:position-hourly"),
        {"book": "PEU-FLOW", "market": "eex-de-power", "month": "2027-03"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["time_zone"] == "Europe/Berlin"
    hours = body["hours"]
    # Clocks go forward on 28 March 2027: 31 × 24 − 1 hours.
    assert len(hours) == 743
    by_local = {h["local_start"]: Decimal(h["quantity"]) for h in hours}
    # Monday 1 March, 10:00 Berlin: base 10 − peak 5; 03:00 off-peak: 10.
    assert by_local["2027-03-01T10:00:00+01:00"] == Decimal(5)
    assert by_local["2027-03-01T03:00:00+01:00"] == Decimal(10)
    assert hours[0]["start"] == "2027-02-28T23:00:00Z"


def test_hourly_positions_bad_input(client, trader, other_desk_trader, seeded):
    c = _client(client, trader)
    url = reverse("trading-api:position-hourly")
    gas = c.get(url, {"book": "PEU-FLOW", "market": "ttf", "month": "2027-03"})
    assert gas.status_code == 400
    assert "market" in gas.json()
    month = c.get(url, {"book": "PEU-FLOW", "market": "eex-de-power", "month": "2027-13"})
    assert month.status_code == 400
    assert "month" in month.json()
    foreign = c.get(url, {"book": "GUS-FLOW", "market": "eex-de-power", "month": "2027-03"})
    assert foreign.status_code == 404


def test_trade_page_shows_its_mtm_today(client, trader, position):
    noon = datetime(2026, 11, 25, 12, tzinfo=UTC)
    with mock.patch("django.utils.timezone.now", return_value=noon):
        response = _client(client, trader).get(
            reverse("trading:trade-detail", kwargs={"pk": position.pk})
        )
    html = response.content.decode()
    assert "Valuation today" in html
    # (87 − 80) × 7,440 MWh on the curve of 2026-11-25.
    assert "52,080.00 EUR" in html


# --- Every deal type through the doors ---------------------------------------------------------


@pytest.fixture
def deal_types(seeded, trader):
    """The four non-fixed deal types booked on Tuesday (see test_pnl's gas_days)."""
    InterestRate.objects.create(currency="EUR", date=TUESDAY, rate=Decimal(0))
    for market, tuesday, wednesday in (("eex-de-power", "85", "87"), ("ttf", "32", "33")):
        curve(market, TUESDAY, tuesday)
        curve(market, WEDNESDAY, wednesday)
    MarketVolatility.objects.create(
        market=Market.objects.get(code="ttf"), volatility=Decimal("0.5")
    )
    return book_each_deal_type(trader, datetime(2026, 11, 24, 10, tzinfo=UTC))


def test_trade_valuation_api_values_each_deal_type(client, trader, deal_types):
    c = _client(client, trader)

    def valued(name: str) -> dict:
        url = reverse("trading-api:trade-valuation", kwargs={"pk": deal_types[name].pk})
        response = c.get(url, {"date": "2026-11-25"})
        assert response.status_code == 200
        return response.json()

    # Wednesday: TTF 33, EEX 87, rate 0, 310 MWh unless said.
    # Index forward: (33 − 87 + 53) × 310 = −310.
    assert valued("index")["mtm"] == "-310.00"
    # Sold swap at 31: −(33 − 31) × 310 = −620.
    assert valued("swap")["mtm"] == "-620.00"
    # Future at 32.50 on 620 MWh: 0.50 × 620 = 310.
    assert valued("future")["mtm"] == "310.00"
    # Call, K 30, premium 2, σ 50 %, 33 days, F 33: d1 = 0.709126, N(d1) = 0.760877,
    # N(d2) = 0.711846; call = 33 × 0.760877 − 30 × 0.711846 = 3.753574;
    # (3.753574 − 2) × 310 = 543.61. Delta N(d1) × 310 = 235.871873.
    # Vega F × n(d1) × √T × 310: n(d1) = exp(−0.251430) / √(2π) = 0.777688 / 2.506628
    # = 0.310253; 33 × 0.310253 × 0.300684 × 310 = 954.34.
    option = valued("option")
    assert option["mtm"] == option["unrealised"] == "543.61"
    assert option["delta"] == "235.871873"
    assert option["vega"] == "954.34"
    assert option["missing"] == []


def test_positions_grid_shows_options_at_the_days_delta(client, trader, deal_types):
    c = _client(client, trader)
    wednesday = c.get(reverse("trading:positions"), {"date": "2026-11-25", "book": "PEU-FLOW"})
    html = wednesday.content.decode()
    # Kept: 310 − 310 + 620 + 214.268140 (the call booked at a delta of 0.69118755).
    # On Wednesday's curve the call's delta is 0.760877 (235.871873 MWh), so the TTF cell is
    # 310 − 310 + 620 + 235.871873 = 855.871873.
    assert '<bdi class="quantity">855.872</bdi>' in html
    # The book's MtM: −310 − 620 + 310 + 543.61 = −76.39.
    assert "-76.39 EUR" in html
    # On Tuesday's market (the booking's, rate zero) the delta is the booked one again:
    # 0.691187553 × 310 = 214.268141, so 310 − 310 + 620 + 214.268141.
    tuesday = c.get(reverse("trading:positions"), {"date": "2026-11-24", "book": "PEU-FLOW"})
    assert '<bdi class="quantity">834.268</bdi>' in tuesday.content.decode()


# --- Arabic, right to left ---------------------------------------------------------------------


def _arabic(client, user):
    user.language = "ar"
    user.save()
    c = _client(client, user)
    c.cookies["django_language"] = "ar"
    return c


def test_positions_grid_renders_in_arabic_rtl(client, trader, position):
    response = _arabic(client, trader).get(
        reverse("trading:positions"), {"date": "2026-11-25"}, headers={"accept-language": "ar"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="ar" dir="rtl">' in html
    with translation.override("ar"):
        title = str(translation.pgettext("trading position", "Positions"))
    assert title != "Positions"
    assert f"<h1>{title}</h1>" in html
    # Codes and months isolated left to right; figures in Arabic's number format (decimal
    # comma, no grouping), each in its own <bdi> with its currency: 7,440 MWh, 52,080 EUR.
    assert "<bdi>2027-01</bdi>" in html
    assert "<bdi>PEU-FLOW</bdi>" in html
    assert '<bdi class="quantity">7440</bdi>' in html
    assert '<bdi class="small muted">52080,00</bdi>' in html
    assert "<bdi>52080,00 EUR</bdi>" in html


def test_pnl_page_renders_in_arabic_rtl_with_plain_chart_numbers(client, trader, position):
    pnl_close(on=WEDNESDAY, book_ids=[position.book_id])
    response = _arabic(client, trader).get(
        reverse("trading:pnl"),
        {"date": "2026-11-25", "book": "PEU-FLOW"},
        headers={"accept-language": "ar"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="ar" dir="rtl">' in html
    with translation.override("ar"):
        curve_moves = str(translation.gettext("Curve moves"))
    assert curve_moves != "Curve moves"
    assert curve_moves in html
    # The chart reads plain numbers (json_script), never Arabic-formatted text, and is told
    # to draw right to left.
    data = json.loads(re.search(r'id="pnl-chart-data"[^>]*>(.*?)</script>', html).group(1))
    assert data == {"dates": ["2026-11-25"], "daily": [14880.0], "cumulative": [14880.0]}
    assert 'data-rtl="1"' in html
