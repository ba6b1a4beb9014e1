"""The API's front door: its root index (/api/v1/) and its interactive documentation.

Both live in the project package because they read the whole URL conf, every app's
`api_urlpatterns`, which no app may import. The index is derived from that URL conf on each
request, so it cannot drift from the routes; it lists only what the caller may read.

The documentation pages are drf-spectacular's Swagger UI and Redoc, served from the sidecar's
static files (no CDN). Our CSP allows scripts and styles from our origin only, so Swagger UI's
init code comes from a second request to the same view (`?script`, drf-spectacular's split
view) instead of an inline script, and our templates drop the stock inline styles and fonts.
Redoc builds its styles in the browser and runs its search in a blob: worker: its page alone
widens the policy for exactly those (`redoc_policy`). The one thing still refused there is the
Redocly logo, which Redoc's menu always loads from its CDN (and hides when it cannot).
"""

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseBase
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.exceptions import NotAuthenticated
from rest_framework.mixins import ListModelMixin
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

API_PREFIX = "api/v1/"


def _routes(
    patterns: list[Any], prefix: str = "", namespace: str = "", params: bool = False
) -> Iterator[tuple[str, str, bool, URLPattern]]:
    """Every URL pattern under `patterns`: (route, namespace, has path parameters, pattern)."""
    for entry in patterns:
        route = prefix + str(entry.pattern)
        has_params = params or entry.pattern.regex.groups > 0
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (namespace, entry.namespace or "") if part)
            yield from _routes(entry.url_patterns, route, inner, has_params)
        else:
            yield route, namespace, has_params, entry


def api_collections() -> list[tuple[str, str, URLPattern]]:
    """The API's collections: (name, URL name, pattern) of every list view under /api/v1/ that
    needs no path parameter. The name is its route below the prefix ("trades", "risk/runs")."""
    found = []
    for route, namespace, has_params, pattern in _routes(get_resolver().url_patterns):
        view_class = getattr(pattern.callback, "view_class", None)
        if (
            not route.startswith(API_PREFIX)
            or has_params
            or pattern.name is None
            or view_class is None
            or not issubclass(view_class, ListModelMixin)
        ):
            continue
        url_name = f"{namespace}:{pattern.name}" if namespace else pattern.name
        found.append((route.removeprefix(API_PREFIX).rstrip("/"), url_name, pattern))
    return sorted(found, key=lambda item: item[0])


def _may_read(request: Request, pattern: URLPattern) -> bool:
    """Whether the view would let this caller GET it: the same authentication classes and
    permission classes the view itself applies (a session-only list is not offered to a token)."""
    callback = pattern.callback
    view = callback.view_class(**callback.view_initkwargs)
    view.request, view.args, view.kwargs, view.format_kwarg = request, (), {}, None
    authenticator = request.successful_authenticator
    if not any(isinstance(authenticator, cls) for cls in view.authentication_classes):
        return False
    return all(permission.has_permission(request, view) for permission in view.get_permissions())


class ApiRootView(APIView):
    """The API's collections you may read, by name, with their absolute URLs."""

    @extend_schema(
        operation_id="api_root",
        responses=OpenApiResponse(
            response={"type": "object", "additionalProperties": {"type": "string"}},
            description=str(_("Each collection's name and its absolute URL.")),
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                name: request.build_absolute_uri(reverse(url_name))
                for name, url_name, pattern in api_collections()
                if _may_read(request, pattern)
            }
        )


class _SignInFirst:
    """An anonymous visitor is sent to the sign-in page and back; a token holder, or a signed-in
    user, reads the page. A token that does not hold up stays a 401."""

    request: Request

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)  # type: ignore[misc]


class ApiSwaggerView(_SignInFirst, SpectacularSwaggerSplitView):
    template_name = "api_docs/swagger_ui.html"
    url_name = "api-schema"


class ApiRedocView(_SignInFirst, SpectacularRedocView):
    template_name = "api_docs/redoc.html"
    url_name = "api-schema"

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)
        response._csp_config = redoc_policy()  # as django's csp_override decorator sets it
        return response


# The stylesheet Redoc's bundle inserts as it loads, before any nonce can reach it (perfect-
# scrollbar's rules, drf-spectacular-sidecar 2026.10.1), and the empty <style> it starts as.
# An upgrade that changes it shows as a CSP error in tests/test_api_docs.py's browser test.
REDOC_INLINE_STYLE_HASHES = (
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
)


def redoc_policy() -> dict[str, list[str]]:
    """The site's CSP, plus what Redoc needs on its own page: the styles it builds in the
    browser (this response's nonce, handed to Redoc, and its load-time stylesheet by hash) and
    its search index's worker, which it starts from a blob: URL."""
    policy = {directive: list(sources) for directive, sources in settings.SECURE_CSP.items()}
    policy["style-src"] = [
        *policy.get("style-src", [CSP.SELF]),
        CSP.NONCE,
        *REDOC_INLINE_STYLE_HASHES,
    ]
    policy["worker-src"] = [CSP.SELF, "blob:"]
    return policy
