"""Helpers of the MFA pages: the enrolment QR code and the "verified session" gate."""

from base64 import b32encode
from collections.abc import Callable
from functools import wraps
from typing import Any

import segno
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_qr_data_uri(device: TOTPDevice) -> str:
    """The device's otpauth:// URL as an SVG QR code in a data: URI (CSP allows data: images)."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def totp_secret_display(device: TOTPDevice) -> str:
    """The base32 secret in groups of four, for typing into an app by hand."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def second_factor_redirect(request: HttpRequest) -> HttpResponseRedirect:
    """Send the user to verify (if they have a device) or to set one up."""
    if user_has_device(request.user):
        return HttpResponseRedirect(
            reverse("accounts:mfa-verify") + "?" + urlencode({"next": request.get_full_path()})
        )
    return HttpResponseRedirect(reverse("accounts:mfa-setup"))


def verified_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """View decorator: a signed-in user whose session passed the second factor."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_verified():
            return second_factor_redirect(request)
        return view(request, *args, **kwargs)

    return wrapped
