import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from apps.accounts.models import Desk, User
from apps.compliance.models import AuditEntry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD_LINE = re.compile(r"^user (\S+) \((\w+)\): password (\S+)$", re.MULTILINE)


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@override_settings(DEBUG=True)
def test_seed_demo_creates_desks_and_the_demo_users_with_roles_regions_and_desks():
    output = _seed("--if-empty")
    assert list(Desk.objects.values_list("code", "name", "region")) == [
        ("crude-me", "Crude Middle East", "ME"),
        ("gas-us", "Gas US", "US"),
        ("power-eu", "Power Europe", "EU"),
    ]
    users = {
        user.username: (
            user.region,
            user.language,
            sorted(user.groups.values_list("name", flat=True)),
        )
        for user in User.objects.all()
    }
    assert users == {
        "demo-trader": ("US", "en", ["trader"]),
        "demo-trader-me": ("ME", "ar", ["trader"]),
        "demo-trader-eu": ("EU", "en", ["trader"]),
        "demo-risk": ("UK", "en", ["firm_risk_manager", "risk_manager"]),
        "demo-risk-2": ("UK", "en", ["risk_manager"]),
        "demo-compliance": ("EU", "", ["compliance_officer"]),
        "demo-compliance-2": ("EU", "", ["compliance_officer"]),
        "demo-field": ("GY", "", ["field_operator"]),
        "demo-admin": ("EU", "", ["administrator"]),
        "demo-admin-2": ("EU", "", ["administrator"]),
    }
    desks = {
        user.username: sorted(user.desks.values_list("code", flat=True))
        for user in User.objects.all()
    }
    everything = ["crude-me", "gas-us", "power-eu"]
    assert desks == {
        "demo-trader": ["gas-us"],
        "demo-trader-me": ["crude-me"],
        "demo-trader-eu": ["power-eu"],
        "demo-risk": everything,
        "demo-risk-2": everything,
        "demo-compliance": [],
        "demo-compliance-2": [],
        "demo-field": [],
        "demo-admin": [],
        "demo-admin-2": [],
    }
    assert sorted(User.objects.filter(is_staff=True).values_list("username", flat=True)) == [
        "demo-admin",
        "demo-admin-2",
        "demo-compliance",
        "demo-compliance-2",
    ]
    assert AuditEntry.objects.filter(action="accounts.user_created").count() == 10
    # With DEBUG on, each password is printed once and works.
    printed = {name: password for name, _role, password in PASSWORD_LINE.findall(output)}
    assert sorted(printed) == sorted(users)
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "demo-trader", "password": printed["demo-trader"]}
    )
    assert response.status_code == 302


@override_settings(DEBUG=True)
def test_seed_demo_is_idempotent():
    _seed()
    second = _seed()
    assert User.objects.count() == 10
    assert Desk.objects.count() == 3
    assert "password" not in second
    assert second.count("exists, left unchanged") == 10


@override_settings(DEBUG=True)
def test_seed_demo_if_empty_does_nothing_when_a_user_exists():
    UserFactory(username="someone")
    output = _seed("--if-empty")
    assert output == "Users exist already; nothing to do (--if-empty).\n"
    assert User.objects.count() == 1
    assert not Desk.objects.exists()


@override_settings(DEBUG=False)
def test_seed_demo_refuses_with_debug_off():
    with pytest.raises(CommandError, match="with DEBUG off it runs only with --force"):
        _seed()
    assert not User.objects.exists()


@override_settings(DEBUG=False)
def test_seed_demo_forced_with_debug_off_prints_and_sets_no_passwords():
    output = _seed("--force")
    assert "password " not in output.replace("without password", "")
    assert User.objects.count() == 10
    assert not any(user.has_usable_password() for user in User.objects.all())
