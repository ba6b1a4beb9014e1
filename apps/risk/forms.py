"""Forms of the risk pages: they parse what a person typed; the services check the meaning
(parameters_clean, limit_propose…) and their ValidationErrors come back as field errors."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.accounts.models import Desk
from apps.accounts.permissions import desks_for_user
from apps.risk.models import LimitKind, Method
from apps.risk.parameters import FULL, MAX_HORIZON_DAYS
from apps.risk.services import sees_firm
from apps.trading.models import Book, Market, Unit
from qenergyz.validators import PlainTextFormMixin

FIRM = "firm"
RUN_PARAMETERS = (
    "methods",
    "confidences",
    "window",
    "horizon_days",
    "paths",
    "seed",
    "covariance",
    "ewma_decay",
    "age_decay",
    "distribution",
    "dof",
    "stress",
    "credit",
    "backtest",
)


def apply_errors(form: forms.Form, error: ValidationError) -> None:
    """A service's ValidationError as the form's errors (unknown fields as form errors)."""
    if hasattr(error, "error_dict"):
        for name, messages in error.message_dict.items():
            form.add_error(name if name in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


class ScopeForm(PlainTextFormMixin, forms.Form):
    """The dashboard's scope: one of the user's desks, or the firm (firm risk managers)."""

    desk = forms.ChoiceField(label=pgettext_lazy("trading desk", "Desk"), required=False)
    horizon = forms.IntegerField(
        label=_("Horizon (days)"), required=False, min_value=1, max_value=MAX_HORIZON_DAYS
    )

    def __init__(self, *args: Any, user: Any, firm: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.desks = list(desks_for_user(user))
        choices = [(d.code, d.name) for d in self.desks]
        if firm:
            choices.insert(0, (FIRM, _("Every desk (the firm)")))
        self.fields["desk"].choices = choices
        self.firm = firm

    def scope(self) -> tuple[bool, Any]:
        """(valid, desk or None for the firm); without a choice, the firm for firm risk managers,
        else the first desk. A desk that is not the user's is not valid (a 404)."""
        code = ""
        if self.is_bound and self.data.get("desk"):
            if "desk" in self.errors:  # (a bad horizon is the horizon field's error only)
                return False, None
            code = self.cleaned_data["desk"]
        if not code:
            code = FIRM if self.firm else (self.desks[0].code if self.desks else "")
        self.fields["desk"].initial = code
        if code == FIRM:
            return self.firm, None
        desk = next((d for d in self.desks if d.code == code), None)
        return desk is not None, desk

    def chosen_horizon(self) -> int:
        """The horizon the reader chose (days), one day by default or when not valid (the
        field then shows its error)."""
        if self.is_bound and self.is_valid() and self.cleaned_data.get("horizon"):
            return self.cleaned_data["horizon"]
        return 1


class RunForm(PlainTextFormMixin, forms.Form):
    desk = forms.ChoiceField(label=pgettext_lazy("trading desk", "Desk"), required=False)
    business_date = forms.DateField(label=_("Day"), required=False)
    methods = forms.MultipleChoiceField(
        label=_("Methods"),
        choices=Method.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=list(FULL.methods),
    )
    confidences = forms.CharField(
        label=_("Confidence levels"),
        initial=", ".join(str(c) for c in FULL.confidences),
        help_text=_("Fractions, separated by commas: 0.99 for 99 %."),
    )
    window = forms.CharField(label=_("History window (days)"), initial=FULL.window)
    horizon_days = forms.CharField(label=_("Horizon (days)"), initial=FULL.horizon_days)
    paths = forms.CharField(label=_("Monte Carlo paths"), initial=FULL.paths)
    seed = forms.CharField(label=_("Random seed"), initial=FULL.seed)
    # The options the API takes too; the services check their values (parameters_clean).
    covariance = forms.ChoiceField(
        label=_("Covariance"),
        choices=[("ewma", _("EWMA (exponentially weighted)")), ("sample", _("Sample"))],
        initial=FULL.covariance,
        required=False,
    )
    ewma_decay = forms.CharField(label=_("EWMA decay (λ)"), initial=FULL.ewma_decay, required=False)
    age_decay = forms.CharField(
        label=_("Age weighting decay (historical)"),
        required=False,
        help_text=_(
            "Empty: equal weights; 0.98 weighs yesterday's scenario more than last year's."
        ),
    )
    distribution = forms.ChoiceField(
        label=_("Monte Carlo shocks"),
        choices=[("normal", _("Normal")), ("student_t", _("Student t"))],
        initial=FULL.distribution,
        required=False,
    )
    dof = forms.CharField(
        label=_("Degrees of freedom (Student t)"), initial=FULL.dof, required=False
    )
    stress = forms.BooleanField(label=_("Stress tests"), required=False, initial=FULL.stress)
    credit = forms.BooleanField(label=_("Credit exposure"), required=False, initial=FULL.credit)
    backtest = forms.BooleanField(label=_("Backtest"), required=False, initial=FULL.backtest)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.desks = list(desks_for_user(user))
        self.firm = sees_firm(user)
        every = [("", _("Every desk"))] if self.firm else []
        self.fields["desk"].choices = every + [(d.code, d.name) for d in self.desks]

    def clean_desk(self) -> str:
        code = self.cleaned_data.get("desk") or ""
        if not code and not self.firm:
            # Every desk at once is the firm view's: a firm risk manager's run.
            raise ValidationError(_("Choose one of your desks."))
        return code

    def parameters(self) -> dict[str, Any]:
        """The run's parameters as typed: an option left empty keeps its default (an empty
        age weighting: equal weights); a switch left out of the POST (an unticked box) is off,
        as the page showed it."""
        data = self.cleaned_data
        return {
            name: data[name]
            for name in RUN_PARAMETERS
            if name == "age_decay" or data[name] not in ("", None)
        }

    def chosen_desk(self) -> Any:
        code = self.cleaned_data.get("desk")
        return next((d for d in self.desks if d.code == code), None)


class LimitForm(PlainTextFormMixin, forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=LimitKind.choices)
    desk = forms.ModelChoiceField(
        label=pgettext_lazy("trading desk", "Desk"), queryset=Desk.objects.none()
    )
    book = forms.ModelChoiceField(
        label=pgettext_lazy("trading book", "Book"),
        queryset=Book.objects.none(),
        required=False,
        help_text=_("Empty: the whole desk."),
    )
    method = forms.ChoiceField(
        label=_("VaR method"), choices=[("", "—"), *Method.choices], required=False
    )
    confidence = forms.CharField(label=_("VaR confidence"), required=False, initial="0.99")
    market = forms.ModelChoiceField(
        label=_("Market"), queryset=Market.objects.order_by("code"), required=False
    )
    period_code = forms.CharField(
        label=pgettext_lazy("delivery period", "Period"),
        required=False,
        help_text=_("Volume limits: 2027-01, 2027-Q1, CAL-2027…"),
    )
    unit = forms.ModelChoiceField(
        label=_("Unit"), queryset=Unit.objects.order_by("code"), required=False
    )
    amount = forms.CharField(
        label=_("Amount"), help_text=_("Money in USD; a volume in the unit above.")
    )
    warning_level = forms.CharField(label=_("Warning level"), initial="0.8", required=False)
    effective_from = forms.DateTimeField(label=_("Effective from"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        desks = desks_for_user(user)
        self.fields["desk"].queryset = desks
        self.fields["book"].queryset = Book.objects.filter(desk__in=desks).order_by("code")


class LimitChangeForm(PlainTextFormMixin, forms.Form):
    amount = forms.CharField(label=_("Amount"))
    warning_level = forms.CharField(label=_("Warning level"), initial="0.8", required=False)
    effective_from = forms.DateTimeField(label=_("Effective from"), required=False)
    retire = forms.BooleanField(
        label=_("End the limit"), required=False, help_text=_("From the effective time on.")
    )
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)


class NoteForm(PlainTextFormMixin, forms.Form):
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
