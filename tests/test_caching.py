"""Cache headers (qenergyz.caching) and the API's renderers in production.

Signed-in responses (pages, CSV exports) and every API response carry no-store; every portal
response varies on HX-Request, because pages answer htmx with fragments and redirects with
HX-Redirect; static files keep their own long-lived headers.
"""

import json

from django.test import Client

from apps.accounts.services import api_token_create
from tests.production import manage, production_env

NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"


def _vary(response) -> list[str]:
    return [part.strip() for part in response.headers.get("Vary", "").split(",") if part.strip()]


def test_cache_headers_signed_in_page_is_no_store(client: Client, trader) -> None:
    client.force_login(trader)
    response = client.get("/trading/blotter/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == NEVER_CACHE
    assert "HX-Request" in _vary(response)


def test_cache_headers_csv_export_is_no_store(client: Client, trader) -> None:
    client.force_login(trader)
    response = client.get("/trading/blotter.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Cache-Control"] == NEVER_CACHE


def test_cache_headers_htmx_fragment_varies_on_hx_request(client: Client, trader) -> None:
    client.force_login(trader)
    page = client.get("/trading/positions/")
    fragment = client.get("/trading/positions/", headers={"HX-Request": "true"})
    assert page.status_code == fragment.status_code == 200
    assert "<html" in page.text
    assert "<html" not in fragment.text
    for response in (page, fragment):
        assert "HX-Request" in _vary(response)
        assert response.headers["Cache-Control"] == NEVER_CACHE


def test_cache_headers_expired_session_redirect_varies_on_hx_request(client: Client) -> None:
    # The same URL answers a 302 to a browser and 204 + HX-Redirect to htmx.
    plain = client.get("/trading/blotter/")
    htmx = client.get("/trading/blotter/", headers={"HX-Request": "true"})
    assert (plain.status_code, htmx.status_code) == (302, 204)
    assert "HX-Request" in _vary(plain)
    assert "HX-Request" in _vary(htmx)
    # Anonymous: nothing private in it, so no cache directive is added.
    assert "Cache-Control" not in plain.headers


def test_cache_headers_api_with_token_is_no_store(client: Client, trader) -> None:
    token = api_token_create(user=trader, name="ci").plaintext
    response = client.get("/api/v1/me/", headers={"Authorization": f"Token {token}"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == NEVER_CACHE
    assert "HX-Request" not in _vary(response)


def test_cache_headers_api_refusal_is_no_store(client: Client, db: None) -> None:
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.headers["Cache-Control"] == NEVER_CACHE


def test_cache_headers_schema_is_no_store(client: Client, trader) -> None:
    client.force_login(trader)
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == NEVER_CACHE


def test_cache_headers_static_file_untouched(client: Client) -> None:
    login = client.get("/accounts/login/").text
    src = login.split('<script src="', 1)[1].split('"', 1)[0]
    assert src.startswith("/static/vendor/htmx-")
    response = client.get(src)
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert "HX-Request" not in _vary(response)


def test_renderers_browsable_api_only_with_debug() -> None:
    # Views read the renderers when their module is imported: ask a fresh process, through
    # the view that answers a real API URL.
    script = (
        "import json; from django.urls import resolve;"
        "view = resolve('/api/v1/me/').func.view_class;"
        "print(json.dumps([c.__name__ for c in view.renderer_classes]))"
    )
    production = manage("shell", "--no-imports", "-c", script, env=production_env())
    debug = manage("shell", "--no-imports", "-c", script, env=production_env(DEBUG="1"))
    assert production.returncode == 0, production.stderr
    assert debug.returncode == 0, debug.stderr
    assert json.loads(production.stdout) == ["JSONRenderer"]
    assert json.loads(debug.stdout) == ["JSONRenderer", "BrowsableAPIRenderer"]
