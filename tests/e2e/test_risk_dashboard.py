"""Issue 6's browser test: a trader has the desk's risk dashboard open; a colleague books a
large trade in the deal form; the booking's quick re-run of the desk (enqueued by the trading
service after the commit, run eagerly by the server here) finds the desk's VaR limit broken,
and the alert and the broken limit reach the open dashboard without a reload. A trader of
another desk with their dashboard open hears nothing of it.

Daphne serves the ASGI application (pages and websockets) on the test database, as in
test_live_blotter.py, whose Browser pattern this follows.
"""

import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.accounts.models import Role
from apps.risk.models import Alert, LimitKind, RiskRun, RunKind
from apps.risk.services import limit_propose, limit_version_approve
from tests.factories import PASSWORD, UserFactory
from tests.risk.test_support import business_days, curve_history, fx_and_rates, month_after
from tests.trading.factories import seeded_desk_policies

pytestmark = pytest.mark.e2e

MARK_SOCKET_OPEN = (
    "document.addEventListener('htmx:wsOpen', () => "
    "{ document.documentElement.dataset.liveSocket = 'open'; });"
)
WAIT_MS = 20_000


class Browser:
    """One signed-in user's browser context, with the live frames its sockets received and
    the script errors and CSP violations it reported."""

    def __init__(self, browser, url: str, user) -> None:
        self.url = url
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        context.add_init_script(MARK_SOCKET_OPEN)
        self.page = context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.frames: list[str] = []
        self.errors: list[str] = []
        self.page.on(
            "websocket", lambda s: s.on("framereceived", lambda p: self.frames.append(str(p)))
        )
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console",
            lambda m: self.errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        self.page.goto(f"{url}/accounts/login/")
        self.page.fill("input[name=username]", user.username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("form.form button[type=submit]")
        self.page.wait_for_url(f"{url}/")

    def open_dashboard(self) -> None:
        self.page.goto(f"{self.url}/risk/")
        self.page.wait_for_selector("html[data-live-socket=open]", state="attached")

    def frame(self, matches: Callable[[str], bool]) -> str:
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline:
            found = [f for f in self.frames if matches(f)]
            if found:
                return found[0]
            self.page.wait_for_timeout(50)
        raise AssertionError(f"No such live frame; received: {self.frames}")


def _market_and_limit(desk, maker, checker) -> None:
    """A year of EEX power curves and constant EUR/USD, and an approved one-day 99 % VaR limit
    of 1,000,000 USD on the desk: a 10 MW month is well within it, 600 MW is not."""
    call_command("seed_reference_data", verbosity=0)
    seeded_desk_policies()  # four eyes only where a test sets its own threshold
    days = business_days(260)
    curve_history("eex-de-power", days, lambda i, k: Decimal(100 + (i * 7) % 11 - 5 + k))
    fx_and_rates(days)
    version = limit_propose(
        user=maker,
        kind=LimitKind.VAR,
        desk=desk,
        method="historical",
        confidence="0.99",
        amount="1000000",
    )
    limit_version_approve(user=checker, version=version)


def _book_in_form(page, url: str, quantity: str, today: date) -> None:
    page.goto(f"{url}/trading/trades/new/")
    page.select_option("select[name=book]", "PEU-FLOW")
    page.select_option("select[name=counterparty]", "NORDWIND")
    page.check("input[name=side][value=buy]")
    page.select_option("select[name=market]", "eex-de-power")
    page.fill("input[name=period]", month_after(2))
    page.fill("input[name=quantity]", quantity)
    page.fill("input[name=price]", "85.50")
    page.fill("input[name=currency]", "EUR")
    page.fill("input[name=trade_date]", today.isoformat())
    page.click("form.trade-form button[type=submit]")
    page.wait_for_url(f"{url}/trading/trades/*/")


def test_breach_from_a_large_booking_reaches_the_open_dashboard(
    asgi_live_server, browser, trader, other_desk_trader, risk_manager, desk_a, artifacts: Path
) -> None:
    checker = UserFactory(username="risk2", roles=[Role.RISK_MANAGER], desks=[desk_a])
    _market_and_limit(desk_a, risk_manager, checker)
    colleague = UserFactory(username="trader2", roles=[Role.TRADER], desks=[desk_a])
    url = asgi_live_server.url
    today = timezone.now().date()

    watcher = Browser(browser, url, trader)
    watcher.open_dashboard()
    page = watcher.page
    limit_row = page.locator(".risk-limits tr.limit-line")
    assert "not measured yet" in limit_row.inner_text()
    assert page.locator("#risk-alert-rows tr").count() == 0
    outsider = Browser(browser, url, other_desk_trader)
    outsider.open_dashboard()

    # A modest trade first: the desk's re-run measures it, well within the limit.
    capture = Browser(browser, url, colleague)
    _book_in_form(capture.page, url, "10", today)
    page.locator(".risk-limits tr.limit-line.limit-ok").wait_for()
    assert page.locator("#risk-alert-rows tr").count() == 0

    # The large one: the limit breaks, and the dashboard hears it.
    _book_in_form(capture.page, url, "600", today)
    alert = Alert.objects.get()
    assert alert.level == "breach"
    run = RiskRun.objects.get(pk=alert.run_id)
    assert (run.kind, run.desk) == (RunKind.INCREMENTAL, desk_a)
    pushed = watcher.frame(lambda f: f'id="risk-alert-{alert.pk}"' in f)
    assert 'hx-swap-oob="afterbegin:#risk-alert-rows"' in pushed
    page.locator(f"#risk-alert-rows tr#risk-alert-{alert.pk}.alert-breach").wait_for()
    page.locator(".risk-limits tr.limit-line.limit-breach").wait_for()
    page.locator("#live-notifications .live-notice", has_text="Limit breach").wait_for()
    assert "breach" in page.locator(".risk-limits tr.limit-line").inner_text()
    # Still the page first loaded: no reload, no navigation.
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    # The VaR history chart was drawn again from the reloaded region's numbers.
    assert page.evaluate("!!Chart.getChart(document.querySelector('canvas[data-chart=history]'))")
    page.screenshot(path=str(artifacts / "risk-dashboard-breach.png"), full_page=True)

    # The other desk's dashboard heard nothing of desk A's alert.
    outsider.page.wait_for_timeout(750)
    assert not [f for f in outsider.frames if "risk-alert" in f or "power-eu" in f]
    assert outsider.page.locator("#risk-alert-rows tr").count() == 0
    for user in (watcher, outsider, capture):
        assert user.errors == []
