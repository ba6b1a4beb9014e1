"""Idempotency-Key for every API request that creates something.

A client that sends `Idempotency-Key: <key>` may repeat the request (a timeout, a retry) and
gets the first answer again, with nothing done twice. The first request's answer is stored per
(user, key, scope) with a fingerprint of its body, in the same transaction as its work:

- same key, same body: the stored status and body, with `Idempotent-Replayed: true`;
- same key, another body: 422, nothing done (a key names one request, not a slot to reuse);
- two requests with one key at once: the second waits on the first's uniqueness (PostgreSQL
  holds its INSERT until the first commits) and then replays it.

Answers 2xx and 4xx are stored except 409 and 429, which say "try again": those, server errors
and exceptions roll back with the work and leave the key free.
"""

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from apps.accounts.models import IdempotencyRecord

HEADER = "Idempotency-Key"

# The header as the API schema documents it, on every endpoint that creates something.
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    description=str(_("Repeat the request with the same key to get the first answer again.")),
)
MAX_KEY_LENGTH = 255
_NOT_STORED = frozenset({status.HTTP_409_CONFLICT, status.HTTP_429_TOO_MANY_REQUESTS})


class _Retryable(Exception):
    """Carries an answer that must not be stored, out of the transaction (rolling it back)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _fingerprint(request: Request) -> str:
    """SHA-256 of the method, path and body (parsed JSON canonicalised, so key order and
    whitespace do not make two equal requests differ).

    A body that does not parse raises here (DRF answers 400, or 413 for one too large): after
    a failed parse DRF leaves empty data behind, and running the handler on it would answer,
    and store, "field required" errors for a request that was never read.
    """
    try:
        body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), cls=JSONEncoder)
    except (TypeError, ValueError):
        body = request.body.decode("utf-8", "replace")
    text = f"{request.method} {request.path}\n{body}"
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        return Response(
            {
                "detail": _(
                    "This Idempotency-Key was used for a different request. Use a new key for "
                    "a new request."
                ),
                "code": "idempotency_key_reused",
            },
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if record.status_code is None:  # only readable inside the first request's transaction
        return Response(
            {"detail": _("A request with this Idempotency-Key is still being processed.")},
            status=status.HTTP_409_CONFLICT,
        )
    response = Response(record.response_body, status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(request: Request, scope: str, handler: Callable[[], Response]) -> Response:
    """Run `handler` once per Idempotency-Key (see the module doc); without a key, just run it.

    `scope` names the operation (and the object, for operations on one), so that one key used
    on two endpoints is two requests.
    """
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return handler()
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        return Response(
            {HEADER: [_("An Idempotency-Key is 1 to 255 printable characters.")]},
            status=status.HTTP_400_BAD_REQUEST,
        )
    user = request.user
    fingerprint = _fingerprint(request)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        user=user, key=key, scope=scope, fingerprint=fingerprint
                    )
            except IntegrityError:
                # Used before (or just now, by a request that has committed since).
                earlier = IdempotencyRecord.objects.get(user=user, key=key, scope=scope)
                return _replay(earlier, fingerprint)
            response = handler()
            if response.status_code >= 500 or response.status_code in _NOT_STORED:
                raise _Retryable(response)
            body = json.loads(json.dumps(response.data, cls=JSONEncoder))
            record.status_code = response.status_code
            record.response_body = body
            record.save(update_fields=["status_code", "response_body"])
            return response
    except _Retryable as retry:
        return retry.response
