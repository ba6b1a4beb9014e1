"""The API's request rates (qenergyz.throttles): 429 with Retry-After and the API's error body
past a rate; tokens, users and anonymous addresses counted apart; the bulk and risk-run scopes
tighter; the portal's pages and an ordinary client never throttled.

Rates are set with the `settings` fixture: the throttles read them at each request (DRF's own
copy them onto the class at import, where a changed setting would not reach them). Windows are
a day long here, so no test can cross into a new one. With REDIS_URL set the counts live in
Redis (`test_throttle_state_lives_in_redis`).
"""

import os
import re
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import redis
from django.conf import settings as django_settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.test import APIClient

from apps.accounts.services import api_token_create
from qenergyz.throttles import UserThrottle
from tests.conftest import need_service

TRADES = "/api/v1/trades/"
BULK = "/api/v1/trades/bulk/"
RUNS = "/api/v1/risk/runs/"
WIDE = {"user": "1000/day", "anon": "1000/day", "bulk": "1000/day", "risk_run": "1000/day"}
DAY = 86400


def _rates(settings, **rates: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**WIDE, **rates},
    }


def _session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _token(user, name: str = "script") -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name=name).plaintext}"
    )
    return client


def _statuses(client: APIClient, count: int, path: str = TRADES) -> list[int]:
    return [client.get(path).status_code for _ in range(count)]


def _assert_throttled(response) -> None:
    """A 429 in the API's error format, with a Retry-After (whole seconds) within the day's
    window the first request opened, and the same number in the message."""
    assert response.status_code == 429
    retry = int(response["Retry-After"])
    assert DAY - 120 <= retry <= DAY
    assert response.json() == {
        "detail": f"Too many requests. Try again in {retry} seconds.",
        "code": "throttled",
    }


def test_throttle_user_past_rate_gets_429_with_retry_after(settings, trader):
    _rates(settings, user="3/day")
    client = _session(trader)
    assert _statuses(client, 3) == [200, 200, 200]
    _assert_throttled(client.get(TRADES))
    # Writes count against the same rate: refused before the view (nothing to validate).
    _assert_throttled(client.post(TRADES, {}, format="json"))


def test_throttle_changed_rate_applies_at_once(settings, trader):
    _rates(settings, user="2/day")
    client = _session(trader)
    assert _statuses(client, 3) == [200, 200, 429]
    _rates(settings, user="5/day")
    # The same window: 3 counted so far, the 4th and 5th pass, the 6th does not.
    assert _statuses(client, 3) == [200, 200, 429]


def test_throttle_two_tokens_of_one_user_are_counted_apart(settings, trader):
    _rates(settings, user="2/day")
    first, second, session = _token(trader, "first"), _token(trader, "second"), _session(trader)
    assert _statuses(first, 3) == [200, 200, 429]
    # Each token has its own count, and a session counts by the user, apart from both.
    assert _statuses(second, 3) == [200, 200, 429]
    assert _statuses(session, 3) == [200, 200, 429]


def test_throttle_two_users_are_counted_apart(settings, trader, other_desk_trader):
    _rates(settings, user="2/day")
    assert _statuses(_session(trader), 3) == [200, 200, 429]
    assert _statuses(_session(other_desk_trader), 2) == [200, 200]
    assert _statuses(_token(other_desk_trader), 2) == [200, 200]


def test_throttle_bulk_scope_is_tighter_than_single_requests(settings, trader):
    _rates(settings, user="10/day", bulk="2/day")
    client = _token(trader)
    # An empty list is refused by the view (400) but counted like any bulk request.
    assert [client.post(BULK, [], format="json").status_code for _ in range(2)] == [400, 400]
    _assert_throttled(client.post(BULK, [], format="json"))
    # Single bookings and reads are held to the user's rate only.
    assert [client.post(TRADES, {}, format="json").status_code for _ in range(3)] == [400] * 3
    assert _statuses(client, 2) == [200, 200]
    # 8 requests so far (3 bulk, 3 single, 2 reads) with the 429: the 11th is over 10.
    assert _statuses(client, 3) == [200, 200, 429]


def test_throttle_risk_run_requests_have_their_own_rate(settings, risk_manager):
    _rates(settings, risk_run="2/day")
    client = _session(risk_manager)
    bad = {"business_date": "not a date"}
    assert client.post(RUNS, bad, format="json").status_code == 400
    # A rerun is a run request too (this one of a run that is not there).
    assert client.post(f"{RUNS}999999/rerun/").status_code == 404
    _assert_throttled(client.post(RUNS, bad, format="json"))
    _assert_throttled(client.post(f"{RUNS}999999/rerun/"))
    # Listing runs is not requesting one.
    assert _statuses(client, 3, RUNS) == [200, 200, 200]


def test_throttle_anonymous_requests_by_ip_refused_ones_included(settings, trader):
    _rates(settings, anon="2/day", user="2/day")
    unsigned = APIClient(REMOTE_ADDR="192.0.2.1")
    assert _statuses(unsigned, 2) == [401, 401]
    _assert_throttled(unsigned.get(TRADES))
    # A wrong token from the same address is anonymous too: guessing is held to the rate.
    unsigned.credentials(HTTP_AUTHORIZATION="Token 0123456789ab.wrong")
    _assert_throttled(unsigned.get(TRADES))
    # Another address has its own count; a made-up X-Forwarded-For (no proxy configured,
    # PROXY_COUNT=0) does not give a client a new one.
    assert _statuses(APIClient(REMOTE_ADDR="192.0.2.2"), 2) == [401, 401]
    spoofing = APIClient(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert spoofing.get(TRADES).status_code == 429
    # A signed-in client at the exhausted address counts as itself.
    signed_in = _session(trader)
    signed_in.defaults["REMOTE_ADDR"] = "192.0.2.1"
    assert _statuses(signed_in, 2) == [200, 200]


def test_throttle_never_touches_the_portal_pages(settings, client, trader):
    _rates(settings, user="1/day", anon="1/day")
    assert [client.get("/accounts/login/").status_code for _ in range(3)] == [200, 200, 200]
    client.force_login(trader)
    pages = ["/trading/blotter/", "/trading/positions/", "/"] * 2
    assert [client.get(page).status_code for page in pages] == [200] * 6
    # The API, by the same session, is throttled at its own rate meanwhile.
    assert [client.get(TRADES).status_code for _ in range(2)] == [200, 429]


def test_throttle_default_rates_let_an_ordinary_client_through(trader, risk_manager):
    trading, risk = _token(trader), _session(risk_manager)
    answers = [trading.get(TRADES).status_code for _ in range(20)]
    answers += [trading.post(BULK, [], format="json").status_code for _ in range(5)]
    answers += [risk.get(RUNS).status_code for _ in range(10)]
    answers += [risk.post(RUNS, {"business_date": "x"}, format="json").status_code for _ in "abc"]
    assert answers == [200] * 20 + [400] * 5 + [200] * 10 + [400] * 3


def test_throttle_parallel_requests_allow_exactly_the_rate(settings, trader):
    """Counts are incremented atomically: 40 requests at once, 30 allowed, never more."""
    _rates(settings, user="30/day")
    request = SimpleNamespace(user=trader, auth=None, method="GET")

    def attempt(_index: int) -> bool:
        return UserThrottle().allow_request(request, None)

    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = list(pool.map(attempt, range(40)))
    assert allowed.count(True) == 30


def test_throttle_state_lives_in_redis(settings, trader):
    need_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    assert isinstance(caches["default"], RedisCache)
    _rates(settings, user="2/day")
    client = _token(trader)
    assert _statuses(client, 3) == [200, 200, 429]
    keys = redis.Redis.from_url(django_settings.REDIS_URL).keys("*throttle:user:token:*")
    counters = [k.decode() for k in keys if not k.endswith(b":start")]
    assert len(counters) == 1
    # The window's count as another process would read it: three requests, one refused.
    assert cache.get(counters[0].split(":", 2)[2]) == 3


def test_throttle_malformed_rate_stops_start_up():
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "example.com",
        "API_THROTTLE_BULK": "lots",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    message = "API_THROTTLE_BULK must be a rate such as '1200/min' (per s, min, hour or day)"
    assert re.search(re.escape(message) + r", not 'lots'\.", result.stderr)
