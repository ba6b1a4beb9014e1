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
        "compliance.view_changerequest",
        "trading.view_counterparty",
        "trading.change_counterparty",
        "trading.view_masteragreement",
        "trading.add_masteragreement",
        "trading.change_masteragreement",
        "compliance.view_pretraderule",
        "compliance.add_pretraderule",
        "compliance.change_pretraderule",
        "compliance.delete_pretraderule",
        "trading.view_trade",
        "trading.view_tradeversion",
    }
    assert _permissions(groups["risk_manager"]) == {
        "accounts.view_risk_area",
        "accounts.view_trading_area",
        "trading.add_curvesnapshot",
    }
    assert _permissions(groups["field_operator"]) == {"accounts.view_operations_area"}
    assert _permissions(groups["administrator"]) == set(ROLE_PERMISSIONS[Role.ADMINISTRATOR])
    assert len(ROLE_PERMISSIONS[Role.ADMINISTRATOR]) == 44
    assert "auth.view_group" in _permissions(groups["administrator"])
    assert "auth.change_group" not in _permissions(groups["administrator"])
    assert {"trading.change_book", "trading.change_desktradingpolicy"} <= _permissions(
        groups["administrator"]
    )


def test_role_groups_ensure_is_idempotent_and_matches_the_map():
    role_groups_ensure()
    role_groups_ensure()
    assert Group.objects.filter(name__in=Role.values).count() == 6
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


def test_role_groups_ensure_takes_away_a_permission_the_map_no_longer_gives():
    from django.contrib.auth.models import Permission

    administrators = Group.objects.get(name=Role.ADMINISTRATOR)
    administrators.permissions.add(
        Permission.objects.get(content_type__app_label="auth", codename="change_group")
    )
    role_groups_ensure()
    assert "auth.change_group" not in _permissions(administrators)


def test_user_save_makes_compliance_officers_and_administrators_staff_and_no_one_else(desk_a):
    from apps.accounts.models import User
    from apps.accounts.services import user_save

    groups = role_groups_ensure()
    staff = {}
    for role in Role.values:
        user = user_save(actor=None, user=User(username=f"u-{role}"), groups=[groups[role]])
        staff[role] = user.is_staff
    assert staff == {
        "trader": False,
        "risk_manager": False,
        "firm_risk_manager": False,
        "compliance_officer": True,
        "field_operator": False,
        "administrator": True,
    }
    officer = User.objects.get(username="u-compliance_officer")
    user_save(actor=None, user=officer, groups=[groups[Role.TRADER]])
    officer.refresh_from_db()
    assert officer.is_staff is False


def test_migration_0007_applies_the_map_and_makes_compliance_officers_and_admins_staff():
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Permission

    from apps.accounts.models import User

    migration = importlib.import_module("apps.accounts.migrations.0007_roles_work_in_the_admin")
    administrators = Group.objects.get(name=Role.ADMINISTRATOR)
    administrators.permissions.add(
        Permission.objects.get(content_type__app_label="auth", codename="change_group")
    )
    officer = User.objects.create(username="old-officer", is_staff=False)
    officer.groups.add(Group.objects.get(name=Role.COMPLIANCE_OFFICER))
    trader = User.objects.create(username="old-trader", is_staff=False)
    trader.groups.add(Group.objects.get(name=Role.TRADER))

    migration.apply_role_map(apps, None)

    for role in Role.values:
        assert _permissions(Group.objects.get(name=role)) == set(ROLE_PERMISSIONS[role])
    staff = dict(
        User.objects.filter(username__startswith="old-").values_list("username", "is_staff")
    )
    assert staff == {"old-officer": True, "old-trader": False}
