import pytest
from django.contrib.auth.models import Group
from django.test import Client

from apps.accounts.models import Desk, Region, Role, User
from apps.accounts.services import role_groups_ensure
from apps.compliance.models import AuditEntry
from tests.conftest import login_verified
from tests.factories import DeskFactory, UserFactory

pytestmark = pytest.mark.django_db


def _user_form(user: User, **changes) -> dict:
    data = {
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


def test_admin_role_and_desk_change_is_audited_and_notified_live(
    administrator, trader, desk_a, desk_b, live_listener, django_capture_on_commit_callbacks
):
    client = login_verified(Client(), administrator)
    risk_group = Group.objects.get(name=Role.RISK_MANAGER)
    listener = live_listener(trader.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/admin/accounts/user/{trader.pk}/change/",
            _user_form(trader, groups=[str(risk_group.pk)], desks=[str(desk_a.pk), str(desk_b.pk)]),
        )
    assert response.status_code == 302
    trader.refresh_from_db()
    assert list(trader.groups.values_list("name", flat=True)) == ["risk_manager"]
    assert sorted(trader.desks.values_list("code", flat=True)) == ["gas-us", "power-eu"]

    entry = AuditEntry.objects.get(action="accounts.access_changed")
    assert entry.actor_id == administrator.pk
    assert (entry.object_type, entry.object_id) == ("accounts.user", str(trader.pk))
    assert entry.payload == {
        "username": "trader",
        "roles": {"before": ["trader"], "after": ["risk_manager"]},
        "desks": {"before": ["power-eu"], "after": ["gas-us", "power-eu"]},
        "fields": {},
    }
    event = listener.receive()
    assert event == {
        "type": "live.event",
        "template": "live/account_changed.html",
        "context": {"roles": ["Risk manager"], "desks": ["Gas US", "Power Europe"]},
    }
    # Then the user's sockets are closed, to reconnect with the new desks' groups.
    assert listener.receive() == {"type": "live.close"}


def test_account_changed_template_renders_an_oob_notice_in_the_readers_language():
    from django.template.loader import render_to_string
    from django.utils import translation

    with translation.override("en"):
        html = render_to_string(
            "live/account_changed.html", {"roles": ["Trader"], "desks": ["Gas US"]}
        )
    assert html.startswith('<div id="live-notifications" hx-swap-oob="afterbegin">')
    assert "Your access has changed" in html
    assert "Roles: Trader." in html
    assert "Desks: Gas US." in html
    assert "<script" not in html
    assert "style=" not in html


def test_admin_field_change_is_audited_without_a_live_notice(
    administrator, trader, live_listener, django_capture_on_commit_callbacks
):
    client = login_verified(Client(), administrator)
    listener = live_listener(trader.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/admin/accounts/user/{trader.pk}/change/",
            _user_form(trader, region=Region.MIDDLE_EAST, language="ar", is_active=""),
        )
    assert response.status_code == 302
    trader.refresh_from_db()
    assert (trader.region, trader.language, trader.is_active) == ("ME", "ar", False)
    entry = AuditEntry.objects.get(action="accounts.access_changed")
    assert entry.payload["fields"] == {
        "region": {"before": "EU", "after": "ME"},
        "language": {"before": "", "after": "ar"},
        "is_active": {"before": True, "after": False},
    }
    assert entry.payload["roles"] == {"before": ["trader"], "after": ["trader"]}
    # No notice (nothing to tell a deactivated user), but their open sockets are closed.
    assert listener.receive() == {"type": "live.close"}
    assert listener.receive(timeout=0.3) is None


def test_admin_user_form_with_bad_input_shows_errors_and_changes_nothing(administrator, trader):
    client = login_verified(Client(), administrator)
    response = client.post(
        f"/admin/accounts/user/{trader.pk}/change/",
        _user_form(trader, region="XX", language="fr", desks=["999999"]),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"region", "language", "desks"}
    trader.refresh_from_db()
    assert trader.region == "EU"
    assert not AuditEntry.objects.filter(action="accounts.access_changed").exists()


def test_admin_creates_user_through_the_service(administrator, desk_a):
    client = login_verified(Client(), administrator)
    trader_group = Group.objects.get(name=Role.TRADER)
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "username": "new-trader",
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-9",
            "password2": "a-long-enough-passphrase-9",
            "region": "US",
            "groups": [str(trader_group.pk)],
            "desks": [str(desk_a.pk)],
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(username="new-trader")
    assert user.check_password("a-long-enough-passphrase-9")
    assert list(user.desks.values_list("code", flat=True)) == ["power-eu"]
    entry = AuditEntry.objects.get(action="accounts.user_created")
    assert entry.payload["roles"] == ["trader"]
    assert entry.payload["desks"] == ["power-eu"]
    assert entry.actor_id == administrator.pk


def test_admin_is_superuser_is_read_only_for_a_non_superuser_administrator(trader):
    role_groups_ensure()  # the administrator's permissions come from the role group
    admin = UserFactory(username="plain-admin", roles=[Role.ADMINISTRATOR], is_staff=True)
    client = login_verified(Client(), admin)
    response = client.get(f"/admin/accounts/user/{trader.pk}/change/")
    assert response.status_code == 200
    assert "is_superuser" not in response.context["adminform"].form.fields
    client.post(f"/admin/accounts/user/{trader.pk}/change/", _user_form(trader, is_superuser="on"))
    trader.refresh_from_db()
    assert not trader.is_superuser


def test_admin_desk_create_and_membership_change_are_audited(
    administrator, trader, other_desk_trader, live_listener, django_capture_on_commit_callbacks
):
    client = login_verified(Client(), administrator)
    response = client.post(
        "/admin/accounts/desk/add/",
        {"code": "crude-me", "name": "Crude Middle East", "region": "ME", "members": [trader.pk]},
    )
    assert response.status_code == 302
    desk = Desk.objects.get(code="crude-me")
    assert list(desk.members.values_list("username", flat=True)) == ["trader"]
    listener = live_listener(other_desk_trader.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/admin/accounts/desk/{desk.pk}/change/",
            {
                "code": "crude-me",
                "name": "Crude Middle East",
                "region": "ME",
                "members": [other_desk_trader.pk],
            },
        )
    assert response.status_code == 302
    created, changed = AuditEntry.objects.filter(action__startswith="accounts.desk_").order_by(
        "seq"
    )
    assert created.action == "accounts.desk_created"
    assert created.payload["members"] == {"before": [], "after": ["trader"]}
    assert changed.action == "accounts.desk_changed"
    assert changed.payload == {
        "code": "crude-me",
        "name": "Crude Middle East",
        "region": "ME",
        "members": {"before": ["trader"], "after": ["trader_b"]},
    }
    event = listener.receive()
    assert event["template"] == "live/account_changed.html"
    assert event["context"] == {"roles": ["Trader"], "desks": ["Crude Middle East", "Gas US"]}


def test_admin_desk_with_bad_input_shows_errors(administrator, desk_a):
    client = login_verified(Client(), administrator)
    response = client.post(
        "/admin/accounts/desk/add/",
        {"code": "power-eu", "name": "", "region": "ZZ", "members": ["nope"]},
    )
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"code", "name", "region", "members"}
    assert Desk.objects.count() == 1


def test_admin_user_list_and_token_list_open(administrator, trader):
    DeskFactory()
    client = login_verified(Client(), administrator)
    assert client.get("/admin/accounts/user/").status_code == 200
    assert client.get("/admin/accounts/desk/").status_code == 200
    assert client.get("/admin/accounts/apitoken/").status_code == 200
