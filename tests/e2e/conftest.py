"""Browser tests: Debian's chromium (never a downloaded one) driven by Playwright's sync API
against pytest-django's live server."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from django.test.testcases import _StaticFilesHandler
from pytest_django.live_server_helper import LiveServer

from tests.conftest import need_service

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse every
# ORM call the test makes (fixtures, assertions on the database) as "async unsafe".
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """pytest-django's live server, serving /static/ as production does: the collected,
    hashed files of STATIC_ROOT (pages link hashed names, which the finders cannot find)."""
    call_command("collectstatic", interactive=False, verbosity=0)
    server = LiveServer("localhost", start=False)
    server.thread.static_handler = _StaticFilesHandler
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    # need_service: a skip on a machine without chromium, a failure in CI where it is required.
    path = shutil.which(CHROMIUM_PATH)
    need_service(f"chromium ({CHROMIUM_PATH})", path is not None)
    return str(path)


@pytest.fixture
def browser(chromium_executable: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()
        # Django keys connections by context; the ORM calls a test makes while Playwright's
        # loop runs get their own connection, which would otherwise outlive the test and keep
        # PostgreSQL from dropping the test database.
        connections.close_all()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
