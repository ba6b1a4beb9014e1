"""The overview promises each role only what exists: every link on a role's card opens for that
role, and only pages that are not built yet say "Coming soon"."""

import re

import pytest
from django.test import Client

from apps.accounts.models import Role
from tests.conftest import login_verified
from tests.factories import UserFactory

CARD_LINK = re.compile(r'<a class="area-name" href="([^"]+)"')


def _links(client: Client) -> list[str]:
    page = client.get("/")
    assert page.status_code == 200
    return [href.replace("&amp;", "&") for href in CARD_LINK.findall(page.content.decode())]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (
            Role.TRADER,
            {
                "/trading/trades/new/",
                "/trading/blotter/",
                "/trading/venue/",
                "/trading/positions/",
                "/trading/pnl/",
            },
        ),
        (
            Role.RISK_MANAGER,
            {
                "/risk/",
                "/risk/runs/",
                "/risk/limits/",
                "/risk/alerts/",
                "/trading/blotter/?status=pending_approval",
            },
        ),
        (
            Role.COMPLIANCE_OFFICER,
            {
                "/compliance/audit/",
                "/admin/compliance/changerequest/",
                "/admin/trading/counterparty/",
                "/admin/compliance/pretraderule/",
            },
        ),
        (Role.ADMINISTRATOR, {"/admin/", "/admin/compliance/changerequest/", "/compliance/audit/"}),
        (Role.FIELD_OPERATOR, set()),
    ],
)
def test_home_links_of_each_role_open_for_that_role(
    client: Client, desk_a, role: str, expected: set[str]
) -> None:
    # Staff as user_save makes compliance officers and administrators (they work in the admin).
    staff = role in (Role.COMPLIANCE_OFFICER, Role.ADMINISTRATOR)
    user = UserFactory(username=f"home-{role}", roles=[role], desks=[desk_a], is_staff=staff)
    login_verified(client, user)
    # The account card (second factor, API tokens) is everyone's; the role's card is the rest.
    links = set(_links(client)) - {"/accounts/mfa/", "/accounts/tokens/"}
    assert links == expected
    for href in links:
        assert client.get(href).status_code == 200, href


def test_home_says_coming_soon_only_for_pages_not_built(client: Client, desk_a) -> None:
    user = UserFactory(
        username="everyone",
        roles=[Role.TRADER, Role.RISK_MANAGER, Role.COMPLIANCE_OFFICER, Role.FIELD_OPERATOR],
        desks=[desk_a],
        is_staff=True,
    )
    login_verified(client, user)
    page = client.get("/").content.decode()
    soon = re.findall(r'<span class="area-name">([^<]+)</span><span class="soon">', page)
    assert soon == ["Review cases", "Regulatory reports", "Devices", "Device alerts"]
