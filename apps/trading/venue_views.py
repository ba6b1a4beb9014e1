"""The internal venue's pages: the contracts, a contract's book (depth ladder, last trades and an
order ticket), the order ticket on its own, my orders (live status) and an order's page with its
events, cancel and replace.

Traders only. Views parse, call the venue's selectors or services, and render. Orders are read
through the desk-scoped gatekeepers (another desk's order is a 404, like a missing one); the
anonymous depth and last trades of every contract are open to every trader. Live updates arrive
over the page's socket (live/venue_*.html): the ladder and the tape for every trader, order rows
for the order's desk, fill notices for the order's trader.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.models import Role
from apps.accounts.permissions import role_required
from apps.trading import venue as service
from apps.trading.models import Order, OrderStatus
from apps.trading.serializers import rule_results
from apps.trading.venue_forms import OrderReplaceForm, OrderTicketForm

ORDERS_PAGE_SIZE = 50


def _ticket_form(request: HttpRequest, data: Any = None, **initial: Any) -> OrderTicketForm:
    return OrderTicketForm(
        data, user=request.user, contracts=list(service.contracts_trading()), initial=initial
    )


@require_GET
@login_required
@role_required(Role.TRADER)
def venue(request: HttpRequest) -> HttpResponse:
    contracts = list(service.contracts_trading())
    prices = service.best_prices(contracts)
    rows = [{"contract": c, **prices[c.pk]} for c in contracts]
    return render(request, "trading/venue/index.html", {"rows": rows})


@require_GET
@login_required
@role_required(Role.TRADER)
def contract_book(request: HttpRequest, pk: int) -> HttpResponse:
    contract = service.contract_get(pk)
    depth = service.book_depth(contract)
    initial = {k: request.GET[k] for k in ("side", "price") if k in request.GET}
    return render(
        request,
        "trading/venue/contract.html",
        {
            "contract": contract,
            "depth": depth,
            "trades": service.last_trades(contract),
            "form": _ticket_form(request, contract=str(contract.pk), **initial),
            "trading": service.contracts_trading().filter(pk=contract.pk).exists(),
            # The grid as text (10000, never 1E+4).
            "tick": service.plain(contract.tick_size, contract.tick_size),
            "lot": service.plain(contract.lot_size, contract.lot_size),
        },
    )


def _submitted_message(result: service.VenueResult) -> str:
    order = result.order
    values = {
        "order": order.pk,
        "filled": service.plain(order.filled_quantity, order.contract.lot_size),
        "open": service.plain(order.open_quantity, order.contract.lot_size),
    }
    if order.status == OrderStatus.FILLED:
        return _("Order #%(order)s filled: %(filled)s.") % values
    if order.status == OrderStatus.PARTIALLY_FILLED:
        return _("Order #%(order)s partly filled: %(filled)s; %(open)s rests in the book.") % values
    if order.status == OrderStatus.OPEN:
        return _("Order #%(order)s rests in the book: %(open)s.") % values
    return (
        _("Order #%(order)s done: %(filled)s filled, the rest cancelled (see its page).") % values
    )


@require_http_methods(["GET", "POST"])
@login_required
@role_required(Role.TRADER)
def order_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        initial = {k: request.GET[k] for k in ("contract", "side", "price") if k in request.GET}
        form = _ticket_form(request, **initial)
        return render(request, "trading/venue/order_form.html", {"form": form})
    form = _ticket_form(request, request.POST)
    if form.is_valid():
        try:
            result = service.order_submit(user=request.user, ticket=form.ticket)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            if not result.rejected:
                if result.refused:
                    messages.error(
                        request,
                        _(
                            "A fill of order #%(order)s was refused by booking and voided: see "
                            "the order's page."
                        )
                        % {"order": result.order.pk},
                    )
                messages.success(request, _submitted_message(result))
                return redirect("trading:venue-contract", pk=result.order.contract_id)
            form.add_service_errors(result.errors)
            form.add_error(
                None,
                _("The venue rejected order #%(order)s; it is recorded as rejected.")
                % {"order": result.order.pk},
            )
    return render(request, "trading/venue/order_form.html", {"form": form}, status=400)


@require_GET
@login_required
@role_required(Role.TRADER)
def my_orders(request: HttpRequest) -> HttpResponse:
    """Your desks' orders, newest first, a page at a time (keyset on the id)."""
    orders = service.orders_for_user(request.user)
    before = request.GET.get("before", "")
    if before.isascii() and before.isdigit():  # str.isdigit() is true of "²" too
        orders = orders.filter(pk__lt=int(before))
    page = list(orders.order_by("-id")[: ORDERS_PAGE_SIZE + 1])
    more = len(page) > ORDERS_PAGE_SIZE
    page = page[:ORDERS_PAGE_SIZE]
    return render(
        request,
        "trading/venue/orders.html",
        {
            "rows": [service.order_row(order) for order in page],
            "next_before": page[-1].pk if more else None,
            "older_page": bool(before),
        },
    )


def _order_page(
    request: HttpRequest,
    order: Order,
    *,
    replace_form: OrderReplaceForm | None = None,
    status: int = 200,
) -> HttpResponse:
    events = list(service.order_events(order))
    contract = order.contract
    if replace_form is None:
        replace_form = OrderReplaceForm(
            initial={
                "price": service.plain(order.price, contract.tick_size),
                "quantity": service.plain(order.open_quantity, contract.lot_size),
            }
        )
    return render(
        request,
        "trading/venue/order_detail.html",
        {
            "order": order,
            "row": service.order_row(order),
            "events": [_event_row(e, order) for e in events],
            "replace_form": replace_form,
            "can_replace": order.is_working and order.price is not None,
        },
        status=status,
    )


def _event_row(event: Any, order: Order) -> dict[str, Any]:
    contract = order.contract
    checks = []
    for why in ((event.detail or {}).get("reasons") or {}).values():
        checks.extend(c for c in why.get("checks", []) if c.get("outcome") == "block")
    return {
        "kind": event.kind,
        "time": event.created_at,
        "price": service.plain(event.price, contract.tick_size),
        "quantity": service.plain(event.quantity, contract.lot_size),
        "reason": event.reason,
        "aggressor": event.aggressor,
        "trade": event.trade,
        "own_side_refused": event.reason == service.BOOKING_REFUSED,
        "checks": rule_results(checks),
    }


@require_GET
@login_required
@role_required(Role.TRADER)
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _order_page(request, service.order_get_for_user(request.user, pk))


@require_http_methods(["GET", "POST"])
@login_required
@role_required(Role.TRADER)
def order_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """POST cancels (from the order's page, or a row of my orders with htmx: 204, the row then
    changes live); GET leads to the order's page."""
    order = service.order_get_for_user(request.user, pk)
    if request.method == "GET":
        return redirect("trading:venue-order-detail", pk=order.pk)
    try:
        service.order_cancel(user=request.user, order=order)
    except service.OrderNotWorking as exc:
        if request.htmx:  # type: ignore[attr-defined]
            return HttpResponse(str(exc.message), status=409)
        messages.error(request, exc.message)
    else:
        if request.htmx:  # type: ignore[attr-defined]
            return HttpResponse(status=204)
        messages.success(request, _("Order #%(order)s cancelled.") % {"order": order.pk})
    return redirect("trading:venue-order-detail", pk=order.pk)


@require_http_methods(["GET", "POST"])
@login_required
@role_required(Role.TRADER)
def order_replace(request: HttpRequest, pk: int) -> HttpResponse:
    order = service.order_get_for_user(request.user, pk)
    if request.method == "GET":
        return redirect("trading:venue-order-detail", pk=order.pk)
    form = OrderReplaceForm(request.POST)
    if form.is_valid():
        try:
            result = service.order_replace(user=request.user, order=order, **form.changes)
        except ValidationError as exc:
            form.add_service_errors(exc)
        except service.OrderNotWorking as exc:
            form.add_error(None, exc.message)
        else:
            if not result.rejected:
                messages.success(request, _("Order #%(order)s changed.") % {"order": order.pk})
                return redirect("trading:venue-order-detail", pk=order.pk)
            form.add_service_errors(result.errors)
        order = service.order_get_for_user(request.user, pk)  # as it is now
    return _order_page(request, order, replace_form=form, status=400)
