"""The positions grid (with MtM) and the P&L page (closes, explain, chart).

Views parse, call the selectors or the P&L task, and render. Every read is scoped by the
user's desks in `selectors.books_for_user`: another desk's book is not there (404 when named).
"""

from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Role
from apps.accounts.permissions import has_role, role_required
from apps.trading import selectors
from apps.trading.curve_status import curve_status
from apps.trading.models import BookPnl
from apps.trading.pnl import describe_missing
from apps.trading.tasks import pnl_close_day
from qenergyz.validators import PlainTextFormMixin

VIEW_ROLES = (Role.TRADER, Role.RISK_MANAGER)

EXPLAIN_LINES = [
    ("time_roll", gettext_lazy("Time roll")),
    ("curve_moves", gettext_lazy("Curve moves")),
    ("fx", gettext_lazy("FX")),
    ("new_trades", gettext_lazy("New trades")),
    ("amendments", gettext_lazy("Amendments")),
    ("cancellations", gettext_lazy("Cancellations")),
    ("unexplained", gettext_lazy("Unexplained")),
]


class DayForm(PlainTextFormMixin, forms.Form):
    """The day (default today, UTC) and, optionally, one of the user's books."""

    date = forms.DateField(label=gettext_lazy("Day"), required=False)
    book = forms.ChoiceField(label=pgettext_lazy("trading book", "Book"), required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.books = list(selectors.books_for_user(user))
        self.fields["book"].choices = [("", _("All books"))] + [
            (b.code, f"{b.code} · {b.name}") for b in self.books
        ]

    def clean_date(self) -> date:
        day = self.cleaned_data.get("date") or timezone.now().date()
        if day > timezone.now().date():
            raise forms.ValidationError(_("The day cannot be in the future."))
        return day


def _day_form(request: HttpRequest, data: Any) -> tuple[DayForm, date, str]:
    form = DayForm(data, user=request.user)
    if form.is_valid():
        return form, form.cleaned_data["date"], form.cleaned_data["book"]
    return form, timezone.now().date(), ""


@require_GET
@login_required
@role_required(*VIEW_ROLES)
def positions(request: HttpRequest) -> HttpResponse:
    form, day, book = _day_form(request, request.GET)
    grid = selectors.positions_grid(request.user, day, book=book)
    markets = {row.market.pk: row.market for row in grid.rows}
    curves = curve_status(day, markets.values() if markets else None)
    context = {"form": form, "grid": grid, "curves": curves, "live_updates": True}
    if request.htmx:
        return render(request, "trading/positions.html#grid", context)
    return render(request, "trading/positions.html", context)


def _chart(history: list[BookPnl]) -> dict[str, list]:
    cumulative = Decimal(0)
    series: dict[str, list] = {"dates": [], "daily": [], "cumulative": []}
    for row in history:
        cumulative += row.daily
        series["dates"].append(row.date.isoformat())
        # Plain numbers for the chart (json_script): never localised text.
        series["daily"].append(float(row.daily))
        series["cumulative"].append(float(cumulative))
    return series


@require_GET
@login_required
@role_required(*VIEW_ROLES)
def pnl(request: HttpRequest) -> HttpResponse:
    form, day, book_code = _day_form(request, request.GET)
    summaries = selectors.pnl_summaries(request.user, day)
    selected = next((s for s in summaries if s.book.code == book_code), None)
    if selected is None and summaries:
        selected = summaries[0]
    explain = []
    missing: list[str] = []
    chart = None
    if selected is not None:
        if selected.close is not None:
            explain = [(label, getattr(selected.close, name)) for name, label in EXPLAIN_LINES]
            missing = describe_missing(selected.close.missing)
        chart = _chart(selectors.pnl_history(selected.book, day.year))
    return render(
        request,
        "trading/pnl.html",
        {
            "form": form,
            "day": day,
            "summaries": summaries,
            "selected": selected,
            "explain": explain,
            "missing": missing,
            "chart": chart,
            "curves": curve_status(day),
            "can_close": has_role(request.user, Role.RISK_MANAGER),
        },
    )


@require_POST
@login_required
@role_required(Role.RISK_MANAGER)
def pnl_close(request: HttpRequest) -> HttpResponse:
    """Close the day's P&L of the user's books now (a Celery task; eager in development).

    Risk managers close the books, not traders: a desk does not mark its own P&L."""
    form, day, book_code = _day_form(request, request.POST)
    if not form.is_valid():
        messages.error(request, _("The day or book is not valid."))
        return redirect("trading:pnl")
    books = [b for b in form.books if not book_code or b.code == book_code]
    if not books:
        raise Http404
    pnl_close_day.delay(day.isoformat(), [b.pk for b in books])
    messages.success(
        request,
        ngettext(
            "The P&L of %(date)s is being closed for %(count)d book.",
            "The P&L of %(date)s is being closed for %(count)d books.",
            len(books),
        )
        % {"date": day.isoformat(), "count": len(books)},
    )
    query = urlencode({"date": day.isoformat(), "book": book_code})
    return redirect(f"{reverse('trading:pnl')}?{query}")
