"""The API's body parsers, with a size limit.

DRF reads a JSON or form body from the request stream itself, so Django's
DATA_UPLOAD_MAX_MEMORY_SIZE never applies to it: without this, a client could make a process
hold and parse any number of bytes before a view (the bulk endpoint's 1,000-item limit, say)
had a say. A body over `settings.API_MAX_BODY_BYTES` is answered 413 before it is parsed.
A JSON body nested deeper than JSON_MAX_DEPTH is answered 400 before it is parsed: json.loads
recurses once per level, and 100,000 levels would raise RecursionError (a 500).
Multipart uploads keep Django's own parser (its fields are limited by
DATA_UPLOAD_MAX_MEMORY_SIZE, its files are streamed to disk and checked by the view).

A leaf module: it imports nothing from the apps.
"""

import io
import re
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import FormParser, JSONParser


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "request_too_large"


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(
        gettext(
            "The request body is larger than the %(limit)s bytes the API accepts. Send less per "
            "request (the bulk endpoint takes up to 1,000 trades)."
        )
        % {"limit": limit}
    )


def read_limited(stream: Any, parser_context: dict[str, Any] | None) -> bytes:
    """The body's bytes, or RequestTooLarge: refused on its declared length before a byte is
    read, and never more than one byte past the limit read (a length can be absent or lie)."""
    limit: int = settings.API_MAX_BODY_BYTES
    request = (parser_context or {}).get("request")
    meta = request.META if request is not None else {}
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        declared = 0
    if declared > limit:
        raise _too_large(limit)
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise _too_large(limit)
    return body


# The deepest a request needs is 3 (a bulk's list of trades, each an object of plain values).
JSON_MAX_DEPTH = 64
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]")
_DEPTH_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def json_depth(body: bytes) -> int:
    """How deep `body`'s arrays and objects nest, brackets inside strings not counted; linear
    time, no recursion. A body that is not JSON may be counted deeper than it is: json.loads
    refuses it afterwards anyway."""
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", body))
    if not brackets:
        return 0
    steps = (1 if step == 1 else -1 for step in brackets.translate(_DEPTH_STEPS))
    return max(accumulate(steps))


def _too_deep() -> ParseError:
    return ParseError(
        gettext("The JSON body is nested deeper than the %(limit)s levels the API accepts.")
        % {"limit": JSON_MAX_DEPTH}
    )


class LimitedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        body = read_limited(stream, parser_context)
        # Cheap first: a body with fewer brackets than the limit cannot nest deeper.
        if body.count(b"[") + body.count(b"{") > JSON_MAX_DEPTH and (
            json_depth(body) > JSON_MAX_DEPTH
        ):
            raise _too_deep()
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError as exc:  # a limit raised past the interpreter's own: still a 400
            raise _too_deep() from exc


class LimitedFormParser(FormParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        body = read_limited(stream, parser_context)
        return super().parse(io.BytesIO(body), media_type, parser_context)
