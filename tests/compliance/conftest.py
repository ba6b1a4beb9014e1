"""Helpers for pages behind MFA: a signed-in session already verified by a second factor."""

from typing import Any

import pytest
from django.test import Client

from tests.conftest import login_verified


@pytest.fixture
def officer_client(client: Client, compliance_officer: Any) -> Client:
    return login_verified(client, compliance_officer)


@pytest.fixture
def admin_client_verified(client: Client, administrator: Any) -> Client:
    return login_verified(client, administrator)
