"""The websocket's Origin check compares scheme, host and port (qenergyz.websocket_origin):
only the request's own origin, under one of ALLOWED_HOSTS, or one of CSRF_TRUSTED_ORIGINS."""

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from qenergyz.asgi import application
from qenergyz.websocket_origin import origin_allowed
from tests.test_live import _session_cookie

SITE = "qenergyz.example.com"


def _scope(origin: str | None, host: str = SITE, scheme: str = "wss", **extra: str) -> dict:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    headers += [(name.encode(), value.encode()) for name, value in extra.items()]
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.fixture(autouse=True)
def _site(settings: Any) -> None:
    settings.ALLOWED_HOSTS = [SITE, "127.0.0.1"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://portal.example.org", "https://*.example.net"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        ("https://qenergyz.example.com", SITE, "wss", True),
        ("https://QEnergyz.example.com:443", SITE, "wss", True),  # default port, any case
        ("http://qenergyz.example.com", SITE, "wss", False),  # wrong scheme
        ("https://qenergyz.example.com:8443", SITE, "wss", False),  # wrong port
        ("https://qenergyz.example.com", SITE, "ws", False),  # an https page, a plain socket
        ("http://qenergyz.example.com", SITE, "ws", True),
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "ws", True),  # runserver
        ("http://127.0.0.1", "127.0.0.1:8000", "ws", False),  # port missing
        ("http://127.0.0.1:8001", "127.0.0.1:8000", "ws", False),  # another port
        ("https://evil.example", "evil.example", "wss", False),  # not an allowed host
        ("https://evil.example", SITE, "wss", False),
        ("https://portal.example.org", "internal:8000", "ws", True),  # trusted origin
        ("http://portal.example.org", "internal:8000", "ws", False),  # its scheme only
        ("https://portal.example.org:444", "internal:8000", "ws", False),
        ("https://app.example.net", "internal:8000", "ws", True),  # trusted subdomain
        ("https://example.net.evil.example", "internal:8000", "ws", False),
        ("null", SITE, "wss", False),  # a sandboxed page or file:
        ("https://qenergyz.example.com/path", SITE, "wss", False),
        ("https://user@qenergyz.example.com", SITE, "wss", False),
        ("https://qenergyz.example.com:99999", SITE, "wss", False),
        (None, SITE, "wss", False),
    ],
)
def test_sessions_origin_check(origin, host, scheme, allowed) -> None:
    assert origin_allowed(_scope(origin, host, scheme)) is allowed


def test_sessions_origin_check_reads_the_proxy_scheme() -> None:
    # Behind the TLS proxy the server sees ws; the proxy says the browser used https.
    proxied = {"x-forwarded-proto": "https"}
    assert origin_allowed(_scope(f"https://{SITE}", scheme="ws", **proxied)) is True
    assert origin_allowed(_scope(f"http://{SITE}", scheme="ws", **proxied)) is False
    plain = {"x-forwarded-proto": "http"}
    assert origin_allowed(_scope(f"https://{SITE}", scheme="wss", **plain)) is False


def test_sessions_origin_check_refuses_two_origins() -> None:
    scope = _scope(f"https://{SITE}")
    scope["headers"].append((b"origin", b"https://evil.example"))
    assert origin_allowed(scope) is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("origin", "connected"),
    [(b"http://127.0.0.1", True), (b"https://127.0.0.1", False), (b"http://127.0.0.1:81", False)],
)
async def test_sessions_origin_check_on_the_asgi_application(trader, origin, connected) -> None:
    cookie = await sync_to_async(_session_cookie)(trader)
    headers = [(b"origin", origin), (b"host", b"127.0.0.1"), (b"cookie", cookie.encode())]
    communicator = WebsocketCommunicator(application, "/ws/notifications/", headers=headers)
    opened, _code = await communicator.connect(timeout=5)
    assert opened is connected
    if opened:
        await communicator.disconnect()
    await sync_to_async(connections.close_all)()
