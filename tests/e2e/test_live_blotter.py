"""Issue 4's browser test: a trader captures a trade in the form, and a colleague on the same
desk sees it appear on their open blotter without a reload (and sees it change when it is
amended); a trader of another desk with the blotter open receives none of it. Three browser
contexts (three signed-in users) against daphne serving the ASGI application, so the blotter's
websocket is the real one. The watcher's positions grid, open in a second tab, reloads itself
with the new position."""

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.accounts.models import Role
from apps.trading.models import Trade
from tests.factories import PASSWORD, UserFactory
from tests.trading.factories import seeded_desk_policies

pytestmark = pytest.mark.e2e

# The htmx websocket extension announces an open socket with htmx:wsOpen; the page marks it on
# <html> so that the test waits for the live channel (its groups are joined before it opens).
# Playwright injects this script itself, outside the page's Content-Security-Policy.
MARK_SOCKET_OPEN = (
    "document.addEventListener('htmx:wsOpen', () => "
    "{ document.documentElement.dataset.liveSocket = 'open'; });"
)
WAIT_MS = 10_000
QUIET_MS = 750  # how long a socket that should hear nothing is watched after the others heard


class Browser:
    """One user's browser context: its page, the live frames its sockets received, and the
    script errors and Content-Security-Policy violations it reported."""

    def __init__(self, browser, server_url: str, user) -> None:
        self.url = server_url
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
        context.add_init_script(MARK_SOCKET_OPEN)
        self.page = context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.frames: list[str] = []
        self.errors: list[str] = []
        self.page.on("websocket", self._listen)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console",
            lambda m: self.errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        self.page.goto(f"{server_url}/accounts/login/")
        self.page.fill("input[name=username]", user.username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("form.form button[type=submit]")
        self.page.wait_for_url(f"{server_url}/")

    def _listen(self, socket) -> None:
        socket.on("framereceived", lambda payload: self.frames.append(str(payload)))

    def open_blotter(self) -> None:
        self.page.goto(f"{self.url}/trading/blotter/")
        self.page.wait_for_selector("html[data-live-socket=open]", state="attached")
        assert self.page.locator("#blotter-rows tr.trade-row").count() == 0

    def frame(self, matches: Callable[[str], bool]) -> str:
        """The first live frame that `matches`, waiting for it."""
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline:
            found = [frame for frame in self.frames if matches(frame)]
            if found:
                return found[0]
            self.page.wait_for_timeout(50)
        raise AssertionError(f"No such live frame; received: {self.frames}")


def _row_cells(page, trade: Trade) -> list[str]:
    row = page.locator(f"#blotter-rows tr#trade-{trade.pk}")
    row.wait_for()
    return row.locator("td").all_inner_texts()[:8]


def test_captured_trade_appears_live_on_colleagues_blotter_only(
    asgi_live_server, browser, trader, other_desk_trader, desk_a, artifacts: Path
) -> None:
    call_command("seed_reference_data", verbosity=0)
    seeded_desk_policies()  # four eyes only where a test sets its own threshold
    colleague = UserFactory(username="trader2", roles=[Role.TRADER], desks=[desk_a])
    url = asgi_live_server.url

    watcher = Browser(browser, url, trader)
    watcher.open_blotter()
    # The same trader also has the positions grid open, in a second tab.
    positions = watcher.page.context.new_page()
    positions.goto(f"{url}/trading/positions/")
    positions.wait_for_selector("html[data-live-socket=open]", state="attached")
    assert "eex-de-power" not in positions.locator("#positions-grid").inner_text()
    outsider = Browser(browser, url, other_desk_trader)
    outsider.open_blotter()
    page = watcher.page
    # The stylesheet and the scripts came from the server's collected static files.
    assert page.evaluate("typeof htmx") == "object"
    assert page.evaluate("getComputedStyle(document.querySelector('header.topbar')).display") == (
        "flex"
    )

    # The colleague captures a trade through the deal-capture form.
    capture = Browser(browser, url, colleague)
    form = capture.page
    form.goto(f"{url}/trading/trades/new/")
    form.select_option("select[name=book]", "PEU-FLOW")
    form.select_option("select[name=counterparty]", "NORDWIND")
    form.check("input[name=side][value=sell]")
    form.select_option("select[name=market]", "eex-de-power")
    form.fill("input[name=period]", "2026-03")
    form.fill("input[name=quantity]", "25")
    form.fill("input[name=price]", "84.75")
    form.fill("input[name=currency]", "EUR")
    form.fill("input[name=trade_date]", "2026-01-15")
    form.click("form.trade-form button[type=submit]")
    form.wait_for_url(f"{url}/trading/trades/*/")
    trade = Trade.objects.get()
    assert form.locator("h1").inner_text() == f"Trade {trade.trade_ref}"
    form.screenshot(path=str(artifacts / "trade-page-actions.png"), full_page=True)

    # The new row reaches the watcher's open blotter over its socket.
    new_row = watcher.frame(lambda f: f'id="trade-{trade.pk}"' in f)
    assert 'hx-swap-oob="afterbegin:#blotter-rows"' in new_row
    assert "<td><bdi>25 MWh</bdi></td>" in new_row.replace('td class="number"', "td")
    expected = [trade.trade_ref, "PEU-FLOW", "sell", "eex-de-power", "2026-03"]
    # The positions grid reloads itself: 25 MW sold for March 2026 (743 hours) = −18,575 MWh.
    positions.locator("#positions-grid bdi.quantity", has_text="-18,575").wait_for()
    page.locator(f"#trade-{trade.pk}").wait_for()
    assert _row_cells(page, trade) == [*expected, "25 MWh", "84.75 EUR", "NORDWIND"]
    assert page.locator("#blotter-rows tr.trade-row").count() == 1
    assert not page.locator(".blotter-empty").is_visible()  # the empty state gave way

    # The colleague amends it on its amend page: the watcher's row is replaced in place.
    form.click("a:has-text('Amend the trade')")
    form.wait_for_url(f"{url}/trading/trades/{trade.pk}/amend/")
    assert form.input_value("input[name=quantity]") == "25"
    form.screenshot(path=str(artifacts / "trade-amend.png"), full_page=True)
    form.fill("input[name=quantity]", "30")
    form.fill("textarea[name=reason]", "volume confirmed")
    form.click("form.trade-form button[type=submit]")
    form.wait_for_url(f"{url}/trading/trades/{trade.pk}/")
    assert "amended (version 2)" in form.locator("ul.messages").inner_text()
    changed = watcher.frame(lambda f: 'data-version="2"' in f)
    assert f'<tr id="trade-{trade.pk}"' in changed
    assert 'hx-swap-oob="true"' in changed

    # The other desk's trader, listening all along, heard nothing of either.
    outsider.page.wait_for_timeout(QUIET_MS)
    assert outsider.page.locator("html").get_attribute("data-live-socket") == "open"
    assert not [f for f in outsider.frames if trade.trade_ref in f]
    assert outsider.page.locator("tr.trade-row").count() == 0

    for user in (watcher, outsider, capture):
        assert user.errors == []
    page.locator(f"#trade-{trade.pk}[data-version='2']").wait_for()
    assert _row_cells(page, trade) == [*expected, "30 MWh", "84.75 EUR", "NORDWIND"]
    assert page.locator("#blotter-rows tr.trade-row").count() == 1
    # Still the page first loaded: no reload, no navigation.
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    page.screenshot(path=str(artifacts / "blotter-live-row.png"), full_page=True)
