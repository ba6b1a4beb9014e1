"""The API's front door: Swagger UI and Redoc behind sign-in, the schema they read, and the
/api/v1/ index of collections, derived from the URL conf. The pages in a real browser, under
the site's CSP: tests/e2e/test_api_docs_browser.py."""

import re
from typing import Any

import pytest
from django.templatetags.static import static
from django.test import Client
from django.urls import include, path
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from qenergyz.urls import urlpatterns as project_urlpatterns

DOCS = "/api/docs/"
REDOC = "/api/redoc/"
ROOT = "/api/v1/"
SCHEMA = "/api/schema/"

# The collections a trader's token may read, as the URL conf has them today. The token list
# is left out: tokens are listed and made with a signed-in session only, never with a token.
TRADER_COLLECTIONS = {
    "counterparties": "http://testserver/api/v1/counterparties/",
    "curves": "http://testserver/api/v1/curves/",
    "fx-rates": "http://testserver/api/v1/fx-rates/",
    "markets": "http://testserver/api/v1/markets/",
    "positions": "http://testserver/api/v1/positions/",
    "risk/alerts": "http://testserver/api/v1/risk/alerts/",
    "risk/limits": "http://testserver/api/v1/risk/limits/",
    "risk/runs": "http://testserver/api/v1/risk/runs/",
    "risk/scenarios": "http://testserver/api/v1/risk/scenarios/",
    "trades": "http://testserver/api/v1/trades/",
    "venue/contracts": "http://testserver/api/v1/venue/contracts/",
    "venue/orders": "http://testserver/api/v1/venue/orders/",
}


def token_client(user: Any) -> APIClient:
    client = APIClient()
    token = api_token_create(user=user, name="docs").plaintext
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _policy(header: str) -> dict[str, str]:
    """A Content-Security-Policy header as {directive: sources}."""
    return {
        name: value
        for name, _, value in (part.strip().partition(" ") for part in header.split(";"))
    }


def _script_sources(html: str) -> list[str]:
    return re.findall(r'<script src="([^"]+)"', html)


# --- The documentation pages ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "next_url"),
    [(DOCS, "/api/docs/"), (f"{DOCS}?script", "/api/docs/%3Fscript"), (REDOC, "/api/redoc/")],
)
def test_api_docs_anonymous_visitor_is_sent_to_sign_in(url: str, next_url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={next_url}"


@pytest.mark.django_db
def test_api_docs_bad_token_is_refused_not_redirected() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token abc.def")
    response = client.get(DOCS)
    assert response.status_code == 401


def test_api_docs_swagger_ui_token_holder_reads_page_without_inline_code(trader) -> None:
    response = token_client(trader).get(DOCS)
    assert response.status_code == 200
    html = response.content.decode()
    assert _script_sources(html) == [
        static("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"),
        static("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js"),
        "/api/docs/?script=",
    ]
    assert html.count("<script") == 3  # no inline script
    assert "<style" not in html
    assert static("css/api_docs.css") in html
    assert "https://" not in html  # no CDN
    # The site's own policy, not widened for this page.
    policy = _policy(response["Content-Security-Policy"])
    assert (policy["script-src"], policy["style-src"]) == ("'self'", "'self'")
    assert "worker-src" not in policy


def test_api_docs_swagger_ui_script_reads_the_schema(trader) -> None:
    response = token_client(trader).get(f"{DOCS}?script")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript"
    assert '  url: "/api/schema/",' in response.content.decode().splitlines()


def test_api_docs_schema_linked_from_docs_answers_token_holder(trader) -> None:
    response = token_client(trader).get(SCHEMA, {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Qenergyz API"
    assert "/api/v1/" in schema["paths"]
    assert schema["paths"]["/api/v1/"]["get"]["operationId"] == "api_root"


def test_api_docs_signed_in_user_reads_both_pages(trader) -> None:
    client = Client()
    client.force_login(trader)
    assert client.get(DOCS).status_code == 200
    assert client.get(REDOC).status_code == 200


def test_api_docs_redoc_reads_schema_with_this_responses_style_nonce(trader) -> None:
    response = token_client(trader).get(REDOC)
    assert response.status_code == 200
    html = response.content.decode()
    assert _script_sources(html) == [
        static("drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"),
        static("js/api-redoc.js"),
    ]
    assert 'data-spec-url="/api/schema/"' in html
    assert "<style" not in html
    assert "https://" not in html  # no Google fonts
    nonce = re.search(r'nonce="([^"]+)"', html).group(1)
    policy = _policy(response["Content-Security-Policy"])
    assert policy["style-src"] == (
        f"'self' 'nonce-{nonce}' 'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc=' "
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
    )
    assert policy["worker-src"] == "'self' blob:"
    assert policy["script-src"] == "'self'"
    assert policy["img-src"] == "'self' data:"


def test_api_docs_linked_from_portal_navigation_and_tokens_page(trader) -> None:
    client = Client()
    client.force_login(trader)
    home = client.get("/").content.decode()
    assert '<a class="nav-link" href="/api/docs/">API documentation</a>' in home
    tokens = client.get("/accounts/tokens/").content.decode()
    assert '<a href="/api/docs/">API documentation</a>' in tokens
    assert '<a href="/api/redoc/">Redoc</a>' in tokens


# --- The API root -----------------------------------------------------------------------------


def test_api_root_lists_trader_token_collections_each_answering_200(trader) -> None:
    client = token_client(trader)
    response = client.get(ROOT)
    assert response.status_code == 200
    assert response.json() == TRADER_COLLECTIONS
    statuses = {name: client.get(url).status_code for name, url in response.json().items()}
    assert statuses == dict.fromkeys(TRADER_COLLECTIONS, 200)


def test_api_root_lists_token_collection_to_signed_in_session(trader) -> None:
    client = APIClient()
    client.force_login(trader)
    response = client.get(ROOT)
    assert response.status_code == 200
    assert response.json() == {**TRADER_COLLECTIONS, "tokens": "http://testserver/api/v1/tokens/"}
    assert client.get(response.json()["tokens"]).status_code == 200


def test_api_root_field_operator_has_no_collection_to_read(field_operator) -> None:
    response = token_client(field_operator).get(ROOT)
    assert response.status_code == 200
    assert response.json() == {}


@pytest.mark.django_db
def test_api_root_anonymous_is_refused() -> None:
    response = APIClient().get(ROOT)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_api_root_refuses_expired_token(trader) -> None:
    client = token_client(trader)
    ApiToken.objects.filter(user=trader).update(expires_at="2020-01-01T00:00:00Z")
    assert client.get(ROOT).status_code == 401


class WidgetListView(ListAPIView):
    """A collection that exists only in this module's URL conf."""

    permission_classes = [IsAuthenticated]

    def list(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        return Response([])


# The project's URL conf plus one more app's API: a list, a detail and a POST-only route.
urlpatterns = [
    *project_urlpatterns,
    path(
        "api/v1/",
        include(
            (
                [
                    path("widgets/", WidgetListView.as_view(), name="widget-list"),
                    path("widgets/<int:pk>/", WidgetListView.as_view(), name="widget-detail"),
                ],
                "widgets-api",
            )
        ),
    ),
]


@pytest.mark.urls(__name__)
def test_api_root_follows_the_url_conf(trader) -> None:
    response = token_client(trader).get(ROOT)
    assert response.json() == {**TRADER_COLLECTIONS, "widgets": "http://testserver/api/v1/widgets/"}
