"""No role raises itself: the takeover of issue 12 replayed through the admin by an OTP-verified
administrator (real POSTs), each step refused with nothing changed; the administrator role and
superuser granted only by a superuser and a second one; every privileged change in the
hash-chained audit trail with its before and after."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import ROLE_PERMISSIONS, Role, User
from apps.accounts.services import role_groups_ensure, user_save
from apps.compliance.audit import audit_verify
from apps.compliance.models import AuditEntry, ChangeRequest, PreTradeRule
from apps.compliance.privilege import ROLE_GRANT, SUPERUSER_GRANT
from apps.compliance.services import RULE_END, RULE_WITHDRAW
from apps.trading.approvals import POLICY_SAVE
from apps.trading.models import DeskTradingPolicy
from tests.conftest import login_verified
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def plain_admin(db: None) -> User:
    """An administrator by role only (not a superuser), as the attacker of issue 12."""
    role_groups_ensure()
    return UserFactory(username="plain-admin", roles=[Role.ADMINISTRATOR], is_staff=True)


@pytest.fixture
def root(db: None) -> User:
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=user, name="root's phone", confirmed=True)
    return user


@pytest.fixture
def root_b(db: None) -> User:
    return UserFactory(username="root-b", is_staff=True, is_superuser=True)


def _user_form(user: User, **changes: object) -> dict:
    data: dict = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "region": user.region,
        "language": user.language,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "desks": [str(pk) for pk in user.desks.values_list("pk", flat=True)],
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def _group(role: str) -> Group:
    return Group.objects.get(name=role)


def _roles(user: User) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


def _password_form(password: str) -> dict:
    return {"usable_password": "true", "password1": password, "password2": password}


# --- The takeover, step by step ------------------------------------------------------------------


def test_privilege_group_permissions_cannot_be_changed_in_the_admin_by_anyone(plain_admin, root):
    admin_group = _group(Role.ADMINISTRATOR)
    every_permission = [str(pk) for pk in Permission.objects.values_list("pk", flat=True)]
    change_url = reverse("admin:auth_group_change", args=[admin_group.pk])
    for user in (plain_admin, root):
        client = login_verified(Client(), user)
        assert client.get(change_url).status_code == 200  # shown, read-only
        response = client.post(
            change_url, {"name": "administrator", "permissions": every_permission}
        )
        assert response.status_code == 403
        added = client.post(reverse("admin:auth_group_add"), {"name": "owners"})
        assert added.status_code == 403
        deleted = client.post(
            reverse("admin:auth_group_delete", args=[admin_group.pk]), {"post": "yes"}
        )
        assert deleted.status_code == 403
    held = admin_group.permissions.select_related("content_type")
    assert sorted(f"{p.content_type.app_label}.{p.codename}" for p in held) == sorted(
        ROLE_PERMISSIONS[Role.ADMINISTRATOR]
    )
    assert sorted(Group.objects.values_list("name", flat=True)) == sorted(Role.values)


def test_privilege_administrator_cannot_set_a_superusers_password(plain_admin, root):
    client = login_verified(Client(), plain_admin)
    response = client.post(
        f"/admin/accounts/user/{root.pk}/password/", _password_form("attacker-chosen-pass-1")
    )
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.check_password(PASSWORD)
    assert not AuditEntry.objects.filter(action="accounts.password_set").exists()


def test_privilege_administrator_cannot_set_another_administrators_password(plain_admin):
    other = UserFactory(username="admin-two", roles=[Role.ADMINISTRATOR], is_staff=True)
    client = login_verified(Client(), plain_admin)
    response = client.post(
        f"/admin/accounts/user/{other.pk}/password/", _password_form("attacker-chosen-pass-2")
    )
    assert response.status_code == 403
    other.refresh_from_db()
    assert other.check_password(PASSWORD)


def test_privilege_administrator_cannot_delete_or_add_a_superusers_totp_device(plain_admin, root):
    device = TOTPDevice.objects.get(user=root)
    client = login_verified(Client(), plain_admin)
    deleted = client.post(
        reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"}
    )
    assert deleted.status_code == 403
    added = client.post(
        reverse("admin:otp_totp_totpdevice_add"),
        {"user": root.pk, "name": "attacker", "key": "00" * 20, "step": 30, "t0": 0},
    )
    assert added.status_code == 403
    assert list(TOTPDevice.objects.filter(user=root).values_list("name", flat=True)) == [
        "root's phone"
    ]
    assert not AuditEntry.objects.filter(action__startswith="accounts.mfa_device").exists()


def test_privilege_administrator_cannot_change_a_superusers_roles_or_access(plain_admin, root):
    client = login_verified(Client(), plain_admin)
    change_url = f"/admin/accounts/user/{root.pk}/change/"
    assert client.get(change_url).status_code == 200  # the account may be viewed
    response = client.post(
        change_url, _user_form(root, is_active="", groups=[str(_group(Role.TRADER).pk)])
    )
    assert response.status_code == 403
    root.refresh_from_db()
    assert (root.is_active, root.is_superuser, _roles(root)) == (True, True, [])
    assert not AuditEntry.objects.filter(action="accounts.access_changed").exists()


def test_privilege_administrator_cannot_give_anyone_the_administrator_role(plain_admin, trader):
    client = login_verified(Client(), plain_admin)
    admin_group = str(_group(Role.ADMINISTRATOR).pk)

    changed = client.post(
        f"/admin/accounts/user/{trader.pk}/change/", _user_form(trader, groups=[admin_group])
    )
    assert changed.status_code == 200
    assert list(changed.context["adminform"].form.errors) == ["groups"]

    added = client.post(
        "/admin/accounts/user/add/",
        {
            "username": "accomplice",
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-9",
            "password2": "a-long-enough-passphrase-9",
            "region": "US",
            "groups": [admin_group],
        },
    )
    assert added.status_code == 200
    assert list(added.context["adminform"].form.errors) == ["groups"]

    assert _roles(trader) == ["trader"]
    assert not User.objects.filter(username="accomplice").exists()
    assert not AuditEntry.objects.exclude(action="accounts.login").exists()
    assert not ChangeRequest.objects.exists()


def test_privilege_administrator_cannot_set_staff_superuser_or_per_user_permissions(
    plain_admin, trader
):
    client = login_verified(Client(), plain_admin)
    every_permission = [str(pk) for pk in Permission.objects.values_list("pk", flat=True)]
    response = client.post(
        f"/admin/accounts/user/{trader.pk}/change/",
        _user_form(trader, is_staff="on", is_superuser="on", user_permissions=every_permission),
    )
    assert response.status_code == 302  # the flags are read-only: the rest was saved
    trader.refresh_from_db()
    assert (trader.is_staff, trader.is_superuser) == (False, False)
    assert trader.user_permissions.count() == 0
    assert not ChangeRequest.objects.exists()


def test_privilege_user_save_refuses_a_non_superusers_grant_or_change_of_a_privileged_user(
    plain_admin, trader, root
):
    with pytest.raises(PermissionDenied):
        user_save(actor=plain_admin, user=trader, groups=[_group(Role.ADMINISTRATOR)])
    trader.is_superuser = True
    with pytest.raises(PermissionDenied):
        user_save(actor=plain_admin, user=trader)
    root.first_name = "Mallory"
    with pytest.raises(PermissionDenied):
        user_save(actor=plain_admin, user=root)
    trader.refresh_from_db()
    root.refresh_from_db()
    assert (_roles(trader), trader.is_superuser, root.first_name) == (["trader"], False, "")
    assert not AuditEntry.objects.exclude(action="accounts.login").exists()


def test_privilege_staff_follows_the_roles_whatever_the_caller_sets(trader):
    trader.is_staff = True
    user_save(actor=None, user=trader)
    trader.refresh_from_db()
    assert trader.is_staff is False


def test_privilege_administrator_gives_ordinary_roles_and_desks_audited(
    plain_admin, trader, desk_b
):
    client = login_verified(Client(), plain_admin)
    roles = [str(_group(Role.RISK_MANAGER).pk), str(_group(Role.COMPLIANCE_OFFICER).pk)]
    response = client.post(
        f"/admin/accounts/user/{trader.pk}/change/",
        _user_form(trader, groups=roles, desks=[str(desk_b.pk)]),
    )
    assert response.status_code == 302
    trader.refresh_from_db()
    assert (_roles(trader), trader.is_staff) == (["compliance_officer", "risk_manager"], True)
    entry = AuditEntry.objects.get(action="accounts.access_changed")
    assert entry.actor_id == plain_admin.pk
    assert entry.payload == {
        "username": "trader",
        "roles": {"before": ["trader"], "after": ["compliance_officer", "risk_manager"]},
        "desks": {"before": ["power-eu"], "after": ["gas-us"]},
        "fields": {"is_staff": {"before": False, "after": True}},
    }


def test_privilege_administrator_sets_an_ordinary_users_password_audited(plain_admin, trader):
    client = login_verified(Client(), plain_admin)
    response = client.post(
        f"/admin/accounts/user/{trader.pk}/password/", _password_form("a-new-passphrase-for-7")
    )
    assert response.status_code == 302
    trader.refresh_from_db()
    assert trader.check_password("a-new-passphrase-for-7")
    entry = AuditEntry.objects.get(action="accounts.password_set")
    assert (entry.actor_id, entry.object_type, entry.object_id) == (
        plain_admin.pk,
        "accounts.user",
        str(trader.pk),
    )
    assert entry.payload == {
        "username": "trader",
        "usable_password": {"before": True, "after": True},
    }
    assert trader.password not in str(entry.payload)
    assert audit_verify().ok


def test_privilege_password_form_with_mismatch_shows_errors_and_writes_nothing(plain_admin, trader):
    client = login_verified(Client(), plain_admin)
    response = client.post(
        f"/admin/accounts/user/{trader.pk}/password/",
        {
            "usable_password": "true",
            "password1": "a-new-passphrase-for-7",
            "password2": "another-passphrase-8",
        },
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["password2"]
    trader.refresh_from_db()
    assert trader.check_password(PASSWORD)
    assert not AuditEntry.objects.filter(action="accounts.password_set").exists()


def test_privilege_superuser_disables_a_password_audited(root, trader):
    client = login_verified(Client(), root)
    response = client.post(
        f"/admin/accounts/user/{trader.pk}/password/",
        {"usable_password": "false", "unset-password": "1"},
    )
    assert response.status_code == 302, response.context["form"].errors
    trader.refresh_from_db()
    assert not trader.has_usable_password()
    entry = AuditEntry.objects.get(action="accounts.password_set")
    assert entry.payload["usable_password"] == {"before": True, "after": False}


def test_privilege_superuser_device_change_and_deletion_are_audited_without_the_key(root, trader):
    device = TOTPDevice.objects.create(user=trader, name="phone", confirmed=True)
    key = device.key
    client = login_verified(Client(), root)
    response = client.post(
        reverse("admin:otp_totp_totpdevice_change", args=[device.pk]),
        {
            "user": trader.pk,
            "name": "old phone",
            "confirmed": "on",
            "step": 30,
            "t0": 0,
            "digits": 6,
            "tolerance": 1,
            "drift": 0,
            "throttling_failure_count": 0,
            "key": key,  # posted back as the page shows it (ignored when the admin hides keys)
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    changed = AuditEntry.objects.get(action="accounts.mfa_device_changed")
    assert changed.actor_id == root.pk
    assert changed.payload == {
        "user": trader.pk,
        "changes": {"name": {"before": "phone", "after": "old phone"}},
        "key_changed": False,
    }

    response = client.post(
        reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=trader).exists()
    deleted = AuditEntry.objects.get(action="accounts.mfa_device_deleted")
    assert (deleted.object_type, deleted.object_id) == ("otp_totp.totpdevice", str(device.pk))
    assert deleted.payload == {
        "user": trader.pk,
        "before": {
            "user_id": trader.pk,
            "name": "old phone",
            "confirmed": True,
            "step": 30,
            "t0": 0,
            "digits": 6,
            "tolerance": 1,
            "drift": 0,
        },
    }
    assert key not in str(changed.payload) + str(deleted.payload)
    assert audit_verify().ok


def test_privilege_role_permissions_restored_from_code_are_audited(plain_admin):
    admin_group = _group(Role.ADMINISTRATOR)
    admin_group.permissions.add(Permission.objects.get(codename="change_group"))

    role_groups_ensure()

    assert not admin_group.permissions.filter(codename="change_group").exists()
    entry = AuditEntry.objects.get(action="accounts.role_permissions_set")
    before = entry.payload["permissions"]["before"]
    after = entry.payload["permissions"]["after"]
    assert sorted(set(before) - set(after)) == ["auth.change_group"]
    assert after == sorted(ROLE_PERMISSIONS[Role.ADMINISTRATOR])
    role_groups_ensure()  # already as the code says: nothing more to audit
    assert AuditEntry.objects.filter(action="accounts.role_permissions_set").count() == 1


# --- Granting the administrator role or superuser: a superuser and a second one -----------------


def _decide(client: Client, request: ChangeRequest):
    return client.post(
        reverse("admin:compliance_changerequest_decide", args=[request.pk]),
        {"_approve": "1", "note": "checked"},
    )


def test_privilege_administrator_role_granted_by_a_superuser_and_a_second(
    root, root_b, plain_admin, trader
):
    admin_group = _group(Role.ADMINISTRATOR)
    requester = login_verified(Client(), root)
    response = requester.post(
        f"/admin/accounts/user/{trader.pk}/change/",
        _user_form(trader, groups=[str(_group(Role.TRADER).pk), str(admin_group.pk)]),
    )
    assert response.status_code == 302
    trader.refresh_from_db()
    assert (_roles(trader), trader.is_staff) == (["trader"], False)  # not yet
    request = ChangeRequest.objects.get(kind=ROLE_GRANT)
    assert (request.object_label, request.values) == (
        "trader: administrator role",
        {"user": trader.pk, "group": admin_group.pk},
    )
    assert AuditEntry.objects.get(action="compliance.change_requested").actor_id == root.pk

    # Neither the requester nor an administrator may approve it.
    _decide(requester, request)
    _decide(login_verified(Client(), plain_admin), request)
    request.refresh_from_db()
    assert request.status == "pending"
    trader.refresh_from_db()
    assert _roles(trader) == ["trader"]

    assert _decide(login_verified(Client(), root_b), request).status_code == 302
    request.refresh_from_db()
    assert (request.status, request.decided_by_id) == ("approved", root_b.pk)
    trader.refresh_from_db()
    assert (_roles(trader), trader.is_staff) == (["administrator", "trader"], True)
    entry = AuditEntry.objects.get(action="accounts.access_changed")
    assert entry.actor_id == root_b.pk
    assert entry.payload["roles"] == {"before": ["trader"], "after": ["administrator", "trader"]}
    assert entry.payload["fields"] == {"is_staff": {"before": False, "after": True}}
    approved = AuditEntry.objects.get(action="compliance.change_approved")
    assert approved.payload["requested_by"] == root.pk
    assert audit_verify().ok


def test_privilege_superuser_granted_by_a_superuser_and_a_second(root, root_b, trader):
    requester = login_verified(Client(), root)
    response = requester.post(
        f"/admin/accounts/user/{trader.pk}/change/",
        _user_form(trader, is_superuser="on", first_name="Tess"),
    )
    assert response.status_code == 302
    trader.refresh_from_db()
    # The rest of the form is saved at once; the flag waits.
    assert (trader.first_name, trader.is_superuser) == ("Tess", False)
    request = ChangeRequest.objects.get(kind=SUPERUSER_GRANT)
    assert request.values == {"is_superuser": True}
    assert "password" not in request.base

    assert _decide(login_verified(Client(), root_b), request).status_code == 302
    trader.refresh_from_db()
    assert (trader.is_superuser, trader.is_staff) == (True, True)
    entry = AuditEntry.objects.filter(action="accounts.access_changed").order_by("seq").last()
    assert entry.actor_id == root_b.pk
    assert entry.payload["fields"] == {
        "is_staff": {"before": False, "after": True},
        "is_superuser": {"before": False, "after": True},
    }


def test_privilege_grant_is_refused_to_a_superuser_who_lost_the_flag_while_it_waited(
    root, root_b, trader
):
    login_verified(Client(), root).post(
        f"/admin/accounts/user/{trader.pk}/change/", _user_form(trader, is_superuser="on")
    )
    request = ChangeRequest.objects.get(kind=SUPERUSER_GRANT)
    User.objects.filter(pk=root_b.pk).update(is_superuser=False)
    _decide(login_verified(Client(), User.objects.get(pk=root_b.pk)), request)
    request.refresh_from_db()
    trader.refresh_from_db()
    assert (request.status, trader.is_superuser) == ("pending", False)


# --- Pre-trade rules and desk thresholds: a second person -----------------------------------------


@pytest.fixture
def officer(db: None) -> User:
    role_groups_ensure()
    return UserFactory(username="officer", roles=[Role.COMPLIANCE_OFFICER], is_staff=True)


def test_privilege_ending_the_last_rule_of_a_kind_waits_for_a_second_person(officer):
    # The seeded firm-wide KYC rule is the only one of its kind: ending it would unguard trades.
    rule = PreTradeRule.objects.get(code="kyc_valid")
    client = login_verified(Client(), officer)
    response = client.post(
        reverse("admin:compliance_pretraderule_changelist"),
        {"action": "end_now", "_selected_action": [str(rule.pk)]},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.effective_to is None
    in_force = PreTradeRule.objects.in_force(timezone.now()).filter(code="kyc_valid")
    assert list(in_force.values_list("pk", flat=True)) == [rule.pk]
    request = ChangeRequest.objects.get()
    assert (request.kind, request.object_id, request.status) == (RULE_END, str(rule.pk), "pending")


def test_privilege_withdrawing_the_only_planned_rule_of_a_kind_waits_for_a_second_person(
    officer,
):
    planned = PreTradeRule.objects.create(
        code="credit_limit",
        jurisdiction="US_CFTC",
        outcome="block",
        effective_from=timezone.now() + timedelta(days=2),
    )
    client = login_verified(Client(), officer)
    response = client.post(
        reverse("admin:compliance_pretraderule_delete", args=[planned.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert PreTradeRule.objects.filter(pk=planned.pk).exists()
    assert ChangeRequest.objects.get().kind == RULE_WITHDRAW


def test_privilege_lowering_a_desk_threshold_waits_for_a_second_person(plain_admin, desk_a):
    policy = DeskTradingPolicy.objects.create(
        desk=desk_a, approval_threshold=Decimal("1000000"), currency="EUR"
    )
    client = login_verified(Client(), plain_admin)
    response = client.post(
        reverse("admin:trading_desktradingpolicy_change", args=[policy.pk]),
        {"desk": desk_a.pk, "approval_threshold": "1", "currency": "EUR"},
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.approval_threshold == Decimal("1000000.00")
    request = ChangeRequest.objects.get()
    assert (request.kind, request.values["approval_threshold"]) == (POLICY_SAVE, "1")


def test_privilege_new_user_with_the_administrator_role_is_created_without_it_until_approved(
    root, root_b
):
    client = login_verified(Client(), root)
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "username": "new-admin",
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-9",
            "password2": "a-long-enough-passphrase-9",
            "region": "US",
            "groups": [str(_group(Role.ADMINISTRATOR).pk), str(_group(Role.TRADER).pk)],
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="new-admin")
    assert (_roles(user), user.is_staff) == (["trader"], False)
    assert AuditEntry.objects.get(action="accounts.user_created").payload["roles"] == ["trader"]
    request = ChangeRequest.objects.get(kind=ROLE_GRANT)
    assert request.object_label == "new-admin: administrator role"

    _decide(login_verified(Client(), root_b), request)
    user.refresh_from_db()
    assert (_roles(user), user.is_staff) == (["administrator", "trader"], True)
