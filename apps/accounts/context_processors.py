from typing import Any

from django.http import HttpRequest
from django.utils import translation

from apps.accounts.models import Role
from apps.accounts.permissions import desks_for_user, user_roles
from apps.accounts.regions import region_defaults


def portal(request: HttpRequest) -> dict[str, Any]:
    """What base.html needs on every page: direction, roles for the navigation, desks, region."""
    user = getattr(request, "user", None)
    context: dict[str, Any] = {
        "text_direction": "rtl" if translation.get_language_bidi() else "ltr"
    }
    if user is None or not user.is_authenticated:
        return context
    roles = user_roles(user)
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
        region_defaults=region_defaults(user.region),
    )
    return context
