"""Access rules of the portal, in one place: roles, MFA, and which desks a user may see.

Views, the API, exports and websocket consumers all ask these functions; none decides alone.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django_otp import user_has_device

from apps.accounts.models import Desk, Role, User

# Roles whose members must pass a second factor before they reach anything.
MFA_REQUIRED_ROLES = frozenset({Role.ADMINISTRATOR, Role.COMPLIANCE_OFFICER})


def user_roles(user: Any) -> frozenset[str]:
    """The user's role names (cached on the instance for the request)."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_qz_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached = cached | {Role.ADMINISTRATOR}
        user._qz_roles = cached
    return cached


def has_role(user: Any, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def mfa_required(user: Any) -> bool:
    """Administrators, compliance officers and staff always; anyone else once they have
    enrolled a device (a second factor that can be skipped protects nothing)."""
    if user_roles(user) & MFA_REQUIRED_ROLES or getattr(user, "is_staff", False):
        return True
    return user_has_device(user, confirmed=True)


def role_required(*roles: str) -> Callable:
    """View decorator: 403 unless the signed-in user holds one of `roles`."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def desks_for_user(user: User) -> QuerySet[Desk]:
    """The desks whose data `user` may see. Every desk-scoped list starts here."""
    if not getattr(user, "is_authenticated", False):
        return Desk.objects.none()
    return Desk.objects.filter(members=user)


def desk_get_for_user(user: User, code: str) -> Desk:
    """The desk, or 404: the same answer for "missing" and "not yours"."""
    return get_object_or_404(desks_for_user(user), code=code)


def socket_user_allowed(user: Any, session: Any) -> bool:
    """The websocket's gatekeeper: a signed-in, active user, verified by OTP where MFA applies
    (the same rule as MFARequiredMiddleware applies to pages)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if not mfa_required(user):
        return True
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.models import Device

    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is not None and device.user_id == user.pk and device.confirmed
