from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth.forms import AuthenticationForm, UserChangeForm
from django.core.validators import MaxLengthValidator, RegexValidator
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import Desk, User, normalise_backup_code
from qenergyz.validators import PlainTextFormMixin, validate_text


def _language_choices() -> list[tuple[str, Any]]:
    return [("", _("The region's default")), *settings.LANGUAGES]


class TOTPConfirmForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your app"),
        max_length=8,
        validators=[RegexValidator(r"^\d{6,8}$", _("Enter the 6-digit code your app shows."))],
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_code(self) -> str:
        return "".join(self.cleaned_data["code"].split())


class MFAVerifyForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your app, or a backup code"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        is_app_code = code.isdigit() and 6 <= len(code) <= 8
        if not is_app_code and not normalise_backup_code(code):
            raise forms.ValidationError(
                _("Enter the 6-digit code from your app, or one of your backup codes."),
                code="format",
            )
        return code


class ApiTokenForm(PlainTextFormMixin, forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What the token is for, e.g. “nightly trade upload”."),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("Give the token a name."), code="required")
        return name


class AdminUserChangeForm(UserChangeForm):
    language = forms.ChoiceField(label=_("language"), choices=_language_choices, required=False)

    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


class DeskAdminForm(forms.ModelForm):
    members = forms.ModelMultipleChoiceField(
        label=_("members"),
        queryset=User.objects.order_by("username"),
        required=False,
        widget=FilteredSelectMultiple(_("members"), is_stacked=False),
    )

    class Meta:
        model = Desk
        fields = ["code", "name", "region"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["members"].initial = list(self.instance.members.all())


class LoginForm(AuthenticationForm):
    """Django's sign-in form, with the username's length and text checked as a field: Django
    only sets the length on the widget, so a 10,000-character name reached authenticate() and
    the lockout layer's 255-character column (a database error). The password is not checked
    for control characters: it is compared, never shown."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.extend([MaxLengthValidator(field.max_length), validate_text])
