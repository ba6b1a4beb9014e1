from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import i18n
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import DEVICE_ID_SESSION_KEY, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import services
from apps.accounts.forms import ApiTokenForm, LoginForm, MFAVerifyForm, TOTPConfirmForm
from apps.accounts.mfa import (
    MFAReauthForm,
    reauthenticate,
    safe_next,
    second_factor_redirect,
    totp_qr_data_uri,
    totp_secret_display,
    verified_required,
)
from apps.accounts.models import BackupCode, BackupCodeDevice

# Also what users whose codes were issued before they were stored as salted hashes see (accounts
# migration 0009 deleted those codes).
NO_BACKUP_CODES_MESSAGE = gettext_lazy(
    "You have no backup codes left. Make new ones on the two-factor authentication page, so "
    "that you can still sign in if you lose your phone."
)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    # Everything the page shows (roles, desks, region defaults) comes from the portal context
    # processor, so the page and the navigation can never disagree.
    return render(request, "home.html")


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the interface language: the cookie (via Django's own view) and, for a signed-in
    user, their saved preference, so that the choice follows them to another browser."""
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        # Django's view would silently ignore an unknown code; say what was wrong instead.
        return render(request, "errors/400.html", {"bad_language": True}, status=400)
    if request.user.is_authenticated and request.user.language != language:
        request.user.language = language
        request.user.save(update_fields=["language"])
    return i18n.set_language(request)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/400.html", status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors: the database or a template may be what failed. The template
    # stands alone (no base.html) and still translates, in the language LocaleMiddleware chose.
    from django.template import loader

    return HttpResponse(loader.get_template("errors/500.html").render(), status=500)


# --- Accounts: sign-in, second factor, API tokens (the accounts work) ---------------------------
class LoginPage(LoginView):
    template_name = "accounts/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(axes_failure_limit=settings.AXES_FAILURE_LIMIT, **kwargs)

    def get_success_url(self) -> str:
        url = super().get_success_url()
        # A user with a second factor proves it next (MFARequiredMiddleware insists for roles
        # that must; everyone who enrolled is asked).
        if user_has_device(self.request.user):
            return reverse("accounts:mfa-verify") + "?" + urlencode({"next": url})
        return url


login_view = LoginPage.as_view()


def logout_view(request: HttpRequest) -> HttpResponse:
    """GET asks for confirmation; signing out itself is a POST (Django's LogoutView)."""
    if request.method == "POST":
        return LogoutView.as_view()(request)
    return render(request, "accounts/logout.html")


@never_cache
@login_required
def mfa_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: QR code and secret, confirmed by a first code; then the
    backup codes are shown, once."""
    user = request.user
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        if not user.is_verified():
            return second_factor_redirect(request)
        messages.info(request, _("Your authenticator app is already set up."))
        return redirect("accounts:mfa-manage")
    device = services.mfa_totp_pending(user=user)
    form = TOTPConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.mfa_totp_confirm(
                user=user, device=device, code=form.cleaned_data["code"]
            )
        except ValidationError as exc:
            form.add_error("code", exc)
        else:
            otp_login(request, device)
            request.session.cycle_key()
            return render(
                request, "accounts/mfa_backup_codes.html", {"codes": codes, "first_time": True}
            )
    context = {
        "form": form,
        "qr_data_uri": totp_qr_data_uri(device),
        "secret": totp_secret_display(device),
    }
    return render(request, "accounts/mfa_setup.html", context)


@never_cache
@login_required
def mfa_verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the app, or a backup code (used up)."""
    if not user_has_device(request.user):
        return redirect("accounts:mfa-setup")
    next_url = safe_next(request, resolve_url(settings.LOGIN_REDIRECT_URL))
    if request.user.is_verified():
        return redirect(next_url)
    form = MFAVerifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.mfa_verify(user=request.user, code=form.cleaned_data["code"])
        except ValidationError as exc:
            form.add_error("code", exc)
        else:
            otp_login(request, device)
            request.session.cycle_key()
            if isinstance(device, BackupCodeDevice):
                messages.warning(
                    request,
                    _("You signed in with a backup code. %(count)s unused codes remain.")
                    % {"count": device.remaining()},
                )
            elif not BackupCode.objects.filter(
                device__user=request.user, used_at__isnull=True
            ).exists():
                messages.warning(request, NO_BACKUP_CODES_MESSAGE)
            return redirect(next_url)
    return render(request, "accounts/mfa_verify.html", {"form": form, "next": next_url})


def _manage_page(request: HttpRequest, form: MFAReauthForm) -> HttpResponse:
    user = request.user
    context = {
        "totp_device": TOTPDevice.objects.filter(user=user, confirmed=True).first(),
        "backup_device": BackupCodeDevice.objects.filter(user=user, confirmed=True).first(),
        "form": form,
    }
    backup = context["backup_device"]
    if context["totp_device"] and not (backup and backup.remaining()):
        messages.warning(request, NO_BACKUP_CODES_MESSAGE)
    return render(request, "accounts/mfa_manage.html", context)


@never_cache
@verified_required
def mfa_manage(request: HttpRequest) -> HttpResponse:
    return _manage_page(request, MFAReauthForm())


@never_cache
@require_POST
@verified_required
def mfa_backup_codes(request: HttpRequest) -> HttpResponse:
    """Make new backup codes (the old ones stop working) and show them, once: after the
    password and a current code are given again."""
    form = MFAReauthForm(request.POST)
    if not reauthenticate(request, form):
        return _manage_page(request, form)
    try:
        codes = services.mfa_backup_codes_regenerate(user=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("accounts:mfa-setup")
    return render(request, "accounts/mfa_backup_codes.html", {"codes": codes})


@never_cache
@verified_required
def mfa_remove(request: HttpRequest) -> HttpResponse:
    """GET asks for confirmation, the password and a current code; POST with them removes the
    app and the backup codes."""
    form = MFAReauthForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and reauthenticate(request, form):
        services.mfa_devices_remove(user=request.user)
        request.session.pop(DEVICE_ID_SESSION_KEY, None)
        messages.success(request, _("Two-factor authentication was removed from your account."))
        return redirect("home")
    return render(request, "accounts/mfa_remove.html", {"form": form})


@never_cache
@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The user's API tokens; POST makes one and shows its secret on this response only."""
    form = ApiTokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.api_token_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            form = ApiTokenForm()
    context = {
        "form": form,
        "created": created,
        "tokens": services.api_tokens_for_user(request.user)[:200],
        "now": timezone.now(),
    }
    return render(request, "accounts/api_tokens.html", context)


@require_POST
@login_required
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = services.api_token_get_for_user(request.user, token_id)
    services.api_token_revoke(actor=request.user, token=token)
    messages.success(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("accounts:api-tokens")
