"""The venue pages' forms: the order ticket and the replace form of an order's page.

They render the fields and check only shapes (the API's input serializers, so a page and an API
client meet the same rules); the venue service decides the rest, and its refusals come back as
these forms' errors.
"""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.accounts.permissions import desks_for_user
from apps.trading.models import (
    Book,
    Counterparty,
    OrderType,
    Side,
    TimeInForce,
    VenueContract,
)
from apps.trading.venue import OrderTicket
from apps.trading.venue_serializers import OrderInputSerializer, OrderReplaceInputSerializer
from qenergyz.validators import PlainTextFormMixin

_AMOUNT_WIDGET = {"inputmode": "decimal", "dir": "ltr", "autocomplete": "off"}


def _amount(label: Any, *, required: bool = True, help_text: Any = "") -> forms.CharField:
    # Amounts are text: the serializer parses them (never localised on the way in).
    return forms.CharField(
        label=label,
        required=required,
        max_length=32,
        help_text=help_text,
        widget=forms.TextInput(attrs=_AMOUNT_WIDGET),
    )


class _ServiceErrors:
    """Puts the service's (or the serializer's) field errors on the fields the page shows."""

    def add_service_errors(self: Any, errors: ValidationError | dict[str, Any]) -> None:
        if isinstance(errors, ValidationError):
            if not hasattr(errors, "error_dict"):
                self.add_error(None, errors)
                return
            errors = errors.message_dict
        for name, messages in errors.items():
            self.add_error(name if name in self.fields else None, messages)


class OrderTicketForm(PlainTextFormMixin, _ServiceErrors, forms.Form):
    contract = forms.ChoiceField(
        label=_("Contract"),
        error_messages={
            "invalid_choice": _("This contract takes no orders: unknown, or its trading ended.")
        },
    )
    side = forms.ChoiceField(
        label=pgettext_lazy("trade side", "Side"), choices=Side.choices, widget=forms.RadioSelect
    )
    order_type = forms.ChoiceField(
        label=_("Order type"), choices=OrderType.choices, initial=OrderType.LIMIT
    )
    time_in_force = forms.ChoiceField(
        label=_("Time in force"), choices=TimeInForce.choices, initial=TimeInForce.GTC
    )
    price = _amount(_("Limit price"), required=False, help_text=_("Empty for a market order."))
    quantity = _amount(
        _("Quantity"), help_text=_("Per delivery hour (MW) for power, per day otherwise.")
    )
    min_quantity = _amount(_("Minimum quantity"), required=False)
    book = forms.ChoiceField(label=pgettext_lazy("trading book", "Book"), required=False)
    counterparty = forms.ChoiceField(
        label=_("Broker's quote for"),
        required=False,
        help_text=_("Only for a broker's quote: the broker; leave the book empty."),
    )
    desk = forms.ChoiceField(
        label=pgettext_lazy("trading desk", "Desk"),
        required=False,
        help_text=_("For a broker's quote: the desk that manages it."),
    )

    def __init__(
        self, *args: Any, user: Any, contracts: list[VenueContract], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        desks = list(desks_for_user(user).order_by("code"))
        self.fields["contract"].choices = [(str(c.pk), c.code) for c in contracts]
        books = Book.objects.filter(desk__in=desks).order_by("code")
        self.fields["book"].choices = [("", "")] + [(b.code, b.code) for b in books]
        brokers = Counterparty.objects.filter(internal_entity__isnull=True).order_by("short_code")
        self.fields["counterparty"].choices = [("", _("— our own order —"))] + [
            (c.short_code, f"{c.short_code} · {c.legal_name}") for c in brokers
        ]
        self.fields["desk"].choices = [("", "")] + [(d.code, d.name) for d in desks]
        if not self.is_bound and "book" not in self.initial and books:
            self.initial["book"] = books[0].code

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        data = {name: self.data.get(name, "") for name in self.fields}
        for name in ("price", "min_quantity"):
            if data[name] == "":
                data[name] = None
        serializer = OrderInputSerializer(data=data)
        if not serializer.is_valid():
            self.add_service_errors(dict(serializer.errors))
            return cleaned
        self.ticket = OrderTicket(**serializer.validated_data)
        return cleaned


class OrderReplaceForm(PlainTextFormMixin, _ServiceErrors, forms.Form):
    price = _amount(_("New limit price"), required=False)
    quantity = _amount(
        _("New open quantity"),
        required=False,
        help_text=_("A smaller quantity at the same price keeps the order's place in the queue."),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        data = {name: self.data.get(name) or None for name in self.fields}
        serializer = OrderReplaceInputSerializer(data=data)
        if not serializer.is_valid():
            self.add_service_errors(dict(serializer.errors))
            return cleaned
        self.changes = dict(serializer.validated_data)
        return cleaned
