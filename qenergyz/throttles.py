"""The API's request rates: per token or signed-in user, tighter scopes for heavy writes, and
anonymous clients by IP address.

- `UserThrottle` ("user"): every API request of a signed-in client, keyed by its API token when
  it sent one (each token of a user has its own count: one runaway script does not stop the
  user's other clients) and by the user for a session.
- `ScopedWriteThrottle`: a view's `throttle_scope` ("bulk", "risk_run"), same keys, counting
  only the writes (POST and the like): listing risk runs is not requesting one.
- `AnonThrottle` ("anon"): requests without a user, by IP. DRF checks permissions before
  throttles, so a refused anonymous request (no or a bad token) would never be counted; the
  exception handler below counts it, so guessing tokens or hammering the API unsigned is held
  to this rate too.

The rates are read from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` at each request, not
copied onto the class at import as DRF's own throttles do, so a changed setting applies at once.

Counts live in the default cache (Redis when REDIS_URL is set, shared by every process) as a
fixed window opened by the first request: the window's start under one key and its count under
a key that names the start. Incrementing is atomic in Redis, where DRF's list of timestamps
(read, append, write back) loses counts when one client's requests run in parallel; a counter
named by its window is never reused after it expires (Django's Redis incr could otherwise
recreate an expired counter without an expiry).

A leaf module: it imports nothing from the apps.
"""

import math
import re
import time
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import ngettext
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
RATE_RE = re.compile(r"(?P<count>[1-9][0-9]*)/(?P<period>" + "|".join(PERIODS) + ")")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def parse_rate(rate: str) -> tuple[int, int]:
    """'1200/min' -> (1200, 60): requests allowed and the window in seconds."""
    match = RATE_RE.fullmatch(rate)
    if match is None:
        raise ValueError(f"{rate!r} is not a rate such as '1200/min' (s, min, hour or day).")
    return int(match["count"]), PERIODS[match["period"]]


class _WindowThrottle(BaseThrottle):
    """Counts a client's requests in the window its first request opened."""

    scope = ""

    def __init__(self) -> None:
        self._wait: float | None = None

    def ident(self, request: Any, view: Any) -> str | None:
        """Whom the request counts against; None: not this throttle's business."""
        raise NotImplementedError

    def scope_for(self, view: Any) -> str | None:
        return self.scope

    def allow_request(self, request: Any, view: Any) -> bool:
        scope = self.scope_for(view)
        ident = self.ident(request, view) if scope else None
        if ident is None:
            return True
        rates = api_settings.DEFAULT_THROTTLE_RATES
        if scope not in rates:
            raise ImproperlyConfigured(f"No rate in DEFAULT_THROTTLE_RATES for {scope!r}.")
        limit, period = parse_rate(rates[scope])
        now = time.time()
        base = f"throttle:{scope}:{ident}"
        start = cache.get(f"{base}:start")
        if start is None:
            cache.add(f"{base}:start", now, timeout=period)
            # Another process may have opened the window first: count in its window.
            start = cache.get(f"{base}:start", now)
        count = _increment(f"{base}:{start!r}", period)
        if count <= limit:
            return True
        self._wait = max(start + period - now, 1.0)
        return False

    def wait(self) -> float | None:
        return self._wait


def _increment(key: str, period: int) -> int:
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request (or its counter just expired)
        if cache.add(key, 1, timeout=period + 1):
            return 1
        return cache.incr(key)


def _client_key(request: Any) -> str | None:
    """A token's requests by the token, a session's by the user; None when anonymous."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    token = getattr(request, "auth", None)  # the ApiToken row when a token authenticated
    if token is not None and getattr(token, "pk", None) is not None:
        return f"token:{token.pk}"
    return f"user:{user.pk}"


class UserThrottle(_WindowThrottle):
    scope = "user"

    def ident(self, request: Any, view: Any) -> str | None:
        return _client_key(request)


class ScopedWriteThrottle(_WindowThrottle):
    """The view's `throttle_scope`, for its writes."""

    def scope_for(self, view: Any) -> str | None:
        return getattr(view, "throttle_scope", None)

    def ident(self, request: Any, view: Any) -> str | None:
        if request.method in SAFE_METHODS:
            return None
        return _client_key(request)


class AnonThrottle(_WindowThrottle):
    scope = "anon"

    def ident(self, request: Any, view: Any) -> str | None:
        if _client_key(request) is not None:
            return None
        return self.get_ident(request) or "unknown"


def _too_many(wait: float | None) -> Response:
    seconds = max(math.ceil(wait or 1), 1)
    detail = ngettext(
        "Too many requests. Try again in %(seconds)d second.",
        "Too many requests. Try again in %(seconds)d seconds.",
        seconds,
    ) % {"seconds": seconds}
    return Response(
        {"detail": detail, "code": "throttled"},
        status=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(seconds)},
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with the API's 429 (`detail`, `code`, Retry-After in whole seconds,
    never 0) and refused anonymous requests counted against their IP."""
    # Imported here: rest_framework.views reads DEFAULT_THROTTLE_CLASSES (this module) at import.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, exceptions.Throttled):
        return _too_many(exc.wait)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        request, view = context.get("request"), context.get("view")
        throttle = AnonThrottle()
        if request is not None and not throttle.allow_request(request, view):
            return _too_many(throttle.wait())
    return drf_exception_handler(exc, context)
