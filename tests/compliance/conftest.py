"""Helpers for pages behind MFA: a signed-in session already verified by a second factor."""

from typing import Any

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice


def login_verified(client: Client, user: Any) -> Client:
    """Sign `user` in and mark the session as OTP-verified, as django_otp.login would."""
    client.force_login(user)
    device = TOTPDevice.objects.create(user=user, name="test device", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def officer_client(client: Client, compliance_officer: Any) -> Client:
    return login_verified(client, compliance_officer)


@pytest.fixture
def admin_client_verified(client: Client, administrator: Any) -> Client:
    return login_verified(client, administrator)
