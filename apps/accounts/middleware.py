from collections.abc import Callable
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
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
        # Come back to where the user was going once verified (the MFA views check `next`).
        target = f"{reverse(page)}?{urlencode({'next': request.get_full_path()})}"
        if getattr(request, "htmx", False):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return HttpResponseRedirect(target)
