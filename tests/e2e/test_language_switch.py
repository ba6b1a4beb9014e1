"""A trader signs in, switches the portal to Arabic and sees it mirrored right-to-left."""

from pathlib import Path

import pytest

from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e


def _nav_edges(page) -> dict[str, float]:
    """Where the brand sits in the top bar, as fractions of the bar's width."""
    bar = page.locator("header.topbar").bounding_box()
    brand = page.locator("header.topbar .brand").bounding_box()
    return {
        "start": (brand["x"] - bar["x"]) / bar["width"],
        "end": (brand["x"] + brand["width"] - bar["x"]) / bar["width"],
    }


def test_language_switch_mirrors_portal_in_arabic(
    live_server, browser, trader, desk_a, desk_b, artifacts: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-GB")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", trader.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    html = page.locator("html")
    assert html.get_attribute("lang") == "en"
    assert html.get_attribute("dir") == "ltr"
    assert page.locator("h1").inner_text() == "Welcome, trader"
    english = _nav_edges(page)
    assert english["start"] < 0.05  # the brand at the left edge
    assert page.locator("link[rel=stylesheet]").count() == 1
    assert page.evaluate("getComputedStyle(document.querySelector('header.topbar')).display") == (
        "flex"
    )  # the stylesheet was served
    page.screenshot(path=str(artifacts / "home-en.png"), full_page=True)

    page.click("form.language-switch button[value=ar]")
    page.wait_for_selector("html[lang=ar][dir=rtl]")

    assert page.locator("h1").inner_text() == "مرحبًا، trader"
    assert page.locator("nav.nav").get_by_text("نظرة عامة").is_visible()
    arabic = _nav_edges(page)
    assert arabic["end"] > 0.95  # the brand at the right edge: the bar mirrored
    # Only the trader's own desk, in Arabic as in English.
    assert page.get_by_text("Power Europe").first.is_visible()
    assert page.get_by_text("Gas US").count() == 0
    font = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert font.startswith('"Noto Sans Arabic"')
    page.screenshot(path=str(artifacts / "home-ar.png"), full_page=True)

    # The choice is kept: cookie and profile, so a reload stays in Arabic.
    page.reload()
    assert page.locator("html").get_attribute("dir") == "rtl"
    trader.refresh_from_db()
    assert trader.language == "ar"
    assert not [e for e in errors if "Content Security Policy" in e]


def test_login_page_in_arabic_for_anonymous_visitor(live_server, browser, artifacts: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/accounts/login/")
    page.click("form.language-switch button[value=ar]")
    page.wait_for_selector("html[lang=ar][dir=rtl]")
    assert page.locator("h1").inner_text() == "تسجيل الدخول"
    page.screenshot(path=str(artifacts / "login-ar.png"), full_page=True)
