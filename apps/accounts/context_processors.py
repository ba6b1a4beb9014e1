from typing import Any

from django.http import HttpRequest
from django.utils import translation

from apps.accounts.models import Jurisdiction, Role
from apps.accounts.permissions import desks_for_user, mfa_required, user_roles
from apps.accounts.regions import region_defaults


def portal(request: HttpRequest) -> dict[str, Any]:
    """What base.html needs on every page: direction, roles for the navigation, desks, region.

    The role flags come from permissions.user_roles, the same source the gatekeepers use, so the
    navigation never offers a link that the page would then refuse.
    """
    user = getattr(request, "user", None)
    context: dict[str, Any] = {
        "text_direction": "rtl" if translation.get_language_bidi() else "ltr"
    }
    if user is None or not user.is_authenticated:
        return context
    roles = user_roles(user)
    defaults = region_defaults(user.region)
    context.update(
        roles=roles,
        role_labels=[label for value, label in Role.choices if value in roles],
        is_trader=Role.TRADER in roles,
        is_risk_manager=Role.RISK_MANAGER in roles,
        is_compliance_officer=Role.COMPLIANCE_OFFICER in roles,
        is_field_operator=Role.FIELD_OPERATOR in roles,
        is_administrator=Role.ADMINISTRATOR in roles,
        user_desks=list(desks_for_user(user)),
        region=user.get_region_display(),
        region_defaults=defaults,
        jurisdiction_label=Jurisdiction(defaults.jurisdiction).label,
        # The socket would refuse a user who still owes a second factor (socket_user_allowed),
        # so the page does not open one that would only be closed and retried.
        live_updates=not mfa_required(user) or getattr(user, "is_verified", bool)(),
    )
    return context
