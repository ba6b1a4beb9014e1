"""Issue 5's browser test: two traders of two desks, two browsers. One places a resting bid on a
contract's page; the other, watching the same book, sees it and hits it with the order ticket.
Both see the fill (a notice, the ladder emptied, the tape), the bidder's order turns filled on
their open "my orders" without a reload, and the new trade appears on each desk's open blotter;
the second trader reads it all in Arabic, right to left.
Daphne serves the ASGI application, so the sockets are the real ones."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.trading.models import FxRate, Market, Order, Trade
from apps.trading.venue import contract_open
from tests.e2e.test_live_blotter import Browser
from tests.trading.factories import seeded_desk_policies

pytestmark = pytest.mark.e2e


def _socket_open(page) -> None:
    page.wait_for_selector("html[data-live-socket=open]", state="attached")


def _open(browser: Browser, path: str):
    """`path` in a new tab of the user's browser, its live socket open."""
    page = browser.page.context.new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda error: browser.errors.append(str(error)))
    page.goto(f"{browser.url}{path}")
    _socket_open(page)
    return page


def _send_order(page, side: str, price: str, quantity: str) -> None:
    page.check(f"input[name=side][value={side}]")
    page.fill("input[name=price]", price)
    page.fill("input[name=quantity]", quantity)
    page.click("form.venue-ticket-form button[type=submit]")


def test_resting_bid_hit_by_another_desk_fills_live_in_both_browsers(
    asgi_live_server, browser, trader, other_desk_trader, artifacts: Path
) -> None:
    call_command("seed_reference_data", verbosity=0, from_year=2025, to_year=2030)
    seeded_desk_policies()  # four eyes only where a test sets its own threshold
    FxRate.objects.create(base="EUR", quote="USD", date=date(2026, 1, 2), rate=Decimal("1.08"))
    contract = contract_open(market=Market.objects.get(code="eex-de-power"), period_code="2029-03")
    url = asgi_live_server.url
    book_path = f"/trading/venue/contracts/{contract.pk}/"

    # Desk A's trader opens the book and bids 10 MW at 50.00 from PEU-FLOW (the ticket's
    # first book), with their blotter and their orders open in other tabs.
    bidder = Browser(browser, url, trader)
    bidder_blotter = _open(bidder, "/trading/blotter/")
    bidder_orders = _open(bidder, "/trading/venue/orders/")
    page = bidder.page
    page.goto(f"{url}{book_path}")
    _send_order(page, "buy", "50.00", "10")
    page.wait_for_url(f"{url}{book_path}")
    bid = Order.objects.get()
    assert f"Order #{bid.pk} rests in the book: 10." in page.locator("ul.messages").inner_text()
    _socket_open(page)
    bids = page.locator(f"#venue-depth-{contract.pk} .venue-bids tbody")
    assert bids.locator("tr.venue-level").all_inner_texts() == ["1\t10\t50.00"]
    # The new order reached the bidder's open "my orders" live.
    row = bidder_orders.locator(f"#venue-order-{bid.pk}")
    row.wait_for()
    assert "open" in row.locator(".venue-order-status").inner_text()

    # Desk B's trader, who reads the portal in Arabic, watches the same book, sees the bid and
    # sells 10 into it.
    other_desk_trader.language = "ar"
    other_desk_trader.save(update_fields=["language"])
    hitter = Browser(browser, url, other_desk_trader)
    hitter_blotter = _open(hitter, "/trading/blotter/")
    # A second tab on the same book: it stays put while the ticket's tab posts and reloads,
    # so whatever it shows of the fill came over its socket.
    hitter_watch = _open(hitter, book_path)
    sell_page = hitter.page
    sell_page.goto(f"{url}{book_path}")
    _socket_open(sell_page)
    assert sell_page.locator("html").get_attribute("dir") == "rtl"
    sell_bids = sell_page.locator(f"#venue-depth-{contract.pk} .venue-bids tbody tr.venue-level")
    assert sell_bids.all_inner_texts() == ["1\t10\t50.00"]
    assert sell_page.locator("select[name=book]").input_value() == "GUS-FLOW"
    _send_order(sell_page, "sell", "50.00", "10")
    sell_page.wait_for_url(f"{url}{book_path}")
    sell = Order.objects.get(side="sell")
    assert sell.status == "filled"
    # The seller reads Arabic: "نُفّذ الأمر رقم <id>: …" (the order number without "#").
    assert str(sell.pk) in sell_page.locator("ul.messages").inner_text()
    assert Trade.objects.count() == 2

    # The bidder, without a reload: the fill notice, the ladder emptied, the trade on the tape.
    notice = page.locator(f".venue-notice[data-order='{bid.pk}']")
    notice.wait_for()
    assert notice.inner_text() == f"Order #{bid.pk}: bought 10 at 50.00, {contract.code}."
    page.locator(f"#venue-depth-{contract.pk} .venue-bids .venue-empty-side").wait_for()
    tape = page.locator(f"#venue-tape-{contract.pk} tr.venue-trade")
    tape.first.wait_for()
    assert tape.first.locator("td").all_inner_texts()[1:] == ["50.00", "10", "sell"]
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    # Their order turned filled on "my orders".
    bidder_orders.locator(f"#venue-order-{bid.pk}.status-filled").wait_for()
    # Each desk's blotter shows its own side of the new trade.
    ours = Trade.objects.get(book__code="PEU-FLOW")
    theirs = Trade.objects.get(book__code="GUS-FLOW")
    bidder_blotter.locator(f"#blotter-rows tr#trade-{ours.pk}").wait_for()
    cells = bidder_blotter.locator(f"#trade-{ours.pk} td").all_inner_texts()
    assert cells[1:4] == ["PEU-FLOW", "buy", "eex-de-power"]
    assert cells[7] == "QZ-US"
    assert bidder_blotter.locator(f"#trade-{theirs.pk}").count() == 0
    hitter_blotter.locator(f"#blotter-rows tr#trade-{theirs.pk}").wait_for()
    assert hitter_blotter.locator(f"#trade-{theirs.pk} td").all_inner_texts()[7] == "QZ-EU"
    assert hitter_blotter.locator(f"#trade-{ours.pk}").count() == 0
    # The hitter's watching tab heard the fill live: its notice (only ever pushed, never drawn
    # with a page), the ladder emptied and the trade on the tape, without a reload. Arabic:
    # "الأمر رقم <id>: بيع 10 بسعر 50.00، …".
    watch_notice = hitter_watch.locator(f".venue-notice[data-order='{sell.pk}']")
    watch_notice.wait_for()
    assert str(sell.pk) in watch_notice.inner_text()
    assert hitter_watch.locator(f".venue-notice[data-order='{bid.pk}']").count() == 0
    hitter_watch.locator(f"#venue-depth-{contract.pk} .venue-bids .venue-empty-side").wait_for()
    watch_tape = hitter_watch.locator(f"#venue-tape-{contract.pk} tr.venue-trade")
    watch_tape.first.wait_for()
    assert watch_tape.first.locator("td").all_inner_texts()[1:3] == ["50.00", "10"]
    assert hitter_watch.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert hitter_watch.locator("html").get_attribute("dir") == "rtl"

    page.screenshot(path=str(artifacts / "venue-book-after-fill.png"), full_page=True)
    hitter_watch.screenshot(path=str(artifacts / "venue-book-arabic.png"), full_page=True)
    bidder_orders.screenshot(path=str(artifacts / "venue-my-orders.png"), full_page=True)
    for user in (bidder, hitter):
        assert user.errors == []
