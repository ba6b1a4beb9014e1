"""Helpers of the MFA pages: the enrolment QR code, the "verified session" gate, and the
re-authentication that changing or removing the second factor asks for."""

from base64 import b32encode
from collections.abc import Callable
from functools import wraps
from typing import Any

import segno
from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import services
from apps.accounts.forms import MFAVerifyForm


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


class MFAReauthForm(MFAVerifyForm):
    """The password and a current second-factor code, asked again before the second factor is
    changed or removed (ASVS 7.5.1): a session left open must not be enough to replace it."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ["password", "code"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Not the page's first field here, as it is on the sign-in step.
        self.fields["code"].widget.attrs.pop("autofocus", None)


def reauthenticate(request: HttpRequest, form: MFAReauthForm) -> bool:
    """Whether the signed-in user proved both factors again; else the form carries the errors.

    The password goes through `authenticate`, so a wrong one counts towards the lockout (and is
    audited as a failed sign-in) like one at the login page; the code is checked, throttled and
    (a backup code) used up as at the second step of signing in. The code is not tried when the
    password is wrong.
    """
    if not form.is_valid():
        return False
    user = request.user
    checked = authenticate(
        request, username=user.get_username(), password=form.cleaned_data["password"]
    )
    if checked is None or checked.pk != user.pk:
        form.add_error("password", _("That password is not correct."))
        return False
    try:
        services.mfa_verify(user=user, code=form.cleaned_data["code"])
    except ValidationError as exc:
        form.add_error("code", exc)
        return False
    return True
