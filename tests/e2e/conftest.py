"""Browser tests: Debian's chromium (never a downloaded one) driven by Playwright's sync API
against pytest-django's live server (WSGI, in a thread), or against daphne serving the ASGI
application with its websockets (`asgi_live_server`, in a process of its own).

The ASGI server is the one Channels' ChannelsLiveServerTestCase runs (daphne's DaphneProcess
with channels.testing.live's application factory; see tests/e2e/asgi.py), once for the
session. It is a separate process, so it must open the test database itself: PostgreSQL's test
database, or on SQLite a file (an in-memory database exists only inside the test process).
When the e2e tests set up the test database (`pytest tests/e2e`), SQLite's is made a file for
that reason; in a run where other tests set it up first in memory, the ASGI tests skip (and
fail where QZ_REQUIRE_SERVICES=1; CI runs on PostgreSQL). Its live events go through the
channel layer inside the server process (the in-memory layer, or channels-redis when REDIS_URL
is set), where both the booking request that publishes and the sockets that listen are served.
"""

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from django.test.testcases import _StaticFilesHandler
from pytest_django.live_server_helper import LiveServer

from tests.conftest import need_service
from tests.e2e import asgi

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
def collected_static() -> None:
    """STATIC_ROOT filled as for production: pages link the hashed names of its manifest."""
    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(scope="session")
def live_server(collected_static: None) -> Iterator[LiveServer]:
    """pytest-django's live server, serving /static/ as production does: the collected,
    hashed files of STATIC_ROOT (pages link hashed names, which the finders cannot find)."""
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


# --- The ASGI live server (HTTP and websockets) ------------------------------------------------

ASGI_HOST = "127.0.0.1"
SERVER_START_TIMEOUT = 30  # seconds; the server process is ready in about one


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """On SQLite, a test database in a file, which the ASGI server's process can open too
    (applies when these tests are the ones to set the test database up)."""
    database = settings.DATABASES["default"]
    test = database.setdefault("TEST", {})
    # The engine is django-prometheus's wrapper of SQLite's (settings' metrics section).
    if database["ENGINE"].endswith(".sqlite3") and not test.get("NAME"):
        test["NAME"] = str(tmp_path_factory.mktemp("e2e-db") / "test.sqlite3")


@dataclass(frozen=True)
class AsgiServer:
    url: str  # http://127.0.0.1:<port>; websockets at ws://127.0.0.1:<port>/ws/...


@pytest.fixture(scope="session")
def _asgi_server(
    django_db_setup: None, django_db_blocker: Any, collected_static: None
) -> Iterator[AsgiServer]:
    with django_db_blocker.unblock():
        in_memory = connection.vendor == "sqlite" and connection.is_in_memory_db()
        name = connection.settings_dict["NAME"]
    need_service(
        "a test database another process can open (PostgreSQL, or run tests/e2e on its own "
        "so that SQLite's is a file)",
        not in_memory,
    )
    overrides = {
        "DATABASE_NAME": str(name),
        "ALLOWED_HOSTS": [*settings.ALLOWED_HOSTS, ASGI_HOST],
        "DEBUG": False,
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
    }
    # Channels' live-server process (ChannelsLiveServerTestCase's, without the TestCase):
    # daphne serving the project's ASGI application, set up by tests/e2e/asgi.py.
    process = asgi.SpawnedDaphneProcess(ASGI_HOST, partial(asgi.application, overrides))
    process.start()
    if not process.ready.wait(timeout=SERVER_START_TIMEOUT):
        process.terminate()
        error = "" if process.errors.empty() else process.errors.get(False)[1]
        raise RuntimeError(f"The ASGI test server did not start.\n{error}")
    try:
        yield AsgiServer(url=f"http://{ASGI_HOST}:{process.port.value}")
    finally:
        process.terminate()
        process.join(timeout=10)


@pytest.fixture
def asgi_live_server(transactional_db: None, _asgi_server: AsgiServer) -> AsgiServer:
    """Daphne serving qenergyz.asgi (pages and websockets) on the test database. The test's
    data is committed (transactional_db), so the server's process sees it; the tables are
    emptied after the test."""
    return _asgi_server
