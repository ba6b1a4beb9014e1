"""Shared fixtures: role users, desks, and the rule for tests that need a real service.

A test that needs PostgreSQL, Redis, a broker or a browser skips only when that service was not
asked for. CI asks for all of them (QZ_REQUIRE_SERVICES=1): there, a missing one fails the test.
"""

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.utils import timezone, translation
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import Role
from tests.factories import DeskFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("QZ_REQUIRE_SERVICES") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Transactional tests restore the rows the data migrations wrote (role groups, default
    pre-trade rules, stress scenarios, beat schedules): the flush after each such test empties
    every table, and a later test would otherwise run without, say, any pre-trade rule."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        # pytest-django's live_server asks for transactional_db at run time, not in fixturenames.
        fixtures = set(getattr(item, "fixturenames", ()))
        transactional = bool(fixtures & {"transactional_db", "live_server"}) or (
            marker is not None and marker.kwargs.get("transaction")
        )
        if transactional:
            kwargs = {**(marker.kwargs if marker else {}), "transaction": True}
            kwargs["serialized_rollback"] = True
            item.add_marker(pytest.mark.django_db(**kwargs), append=False)


def need_service(what: str, available: bool) -> None:
    """Skip (locally) or fail (in CI) when `what` is not there."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required in this run (QZ_REQUIRE_SERVICES=1) but is not available")
    pytest.skip(f"{what} not configured")


@pytest.fixture(autouse=True)
def _isolated_test(settings: Any) -> Iterator[None]:
    """Each test starts in English and UTC, whatever an earlier request activated in this
    thread, hashes passwords fast (sign-ins are many; a slow hash only slows the suite), and
    with an empty cache: the API's request counts (qenergyz.throttles) of earlier tests' users,
    whose ids a later test's users may reuse, and of 127.0.0.1 count for no other test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    with translation.override(settings.LANGUAGE_CODE):
        yield
    timezone.deactivate()


@pytest.fixture
def postgres(db: None) -> None:
    need_service("PostgreSQL (DATABASE_URL)", connection.vendor == "postgresql")


@pytest.fixture
def desk_a(db: None):
    return DeskFactory(code="power-eu", name="Power Europe")


@pytest.fixture
def desk_b(db: None):
    return DeskFactory(code="gas-us", name="Gas US")


@pytest.fixture
def trader(desk_a):
    return UserFactory(username="trader", roles=[Role.TRADER], desks=[desk_a])


@pytest.fixture
def other_desk_trader(desk_b):
    return UserFactory(username="trader_b", roles=[Role.TRADER], desks=[desk_b])


@pytest.fixture
def risk_manager(desk_a, desk_b):
    # With the firm view (the firm risk manager role), as demo-risk.
    return UserFactory(
        username="risk",
        roles=[Role.RISK_MANAGER, Role.FIRM_RISK_MANAGER],
        desks=[desk_a, desk_b],
    )


@pytest.fixture
def compliance_officer(db: None):
    # Staff, as user_save makes every compliance officer: they work in the admin.
    return UserFactory(username="compliance", roles=[Role.COMPLIANCE_OFFICER], is_staff=True)


@pytest.fixture
def field_operator(db: None):
    return UserFactory(username="field", roles=[Role.FIELD_OPERATOR])


@pytest.fixture
def administrator(db: None):
    return UserFactory(
        username="admin", roles=[Role.ADMINISTRATOR], is_staff=True, is_superuser=True
    )


def login_verified(client: Client, user: Any) -> Client:
    """Sign `user` in on `client` with a session verified by a confirmed TOTP device, as
    django_otp.login leaves it and as MFARequiredMiddleware asks of administrators and
    compliance officers (the device is created if the user has none). Tests of the
    verification itself go through the MFA pages instead."""
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test device", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def verified_client(db: None) -> Callable[[Any], Client]:
    """A function giving a new Client signed in as `user` with an OTP-verified session."""
    return lambda user: login_verified(Client(), user)
