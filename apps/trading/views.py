"""The trading pages: the blotter (and its CSV export), deal capture, the trade page and its
actions (amend, cancel, approve, reject).

Views parse, call the selectors or the trading services, and render. Every read goes through the
desk-scoped selectors: another desk's trade is a 404, the same answer as a missing one. The
services' refusals (a stale version, a status that forbids the change, four eyes, the pre-trade
checks) come back as form errors on the page, with nothing written.
"""

import csv
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.models import Role
from apps.accounts.permissions import desks_for_user, has_role, role_required
from apps.trading import selectors, services
from apps.trading.curve_status import curve_status
from apps.trading.forms import BlotterFilterForm, TradeActionForm, TradeAmendForm, TradeForm
from apps.trading.models import FINAL_STATUSES, Trade, TradeStatus, TradeVersion
from apps.trading.pnl import describe_missing, trade_valuation
from apps.trading.serializers import rule_results

BLOTTER_ROLES = (Role.TRADER, Role.RISK_MANAGER)
BLOTTER_PAGE_SIZE = 50


def _rows(trades: Iterable[Trade]) -> list[dict[str, Any]]:
    """The blotter's rows, exactly as the live push renders them (live/trade_row.html#row)."""
    return [services.blotter_row(trade, trade.current) for trade in trades]  # type: ignore[attr-defined]


def _blotter_filters(request: HttpRequest) -> BlotterFilterForm:
    """The blotter's filter form, bound to the query string.

    A desk or book that is not among the user's (another desk's, or none at all) is a 404, as
    on the trade page and the API: the same answer for "missing" and "not yours", so that the
    page and the export never confirm that another desk's book exists.
    """
    form = BlotterFilterForm(request.GET, user=request.user)
    if not form.is_valid() and form.errors.keys() & {"desk", "book"}:
        raise Http404
    return form


@require_GET
@login_required
@role_required(*BLOTTER_ROLES)
def blotter(request: HttpRequest) -> HttpResponse:
    form = _blotter_filters(request)
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
            "curves": curve_status(timezone.now().date()),
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
    form = _blotter_filters(request)
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
                _warn(request, result)
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


def _warn(request: HttpRequest, result: services.BookingResult) -> None:
    """Each pre-trade warning of a booking or amendment, as a message on the next page: the
    trade went through, but the trader must see what the checks flagged (credit use, say)."""
    for check in rule_results(result.warnings):
        messages.warning(request, _("Pre-trade warning: %(reason)s") % {"reason": check["reason"]})


def _current_version(trade: Trade) -> TradeVersion:
    version = selectors.trade_versions(trade).get(version=trade.current_version)
    version.trade = trade
    return version


def _offered_actions(user: Any, trade: Trade, current: TradeVersion) -> dict[str, bool]:
    """What the trade page offers `user` (the services decide; this only spares dead buttons).

    A trader of the trade's desk amends and cancels an open trade; a second person (a trader
    of the desk or a risk manager, never the one who asked for the pending version nor its
    trader) approves or rejects a trade pending approval.
    """
    is_open = trade.status not in FINAL_STATUSES
    trades_here = (
        is_open
        and has_role(user, Role.TRADER)
        and desks_for_user(user).filter(pk=trade.book.desk_id).exists()
    )
    pending = trade.status == TradeStatus.PENDING_APPROVAL
    own = user.pk in (current.created_by_id, current.trader_id)
    second_person = pending and not own and has_role(user, Role.TRADER, Role.RISK_MANAGER)
    return {
        "amend": trades_here,
        "cancel": trades_here,
        "approve": second_person,
        "reject": second_person,
        "awaits_other": pending and own,
    }


def _trade_page(
    request: HttpRequest,
    trade: Trade,
    *,
    failed: TradeActionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The trade page; `failed` is an action form to show again with its errors."""
    versions = list(selectors.trade_versions(trade))
    current = next(v for v in versions if v.version == trade.current_version)
    offered = _offered_actions(request.user, trade, current)
    action_forms = {
        action: TradeActionForm(action=action, initial={"version": trade.current_version})
        for action in ("cancel", "approve", "reject")
        if offered[action]
    }
    if failed is not None:
        action_forms[failed.action] = failed
    # Valued on today's market in the book's currency; a cancelled or rejected trade has none.
    valuation = curves = None
    if current.status == TradeStatus.BOOKED:
        today = timezone.now().date()
        valuation = trade_valuation(current, today, trade.book.currency)
        curves = curve_status(today, [m for m in (current.market, current.index_market) if m])
    return render(
        request,
        "trading/trade_detail.html",
        {
            "trade": trade,
            "current": current,
            "versions": versions,
            "checks": rule_results(current.pretrade_results),
            "audit_entries": selectors.trade_audit_entries(trade),
            "offered": offered,
            "action_forms": action_forms,
            "valuation": valuation,
            "curves": curves,
            "valuation_missing": describe_missing(valuation.missing) if valuation else [],
        },
        status=status,
    )


@require_GET
@login_required
@role_required(*BLOTTER_ROLES)
def trade_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _trade_page(request, selectors.trade_get_for_user(request.user, pk))


def _refusal_message(exc: Exception) -> Any:
    """The translated reason of a service's refusal, for a form's errors."""
    if isinstance(exc, services.TradeError):
        return exc.message
    return str(exc)


@require_http_methods(["GET", "POST"])
@login_required
@role_required(Role.TRADER)
def trade_amend(request: HttpRequest, pk: int) -> HttpResponse:
    trade = selectors.trade_get_for_user(request.user, pk)
    checks: list[dict[str, Any]] = []
    status = 200
    if request.method == "POST":
        form = TradeAmendForm(request.POST, user=request.user, trade=trade)
        if form.is_valid():
            try:
                result = services.trade_amend(
                    user=request.user,
                    trade=trade,
                    version=form.cleaned_data["version"],
                    changes=form.changes(),
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            except services.TradeBlocked as exc:
                checks = rule_results(exc.report.as_list())
            except (services.StaleVersion, services.TradeStateError) as exc:
                form.add_error(None, _refusal_message(exc))
            else:
                version = result.version
                if result.status == TradeStatus.PENDING_APPROVAL:
                    messages.warning(
                        request,
                        _(
                            "Trade %(ref)s amended (version %(version)d); it is waiting for a "
                            "second person's approval."
                        )
                        % {"ref": trade.trade_ref, "version": version.version},
                    )
                else:
                    messages.success(
                        request,
                        _("Trade %(ref)s amended (version %(version)d).")
                        % {"ref": trade.trade_ref, "version": version.version},
                    )
                _warn(request, result)
                return redirect("trading:trade-detail", pk=trade.pk)
        status = 422 if checks else 400
    elif request.htmx or "deal_type" in request.GET:  # type: ignore[attr-defined]
        # The fields of another deal type, keeping what was typed (as on deal capture).
        form = TradeAmendForm(initial=request.GET.dict(), user=request.user, trade=trade)
        if request.htmx:  # type: ignore[attr-defined]
            return render(request, "trading/trade_form.html#fields", {"form": form})
    elif trade.status in FINAL_STATUSES:
        messages.error(
            request,
            _("This trade is %(status)s: it cannot change any more.")
            % {"status": TradeStatus(trade.status).label},
        )
        return redirect("trading:trade-detail", pk=trade.pk)
    else:
        initial = TradeAmendForm.initial_from(_current_version(trade))
        form = TradeAmendForm(initial=initial, user=request.user, trade=trade)
    return render(
        request,
        "trading/trade_form.html",
        {"form": form, "trade": trade, "checks": checks, "blocked": bool(checks)},
        status=status,
    )


def _act(
    request: HttpRequest,
    pk: int,
    action: str,
    call: Callable[..., services.BookingResult],
    success: Callable[[Trade], str],
) -> HttpResponse:
    """POST an action form of the trade page to the service; GET leads to the trade page."""
    trade = selectors.trade_get_for_user(request.user, pk)
    if request.method == "GET":
        return redirect("trading:trade-detail", pk=trade.pk)
    form = TradeActionForm(request.POST, action=action)
    if form.is_valid():
        try:
            call(
                user=request.user,
                trade=trade,
                version=form.cleaned_data["version"],
                reason=form.cleaned_data["reason"],
            )
        except services.TradeBlocked as exc:
            form.add_error(None, _refusal_message(exc))
            form.checks = rule_results(exc.report.as_list())
        except (services.StaleVersion, services.TradeStateError) as exc:
            form.add_error(None, _refusal_message(exc))
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        except PermissionDenied as exc:
            if not str(exc):
                raise  # not theirs to do at all: 403
            form.add_error(None, str(exc))  # four eyes: someone else must do it
        else:
            messages.success(request, success(trade))
            return redirect("trading:trade-detail", pk=trade.pk)
    # The page as it is now (another version may have been saved), with this form's errors.
    return _trade_page(request, trade, failed=form, status=422 if form.checks else 400)


@require_http_methods(["GET", "POST"])
@login_required
@role_required(Role.TRADER)
def trade_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        "cancel",
        services.trade_cancel,
        lambda trade: _("Trade %(ref)s cancelled.") % {"ref": trade.trade_ref},
    )


@require_http_methods(["GET", "POST"])
@login_required
@role_required(Role.TRADER, Role.RISK_MANAGER)
def trade_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        "approve",
        services.trade_approve,
        lambda trade: _("Trade %(ref)s approved and booked.") % {"ref": trade.trade_ref},
    )


@require_http_methods(["GET", "POST"])
@login_required
@role_required(Role.TRADER, Role.RISK_MANAGER)
def trade_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        "reject",
        services.trade_reject,
        lambda trade: _("Trade %(ref)s rejected.") % {"ref": trade.trade_ref},
    )
