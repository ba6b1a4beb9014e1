"""The API's one pagination class: DRF's cursor pagination, with a tampered cursor a 400.

DRF answers a cursor that does not decode with 404, and one that decodes to a position the
ordering field cannot hold ("abc" for an id, a NUL byte, an id past the column's range) with
a 500: the position goes into the query as it is. Here the position is read by the ordering
field itself (its to_python and its validators, the database's integer range among them)
before any query, and every refusal is a 400 that says what to do.

Every list uses it: it is DEFAULT_PAGINATION_CLASS, and the lists with an ordering of their
own subclass it. A leaf module: it imports nothing from the apps.
"""

from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Field, Model, QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.views import APIView

from qenergyz.validators import text_is_plain


class InvalidCursor(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _(
        "The page cursor is not valid. Follow the next or previous link of a page as it was "
        "given, or leave the cursor out for the first page."
    )
    default_code = "invalid_cursor"


def _ordering_field(model: type[Model], name: str) -> Field | None:
    """The model field an ordering names, through relations (`book__code`); None if unknown."""
    field: Any = None
    for part in name.lstrip("-").split("__"):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        if field.is_relation and field.related_model is not None:
            model = field.related_model
    if field is not None and field.is_relation:
        return field.target_field
    return field


class SafeCursorPagination(CursorPagination):
    model: type[Model] | None = None

    def paginate_queryset(
        self, queryset: QuerySet, request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        self.model = getattr(queryset, "model", None)
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise InvalidCursor() from exc
        if cursor is None or cursor.position is None:
            return cursor
        if not text_is_plain(cursor.position):
            raise InvalidCursor()
        field = _ordering_field(self.model, self.ordering[0]) if self.model else None
        if field is None:  # an ordering this class cannot read: refuse rather than guess
            raise InvalidCursor()
        try:
            value = field.to_python(cursor.position)
            field.run_validators(value)
        except (ValidationError, ValueError, TypeError, OverflowError) as exc:
            raise InvalidCursor() from exc
        return cursor
