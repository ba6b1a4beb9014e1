import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME, SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_otp import user_has_device

from apps.accounts.permissions import mfa_required
from apps.accounts.regions import region_defaults


class UserPreferencesMiddleware:
    """Activates the signed-in user's time zone, and their language when no cookie chose one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            defaults = region_defaults(user.region)
            timezone.activate(ZoneInfo(defaults.time_zone))
            if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
                language = user.language or defaults.language
                translation.activate(language)
                request.LANGUAGE_CODE = translation.get_language()
        else:
            timezone.deactivate()
        return self.get_response(request)


class MFARequiredMiddleware:
    """Users who need a second factor (permissions.mfa_required) reach nothing but the MFA
    pages (and logout) until their session is verified with one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()
            and mfa_required(user)
            and not request.path.startswith(self._open_prefixes())
        ):
            return self._refuse(request, user)
        return self.get_response(request)

    @staticmethod
    def _open_prefixes() -> tuple[str, ...]:
        return (
            reverse("accounts:mfa-setup"),
            reverse("accounts:mfa-verify"),
            reverse("accounts:logout"),
            "/" + settings.STATIC_URL.lstrip("/"),
            "/i18n/",
            "/healthz",
            "/readyz",
            "/metrics",  # its own bearer token guards it, whatever the session
        )

    @staticmethod
    def _refuse(request: HttpRequest, user: object) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": _("A verified second factor is required.")}, status=403)
        page = "accounts:mfa-verify" if user_has_device(user) else "accounts:mfa-setup"
        # Come back to where the user was going once verified (the MFA views check `next`): for
        # htmx, the page it was sent from, not the fragment's URL.
        htmx = getattr(request, "htmx", None)
        page_url = (htmx and htmx.current_url_abs_path) or request.get_full_path()
        target = f"{reverse(page)}?{urlencode({'next': page_url})}"
        if htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return HttpResponseRedirect(target)


class HtmxLoginRedirectMiddleware:
    """An htmx request that finds its session expired is sent to the login page as a whole
    page (204 + HX-Redirect), not answered with a redirect that htmx would follow and swap the
    login form into the fragment it was refreshing (a grid, a table's rows).

    Every redirect to LOGIN_URL is converted here, in one place, whichever view made it; its
    `next` becomes the page the user was on (HX-Current-URL when it is this site's, else the
    requested path), not the fragment's URL.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        htmx = getattr(request, "htmx", None)
        if not htmx or not isinstance(response, HttpResponseRedirect):
            return response
        location = urlsplit(response["Location"])
        login = resolve_url(settings.LOGIN_URL)
        if location.netloc or location.path != login:
            return response
        query = QueryDict(location.query, mutable=True)
        if REDIRECT_FIELD_NAME in query:  # a login-required refusal, not a logout
            query[REDIRECT_FIELD_NAME] = htmx.current_url_abs_path or request.get_full_path()
        # Encoded as Django's redirect_to_login does (slashes left readable).
        target = f"{login}?{query.urlencode(safe='/')}" if query else login
        converted = HttpResponse(status=204)
        converted["HX-Redirect"] = target
        converted.cookies = response.cookies
        return converted


# The session's last activity (POSIX seconds), written at most once a minute: a write per
# request would be waste, and the idle timeout is counted in minutes.
LAST_ACTIVITY_KEY = "qz_last_activity"
ACTIVITY_RESOLUTION = 60
# Sent by the page's automatic refreshes (a live event's reload, a running job's poll): they
# are not the user's doing, so they do not keep an idle session alive (nor does a socket).
BACKGROUND_HEADER = "X-Background-Refresh"


def session_idle_timeout() -> timedelta:
    return settings.SESSION_IDLE_TIMEOUT


def session_seconds_left(session: Any, now: float | None = None) -> float:
    """Seconds until the signed-in `session` ends, whichever comes first: the idle timeout
    from its last activity, or its absolute expiry (SESSION_COOKIE_AGE from sign-in).
    Zero or less: it has ended."""
    now = time.time() if now is None else now
    last = session.get(LAST_ACTIVITY_KEY)
    idle = session_idle_timeout().total_seconds()
    idle_left = idle if last is None else float(last) + idle - now
    return min(idle_left, float(session.get_expiry_age()))


def session_clocks_start(session: Any) -> None:
    """A signed-in session's clocks: its absolute end fixed now, its last activity now. Set at
    sign-in (so the first request after it writes nothing more) and by SessionIdleMiddleware
    for a session signed in another way."""
    session.set_expiry(timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE))
    session[LAST_ACTIVITY_KEY] = int(time.time())


class SessionIdleMiddleware:
    """Ends a session left idle for SESSION_IDLE_TIMEOUT, besides its absolute expiry.

    An idle session is flushed before the view runs, so the request goes on signed out and
    gets what an expired session gets (a redirect to the login page; for htmx the 204 +
    HX-Redirect of HtmxLoginRedirectMiddleware; 401/403 from the API). Each request by the
    user (not a background refresh) records its time. The absolute expiry is fixed at sign-in
    (set_expiry with a date): otherwise every write of the activity would push it back.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        ended = LAST_ACTIVITY_KEY in session and session_seconds_left(session) <= 0
        if ended and SESSION_KEY in session:
            session.flush()
            request.user = AnonymousUser()
        response = self.get_response(request)
        if SESSION_KEY in session and request.headers.get(BACKGROUND_HEADER) != "true":
            self._record_activity(session)
        return response

    @staticmethod
    def _record_activity(session: Any) -> None:
        last = session.get(LAST_ACTIVITY_KEY)
        if last is None:
            session_clocks_start(session)
        elif time.time() - float(last) >= ACTIVITY_RESOLUTION:
            session[LAST_ACTIVITY_KEY] = int(time.time())
