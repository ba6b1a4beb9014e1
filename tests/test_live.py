"""The live channel: who may open it, which groups it hears, and that events follow commits.

These run the real ASGI application (Origin check, session auth, consumer) through Channels'
WebsocketCommunicator, on whatever channel layer the settings give: in CI that is Redis.
"""

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections, transaction
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.consumers import CLOSE_FORBIDDEN, CLOSE_REVOKED
from apps.accounts.live import (
    desk_group,
    disconnect_user_after_commit,
    publish_after_commit,
    user_group,
)
from qenergyz.asgi import application
from tests.conftest import need_service

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = b"http://127.0.0.1"
NOTICE = "live/notice.html"


@pytest.fixture(autouse=True)
async def _close_worker_connections():
    """sync_to_async runs database work on a worker thread whose connection would outlive the
    test (CONN_MAX_AGE) and keep PostgreSQL from dropping the test database."""
    yield
    await sync_to_async(connections.close_all)()


def _session_cookie(user: Any, *, verified: bool = False, language: str = "") -> str:
    """A real session, made by Django's login, as the browser would send it."""
    client = Client()
    client.force_login(user)
    if verified:
        device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    if language:
        cookie += f"; {settings.LANGUAGE_COOKIE_NAME}={language}"
    return cookie


async def _open(cookie: str | None, origin: bytes = ORIGIN) -> tuple[WebsocketCommunicator, Any]:
    headers = [(b"origin", origin), (b"host", b"127.0.0.1")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, "/ws/notifications/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, (connected, code)


def _notice(text: str) -> dict[str, str]:
    return {"level": "info", "title": text, "body": ""}


async def test_socket_without_session_is_closed() -> None:
    _communicator, (connected, code) = await _open(None)
    assert connected is False
    assert code == CLOSE_FORBIDDEN


async def test_socket_from_foreign_origin_is_closed(trader) -> None:
    cookie = await sync_to_async(_session_cookie)(trader)
    _communicator, (connected, _code) = await _open(cookie, origin=b"https://evil.example")
    assert connected is False


async def test_socket_of_administrator_without_verified_otp_is_closed(administrator) -> None:
    cookie = await sync_to_async(_session_cookie)(administrator)
    _communicator, (connected, code) = await _open(cookie)
    assert connected is False
    assert code == CLOSE_FORBIDDEN


async def test_socket_of_verified_administrator_is_accepted(administrator) -> None:
    cookie = await sync_to_async(_session_cookie)(administrator, verified=True)
    communicator, (connected, _code) = await _open(cookie)
    assert connected is True
    await communicator.disconnect()


async def test_socket_of_inactive_user_is_closed(trader) -> None:
    cookie = await sync_to_async(_session_cookie)(trader)
    trader.is_active = False
    await sync_to_async(trader.save)(update_fields=["is_active"])
    _communicator, (connected, _code) = await _open(cookie)
    assert connected is False


async def test_trader_receives_event_only_after_commit(trader) -> None:
    cookie = await sync_to_async(_session_cookie)(trader)
    communicator, (connected, _code) = await _open(cookie)
    assert connected is True

    # The transaction is entered and left in separate steps so the socket can be read while it
    # is still open; sync_to_async runs every step on the same thread, hence one connection.
    atomic = transaction.atomic()
    await sync_to_async(atomic.__enter__)()
    await sync_to_async(publish_after_commit)(
        user_group(trader.pk), NOTICE, _notice("Live notifications")
    )
    assert await communicator.receive_nothing(timeout=0.3) is True
    await sync_to_async(atomic.__exit__)(None, None, None)

    html = await communicator.receive_from(timeout=5)
    assert html == (
        '<div id="live-notifications" hx-swap-oob="afterbegin"><div class="notice notice-info '
        'live-notice" role="status"><strong class="notice-title">Live notifications</strong> '
        "</div></div>\n"
    )
    await communicator.disconnect()


async def test_trader_receives_own_desk_but_not_other_desk(trader, desk_a, desk_b) -> None:
    cookie = await sync_to_async(_session_cookie)(trader)
    communicator, (connected, _code) = await _open(cookie)
    assert connected is True

    await sync_to_async(publish_after_commit)(desk_group(desk_b.pk), NOTICE, _notice("Desk B"))
    await sync_to_async(publish_after_commit)(desk_group(desk_a.pk), NOTICE, _notice("Desk A"))

    # Sent in this order to the layer: had desk B's event reached the socket, it would be first.
    first = await communicator.receive_from(timeout=5)
    assert ">Desk A</strong>" in first
    assert await communicator.receive_nothing(timeout=0.3) is True
    await communicator.disconnect()


async def test_rolled_back_transaction_publishes_nothing(trader) -> None:
    cookie = await sync_to_async(_session_cookie)(trader)
    communicator, (connected, _code) = await _open(cookie)
    assert connected is True

    def publish_then_fail() -> None:
        with transaction.atomic():
            publish_after_commit(user_group(trader.pk), NOTICE, _notice("Rolled back"))
            raise RuntimeError("the business operation failed")

    with pytest.raises(RuntimeError):
        await sync_to_async(publish_then_fail)()
    await sync_to_async(publish_after_commit)(user_group(trader.pk), NOTICE, _notice("Committed"))

    first = await communicator.receive_from(timeout=5)
    assert ">Committed</strong>" in first
    assert await communicator.receive_nothing(timeout=0.3) is True
    await communicator.disconnect()


async def test_event_is_rendered_in_the_users_language(trader) -> None:
    trader.language = "ar"
    await sync_to_async(trader.save)(update_fields=["language"])
    cookie = await sync_to_async(_session_cookie)(trader)
    communicator, (connected, _code) = await _open(cookie)
    assert connected is True

    await sync_to_async(publish_after_commit)(
        user_group(trader.pk), NOTICE, _notice("Live notifications")
    )
    html = await communicator.receive_from(timeout=5)
    assert '<strong class="notice-title">الإشعارات الفورية</strong>' in html
    await communicator.disconnect()


async def test_event_follows_the_language_cookie_over_the_profile(trader) -> None:
    trader.language = "ar"
    await sync_to_async(trader.save)(update_fields=["language"])
    cookie = await sync_to_async(_session_cookie)(trader, language="en")
    communicator, (connected, _code) = await _open(cookie)
    assert connected is True

    await sync_to_async(publish_after_commit)(
        user_group(trader.pk), NOTICE, _notice("Live notifications")
    )
    html = await communicator.receive_from(timeout=5)
    assert '<strong class="notice-title">Live notifications</strong>' in html
    await communicator.disconnect()


async def test_disconnect_user_closes_their_socket(trader) -> None:
    cookie = await sync_to_async(_session_cookie)(trader)
    communicator, (connected, _code) = await _open(cookie)
    assert connected is True

    await sync_to_async(disconnect_user_after_commit)(trader.pk)
    assert await communicator.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": CLOSE_REVOKED,
    }


def test_publish_refuses_a_page_template() -> None:
    with pytest.raises(ValueError, match="templates under 'live/'"):
        publish_after_commit(user_group(1), "home.html", {})


def test_channel_layer_is_redis_when_redis_url_is_set() -> None:
    need_service("Redis (REDIS_URL)", bool(settings.REDIS_URL))
    from channels_redis.core import RedisChannelLayer

    layer = get_channel_layer()
    assert type(layer) is RedisChannelLayer
    assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] == [settings.REDIS_URL]
