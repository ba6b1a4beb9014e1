"""The trading pages' forms: the blotter's filters and deal capture.

Deal capture renders its fields here but validates nothing of its own: the posted terms go
through the API's input serializer (shapes and types) and then the booking service (meaning),
so a page and an API client meet exactly the same rules.
"""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.accounts.permissions import desks_for_user
from apps.trading.models import (
    Book,
    Counterparty,
    DealType,
    DeliveryProfile,
    Market,
    OptionKind,
    Side,
    TradeStatus,
)
from apps.trading.selectors import BlotterFilters
from apps.trading.serializers import TradeTermsInputSerializer
from apps.trading.services import TradeTerms


def _blank(label: Any) -> list[tuple[str, Any]]:
    return [("", label)]


class BlotterFilterForm(forms.Form):
    """The blotter's query string: keyset position and filters (choices from the user's desks)."""

    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    desk = forms.ChoiceField(label=pgettext_lazy("trading desk", "Desk"), required=False)
    book = forms.ChoiceField(label=pgettext_lazy("trading book", "Book"), required=False)
    counterparty = forms.ChoiceField(label=_("Counterparty"), required=False)
    market = forms.ChoiceField(label=_("Market"), required=False)
    status = forms.ChoiceField(
        label=pgettext_lazy("trade status", "Status"),
        required=False,
        choices=_blank(_("All statuses")) + list(TradeStatus.choices),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        desks = desks_for_user(user).order_by("code")
        self.fields["desk"].choices = _blank(_("All desks")) + [(d.code, d.name) for d in desks]
        books = Book.objects.filter(desk__in=desks).order_by("code")
        self.fields["book"].choices = _blank(_("All books")) + [(b.code, b.code) for b in books]
        self.fields["counterparty"].choices = _blank(_("All counterparties")) + [
            (c.short_code, c.short_code) for c in Counterparty.objects.order_by("short_code")
        ]
        self.fields["market"].choices = _blank(_("All markets")) + [
            (m.code, m.name) for m in Market.objects.order_by("code")
        ]

    def filters(self) -> BlotterFilters:
        data = self.cleaned_data
        return BlotterFilters(
            desk=data["desk"],
            book=data["book"],
            counterparty=data["counterparty"],
            market=data["market"],
            status=data["status"],
        )


# The fields each deal type has beyond the common ones; the page shows only these.
INDEX_FIELDS = ("index_market",)
OPTION_FIELDS = ("option_type", "strike", "expiry_date")
DEAL_TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    DealType.PHYSICAL_INDEX: INDEX_FIELDS,
    DealType.OPTION: OPTION_FIELDS,
}


class _DateInput(forms.DateInput):
    input_type = "date"


class TradeForm(forms.Form):
    """Deal capture. `deal_type` decides which of the deal-type fields are shown and sent."""

    deal_type = forms.ChoiceField(label=_("Deal type"), choices=DealType.choices)
    book = forms.ChoiceField(label=pgettext_lazy("trading book", "Book"))
    counterparty = forms.ChoiceField(label=_("Counterparty"))
    side = forms.ChoiceField(
        label=pgettext_lazy("trade side", "Side"), choices=Side.choices, widget=forms.RadioSelect
    )
    market = forms.ChoiceField(label=_("Market"))
    period = forms.CharField(
        label=_("Delivery period"),
        required=False,
        max_length=16,
        help_text=_("A period code: 2026-03, 2026-Q2, 2026-W13, SUM-2026, CAL-2027."),
    )
    profile = forms.ChoiceField(
        label=_("Profile"), choices=DeliveryProfile.choices, initial=DeliveryProfile.BASE
    )
    # Amounts are text fields: the serializer parses them (never localised on the way in).
    quantity = forms.CharField(
        label=_("Quantity"),
        max_length=32,
        help_text=_("Per delivery hour (MW) for power, per day for other commodities."),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "dir": "ltr"}),
    )
    price = forms.CharField(
        label=_("Price"),
        max_length=32,
        help_text=_("The fixed price, the spread over the index, or the option's premium."),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "dir": "ltr"}),
    )
    currency = forms.CharField(
        label=_("Currency"), max_length=3, widget=forms.TextInput(attrs={"dir": "ltr"})
    )
    trade_date = forms.DateField(label=_("Trade date"), required=False, widget=_DateInput)
    index_market = forms.ChoiceField(label=_("Index market"), required=False)
    option_type = forms.ChoiceField(
        label=_("Option type"), required=False, choices=list(OptionKind.choices)
    )
    strike = forms.CharField(
        label=_("Strike"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "dir": "ltr"}),
    )
    expiry_date = forms.DateField(label=_("Expiry date"), required=False, widget=_DateInput)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        books = Book.objects.filter(desk__in=desks_for_user(user)).order_by("code")
        self.fields["book"].choices = [(b.code, f"{b.code} · {b.name}") for b in books]
        self.fields["counterparty"].choices = [
            (c.short_code, f"{c.short_code} · {c.legal_name}")
            for c in Counterparty.objects.order_by("short_code")
        ]
        markets = [(m.code, m.name) for m in Market.objects.order_by("code")]
        self.fields["market"].choices = markets
        self.fields["index_market"].choices = _blank("") + markets
        if not self.is_bound and "trade_date" not in self.initial:
            self.initial["trade_date"] = timezone.localdate()
        hidden = set(INDEX_FIELDS + OPTION_FIELDS) - set(
            DEAL_TYPE_FIELDS.get(self.chosen_deal_type, ())
        )
        for name in hidden:
            del self.fields[name]

    @property
    def chosen_deal_type(self) -> str:
        value = (self.data if self.is_bound else self.initial).get("deal_type")
        return value if value in DealType.values else DealType.PHYSICAL_FIXED

    def visible_deal_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in DEAL_TYPE_FIELDS.get(self.chosen_deal_type, ())]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        # Only the fields of this deal type travel; the serializer judges them as the API does.
        data = {name: self.data.get(name, "") for name in self.fields}
        data = {name: value for name, value in data.items() if value != ""}
        serializer = TradeTermsInputSerializer(data=data)
        if not serializer.is_valid():
            for name, messages in serializer.errors.items():
                self.add_error(name if name in self.fields else None, messages)
            return cleaned
        names = TradeTerms.field_names()
        self.terms = TradeTerms(
            **{k: v for k, v in serializer.validated_data.items() if k in names}
        )
        return cleaned

    def add_service_errors(self, exc: ValidationError) -> None:
        """The booking service's field errors, on the fields the page shows."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for name, messages in exc.message_dict.items():
            self.add_error(name if name in self.fields else None, messages)
