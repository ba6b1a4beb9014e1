"""The websocket's Origin check: scheme, host and port, as a browser names its page's origin.

Channels' AllowedHostsOriginValidator compares the Origin's host name alone, so a page served
over plain http (or on another port) of an allowed host could open a socket of the https site.
Here an Origin is accepted only when it is exactly this request's own origin — the scheme the
request came in with (wss, or https as the TLS proxy reports it under SECURE_PROXY_SSL_HEADER,
as Django's request.is_secure reads it), and the Host it named, itself one of ALLOWED_HOSTS —
or one of CSRF_TRUSTED_ORIGINS (the same list the forms' CSRF check trusts).
"""

from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]  # scheme, host (lower case), port (the default filled in)


def _origin(value: str) -> Origin | None:
    """(scheme, host, port) of an origin "scheme://host[:port]"; None if it is not one."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:  # a port out of range or not a number
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    # Latin-1 as HTTP headers are; a repeated header keeps its first value (an Origin sent
    # twice is refused below, as neither copy is trusted).
    seen: dict[str, str] = {}
    counts: dict[str, int] = {}
    for name, value in scope.get("headers") or []:
        key = name.decode("latin1").lower()
        counts[key] = counts.get(key, 0) + 1
        seen.setdefault(key, value.decode("latin1"))
    if counts.get("origin", 0) > 1:
        seen.pop("origin")
    return seen


def _is_secure(scope: dict[str, Any], headers: dict[str, str]) -> bool:
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        header, secure_value = proxy
        name = header.removeprefix("HTTP_").replace("_", "-").lower()
        if name in headers:
            # As Django: the first of a comma-separated list (what the nearest proxy saw).
            return headers[name].split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") == "wss"


def _trusted(origin: Origin, trusted: Iterable[str]) -> bool:
    """CSRF_TRUSTED_ORIGINS: exact origins, or "scheme://*.domain" for its subdomains."""
    scheme, host, port = origin
    for entry in trusted:
        if "://*." in entry:
            entry_scheme, _sep, pattern = entry.partition("://*")
            pattern_host, pattern_port = split_domain_port(pattern)
            wanted_port = int(pattern_port) if pattern_port else DEFAULT_PORTS.get(entry_scheme)
            if (
                entry_scheme == scheme
                and port == wanted_port
                and is_same_domain(host, pattern_host)
            ):
                return True
        elif _origin(entry) == origin:
            return True
    return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether the websocket handshake `scope` comes from a page of this site."""
    headers = _headers(scope)
    origin = _origin(headers.get("origin", ""))
    if origin is None:
        return False  # browsers always send one on a websocket; anything else is refused
    host_header = headers.get("host", "")
    host, port = split_domain_port(host_header)
    scheme = "https" if _is_secure(scope, headers) else "http"
    if host and validate_host(host, settings.ALLOWED_HOSTS):
        own = (scheme, host, int(port) if port.isdigit() else DEFAULT_PORTS[scheme])
        if origin == own:
            return True
    return _trusted(origin, settings.CSRF_TRUSTED_ORIGINS)


class SameOriginValidator:
    """ASGI middleware for the websocket router: a handshake from another origin is refused
    (HTTP 403) before the session is read."""

    def __init__(self, application: Callable[..., Awaitable[None]]) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            await WebsocketDenier()(scope, receive, send)
            return
        await self.application(scope, receive, send)
