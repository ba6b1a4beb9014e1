"""Who may raise whom: the rules that keep every role below the one that grants it.

An administrator gives the other roles and desks, but never the administrator role or the
superuser flag, and never touches an administrator's or a superuser's account (password,
devices, roles). Granting those two needs a superuser and a second superuser: a four-eyes
change request. Compliance holds the requests and sits above accounts, so it plugs its request
function in here at start-up (`grant_requester_set`, from ComplianceConfig.ready); until it has,
a grant is refused (fail closed).
"""

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import Role, User

# Held by superusers only: no Permission row of this name exists, role groups are read-only
# and per-user permissions are not offered, so `has_perm` is true for a superuser alone.
GRANT_PERMISSION = "accounts.grant_privileged_access"
GRANT_ADMINISTRATOR = "administrator"
GRANT_SUPERUSER = "superuser"
PRIVILEGED_ROLES = frozenset({Role.ADMINISTRATOR})

_requester: Callable[..., Any] | None = None


def is_privileged(user: User) -> bool:
    """An administrator or a superuser: only a superuser may change such an account."""
    if user.pk is None:
        return False
    return user.is_superuser or user.groups.filter(name__in=PRIVILEGED_ROLES).exists()


def may_change_account(actor: Any, target: User | None) -> bool:
    """May `actor` change `target`'s password, devices, roles or fields?"""
    if target is None or actor.is_superuser:
        return True
    # The stored row decides, not a form's proposal (a crafted POST cannot unflag the target).
    stored = User.objects.filter(pk=target.pk).first() if target.pk else None
    return stored is None or not is_privileged(stored)


def grantable_groups(actor: Any) -> Iterable[Group]:
    """The role groups `actor` may offer in a user form: a superuser sees every role (granting
    the administrator role then becomes a request), anyone else all but the administrator's."""
    groups = Group.objects.filter(name__in=Role.values).order_by("name")
    if actor.is_superuser:
        return groups
    return groups.exclude(name__in=PRIVILEGED_ROLES)


def grants_proposed(
    *, stored: User | None, is_superuser: bool, groups: Iterable[Group] | None
) -> list[str]:
    """The privileged grants a save proposes: the administrator role or the superuser flag that
    the stored user (None: a new user) does not hold yet."""
    grants: list[str] = []
    held = set(stored.groups.values_list("name", flat=True)) if stored is not None else set()
    if groups is not None and any(
        group.name in PRIVILEGED_ROLES and group.name not in held for group in groups
    ):
        grants.append(GRANT_ADMINISTRATOR)
    if is_superuser and not (stored is not None and stored.is_superuser):
        grants.append(GRANT_SUPERUSER)
    return grants


def grant_requester_set(requester: Callable[..., Any]) -> None:
    """Compliance's `privileged_grant_request(actor=, user=, grant=)` (ComplianceConfig.ready)."""
    global _requester
    _requester = requester


def grant_request(*, actor: Any, user: User, grant: str) -> Any:
    """Ask a second superuser to approve `grant` for `user`; returns the change request."""
    if _requester is None:
        raise ImproperlyConfigured(_("Privileged grants need the compliance app's four eyes."))
    return _requester(actor=actor, user=user, grant=grant)
