"""The API's errors: declared once in the schema for every operation, and the JSON 404 of a
path under /api/ that no API view answers (a pk that is not a number: the URL does not resolve).

In the schema (a drf-spectacular postprocessing hook), views declare their own successes and the
errors particular to them (409 stale version, 422 blocked); the errors every operation can give
come from the shared layers and are added here, where an operation has not described them:
- 401 (no or bad token) and 403 (role, or the MFA gate) from authentication and permissions;
- 429 from the request rates (qenergyz.throttles), with Retry-After;
- 404 where the path names an object (missing, or on another desk: the same answer);
- 400 where there is input to get wrong: query parameters (filters, a cursor) or a body;
- 413 where there is a body (qenergyz.parsers: over API_MAX_BODY_BYTES, or nested too deep);
- 409 and 422 where the operation takes an Idempotency-Key (apps.accounts.idempotency: the
  first request with the key is still running; the key was used for a different request).
The schemathesis suite (tests/test_api_fuzz.py) holds the schema to what the API answers.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.exceptions import NotFound

ERROR_SCHEMA_NAME = "Error"
FIELD_ERRORS_SCHEMA_NAME = "FieldErrors"

# {detail, code?}: DRF's exceptions and ours; extra keys (a 422's checks) are allowed.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail"],
}
# A 400 is either {detail} (a body that does not parse) or field name -> messages.
FIELD_ERRORS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": True,
}

DESCRIPTIONS = {
    "400": "Bad input: field errors ({field: [messages]}) or {detail}; nothing was written.",
    "401": "No API token or session, or a malformed, expired or revoked token.",
    "403": "The role does not allow it, or the session's second factor is not verified.",
    "404": "No such object among your desks' data.",
    "413": "The body is over the size limit, or nested too deep.",
    "429": "Over the request rate; Retry-After says when to try again.",
    "409": "A request with this Idempotency-Key is still being processed.",
    "422": "This Idempotency-Key was used for a different request.",
}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def _response(status: str) -> dict[str, Any]:
    name = FIELD_ERRORS_SCHEMA_NAME if status == "400" else ERROR_SCHEMA_NAME
    response: dict[str, Any] = {"description": DESCRIPTIONS[status], "content": _json(name)}
    if status == "429":
        response["headers"] = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}
    return response


def _statuses(operation: dict[str, Any]) -> list[str]:
    parameters = operation.get("parameters", [])
    statuses = ["401", "403", "429"]
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.append("404")
    has_body = "requestBody" in operation
    if has_body or any(parameter.get("in") == "query" for parameter in parameters):
        statuses.append("400")
    if has_body:
        statuses.append("413")
    if any(parameter.get("name") == "Idempotency-Key" for parameter in parameters):
        statuses += ["409", "422"]
    return statuses


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool, **kwargs: Any
) -> dict[str, Any]:
    """SPECTACULAR_SETTINGS' postprocessing hook: the shared errors of every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(ERROR_SCHEMA_NAME, ERROR_SCHEMA)
    schemas.setdefault(FIELD_ERRORS_SCHEMA_NAME, FIELD_ERRORS_SCHEMA)
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status in _statuses(operation):
                responses.setdefault(status, _response(status))
            for status, declared in responses.items():
                if status.startswith("4") and "content" not in declared:
                    # A view's own description of its error, with the body every error has.
                    declared["content"] = _json(
                        FIELD_ERRORS_SCHEMA_NAME if status == "400" else ERROR_SCHEMA_NAME
                    )
    return result


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: JSON under /api/, as every other API error; the portal's page elsewhere."""
    if request.path.startswith("/api/"):
        error = NotFound()
        return JsonResponse({"detail": str(error.detail), "code": error.default_code}, status=404)
    from apps.accounts.views import page_not_found  # the project package wires the apps

    return page_not_found(request, exception)
