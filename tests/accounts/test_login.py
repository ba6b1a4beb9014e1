from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from apps.compliance.models import AuditEntry
from tests.accounts.conftest import audit_actions, confirmed_device
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def test_login_page_renders_form(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content
    assert b"<h1>Sign in</h1>" in response.content


def test_login_with_right_password_signs_in_and_audits(client, trader):
    response = client.post(LOGIN, {"username": "trader", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    entry = AuditEntry.objects.get(action="accounts.login")
    assert entry.actor_id == trader.pk
    assert (entry.object_type, entry.object_id) == ("accounts.user", str(trader.pk))
    assert entry.payload["ip"] == "127.0.0.1"


def test_login_with_wrong_password_shows_form_error_and_audits(client, trader):
    response = client.post(LOGIN, {"username": "trader", "password": "wrong-password-123"})
    assert response.status_code == 200
    assert "__all__" in response.context["form"].errors
    entry = AuditEntry.objects.get(action="accounts.login_failed")
    assert entry.actor_id is None
    assert entry.actor_label == "system"
    assert (entry.object_type, entry.object_id) == ("accounts.user", str(trader.pk))
    assert entry.payload["username"] == "trader"
    assert "password" not in entry.payload


def test_login_failed_for_unknown_username_is_audited_without_a_user(client):
    response = client.post(LOGIN, {"username": "nobody-here", "password": "whatever-123456"})
    assert response.status_code == 200
    entry = AuditEntry.objects.get(action="accounts.login_failed")
    assert entry.actor_id is None
    assert (entry.object_type, entry.object_id) == ("", "")
    assert entry.payload == {"username": "nobody-here", "ip": "127.0.0.1", "user_agent": ""}


def test_login_with_empty_fields_gives_form_errors(client):
    response = client.post(LOGIN, {"username": "", "password": ""})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"username", "password"}


def test_login_of_user_with_device_goes_to_verification_next(client, trader):
    confirmed_device(trader)
    response = client.post(LOGIN, {"username": "trader", "password": PASSWORD, "next": "/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/mfa/verify/?next=%2F"


def test_logout_get_asks_for_confirmation_and_post_signs_out(client, trader):
    client.force_login(trader)
    page = client.get("/accounts/logout/")
    assert page.status_code == 200
    assert b'action="/accounts/logout/"' in page.content
    assert client.get("/").status_code == 200  # still signed in after the GET
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    assert client.get("/").status_code == 302
    # force_login sends the user_logged_in signal too.
    assert audit_actions(actor=trader) == ["accounts.login", "accounts.logout"]


def _fail(client, username: str = "trader") -> object:
    return client.post(LOGIN, {"username": username, "password": "not-the-password"})


def test_lockout_after_failure_limit_refuses_even_the_right_password(client, trader):
    assert settings.AXES_FAILURE_LIMIT == 5
    statuses = [_fail(client).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    response = client.post(LOGIN, {"username": "trader", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert b"Too many failed sign-in attempts" in response.content
    assert b"Please wait 15 minutes, then try again." in response.content
    assert b"after 5 failed attempts" in response.content
    assert "accounts.locked_out" in audit_actions()


def test_lockout_is_keyed_on_username_so_another_account_can_still_sign_in(
    client, trader, risk_manager
):
    for _ in range(5):
        _fail(client)
    response = client.post(LOGIN, {"username": "risk", "password": PASSWORD})
    assert response.status_code == 302


def test_lockout_is_released_after_the_cool_off(client, trader):
    for _ in range(5):
        _fail(client)
    assert client.post(LOGIN, {"username": "trader", "password": PASSWORD}).status_code == 429
    # The cool-off has passed: the stored attempt is older than the first cool-off tier.
    attempt = AccessAttempt.objects.get(username="trader")
    AccessAttempt.objects.filter(pk=attempt.pk).update(
        attempt_time=attempt.attempt_time - settings.AXES_COOLOFF_TIERS[0] - timedelta(seconds=1)
    )
    response = client.post(LOGIN, {"username": "trader", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(trader.pk)


def test_lockout_just_before_the_cool_off_ends_still_refuses(client, trader):
    for _ in range(5):
        _fail(client)
    attempt = AccessAttempt.objects.get(username="trader")
    AccessAttempt.objects.filter(pk=attempt.pk).update(
        attempt_time=attempt.attempt_time - settings.AXES_COOLOFF_TIERS[0] + timedelta(seconds=30)
    )
    assert client.post(LOGIN, {"username": "trader", "password": PASSWORD}).status_code == 429


@override_settings(AXES_FAILURE_LIMIT=2)
def test_lockout_page_follows_the_configured_limit(client, trader):
    assert [_fail(client).status_code for _ in range(2)] == [200, 429]
    response = client.post(LOGIN, {"username": "trader", "password": PASSWORD})
    assert response.status_code == 429
    assert b"after 2 failed attempts" in response.content


def test_lockout_page_is_in_arabic_for_an_arabic_reader(client, trader):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ar"
    for _ in range(5):
        _fail(client)
    response = client.post(LOGIN, {"username": "trader", "password": PASSWORD})
    assert response.status_code == 429
    assert b'lang="ar"' in response.content
    assert b'dir="rtl"' in response.content
