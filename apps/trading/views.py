"""The trading pages: the blotter (and its CSV export), deal capture and the trade page.

Views parse, call the selectors or the booking service, and render. Every read goes through the
desk-scoped selectors: another desk's trade is a 404, the same answer as a missing one.
"""

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.models import Role
from apps.accounts.permissions import has_role, role_required
from apps.trading import selectors, services
from apps.trading.forms import BlotterFilterForm, TradeForm
from apps.trading.models import Trade, TradeStatus
from apps.trading.serializers import rule_results

BLOTTER_ROLES = (Role.TRADER, Role.RISK_MANAGER)
BLOTTER_PAGE_SIZE = 50


def _rows(trades: Iterable[Trade]) -> list[dict[str, Any]]:
    """The blotter's rows, exactly as the live push renders them (live/trade_row.html#row)."""
    return [services.blotter_row(trade, trade.current) for trade in trades]  # type: ignore[attr-defined]


@require_GET
@login_required
@role_required(*BLOTTER_ROLES)
def blotter(request: HttpRequest) -> HttpResponse:
    form = BlotterFilterForm(request.GET, user=request.user)
    page = None
    if form.is_valid():
        page = selectors.blotter_page(
            request.user,
            form.filters(),
            before=form.cleaned_data["before"],
            size=BLOTTER_PAGE_SIZE,
        )
    return render(
        request,
        "trading/blotter.html",
        {
            "form": form,
            "rows": _rows(page.trades) if page else [],
            "next_before": page.next_before if page else None,
            "can_trade": has_role(request.user, Role.TRADER),
            # A filtered or older page takes no new live rows: they might not match it.
            "live_new_rows": page is not None and page_is_newest_unfiltered(form.cleaned_data),
        },
        status=200 if page else 400,
    )


def page_is_newest_unfiltered(cleaned_data: dict[str, Any]) -> bool:
    return not any(cleaned_data.values())


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A CSV cell: numbers as they are; text that a spreadsheet would run is quoted with '."""
    if value is None:
        return ""
    if isinstance(value, int | Decimal):
        return str(value)
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


class _Echo:
    """A file-like object that hands back what is written (for csv.writer on a stream)."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(trades: Iterator[Trade]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a byte-order mark, so that spreadsheets read the file as UTF-8
    yield writer.writerow(
        [
            _("Trade reference"),
            pgettext("trading desk", "Desk"),
            pgettext("trading book", "Book"),
            _("Deal type"),
            pgettext("trade side", "Side"),
            _("Market"),
            _("Delivery period"),
            _("Profile"),
            _("Quantity"),
            _("Total quantity"),
            _("Unit"),
            _("Price"),
            _("Currency"),
            _("Counterparty"),
            pgettext("trade status", "Status"),
            _("Version"),
            _("Trade date"),
        ]
    )
    for trade in trades:
        v = trade.current  # type: ignore[attr-defined]
        yield writer.writerow(
            [
                csv_cell(trade.trade_ref),
                csv_cell(trade.book.desk.code),
                csv_cell(trade.book.code),
                csv_cell(v.deal_type),
                csv_cell(v.side),
                csv_cell(v.market.code),
                csv_cell(
                    v.period_code or f"{v.delivery_start.isoformat()}/{v.delivery_end.isoformat()}"
                ),
                csv_cell(v.profile),
                csv_cell(v.quantity),
                csv_cell(v.total_quantity),
                csv_cell(v.unit.code),
                csv_cell(v.price),
                csv_cell(v.currency),
                csv_cell(v.counterparty.short_code),
                csv_cell(trade.status),
                csv_cell(v.version),
                csv_cell(v.trade_date.isoformat()),
            ]
        )


@require_GET
@login_required
@role_required(*BLOTTER_ROLES)
def blotter_csv(request: HttpRequest) -> HttpResponse:
    form = BlotterFilterForm(request.GET, user=request.user)
    if not form.is_valid():
        return HttpResponse(
            _("The filters are not valid."), status=400, content_type="text/plain; charset=utf-8"
        )
    trades = selectors.blotter_export(request.user, form.filters())
    response = StreamingHttpResponse(_csv_lines(trades), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="blotter.csv"'
    return response


@require_http_methods(["GET", "POST"])
@login_required
@role_required(Role.TRADER)
def trade_new(request: HttpRequest) -> HttpResponse:
    checks: list[dict[str, Any]] = []
    if request.method == "POST":
        form = TradeForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                result = services.trade_book(user=request.user, terms=form.terms)
            except ValidationError as exc:
                form.add_service_errors(exc)
            except services.TradeBlocked as exc:
                checks = rule_results(exc.report.as_list())
            else:
                trade = result.trade
                if result.status == TradeStatus.PENDING_APPROVAL:
                    messages.warning(
                        request,
                        _("Trade %(ref)s is waiting for a second person's approval.")
                        % {"ref": trade.trade_ref},
                    )
                else:
                    messages.success(request, _("Trade %(ref)s booked.") % {"ref": trade.trade_ref})
                return redirect("trading:trade-detail", pk=trade.pk)
        status = 422 if checks else 400
    else:
        # An htmx request re-renders the fields of the chosen deal type, keeping what was typed.
        form = TradeForm(initial=request.GET.dict(), user=request.user)
        status = 200
        if request.htmx:  # type: ignore[attr-defined]
            return render(request, "trading/trade_form.html#fields", {"form": form})
    return render(
        request,
        "trading/trade_form.html",
        {"form": form, "checks": checks, "blocked": bool(checks)},
        status=status,
    )


@require_GET
@login_required
@role_required(*BLOTTER_ROLES)
def trade_detail(request: HttpRequest, pk: int) -> HttpResponse:
    trade = selectors.trade_get_for_user(request.user, pk)
    versions = list(selectors.trade_versions(trade))
    current = next(v for v in versions if v.version == trade.current_version)
    return render(
        request,
        "trading/trade_detail.html",
        {
            "trade": trade,
            "current": current,
            "versions": versions,
            "checks": rule_results(current.pretrade_results),
            "audit_entries": selectors.trade_audit_entries(trade),
        },
    )
