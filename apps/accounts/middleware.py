from collections.abc import Callable
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
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
