from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from apps.accounts import services


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Token <prefix>.<secret>`: hashed, expiring, revocable tokens.

    No header (or another scheme) leaves the request to the next authenticator; a Token header
    that does not hold up is a 401 with the reason.
    """

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                _("Malformed token header. Send 'Authorization: Token <prefix>.<secret>'.")
            )
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed(_("Malformed token: only ASCII characters.")) from exc
        try:
            token = services.api_token_use(raw=raw)
        except services.ApiTokenError as exc:
            raise AuthenticationFailed(exc.message) from exc
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes ApiTokenAuthentication."""

    target_class = "apps.accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": str(_("'Token <prefix>.<secret>', from the API tokens page.")),
        }
