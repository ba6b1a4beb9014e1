"""Admin of market data: read-only lists of curves and FX rates, with CSV upload as the way in.

The "add" page of each model is its CSV upload (the only way a curve or a rate is created), so
the add permission is the upload permission. Nothing can be changed or deleted here: a
correction is a new revision (curves) and a rate once fixed stays fixed. Imported from
`apps.trading.admin`, which registers everything else.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminDateWidget
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy

from apps.trading import marketdata
from apps.trading.models import CurvePoint, CurveSnapshot, FxRate, InterestRate, Market

# A screenful: the rest of a badly broken file is summarised in one line.
MAX_ERRORS_SHOWN = 50


class CsvFileField(forms.FileField):
    def clean(self, data: Any, initial: Any = None) -> Any:
        upload = super().clean(data, initial)
        if upload is not None and upload.size > marketdata.MAX_IMPORT_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(size)s MB.")
                % {"size": marketdata.MAX_IMPORT_BYTES // 2**20}
            )
        return upload


class CurveUploadForm(forms.Form):
    market = forms.ModelChoiceField(Market.objects.all(), label=_("market"))
    pricing_date = forms.DateField(
        label=pgettext_lazy("market data", "pricing date"), widget=AdminDateWidget
    )
    file = CsvFileField(
        label=_("CSV file"),
        help_text=_(
            "UTF-8 CSV with the header period,price; one line per month (2027-01) or quarter "
            "(2027-Q1), prices in the market's quotation."
        ),
    )
    source = forms.CharField(label=_("source"), max_length=200, required=False)
    notes = forms.CharField(label=_("notes"), widget=forms.Textarea, required=False)


class FxUploadForm(forms.Form):
    file = CsvFileField(
        label=_("CSV file"),
        help_text=_("UTF-8 CSV with the header date,base,quote,rate; 1 base = rate quote."),
    )
    source = forms.CharField(label=_("source"), max_length=200, required=False)


def _report_errors(form: forms.Form, errors: list[marketdata.LineError]) -> None:
    for error in errors[:MAX_ERRORS_SHOWN]:
        if error.line:
            message = _("Line %(line)s: %(message)s") % {
                "line": error.line,
                "message": error.message,
            }
        else:
            message = error.message
        form.add_error("file", message)
    hidden = len(errors) - MAX_ERRORS_SHOWN
    if hidden > 0:
        form.add_error(
            "file",
            ngettext("… and %(count)d more error.", "… and %(count)d more errors.", hidden)
            % {"count": hidden},
        )


class AppendOnlyAdmin(admin.ModelAdmin):
    """View and upload only: no edits, no deletions."""

    upload_title: Any = ""

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def _render_upload(self, request: HttpRequest, form: forms.Form) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": self.upload_title,
            "opts": self.model._meta,
            "form": form,
            "media": self.media + form.media,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/trading/marketdata_upload.html", context)


class CurvePointInline(admin.TabularInline):
    model = CurvePoint
    fields = ["period", "kind", "start", "end", "price"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(CurveSnapshot)
class CurveSnapshotAdmin(AppendOnlyAdmin):
    list_display = [
        "market",
        "pricing_date",
        "revision",
        "point_count",
        "source",
        "created_by",
        "created_at",
    ]
    list_filter = ["market"]
    list_select_related = ["market", "created_by"]
    date_hierarchy = "pricing_date"
    search_fields = ["market__code"]
    inlines = [CurvePointInline]
    upload_title = _("Upload a forward curve")

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CurveUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            result = marketdata.curve_import_csv(
                user=request.user,
                market=data["market"],
                pricing_date=data["pricing_date"],
                text=data["file"].read(),
                source=data["source"],
                notes=data["notes"],
            )
            if result.ok:
                snapshot = result.snapshot
                self.message_user(
                    request,
                    _(
                        "Curve %(market)s of %(date)s imported as revision %(revision)s with "
                        "%(count)s points."
                    )
                    % {
                        "market": snapshot.market.code,
                        "date": snapshot.pricing_date.isoformat(),
                        "revision": snapshot.revision,
                        "count": snapshot.point_count,
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:trading_curvesnapshot_change", args=[snapshot.pk])
                )
            _report_errors(form, result.errors)
        return self._render_upload(request, form)


@admin.register(FxRate)
class FxRateAdmin(AppendOnlyAdmin):
    list_display = ["base", "quote", "date", "rate", "source"]
    list_filter = ["base", "quote"]
    date_hierarchy = "date"
    search_fields = ["base", "quote"]
    upload_title = _("Upload FX rates")

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = FxUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            result = marketdata.fx_import_csv(
                user=request.user,
                text=form.cleaned_data["file"].read(),
                source=form.cleaned_data["source"],
            )
            if result.ok:
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d FX rate imported.",
                        "%(count)d FX rates imported.",
                        result.created,
                    )
                    % {"count": result.created},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:trading_fxrate_changelist"))
            _report_errors(form, result.errors)
        return self._render_upload(request, form)


@admin.register(InterestRate)
class InterestRateAdmin(AppendOnlyAdmin):
    """Discount rates are entered one fixing at a time (the standard add form); like FX rates,
    a fixing once entered is never changed."""

    list_display = ["currency", "date", "rate", "source"]
    list_filter = ["currency"]
    date_hierarchy = "date"
    search_fields = ["currency"]
