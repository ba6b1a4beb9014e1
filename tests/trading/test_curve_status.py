"""The curve date every valuing page shows, its demo label, and the stale and missing warnings
(apps.trading.curve_status), through the pages."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.trading.curve_status import CurveStatus, curve_status
from apps.trading.models import CurveSnapshot, Market
from apps.trading.services import trade_book
from tests.conftest import login_verified
from tests.trading.factories import trade_terms

pytestmark = pytest.mark.usefixtures("seeded")

STALE = "These curves are older than the market"
MISSING = "No forward curve is held for these markets: nothing here can be valued."
PAGES = ["trading:blotter", "trading:positions", "trading:pnl"]


def _weekday_before(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def _curve(day: date, code: str = "eex-de-power", source: str = "test") -> CurveSnapshot:
    return CurveSnapshot.objects.create(
        market=Market.objects.get(code=code),
        pricing_date=day,
        revision=1,
        source=source,
        created_at=timezone.now(),
    )


@pytest.fixture
def page(client, trader):
    login_verified(client, trader)
    return lambda name: client.get(reverse(name)).content.decode()


@pytest.mark.parametrize("name", PAGES)
def test_curve_status_fresh_curve_shows_its_date_and_no_warning(page, name):
    # The weekday before today is at least as recent as any market's last closed business day.
    day = _weekday_before(timezone.now().date())
    _curve(day)

    html = page(name)

    assert f"Valued on the curves of <bdi>{day.isoformat()}</bdi>." in html
    assert STALE not in html
    assert MISSING not in html
    assert "curve-demo" not in html


@pytest.mark.parametrize("name", PAGES)
def test_curve_status_old_curve_warns(page, name):
    day = timezone.now().date() - timedelta(days=20)
    _curve(day)

    html = page(name)

    assert f"Valued on the curves of <bdi>{day.isoformat()}</bdi>." in html
    assert STALE in html


@pytest.mark.parametrize("name", PAGES)
def test_curve_status_without_a_curve_says_so_and_claims_no_date(page, name):
    html = page(name)

    assert MISSING in html
    assert "Valued on the curves of" not in html


def test_curve_status_labels_the_demo_history(page):
    _curve(_weekday_before(timezone.now().date()), source="demo history: moved 16 weeks forward")

    html = page("trading:positions")

    assert '<span class="badge curve-demo"' in html
    assert ">demo history</span>" in html


def test_curve_status_on_the_trade_page(client, trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    login_verified(client, trader)
    url = reverse("trading:trade-detail", kwargs={"pk": trade.pk})
    old = timezone.now().date() - timedelta(days=30)
    _curve(old)
    _curve(_weekday_before(timezone.now().date()), code="ttf")  # another market's: not used

    html = client.get(url).content.decode()

    assert f"Valued on the curves of <bdi>{old.isoformat()}</bdi>." in html
    assert STALE in html


def test_curve_status_uses_each_market_calendar_and_the_oldest_market(db):
    # TARGET (EEX power's calendar) closes on 25 and 26 December 2025: valuing on Sunday 28th,
    # its last closed business day is Wednesday 24th.
    _curve(date(2025, 12, 24))
    assert curve_status(date(2025, 12, 28)) == CurveStatus(
        day=date(2025, 12, 24), stale=False, expected=None, demo=False
    )
    # NYMEX (Henry Hub's) trades on Friday 26th: a curve of the 24th is stale there.
    _curve(date(2025, 12, 24), code="henry-hub")
    assert curve_status(date(2025, 12, 28)) == CurveStatus(
        day=date(2025, 12, 24), stale=True, expected=date(2025, 12, 26), demo=False
    )
    # Only the markets asked about count.
    power = Market.objects.filter(code="eex-de-power")
    assert curve_status(date(2025, 12, 28), power).stale is False


def test_curve_status_costs_two_queries(db, django_assert_num_queries):
    _curve(date(2025, 12, 24))
    _curve(date(2025, 12, 24), code="henry-hub")
    with django_assert_num_queries(2):
        curve_status(date(2025, 12, 28))


# The risk dashboard states its run's curve date itself; the status adds the warnings.
@pytest.mark.parametrize(("age", "stale"), [(0, False), (30, True)])
def test_curve_status_on_the_risk_dashboard(
    client, trader, risk_manager, django_capture_on_commit_callbacks, age, stale
):
    from apps.risk.services import risk_run_request
    from tests.risk.test_support import book, business_days, curve_history, fx_and_rates

    days = business_days(8, last=timezone.now().date() - timedelta(days=age))
    curve_history("eex-de-power", days, lambda i, k: 80 + (i % 3) + k)
    fx_and_rates(days)
    book(trader)
    with django_capture_on_commit_callbacks(execute=True):
        run = risk_run_request(
            user=risk_manager,
            desk=None,
            parameters={"window": 5, "methods": ["historical"], "stress": False, "credit": False},
        )
    run.refresh_from_db()
    login_verified(client, risk_manager)

    html = client.get(reverse("risk:dashboard")).content.decode()

    assert f"on the curves of <bdi>{days[-1].isoformat()}</bdi>" in html
    assert (STALE in html) is stale
    assert "Valued on the curves of" not in html  # the run line says it already
