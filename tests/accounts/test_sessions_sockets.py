"""A user's open sockets are closed when what admitted them ends: logout, a password change, the
second factor removed, a role change, deactivation. Through the real ASGI application, as
tests/test_live.py does; a closed socket hears nothing more (a trade booked after the logout
reaches no one)."""

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import services
from apps.accounts.consumers import CLOSE_REVOKED
from apps.accounts.models import Role
from apps.trading.services import trade_book
from tests.conftest import login_verified
from tests.test_live import _open
from tests.trading.factories import trade_terms

pytestmark = pytest.mark.django_db(transaction=True)

CLOSED = {"type": "websocket.close", "code": CLOSE_REVOKED}


@pytest.fixture(autouse=True)
async def _close_worker_connections():
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def seeded(transactional_db: None) -> None:
    call_command("seed_reference_data", verbosity=0)


def _browser(user: Any, *, verified: bool = False) -> tuple[Client, str]:
    """A signed-in browser and its session cookie, which the socket sends too."""
    client = Client()
    if verified:
        login_verified(client, user)
    else:
        client.force_login(user)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return client, f"{settings.SESSION_COOKIE_NAME}={value}"


async def _open_socket(user: Any, *, verified: bool = False) -> tuple[Client, Any]:
    client, cookie = await sync_to_async(_browser)(user, verified=verified)
    communicator, (connected, _code) = await _open(cookie)
    assert connected is True
    return client, communicator


@pytest.mark.usefixtures("seeded")
async def test_sessions_logout_closes_socket_and_later_trades_reach_nothing(trader) -> None:
    client, communicator = await _open_socket(trader)

    response = await sync_to_async(client.post)("/accounts/logout/")
    assert response.status_code == 302

    assert await communicator.receive_output(timeout=5) == CLOSED
    await sync_to_async(trade_book)(user=trader, terms=trade_terms())
    assert await communicator.receive_nothing(timeout=0.5) is True


async def test_sessions_socket_after_logout_is_refused(trader) -> None:
    client, cookie = await sync_to_async(_browser)(trader)
    await sync_to_async(client.post)("/accounts/logout/")

    _communicator, (connected, _code) = await _open(cookie)
    assert connected is False


async def test_sessions_password_change_closes_socket(trader) -> None:
    _client, communicator = await _open_socket(trader)

    def change_password() -> None:
        trader.set_password("another-long-passphrase-42")
        trader.save()

    await sync_to_async(change_password)()
    assert await communicator.receive_output(timeout=5) == CLOSED


async def test_sessions_saving_user_without_password_change_keeps_socket(trader) -> None:
    _client, communicator = await _open_socket(trader)

    def rename() -> None:
        trader.first_name = "Ada"
        trader.save()

    await sync_to_async(rename)()
    assert await communicator.receive_nothing(timeout=0.5) is True
    await communicator.disconnect()


async def test_sessions_second_factor_removed_closes_socket(trader) -> None:
    _client, communicator = await _open_socket(trader, verified=True)

    removed = await sync_to_async(services.mfa_devices_remove)(user=trader)

    assert removed == 1
    assert await communicator.receive_output(timeout=5) == CLOSED


async def test_sessions_device_deleted_elsewhere_closes_socket(trader) -> None:
    # The admin's delete (or any other path) deletes the row without the MFA service.
    _client, communicator = await _open_socket(trader, verified=True)

    await sync_to_async(lambda: TOTPDevice.objects.filter(user=trader).delete())()
    assert await communicator.receive_output(timeout=5) == CLOSED


async def test_sessions_role_change_closes_socket(trader) -> None:
    _client, communicator = await _open_socket(trader)

    def make_risk_manager() -> None:
        group = Group.objects.get_or_create(name=Role.RISK_MANAGER)[0]
        services.user_save(actor=None, user=trader, groups=[group])

    await sync_to_async(make_risk_manager)()
    # First the notice of the change, then the close.
    notice = await communicator.receive_from(timeout=5)
    assert "Risk manager" in notice
    assert await communicator.receive_output(timeout=5) == CLOSED


async def test_sessions_deactivation_closes_socket(trader) -> None:
    _client, communicator = await _open_socket(trader)

    def deactivate() -> None:
        trader.is_active = False
        services.user_save(actor=None, user=trader)

    await sync_to_async(deactivate)()
    assert await communicator.receive_output(timeout=5) == CLOSED
