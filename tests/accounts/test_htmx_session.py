"""An htmx request whose session has expired (or never was) is sent to the login page as a
whole page: 204 + HX-Redirect to the login URL with `next` the page the user was on, instead
of a redirect that htmx would follow and swap the login form into the fragment
(apps.accounts.middleware.HtmxLoginRedirectMiddleware)."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from apps.accounts.models import Role
from tests.factories import UserFactory

LOGIN = "/accounts/login/"
POSITIONS_PAGE = "http://testserver/trading/positions/?book=PEU-FLOW&date=2026-11-25"


def _htmx(current_url: str | None = None) -> dict[str, str]:
    headers = {"HX-Request": "true"}
    if current_url is not None:
        headers["HX-Current-URL"] = current_url
    return headers


@pytest.fixture
def expired_client(trader) -> Client:
    """A trader's browser whose session has expired on the server since the page loaded."""
    client = Client()
    client.force_login(trader)
    assert client.get("/trading/positions/").status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    return client


def test_htmx_expired_session_positions_grid_redirects_whole_page(expired_client):
    response = expired_client.get(
        "/trading/positions/", {"date": "2026-11-25"}, headers=_htmx(POSITIONS_PAGE)
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == (
        "/accounts/login/?next=/trading/positions/%3Fbook%3DPEU-FLOW%26date%3D2026-11-25"
    )
    assert response.content == b""


@pytest.mark.parametrize(
    ("fragment", "page", "target"),
    [
        (
            "/trading/blotter/?before=40",
            "http://testserver/trading/blotter/",
            "/accounts/login/?next=/trading/blotter/",
        ),
        (
            "/risk/?desk=power-eu",
            "http://testserver/risk/?desk=power-eu",
            "/accounts/login/?next=/risk/%3Fdesk%3Dpower-eu",
        ),
        (
            "/trading/trades/new/?deal_type=swap",
            "http://testserver/trading/trades/new/",
            "/accounts/login/?next=/trading/trades/new/",
        ),
    ],
)
def test_htmx_anonymous_fragment_requests_redirect_to_login_with_page(db, fragment, page, target):
    response = Client().get(fragment, headers=_htmx(page))
    assert response.status_code == 204
    assert response["HX-Redirect"] == target


def test_htmx_expired_session_post_redirects_to_page_of_the_row(expired_client):
    # A row's cancel button on the orders page (hx-post): no order is touched, nothing written.
    response = expired_client.post(
        "/trading/venue/orders/1/cancel/", headers=_htmx("http://testserver/trading/venue/orders/")
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/accounts/login/?next=/trading/venue/orders/"


def test_htmx_without_current_url_uses_requested_path(db):
    response = Client().get("/trading/positions/?date=2026-11-25", headers=_htmx())
    assert (
        response["HX-Redirect"] == "/accounts/login/?next=/trading/positions/%3Fdate%3D2026-11-25"
    )


def test_htmx_current_url_of_another_site_is_not_used_as_next(db):
    response = Client().get(
        "/trading/positions/", headers=_htmx("https://evil.example/trading/positions/")
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/accounts/login/?next=/trading/positions/"


def test_htmx_plain_request_keeps_django_redirect(expired_client):
    response = expired_client.get("/trading/positions/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/trading/positions/"
    assert "HX-Redirect" not in response


def test_htmx_signed_in_fragment_is_served(client, trader):
    client.force_login(trader)
    response = client.get("/trading/positions/", headers=_htmx(POSITIONS_PAGE))
    assert response.status_code == 200
    assert "HX-Redirect" not in response
    assert "<table" in response.content.decode()


def test_htmx_other_redirects_are_left_to_htmx(client, trader):
    # A signed-in GET of an order's cancel URL leads to the order's page: not a login redirect.
    client.force_login(trader)
    response = client.get("/trading/venue/orders/999999/cancel/", headers=_htmx(POSITIONS_PAGE))
    assert response.status_code == 404
    assert "HX-Redirect" not in response


def test_htmx_logout_goes_to_login_without_next(client, trader):
    client.force_login(trader)
    response = client.post("/accounts/logout/", headers=_htmx(POSITIONS_PAGE))
    assert response.status_code == 204
    assert response["HX-Redirect"] == LOGIN


def test_htmx_unverified_administrator_is_sent_to_mfa_setup(client, db):
    # The MFA gate answers htmx the same way: it needs request.htmx set before it runs.
    admin = UserFactory(username="admin2", roles=[Role.ADMINISTRATOR], is_staff=True)
    client.force_login(admin)
    response = client.get("/trading/positions/", headers=_htmx(POSITIONS_PAGE))
    assert response.status_code == 204
    assert response["HX-Redirect"] == (
        "/accounts/mfa/setup/?next=%2Ftrading%2Fpositions%2F%3Fbook%3DPEU-FLOW%26date%3D2026-11-25"
    )
