"""A session idle for SESSION_IDLE_TIMEOUT ends, besides its absolute expiry fixed at sign-in
(apps.accounts.middleware.SessionIdleMiddleware); background refreshes and sockets do not keep
it alive, and its socket is closed when it ends."""

import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import connections
from django.test import Client

from apps.accounts.consumers import CLOSE_REVOKED
from apps.accounts.middleware import LAST_ACTIVITY_KEY, session_seconds_left
from tests.factories import PASSWORD
from tests.test_live import _open

pytestmark = pytest.mark.django_db

IDLE = 30 * 60
PAGE = "/trading/blotter/"


def _signed_in(trader: Any) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": "trader", "password": PASSWORD})
    assert response.status_code == 302
    return client


def _set_last_activity(client: Client, seconds_ago: float) -> None:
    session = client.session
    session[LAST_ACTIVITY_KEY] = int(time.time() - seconds_ago)
    session.save()


def test_sessions_idle_timeout_setting_defaults_to_30_minutes() -> None:
    assert timedelta(minutes=30) == settings.SESSION_IDLE_TIMEOUT


def test_sessions_sign_in_fixes_absolute_expiry_and_records_activity(trader) -> None:
    before = time.time()
    client = _signed_in(trader)

    session = client.session
    expiry = datetime.fromisoformat(session["_session_expiry"]).timestamp()
    assert (
        before + settings.SESSION_COOKIE_AGE <= expiry <= time.time() + settings.SESSION_COOKIE_AGE
    )
    assert before - 1 <= session[LAST_ACTIVITY_KEY] <= time.time()


def test_sessions_activity_does_not_push_back_absolute_expiry(trader) -> None:
    client = _signed_in(trader)
    expiry = client.session["_session_expiry"]
    _set_last_activity(client, 120)

    assert client.get(PAGE).status_code == 200

    session = client.session
    assert session["_session_expiry"] == expiry
    assert time.time() - session[LAST_ACTIVITY_KEY] < 60


def test_sessions_activity_within_a_minute_is_not_written_again(trader) -> None:
    client = _signed_in(trader)
    _set_last_activity(client, 30)
    stamped = client.session[LAST_ACTIVITY_KEY]

    assert client.get(PAGE).status_code == 200
    assert client.session[LAST_ACTIVITY_KEY] == stamped


def test_sessions_idle_session_is_signed_out_and_sent_to_login(trader) -> None:
    client = _signed_in(trader)
    _set_last_activity(client, IDLE + 1)

    response = client.get(PAGE)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/trading/blotter/"
    assert SESSION_KEY not in client.session
    assert client.get(PAGE).status_code == 302  # and stays signed out


def test_sessions_session_just_short_of_idle_goes_on(trader) -> None:
    client = _signed_in(trader)
    _set_last_activity(client, IDLE - 60)

    assert client.get(PAGE).status_code == 200
    assert SESSION_KEY in client.session


def test_sessions_idle_timeout_follows_the_setting(trader, settings) -> None:
    settings.SESSION_IDLE_TIMEOUT = timedelta(minutes=5)
    client = _signed_in(trader)
    _set_last_activity(client, 5 * 60 + 1)

    assert client.get(PAGE).status_code == 302


def test_sessions_idle_htmx_request_gets_hx_redirect(trader) -> None:
    client = _signed_in(trader)
    _set_last_activity(client, IDLE + 1)

    response = client.get(
        "/trading/blotter/?before=40",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/trading/blotter/"},
    )

    assert response.status_code == 204
    assert response["HX-Redirect"] == "/accounts/login/?next=/trading/blotter/"


def test_sessions_idle_api_request_is_refused(trader) -> None:
    client = _signed_in(trader)
    _set_last_activity(client, IDLE + 1)

    assert client.get("/api/v1/trades/").status_code in (401, 403)
    assert SESSION_KEY not in client.session


def test_sessions_background_refresh_does_not_keep_session_alive(trader) -> None:
    client = _signed_in(trader)
    _set_last_activity(client, 120)
    stamped = client.session[LAST_ACTIVITY_KEY]

    response = client.get(PAGE, headers={"HX-Request": "true", "X-Background-Refresh": "true"})

    assert response.status_code == 200
    assert client.session[LAST_ACTIVITY_KEY] == stamped


def test_sessions_background_refresh_of_idle_session_is_signed_out(trader) -> None:
    client = _signed_in(trader)
    _set_last_activity(client, IDLE + 1)

    response = client.get(PAGE, headers={"HX-Request": "true", "X-Background-Refresh": "true"})

    assert response.status_code == 204
    assert response["HX-Redirect"] == "/accounts/login/?next=/trading/blotter/"


def test_sessions_live_regions_mark_their_refreshes_as_background() -> None:
    marker = """hx-headers='{"X-Background-Refresh": "true"}'"""
    for name, element in [
        ("trading/positions.html", 'id="positions-grid"'),
        ("risk/dashboard.html", 'id="risk-live"'),
        ("risk/run_detail.html", 'id="risk-run-body"'),
    ]:
        text = (settings.BASE_DIR / "templates" / name).read_text()
        line = next(x for x in text.splitlines() if element in x)
        assert marker in line, name


def test_sessions_seconds_left_is_the_nearer_of_idle_and_absolute(trader) -> None:
    client = _signed_in(trader)
    session = client.session
    now = float(session[LAST_ACTIVITY_KEY])
    assert session_seconds_left(session, now=now) == IDLE
    session.set_expiry(600)
    assert 590 <= session_seconds_left(session, now=now) <= 600


@pytest.mark.django_db(transaction=True)
async def test_sessions_idle_session_socket_is_refused(trader) -> None:
    client = await sync_to_async(_signed_in)(trader)
    await sync_to_async(_set_last_activity)(client, IDLE + 1)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    _communicator, (connected, _code) = await _open(cookie)

    assert connected is False
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_sessions_socket_is_closed_when_its_session_goes_idle(trader) -> None:
    # Idle in a moment: the socket, which sends nothing that counts as activity, is closed
    # then by itself.
    client = await sync_to_async(_signed_in)(trader)
    await sync_to_async(_set_last_activity)(client, IDLE - 1)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    communicator, (connected, _code) = await _open(cookie)
    assert connected is True

    assert await communicator.receive_output(timeout=10) == {
        "type": "websocket.close",
        "code": CLOSE_REVOKED,
    }
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_sessions_socket_is_closed_when_its_session_is_flushed_elsewhere(trader) -> None:
    client = await sync_to_async(_signed_in)(trader)
    await sync_to_async(_set_last_activity)(client, IDLE - 1)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    communicator, (connected, _code) = await _open(cookie)
    assert connected is True
    # The session is deleted on the server (an administrator clearing sessions); no signal.
    await sync_to_async(lambda: client.session.delete())()

    assert await communicator.receive_output(timeout=10) == {
        "type": "websocket.close",
        "code": CLOSE_REVOKED,
    }
    await sync_to_async(connections.close_all)()
