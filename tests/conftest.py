"""Shared fixtures: role users, desks, and the rule for tests that need a real service.

A test that needs PostgreSQL, Redis, a broker or a browser skips only when that service was not
asked for. CI asks for all of them (QZ_REQUIRE_SERVICES=1): there, a missing one fails the test.
"""

import os

import pytest
from django.db import connection

from apps.accounts.models import Role
from tests.factories import DeskFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("QZ_REQUIRE_SERVICES") == "1"


def need_service(what: str, available: bool) -> None:
    """Skip (locally) or fail (in CI) when `what` is not there."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required in this run (QZ_REQUIRE_SERVICES=1) but is not available")
    pytest.skip(f"{what} not configured")


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
    return UserFactory(username="risk", roles=[Role.RISK_MANAGER], desks=[desk_a, desk_b])


@pytest.fixture
def compliance_officer(db: None):
    return UserFactory(username="compliance", roles=[Role.COMPLIANCE_OFFICER])


@pytest.fixture
def field_operator(db: None):
    return UserFactory(username="field", roles=[Role.FIELD_OPERATOR])


@pytest.fixture
def administrator(db: None):
    return UserFactory(
        username="admin", roles=[Role.ADMINISTRATOR], is_staff=True, is_superuser=True
    )
