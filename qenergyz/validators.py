"""What a desk accepts as a number, a date and a piece of text, for every form and serializer.

Python is generous where a desk must not be: `Decimal("１０")` is 10 and `Decimal("1_000")` is
1000 (so are Django's and DRF's decimal fields, which call it), any year from 1 to 9999 is a
date, and text may carry NUL, terminal escapes (ESC [ ...) or a right-to-left override that
shows "txt.exe" as "exe.txt". One parser, one range and one text check, used by the forms and
serializers of the apps, by query parsing and by the curve upload:

- `parse_decimal`: ASCII digits, an optional sign and at most one dot; nothing else.
- `validate_date` / `validate_datetime`: between SANE_DATE_MIN and SANE_DATE_MAX.
- `validate_text`: no control character (tab, line feed and carriage return aside: notes have
  lines) and no bidirectional embedding, override or isolate. Arabic needs none of those (the
  Unicode bidi algorithm orders it by itself), and the implicit marks (LRM, RLM, ALM) stay
  allowed: they only nudge neutral characters and cannot reverse a run of text.

A leaf module: it imports nothing from the apps. SANE_DATE_MIN, SANE_DATE_MAX and
date_in_range are qenergyz.date_range's, for the pure engines.
"""

import datetime
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from qenergyz.date_range import SANE_DATE_MAX, SANE_DATE_MIN, date_in_range

# `[0-9]`, not `\d`: `\d` matches every script's digits in a str pattern.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# C0 controls but tab, line feed and carriage return; DEL and the C1 controls; the bidi
# embeddings and overrides (U+202A..U+202E) and isolates (U+2066..U+2069).
_FORBIDDEN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

DECIMAL_MESSAGE = _("Enter a number in plain digits, such as 1000 or -12.5.")
TEXT_MESSAGE = _(
    "Remove the control or text-direction characters (such as NUL, escape or a right-to-left "
    "override); they are not accepted."
)


def date_range_message() -> str:
    return gettext("Enter a date between %(min)s and %(max)s.") % {
        "min": SANE_DATE_MIN.isoformat(),
        "max": SANE_DATE_MAX.isoformat(),
    }


def is_decimal_text(text: str) -> bool:
    return _DECIMAL.fullmatch(text) is not None


def parse_decimal(text: Any) -> Decimal:
    """`text` (str or int; surrounding spaces ignored) as a Decimal, or ValueError."""
    if isinstance(text, bool):
        raise ValueError(text)
    if isinstance(text, int):
        return Decimal(text)
    if isinstance(text, Decimal) and text.is_finite():
        return text
    if not isinstance(text, str):
        raise ValueError(text)
    stripped = text.strip()
    if not is_decimal_text(stripped):
        raise ValueError(text)
    try:
        return Decimal(stripped)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(text) from exc


def validate_date(value: datetime.date | None) -> None:
    """Django validator (a datetime is checked by its date)."""
    if value is not None and not date_in_range(value):
        raise ValidationError(date_range_message(), code="date_range")


def text_is_plain(value: str) -> bool:
    return _FORBIDDEN_TEXT.search(value) is None


def validate_text(value: Any) -> None:
    """Django validator for free text (names, reasons, notes, codes)."""
    if isinstance(value, str) and not text_is_plain(value):
        raise ValidationError(TEXT_MESSAGE, code="control_characters")


# --- Django form fields and the forms' mixin --------------------------------------------------


class StrictDecimalFormField(forms.DecimalField):
    def to_python(self, value: Any) -> Decimal | None:
        if value in self.empty_values:
            return None
        if not isinstance(value, str | int | Decimal) or (
            isinstance(value, str) and not is_decimal_text(value.strip())
        ):
            raise ValidationError(DECIMAL_MESSAGE, code="invalid")
        return super().to_python(value)


class PlainTextFormMixin:
    """For every form of the apps: its text fields refuse control and bidi-override characters,
    its decimal fields read plain digits only and its date fields keep to the sane range,
    whether declared or made from a model. Put it first among the bases."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():  # type: ignore[attr-defined]
            harden_form_field(field)


def harden_form_field(field: forms.Field) -> None:
    """Adds the checks to one form field (each form instance holds copies of its fields)."""
    if isinstance(field, forms.DecimalField) and type(field) is forms.DecimalField:
        # The same field in every other respect; only its reading of the text is stricter.
        field.__class__ = StrictDecimalFormField
        return
    if isinstance(field, forms.CharField | forms.ChoiceField):
        check = validate_text
    elif isinstance(field, forms.DateField | forms.DateTimeField):
        check = validate_date
    else:
        return
    if check not in field.validators:
        field.validators.append(check)


# --- DRF serializer fields ----------------------------------------------------------------------


class StrictDecimalField(serializers.DecimalField):
    default_error_messages = {"invalid": DECIMAL_MESSAGE}

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            self.fail("invalid")
        if isinstance(data, str) and not is_decimal_text(data.strip()):
            self.fail("invalid")
        return super().to_internal_value(data)


class PlainCharField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # validate_text refuses NUL too: one message, not two.
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ] + [validate_text]


class PlainSlugRelatedField(serializers.SlugRelatedField):
    """Looked up only when plain: PostgreSQL refuses a NUL in a query parameter (a 500)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and not text_is_plain(data):
            raise serializers.ValidationError(TEXT_MESSAGE, code="control_characters")
        return super().to_internal_value(data)


class SaneDateField(serializers.DateField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(validate_date)


class SaneDateTimeField(serializers.DateTimeField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(validate_date)


def _strict_mapping() -> dict[Any, Any]:
    mapping = dict(serializers.ModelSerializer.serializer_field_mapping)
    for model_field, field in mapping.items():
        if field is serializers.CharField:
            mapping[model_field] = PlainCharField
    mapping[models.DecimalField] = StrictDecimalField
    mapping[models.DateField] = SaneDateField
    mapping[models.DateTimeField] = SaneDateTimeField
    return mapping


class StrictModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose fields made from the model are the strict ones above."""

    serializer_field_mapping = _strict_mapping()
