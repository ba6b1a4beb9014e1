"""Swagger UI and Redoc in a real browser, under the site's CSP: every operation of the schema
rendered, and nothing refused but what is named (tests/test_api_docs.py holds the rest)."""

from pathlib import Path
from typing import Any

import pytest

from tests.factories import PASSWORD
from tests.test_api_docs import DOCS, REDOC, SCHEMA, token_client

pytestmark = pytest.mark.e2e

# The tests ask for `trader` before `browser`: saving a user publishes to the channel layer after
# the commit (synchronously), which cannot run once Playwright's event loop runs in this thread.


def _operations(schema: dict[str, Any]) -> int:
    methods = {"get", "post", "put", "patch", "delete"}
    return sum(len(methods & set(item)) for item in schema["paths"].values())


def _signed_in_page(browser: Any, live_server: Any, user: Any, target: str) -> tuple[Any, list]:
    """A page signed in as `user` through the login form, sent on to `target`, recording the
    console's CSP reports and the page's script errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(20_000)
    reports: list[str] = []
    page.on(
        "console",
        lambda m: reports.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda error: reports.append(f"page error: {error}"))
    page.goto(f"{live_server.url}/accounts/login/?next={target}")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_url(f"{live_server.url}{target}")
    return page, reports


def test_api_docs_swagger_ui_renders_every_operation_without_csp_error(
    live_server, trader, browser, artifacts: Path
) -> None:
    schema = token_client(trader).get(SCHEMA, {"format": "json"}).json()
    page, reports = _signed_in_page(browser, live_server, trader, DOCS)
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() == _operations(schema)
    assert page.locator(".opblock-summary-path", has_text="/api/v1/trades/bulk/").count() == 1
    page.screenshot(path=str(artifacts / "api-docs-swagger.png"))
    assert reports == []


def test_api_docs_redoc_renders_every_operation_under_its_policy(
    live_server, trader, browser, artifacts: Path
) -> None:
    schema = token_client(trader).get(SCHEMA, {"format": "json"}).json()
    page, reports = _signed_in_page(browser, live_server, trader, REDOC)
    page.wait_for_selector("[id='operation/api_root']")
    assert page.locator("[id^='operation/']").count() == _operations(schema)
    # Its styles were applied (Redoc's layout puts the menu beside the content).
    assert page.evaluate("getComputedStyle(document.querySelector('.menu-content')).position") == (
        "sticky"
    )
    page.screenshot(path=str(artifacts / "api-docs-redoc.png"))
    # The one refusal: the Redocly logo Redoc's menu always asks of its CDN (and then hides).
    assert reports == [
        "Loading the image 'https://cdn.redoc.ly/redoc/logo-mini.svg' violates the following "
        "Content Security Policy directive: \"img-src 'self' data:\". The action has been blocked."
    ]
