"""Audit receivers for Django's own authentication signals (logins, failed logins, logouts) and
django-axes' lockout signal. Each only hands over to a service."""

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from apps.accounts import services


@receiver(user_logged_in, dispatch_uid="accounts.audit_login")
def _on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    services.login_record(user=user, request=request)


@receiver(user_login_failed, dispatch_uid="accounts.audit_login_failed")
def _on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = credentials.get(get_user_model().USERNAME_FIELD) or credentials.get("username")
    services.login_failed_record(username=username or "", request=request)


@receiver(user_locked_out, dispatch_uid="accounts.audit_locked_out")
def _on_locked_out(
    sender: Any, request: HttpRequest | None = None, username: str | None = None, **kwargs: Any
) -> None:
    services.lockout_record(username=username or "", request=request)


@receiver(user_logged_out, dispatch_uid="accounts.audit_logout")
def _on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None and getattr(user, "is_authenticated", False):
        services.logout_record(user=user, request=request)
