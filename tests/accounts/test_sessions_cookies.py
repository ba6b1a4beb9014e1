"""Cookies under HTTPS carry the __Host- prefix (production settings, in a fresh process as
tests/test_security_headers.py does), and superusers cannot read TOTP keys in the admin."""

from typing import Any

import pytest
from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import login_verified
from tests.production import shell_probe

MARKER = "COOKIES:"
PROBE = f"""
import json
from django.conf import settings
from django.test import Client

client = Client(raise_request_exception=False)
response = client.get(
    "/accounts/login/", HTTP_HOST="qenergyz.example.com", HTTP_X_FORWARDED_PROTO="https"
)
cookies = {{
    name: {{"secure": bool(c["secure"]), "path": c["path"], "domain": c["domain"]}}
    for name, c in response.cookies.items()
}}
out = {{
    "status": response.status_code,
    "cookies": cookies,
    "session_cookie": [
        settings.SESSION_COOKIE_NAME, settings.SESSION_COOKIE_SECURE,
        settings.SESSION_COOKIE_PATH, settings.SESSION_COOKIE_DOMAIN,
    ],
    "csrf_in_page": 'hx-headers=\\'{{"X-CSRFToken": "' in response.content.decode(),
}}
print({MARKER!r} + json.dumps(out))
"""


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    return shell_probe(PROBE, MARKER, ALLOWED_HOSTS="qenergyz.example.com")


def test_sessions_cookies_carry_host_prefix_under_https(production) -> None:
    assert production["status"] == 200
    assert production["cookies"] == {
        "__Host-csrftoken": {"secure": True, "path": "/", "domain": ""}
    }
    assert production["session_cookie"] == ["__Host-sessionid", True, "/", None]


def test_sessions_csrf_token_travels_in_the_page_not_read_from_the_cookie(production) -> None:
    assert production["csrf_in_page"] is True


def test_sessions_cookies_keep_plain_names_in_development() -> None:
    # This run's settings (DEBUG=1, plain http): a browser would refuse a __Host- cookie.
    assert settings.SESSION_COOKIE_NAME == "sessionid"
    assert settings.CSRF_COOKIE_NAME == "csrftoken"


@pytest.mark.django_db
def test_sessions_admin_does_not_show_totp_keys(client, administrator) -> None:
    login_verified(client, administrator)
    device = TOTPDevice.objects.create(user=administrator, name="second phone", confirmed=True)

    response = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")

    assert response.status_code == 200
    assert device.key.encode() not in response.content
    assert settings.OTP_ADMIN_HIDE_SENSITIVE_DATA is True
