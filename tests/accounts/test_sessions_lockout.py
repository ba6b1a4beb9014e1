"""Progressive lockout (apps.accounts.lockout): 15 minutes at an account's first lockout from
an address, 1 hour at the second, 24 hours from the third within a day."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.test import Client

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def _lock_out(client: Client) -> None:
    statuses = [
        client.post(LOGIN, {"username": "trader", "password": "wrong-password"}).status_code
        for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]


def _age_attempts(by: timedelta) -> None:
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=attempt.attempt_time - by)


def _sign_in(client: Client):
    return client.post(LOGIN, {"username": "trader", "password": PASSWORD})


def test_sessions_lockout_first_is_15_minutes(client, trader):
    _lock_out(client)
    response = _sign_in(client)
    assert response.status_code == 429
    assert b"Please wait 15 minutes, then try again." in response.content
    assert AccessFailureLog.objects.filter(username="trader", locked_out=True).count() == 1


def test_sessions_lockout_second_is_an_hour(client, trader):
    _lock_out(client)
    _age_attempts(timedelta(minutes=16))
    _lock_out(client)

    response = _sign_in(client)
    assert response.status_code == 429
    assert b"Please wait 60 minutes, then try again." in response.content
    _age_attempts(timedelta(minutes=59))
    assert _sign_in(client).status_code == 429
    _age_attempts(timedelta(minutes=2))
    assert _sign_in(client).status_code == 302


def test_sessions_lockout_third_is_a_day(client, trader):
    for minutes in (16, 61):
        _lock_out(client)
        _age_attempts(timedelta(minutes=minutes))
    _lock_out(client)

    response = _sign_in(client)
    assert response.status_code == 429
    assert b"Please wait 1440 minutes, then try again." in response.content
    _age_attempts(timedelta(hours=23))
    assert _sign_in(client).status_code == 429


def test_sessions_lockout_refused_attempts_do_not_raise_the_tier(client, trader):
    _lock_out(client)
    for _ in range(3):
        assert _sign_in(client).status_code == 429
    assert AccessFailureLog.objects.filter(username="trader", locked_out=True).count() == 1
    assert b"Please wait 15 minutes" in _sign_in(client).content


def test_sessions_lockout_a_day_later_starts_again_at_15_minutes(client, trader):
    _lock_out(client)
    _age_attempts(timedelta(minutes=16))
    for log in AccessFailureLog.objects.all():
        AccessFailureLog.objects.filter(pk=log.pk).update(
            attempt_time=log.attempt_time - timedelta(hours=25)
        )
    _lock_out(client)
    assert b"Please wait 15 minutes" in _sign_in(client).content


def test_sessions_lockout_tiers_count_per_address(client, trader):
    _lock_out(client)
    _age_attempts(timedelta(minutes=16))
    other = Client(REMOTE_ADDR="10.0.0.9")
    statuses = [
        other.post(LOGIN, {"username": "trader", "password": "wrong-password"}).status_code
        for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]
    assert b"Please wait 15 minutes" in _sign_in(other).content
