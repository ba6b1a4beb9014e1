"""What shared caches (a proxy, the browser's back/forward store) may keep, decided in one place.

- `Vary: HX-Request` on every portal response: pages answer htmx with a fragment (the blotter's
  fields, the positions grid, the risk dashboard's live part) and, whatever the page, the
  expired-session and MFA redirects answer htmx with 204 + HX-Redirect instead of a 302. A cache
  keyed on the URL alone would hand a fragment to a full-page load, or the other way round.
- `Cache-Control: no-store, private` (Django's never-cache headers) on every response to a
  signed-in user or token holder, and on every API response: desk data, CSV exports and the
  schema must not outlive the session in any cache. The login page and anonymous responses keep
  their own headers.

Static files never reach this middleware (WhiteNoise answers them before it).
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers, patch_vary_headers

API_PREFIX = "/api/"


class CacheHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        is_api = request.path.startswith(API_PREFIX)
        if not is_api:
            patch_vary_headers(response, ["HX-Request"])
        # DRF sets the token's user on the Django request too, so this covers API tokens.
        user = getattr(request, "user", None)
        if is_api or (user is not None and user.is_authenticated):
            add_never_cache_headers(response)
        return response
