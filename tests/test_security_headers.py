"""Security headers on real responses of a production process.

Settings are read once, at import, from the environment, so production (DEBUG off, a random
SECRET_KEY, ALLOWED_HOSTS, SSL redirect and HSTS as deployed) is a fresh `manage.py shell`
process. Inside it Django's test Client sends each request through the whole middleware stack
as the proxy forwards it (`X-Forwarded-Proto: https`): a page (login), an API answer, an admin
page and an error page (404), plus one plain-http request, which must be sent to https. The
process prints what came back as JSON; the tests judge it here.

No template may hold an inline script, style or event handler: the CSP allows neither
'unsafe-inline' nor a nonce, so such code would be refused by the browser.
"""

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.production import shell_probe

MARKER = "RESPONSES:"
PAGES = {
    "login": ("/accounts/login/", 200),
    "api": ("/api/v1/trades/", 401),
    "admin": ("/admin/login/", 200),
    "missing": ("/no-such-page/", 404),
}
PROBE = f"""
import json
from django.test import Client

client = Client(raise_request_exception=False)
https = {{"HTTP_HOST": "qenergyz.example.com", "HTTP_X_FORWARDED_PROTO": "https"}}


def seen(response):
    cookies = {{
        name: {{"secure": bool(c["secure"]), "httponly": bool(c["httponly"])}}
        for name, c in response.cookies.items()
    }}
    return {{
        "status": response.status_code,
        "headers": dict(response.headers.items()),
        "cookies": cookies,
        "body": response.content.decode(),
    }}


out = {{name: seen(client.get(path, **https)) for name, (path, _status) in {PAGES!r}.items()}}
out["plain_http"] = seen(client.get("/accounts/login/", HTTP_HOST="qenergyz.example.com"))
print({MARKER!r} + json.dumps(out))
"""
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


@pytest.fixture(scope="module")
def responses() -> dict[str, Any]:
    return shell_probe(PROBE, MARKER, ALLOWED_HOSTS="qenergyz.example.com")


def _csp(value: str) -> dict[str, str]:
    directives = (part.strip().partition(" ") for part in value.split(";") if part.strip())
    return {name: rest for name, _space, rest in directives}


@pytest.mark.parametrize("page", list(PAGES))
def test_security_headers_on_production_responses(responses, page):
    response = responses[page]
    headers = response["headers"]
    assert response["status"] == PAGES[page][1]
    assert _csp(headers["Content-Security-Policy"]) == CSP
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"


def test_security_headers_plain_http_is_sent_to_https(responses):
    response = responses["plain_http"]
    assert response["status"] == 301
    assert response["headers"]["Location"] == "https://qenergyz.example.com/accounts/login/"
    assert response["body"] == ""


def test_security_headers_login_cookie_is_secure(responses):
    # The login form sets the CSRF cookie: https only; readable by no script but ours
    # (CSRF_COOKIE_HTTPONLY is off by design: see settings).
    assert responses["login"]["cookies"] == {
        "__Host-csrftoken": {"secure": True, "httponly": False}
    }


class _InlineCode(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and "src" not in names and names.get("type") != "application/json":
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if value and value.strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:...>")


def _inline_code(html: str) -> list[str]:
    parser = _InlineCode()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("page", ["login", "admin", "missing"])
def test_security_headers_pages_hold_no_inline_code(responses, page):
    body = responses[page]["body"]
    assert "<html" in body
    assert _inline_code(body) == []


def test_security_headers_templates_hold_no_inline_code():
    comments = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}|<!--.*?-->", re.S)
    found = {}
    for path in sorted(Path(settings.BASE_DIR, "templates").rglob("*.html")):
        # Comments may name what they avoid ("htmx drops <script> blocks").
        problems = _inline_code(comments.sub("", path.read_text()))
        if problems:
            found[str(path.relative_to(settings.BASE_DIR))] = problems
    assert found == {}


def test_security_headers_inline_code_would_be_found():
    # The check above can fail: each kind of inline code is caught.
    html = (
        '<script>alert(1)</script><script src="/s.js"></script>'
        '<script type="application/json">{}</script><style>p{}</style>'
        '<p style="color:red" onclick="x()"><a href="javascript:x()">x</a></p>'
    )
    assert _inline_code(html) == [
        "<script> without src",
        "<style>",
        "<p style=...>",
        "<p onclick=...>",
        "<a href=javascript:...>",
    ]
