"""Four eyes on privileged access: the administrator role and the superuser flag are granted only
when a superuser requests it and another superuser approves (`apps.compliance.approvals`).

The role is requested as a new membership row (user, administrator group), the flag as the
user's `is_superuser`; each is applied through `apps.accounts.services.user_save`, which audits
the roles and fields before and after. Accounts sits below compliance, so it reaches
`privileged_grant_request` through the hook ComplianceConfig.ready sets
(`apps.accounts.privilege.grant_requester_set`).
"""

from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.utils.translation import gettext as _gettext
from django.utils.translation import gettext_lazy as _

from apps.accounts import privilege
from apps.accounts.models import Role, User
from apps.accounts.services import user_save
from apps.compliance import approvals
from apps.compliance.models import ChangeRequest

ROLE_GRANT = "accounts.user.administrator"
SUPERUSER_GRANT = "accounts.user.superuser"
_MEMBERSHIP = "accounts.user_groups"  # User.groups' through model: one row is one role held


def _superuser_only(actor: Any) -> None:
    if not (actor.is_active and actor.is_superuser):
        raise ValidationError(_("Only a superuser may grant the administrator role or superuser."))


def privileged_grant_request(*, actor: Any, user: User, grant: str) -> ChangeRequest:
    """Record `grant` ("administrator" or "superuser") for `user` as a change request that
    another superuser must approve; nothing of the user changes now."""
    if not (actor.is_active and actor.is_superuser):
        raise PermissionDenied(_("Only a superuser may grant the administrator role or superuser."))
    if grant == privilege.GRANT_ADMINISTRATOR:
        group = Group.objects.get(name=Role.ADMINISTRATOR)
        membership = User.groups.through(user_id=user.pk, group_id=group.pk)
        label = _gettext("%(user)s: administrator role") % {"user": user.username}
        return approvals.change_request_create(
            actor=actor, kind=ROLE_GRANT, obj=membership, label=label
        )
    if grant == privilege.GRANT_SUPERUSER:
        label = _gettext("%(user)s: superuser") % {"user": user.username}
        return approvals.change_request_create(
            actor=actor,
            kind=SUPERUSER_GRANT,
            obj=User.objects.get(pk=user.pk),
            values={"is_superuser": True},
            label=label,
        )
    raise ValidationError(_("This kind of change is not known."))


def _role_apply(*, actor: Any, obj: models.Model) -> None:
    _superuser_only(actor)
    group = Group.objects.get(pk=obj.group_id)  # type: ignore[attr-defined]
    if group.name != Role.ADMINISTRATOR:
        raise ValidationError(_("This kind of change is not known."))
    user = User.objects.select_for_update().get(pk=obj.user_id)  # type: ignore[attr-defined]
    user_save(actor=actor, user=user, groups=[*user.groups.all(), group])


def _superuser_apply(*, actor: Any, obj: models.Model) -> None:
    _superuser_only(actor)
    assert isinstance(obj, User)
    # The groups given again so that staff follows (a superuser is staff).
    user_save(actor=actor, user=obj, groups=list(obj.groups.all()))


def register_change_kinds() -> None:
    """ComplianceConfig.ready: the two grants, and accounts' hook to request them."""
    approvals.register(
        approvals.ChangeKind(
            key=ROLE_GRANT,
            model=_MEMBERSHIP,
            permission=privilege.GRANT_PERMISSION,
            label=_("Administrator role: grant"),
            apply=_role_apply,
        )
    )
    approvals.register(
        approvals.ChangeKind(
            key=SUPERUSER_GRANT,
            model="accounts.user",
            permission=privilege.GRANT_PERMISSION,
            label=_("Superuser: grant"),
            apply=_superuser_apply,
        )
    )
    privilege.grant_requester_set(privileged_grant_request)
