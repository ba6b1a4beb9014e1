import pytest
from django.contrib.auth.models import Group

from apps.accounts.models import ROLE_PERMISSIONS, Role
from apps.accounts.services import role_groups_ensure

pytestmark = pytest.mark.django_db


def _permissions(group: Group) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


def test_role_groups_exist_after_migrations_with_their_permissions():
    groups = {group.name: group for group in Group.objects.filter(name__in=Role.values)}
    assert sorted(groups) == sorted(Role.values)
    assert _permissions(groups["trader"]) == {"accounts.view_trading_area"}
    assert _permissions(groups["compliance_officer"]) == {
        "accounts.view_compliance_area",
        "compliance.view_auditentry",
        "compliance.verify_audit",
    }
    assert _permissions(groups["risk_manager"]) == {
        "accounts.view_risk_area",
        "accounts.view_trading_area",
        "trading.add_curvesnapshot",
    }
    assert _permissions(groups["field_operator"]) == {"accounts.view_operations_area"}
    assert _permissions(groups["administrator"]) == set(ROLE_PERMISSIONS[Role.ADMINISTRATOR])


def test_role_groups_ensure_is_idempotent_and_matches_the_map():
    role_groups_ensure()
    role_groups_ensure()
    assert Group.objects.filter(name__in=Role.values).count() == 5
    for role in Role.values:
        assert _permissions(Group.objects.get(name=role)) == set(ROLE_PERMISSIONS[role])


def test_role_groups_ensure_recreates_groups_and_permissions_after_they_are_gone():
    Group.objects.filter(name__in=Role.values).delete()
    groups = role_groups_ensure()
    assert sorted(groups) == sorted(Role.values)
    assert _permissions(groups["compliance_officer"]) == set(
        ROLE_PERMISSIONS[Role.COMPLIANCE_OFFICER]
    )


def test_role_permissions_reach_the_users(trader, compliance_officer, field_operator, risk_manager):
    assert trader.has_perm("accounts.view_trading_area")
    assert not trader.has_perm("accounts.view_compliance_area")
    assert compliance_officer.has_perm("compliance.verify_audit")
    assert compliance_officer.has_perm("compliance.view_auditentry")
    assert field_operator.has_perm("accounts.view_operations_area")
    assert risk_manager.has_perm("accounts.view_risk_area")
