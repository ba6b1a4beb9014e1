from django import forms
from django.utils.translation import gettext_lazy as _


class AuditTrailFilterForm(forms.Form):
    """The trail page's query string: keyset position and filters."""

    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    action = forms.CharField(
        label=_("Action"), required=False, max_length=64, help_text=_("For example trade.booked")
    )
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150)
