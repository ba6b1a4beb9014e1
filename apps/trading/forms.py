"""The trading pages' forms: the blotter's filters, deal capture and amendment, and the
trade page's actions (cancel, approve, reject).

Deal capture renders its fields here but validates nothing of its own: the posted terms go
through the API's input serializer (shapes and types) and then the booking service (meaning),
so a page and an API client meet exactly the same rules. Amendment is deal capture prefilled
with the current terms, plus the version it amends; the service refuses a stale one.
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
    Trade,
    TradeStatus,
    TradeVersion,
)
from apps.trading.selectors import BlotterFilters
from apps.trading.serializers import TradeTermsInputSerializer
from apps.trading.services import CENT, TradeTerms, plain_amount
from qenergyz.validators import PlainTextFormMixin


def _blank(label: Any) -> list[tuple[str, Any]]:
    return [("", label)]


class BlotterFilterForm(PlainTextFormMixin, forms.Form):
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


class TradeForm(PlainTextFormMixin, forms.Form):
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

    def term_fields(self) -> list[forms.BoundField]:
        """The fields of the terms below the deal type (trade_form.html#fields)."""
        return [self[name] for name in self.fields if name in TERM_FIELDS and name != "deal_type"]

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


# The terms the deal-capture form edits, in TradeForm's order.
TERM_FIELDS = tuple(TradeForm.base_fields)

_NO_VERSION = _("This form does not say which version of the trade it acts on. Reload the page.")
_VERSION_ERRORS = {"required": _NO_VERSION, "invalid": _NO_VERSION, "min_value": _NO_VERSION}


def _version_field() -> forms.IntegerField:
    """The version a form acts on: the service refuses it if another was saved meanwhile."""
    return forms.IntegerField(min_value=1, widget=forms.HiddenInput, error_messages=_VERSION_ERRORS)


class TradeAmendForm(TradeForm):
    """Deal capture prefilled with a trade's current terms, plus the version it amends.

    The book stays the trade's own (a trade never moves to another book); every other term
    shown may change. Terms of another deal type than the chosen one are cleared.
    """

    version = _version_field()
    reason = forms.CharField(
        label=_("Reason for the amendment"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, user: Any, trade: Trade, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.fields["book"].choices = [(trade.book.code, f"{trade.book.code} · {trade.book.name}")]

    @staticmethod
    def initial_from(version: TradeVersion) -> dict[str, Any]:
        """The form's values for `version` (its trade, counterparty, markets loaded)."""
        return {
            "version": version.version,
            "deal_type": version.deal_type,
            "book": version.trade.book.code,
            "counterparty": version.counterparty.short_code,
            "side": version.side,
            "market": version.market.code,
            "period": version.period_code,
            "profile": version.profile,
            "quantity": plain_amount(version.quantity),
            "price": plain_amount(version.price, places=CENT),
            "currency": version.currency,
            "trade_date": version.trade_date,
            "index_market": version.index_market.code if version.index_market_id else "",
            "option_type": version.option_type,
            "strike": "" if version.strike is None else plain_amount(version.strike),
            "expiry_date": version.expiry_date,
        }

    def changes(self) -> dict[str, Any]:
        """The amendment for services.trade_amend: every term the page edits, as posted.

        The unit follows the market. A period code replaces delivery dates that an API client
        may have booked; without one, the stored dates stay (a trade booked with a code and
        amended without one has no period: the service says so on the field).
        """
        changes: dict[str, Any] = {
            name: getattr(self.terms, name)
            for name in TERM_FIELDS
            if name in TradeTerms.field_names()
        }
        changes["unit"] = ""
        if changes["period"]:
            changes["delivery_start"] = changes["delivery_end"] = None
        return changes


# The reason each action asks for, and whether it must be given.
ACTION_REASONS: dict[str, tuple[Any, bool]] = {
    "cancel": (_("Reason for the cancellation"), True),
    "approve": (_("Note (optional)"), False),
    "reject": (_("Reason for the rejection"), True),
}


class TradeActionForm(PlainTextFormMixin, forms.Form):
    """Cancel, approve or reject a trade at the version shown on its page."""

    version = _version_field()
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, action: str, **kwargs: Any) -> None:
        # Several of these forms share the trade page: ids are unique per action.
        kwargs.setdefault("auto_id", f"id_{action}_%s")
        super().__init__(*args, **kwargs)
        self.action = action
        self.checks: list[dict[str, Any]] = []  # the pre-trade checks' results of a refusal
        label, required = ACTION_REASONS[action]
        self.fields["reason"].label = label
        self.fields["reason"].required = required
