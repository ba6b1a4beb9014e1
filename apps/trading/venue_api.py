"""The venue API: parse, call the venue service, serialise.

Traders only. Submit, cancel and replace accept an `Idempotency-Key` (apps.accounts.idempotency):
a replay returns the first answer and does nothing twice. Orders are read through the venue's
desk-scoped gatekeepers: another desk's order is a 404, the same answer as a missing one.

Answers: 201 (submit) or 200 with the order and its events; 400 with field errors — nothing
written when the request is not an order at all, or the order (or the replace) recorded as
rejected by the venue, with its id in `order`; 403 without the trader role; 404 for an order
not visible or a contract that does not exist; 409 `order_not_open` for cancel or replace of an
order that no longer rests.
"""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from apps.accounts.models import Role
from apps.accounts.permissions import has_role
from apps.trading import venue
from apps.trading.models import Order, OrderEvent, OrderStatus, VenueContract
from apps.trading.venue_serializers import (
    DepthSerializer,
    OrderDetailSerializer,
    OrderEventSerializer,
    OrderInputSerializer,
    OrderReplaceInputSerializer,
    OrderResultSerializer,
    OrderSerializer,
    VenueContractSerializer,
)
from qenergyz.pagination import SafeCursorPagination

ERRORS = {
    400: OpenApiResponse(
        description=str(
            _("Field errors: nothing written, or the order recorded as rejected (its id in order).")
        )
    ),
    403: OpenApiResponse(description=str(_("Only traders use the venue."))),
    404: OpenApiResponse(description=str(_("No such order among your desks' orders."))),
    409: OpenApiResponse(description=str(_("The order no longer rests (order_not_open)."))),
}


class IsTrader(BasePermission):
    """The venue API's one gate: a signed-in trader (desks are checked per order and book)."""

    message = _("Only traders use the internal venue.")

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and has_role(user, Role.TRADER))


def _field_errors(exc: DjangoValidationError) -> dict[str, Any]:
    if hasattr(exc, "error_dict"):
        return {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def _with_events(orders: QuerySet[Order]) -> QuerySet[Order]:
    events = OrderEvent.objects.select_related("trade").order_by("id")
    return orders.prefetch_related(Prefetch("events", queryset=events))


def _result(user: Any, result: venue.VenueResult, *, created: bool) -> Response:
    if result.rejected:
        return Response(
            {**result.errors, "order": result.order.pk}, status=status.HTTP_400_BAD_REQUEST
        )
    # The order as the service left it (its references loaded); its events in one query.
    order = result.order
    order_data = OrderSerializer(order).data
    order_data["events"] = OrderEventSerializer(venue.order_events(order), many=True).data
    data = {"order": order_data, "fills": result.fills, "fills_refused": result.refused}
    return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _answer(call: Callable[[], Response]) -> Response:
    """Run a service call and turn its refusals into answers (which Idempotency-Key stores)."""
    try:
        return call()
    except DjangoValidationError as exc:
        return Response(_field_errors(exc), status=status.HTTP_400_BAD_REQUEST)
    except venue.OrderNotWorking as exc:
        return Response(
            {"detail": str(exc.message), "code": "order_not_open"},
            status=status.HTTP_409_CONFLICT,
        )
    except DjangoPermissionDenied:
        return Response(
            {"detail": str(_("You are not allowed to do this."))},
            status=status.HTTP_403_FORBIDDEN,
        )


class OrderCursorPagination(SafeCursorPagination):
    ordering = "-id"  # newest first; ids only grow, so the cursor is stable under inserts
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ContractCursorPagination(SafeCursorPagination):
    ordering = "id"


class ContractListView(generics.ListAPIView):
    """The contracts that take orders now."""

    permission_classes = [IsTrader]
    serializer_class = VenueContractSerializer
    pagination_class = ContractCursorPagination

    def get_queryset(self) -> QuerySet[VenueContract]:
        return venue.contracts_trading().select_related("market__quotation_unit")


class BookView(APIView):
    """A contract's depth ladder (best 10 levels a side) and its last trades."""

    permission_classes = [IsTrader]

    @extend_schema(responses={200: DepthSerializer, 404: ERRORS[404]})
    def get(self, request: Request, pk: int) -> Response:
        contract = venue.contract_get(pk)
        depth = venue.book_depth(contract)
        data = {**depth, "code": contract.code, "last_trades": venue.last_trades(contract)}
        return Response(DepthSerializer(data).data)


class OrderListCreateView(generics.ListAPIView):
    """Your desks' orders, newest first; POST enters an order."""

    permission_classes = [IsTrader]
    serializer_class = OrderSerializer
    pagination_class = OrderCursorPagination

    def get_queryset(self) -> QuerySet[Order]:
        orders = venue.orders_for_user(self.request.user)
        status_filter = self.request.query_params.get("status", "")
        if status_filter in OrderStatus.values:
            orders = orders.filter(status=status_filter)
        return orders

    @extend_schema(
        request=OrderInputSerializer,
        responses={201: OrderResultSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request) -> Response:
        return idempotent(request, "trading.order_submit", lambda: self._submit(request))

    def _submit(self, request: Request) -> Response:
        serializer = OrderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ticket = venue.OrderTicket(**serializer.validated_data)

        def submit() -> Response:
            result = venue.order_submit(user=request.user, ticket=ticket)
            return _result(request.user, result, created=True)

        return _answer(submit)


class OrderDetailView(generics.RetrieveAPIView):
    """An order of your desks, with its events."""

    permission_classes = [IsTrader]
    serializer_class = OrderDetailSerializer

    def get_queryset(self) -> QuerySet[Order]:
        return _with_events(venue.orders_for_user(self.request.user))


class OrderCancelView(APIView):
    """Cancel a resting order: its open quantity leaves the book."""

    permission_classes = [IsTrader]

    @extend_schema(
        request=None,
        responses={200: OrderResultSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request, pk: int) -> Response:
        order = venue.order_get_for_user(request.user, pk)

        def cancel() -> Response:
            result = venue.order_cancel(user=request.user, order=order)
            return _result(request.user, result, created=False)

        return idempotent(request, f"trading.order_cancel:{order.pk}", lambda: _answer(cancel))


class OrderReplaceView(APIView):
    """Change a resting limit order's price and/or open quantity."""

    permission_classes = [IsTrader]

    @extend_schema(
        request=OrderReplaceInputSerializer,
        responses={200: OrderResultSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request, pk: int) -> Response:
        order = venue.order_get_for_user(request.user, pk)
        return idempotent(
            request, f"trading.order_replace:{order.pk}", lambda: self._replace(request, order)
        )

    def _replace(self, request: Request, order: Order) -> Response:
        serializer = OrderReplaceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def replace() -> Response:
            result = venue.order_replace(
                user=request.user, order=order, price=data["price"], quantity=data["quantity"]
            )
            return _result(request.user, result, created=False)

        return _answer(replace)
