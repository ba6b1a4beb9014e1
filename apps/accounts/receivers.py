"""Audit receivers for Django's own authentication signals (logins, failed logins, logouts) and
django-axes' lockout signal. Each only hands over to a service.

Also where a user's open sockets are closed when what admitted them ends: a logout, a password
change (other sessions end with it) or a second factor removed, by whatever path (a page, the
admin, a service, a cascade). A socket keeps the groups it joined at connect, so it must
reconnect to be judged again by the gatekeeper.
"""

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import services
from apps.accounts.live import disconnect_user_after_commit
from apps.accounts.middleware import session_clocks_start
from apps.accounts.models import BackupCodeDevice, User


@receiver(user_logged_in, dispatch_uid="accounts.audit_login")
def _on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    services.login_record(user=user, request=request)
    if request is not None and hasattr(request, "session"):
        # A new sign-in starts a new session's clocks.
        session_clocks_start(request.session)


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
        disconnect_user_after_commit(user.pk)


@receiver(post_save, sender=User, dispatch_uid="accounts.password_changed_sockets")
def _on_user_saved(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    # set_password() leaves the new password in `_password` until save() has stored it (Django
    # clears it after post_save): the one sign of a password change, whichever form made it.
    if not created and getattr(instance, "_password", None) is not None:
        disconnect_user_after_commit(instance.pk)


@receiver(post_delete, sender=TOTPDevice, dispatch_uid="accounts.totp_removed_sockets")
@receiver(post_delete, sender=BackupCodeDevice, dispatch_uid="accounts.backup_removed_sockets")
def _on_device_removed(sender: Any, instance: TOTPDevice | BackupCodeDevice, **kwargs: Any) -> None:
    disconnect_user_after_commit(instance.user_id)
