"""The trade and position API: parse, call the service, serialise.

Every POST accepts an `Idempotency-Key` (apps.accounts.idempotency). Lists and lookups go
through the desk-scoped selectors: another desk's trade is a 404, like a missing one.

Answers of the write endpoints: 201 (create) or 200 with the trade; 400 with field errors
(nothing written); 403 without the right to trade or approve; 404 for a trade not visible;
409 when the version sent is not the current one (`stale_version`) or the trade's status does
not allow the operation (`invalid_state`); 422 when the pre-trade checks block (`blocked`, with
each rule's result and reason).
"""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from apps.accounts.models import Role
from apps.accounts.permissions import has_role
from apps.trading import selectors, services
from apps.trading.api import HasTradingRole
from apps.trading.models import Position, Trade, TradeStatus, TradeVersion
from apps.trading.serializers import (
    BlockedSerializer,
    BulkResultSerializer,
    PlainTermsReader,
    PositionSerializer,
    TradeActionInputSerializer,
    TradeAmendInputSerializer,
    TradeDetailSerializer,
    TradeSerializer,
    TradeTermsInputSerializer,
    rule_results,
)
from qenergyz.pagination import SafeCursorPagination

ERRORS = {
    400: OpenApiResponse(description=str(_("Field errors; nothing was written."))),
    403: OpenApiResponse(description=str(_("Not allowed to do this."))),
    404: OpenApiResponse(description=str(_("No such trade among your desks' trades."))),
    409: OpenApiResponse(description=str(_("Stale version, or a status that forbids it."))),
    422: BlockedSerializer,
}


class CanTrade(BasePermission):
    """Reads: the trading API's gate. Writes: the trader role (the desk is checked per book)."""

    message = _("Only traders book and change trades.")

    def has_permission(self, request: Any, view: Any) -> bool:
        if not HasTradingRole().has_permission(request, view):
            return False
        return request.method in SAFE_METHODS or has_role(request.user, Role.TRADER)


def _field_errors(exc: DjangoValidationError) -> dict[str, Any]:
    if hasattr(exc, "error_dict"):
        return {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def _answer(call: Callable[[], Response]) -> Response:
    """Run a service call and turn its refusals into answers (which Idempotency-Key stores)."""
    try:
        return call()
    except DjangoValidationError as exc:
        return Response(_field_errors(exc), status=status.HTTP_400_BAD_REQUEST)
    except services.StaleVersion as exc:
        return Response(
            {"detail": str(exc.message), "code": "stale_version"}, status=status.HTTP_409_CONFLICT
        )
    except services.TradeStateError as exc:
        return Response(
            {"detail": str(exc.message), "code": "invalid_state"}, status=status.HTTP_409_CONFLICT
        )
    except services.TradeBlocked as exc:
        return Response(_blocked(exc.report), status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    except DjangoPermissionDenied as exc:
        detail = str(exc) or str(_("You are not allowed to do this."))
        return Response({"detail": detail}, status=status.HTTP_403_FORBIDDEN)


def _blocked(report: Any) -> dict[str, Any]:
    return {
        "detail": str(_("The pre-trade checks blocked this trade.")),
        "code": "blocked",
        "checks": rule_results(report.as_list()),
    }


_TERM_NAMES = services.TradeTerms.field_names()


def _terms(data: dict[str, Any]) -> services.TradeTerms:
    return services.TradeTerms(**{k: v for k, v in data.items() if k in _TERM_NAMES})


def _with_versions(trades: QuerySet[Trade], *, current_only: bool = False) -> QuerySet[Trade]:
    """What the trade serializers read, in a fixed number of queries whatever the page size.

    The versions' references (a few distinct markets, counterparties, units, users) come by
    prefetch, one query each, not by joins: with a join per reference, planning the queries
    and building a model per reference per row cost more than the rows (bench/booking.py).
    """
    versions = TradeVersion.objects.prefetch_related(
        "counterparty", "market", "index_market", "unit", "created_by", "trader"
    ).order_by("version")
    if current_only:  # a list shows each trade's terms, not its history
        versions = versions.filter(trade__current_version=F("version"))
    return (
        trades.select_related(None)
        .select_related("book", "desk", "created_by")
        .prefetch_related(Prefetch("versions", queryset=versions))
    )


class TradeCursorPagination(SafeCursorPagination):
    ordering = "-id"  # newest first; ids only grow, so the cursor is stable under inserts


class TradeFilter(filters.FilterSet):
    # By code, through the selectors' one way of filtering a trade list by a code.
    desk = filters.CharFilter(method=selectors.trades_with_code)
    book = filters.CharFilter(method=selectors.trades_with_code)
    counterparty = filters.CharFilter(method=selectors.trades_with_code)
    market = filters.CharFilter(method=selectors.trades_with_code)
    status = filters.ChoiceFilter(choices=TradeStatus.choices)
    trade_date_from = filters.DateFilter(field_name="trade_date", lookup_expr="gte")
    trade_date_to = filters.DateFilter(field_name="trade_date", lookup_expr="lte")

    class Meta:
        model = Trade
        fields = [
            "desk",
            "book",
            "counterparty",
            "market",
            "status",
            "trade_date_from",
            "trade_date_to",
        ]


class TradeListCreateView(generics.ListAPIView):
    """Trades of your desks' books, newest first; POST books one trade."""

    permission_classes = [CanTrade]
    serializer_class = TradeSerializer
    pagination_class = TradeCursorPagination
    filterset_class = TradeFilter

    def get_queryset(self) -> QuerySet[Trade]:
        return _with_versions(selectors.trades_for_user(self.request.user), current_only=True)

    @extend_schema(
        request=TradeTermsInputSerializer,
        responses={201: TradeDetailSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request) -> Response:
        return idempotent(request, "trading.trade_create", lambda: self._create(request))

    def _create(self, request: Request) -> Response:
        serializer = TradeTermsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def book() -> Response:
            result = services.trade_book(user=request.user, terms=_terms(serializer.validated_data))
            data = TradeDetailSerializer(_reloaded(result.trade.pk)).data
            return Response(data, status=status.HTTP_201_CREATED)

        return _answer(book)


def _reloaded(trade_id: int) -> Trade:
    return _with_versions(Trade.objects.all()).get(pk=trade_id)


class TradeBulkCreateView(APIView):
    """Book up to 1,000 trades: a JSON list of trades; a result per item, by index."""

    permission_classes = [CanTrade]
    throttle_scope = "bulk"  # a tighter rate than single requests (qenergyz.throttles)

    @extend_schema(
        request=TradeTermsInputSerializer(many=True),
        responses={200: BulkResultSerializer, 400: ERRORS[400], 403: ERRORS[403]},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request) -> Response:
        return idempotent(request, "trading.trade_bulk_create", lambda: self._create(request))

    def _create(self, request: Request) -> Response:
        items = request.data
        if not isinstance(items, list):
            return Response(
                {"non_field_errors": [str(_("Send a JSON list of trades."))]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if not items or len(items) > services.MAX_BULK:
            return Response(
                {
                    "non_field_errors": [
                        str(
                            _("Send from 1 to %(max)d trades per request (this one has %(n)d).")
                            % {"max": services.MAX_BULK, "n": len(items)}
                        )
                    ]
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        results: dict[int, dict[str, Any]] = {}
        valid: list[tuple[int, services.TradeTerms]] = []
        # One serializer validates every item: its fields are built once, not 1,000 times; the
        # plain reader takes the usual well-formed item, the serializer the others.
        serializer = TradeTermsInputSerializer()
        plain = PlainTermsReader(serializer)
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                errors = {"non_field_errors": [str(_("Each trade is a JSON object."))]}
                results[index] = _item(index, "invalid", errors=errors)
                continue
            try:
                data = plain.read(item) or serializer.run_validation(item)
            except DRFValidationError as exc:
                results[index] = _item(index, "invalid", errors=exc.detail)
            else:
                valid.append((index, _terms(data)))
        booked = services.trade_book_many(user=request.user, terms_list=[t for _i, t in valid])
        for (index, _unused), result in zip(valid, booked, strict=True):
            trade = None
            if result.trade is not None and result.version is not None:
                trade = _summary(result.trade, result.version)
            checks = (
                result.report.as_list()
                if result.report
                else (result.version.pretrade_results if result.version else [])
            )
            results[index] = _item(
                index,
                str(result.status),
                trade=trade,
                errors=result.errors,
                checks=rule_results(checks),
            )
        ordered = [results[i] for i in range(len(items))]
        counts = dict.fromkeys(("booked", "pending_approval", "blocked", "invalid"), 0)
        for item in ordered:
            counts[item["status"]] += 1
        return Response({"counts": counts, "results": ordered})


def _summary(trade: Trade, version: TradeVersion) -> dict[str, Any]:
    """What a bulk client needs of each trade booked (it has the terms it sent); the full
    trade is one GET away. Plain data: a serialiser per item would cost more than the booking."""
    return {
        "id": trade.pk,
        "trade_ref": trade.trade_ref,
        "status": version.status,
        "current_version": version.version,
        "total_quantity": f"{version.total_quantity:.6f}",
        "unit": version.unit.code,
        "notional": None if version.notional is None else f"{version.notional:.2f}",
        "currency": version.currency,
    }


def _item(
    index: int,
    item_status: str,
    *,
    trade: Any = None,
    errors: Any = None,
    checks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "index": index,
        "status": item_status,
        "trade": trade,
        "errors": errors or {},
        "checks": checks or [],
    }


class TradeDetailView(generics.RetrieveAPIView):
    """A trade with every version."""

    permission_classes = [HasTradingRole]
    serializer_class = TradeDetailSerializer

    def get_queryset(self) -> QuerySet[Trade]:
        return _with_versions(selectors.trades_for_user(self.request.user))


class _TradeAction(APIView):
    permission_classes = [HasTradingRole]
    scope = ""
    input_serializer: type = TradeActionInputSerializer

    def post(self, request: Request, pk: int) -> Response:
        trade = selectors.trade_get_for_user(request.user, pk)
        return idempotent(request, f"{self.scope}:{trade.pk}", lambda: self._run(request, trade))

    def _run(self, request: Request, trade: Trade) -> Response:
        serializer = self.input_serializer(data=request.data, partial=self.partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)

        def act() -> Response:
            result = self.act(request.user, trade, data)
            return Response(TradeDetailSerializer(_reloaded(result.trade.pk)).data)

        return _answer(act)

    partial = False

    def act(self, user: Any, trade: Trade, data: dict[str, Any]) -> services.BookingResult:
        raise NotImplementedError


_ACTION_SCHEMA = {
    "responses": {200: TradeDetailSerializer, **ERRORS},
    "parameters": [IDEMPOTENCY_PARAMETER],
}


class TradeAmendView(_TradeAction):
    """Amend: send the version you amend and the terms that change; a new version is written."""

    scope = "trading.trade_amend"
    input_serializer = TradeAmendInputSerializer
    partial = True

    @extend_schema(request=TradeAmendInputSerializer, **_ACTION_SCHEMA)
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def _run(self, request: Request, trade: Trade) -> Response:
        if not isinstance(request.data, dict) or "version" not in request.data:
            return Response(
                {"version": [str(_("Send the version you amend."))]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return super()._run(request, trade)

    def act(self, user: Any, trade: Trade, data: dict[str, Any]) -> services.BookingResult:
        version, reason = data.pop("version"), data.pop("reason", "")
        changes = {k: v for k, v in data.items() if k in request_fields(self.request)}
        return services.trade_amend(
            user=user, trade=trade, version=version, changes=changes, reason=reason
        )


def request_fields(request: Request) -> set[str]:
    """The terms the client actually sent (a partial serializer fills no defaults, but be
    explicit: an amendment changes only what it names)."""
    return set(request.data) if isinstance(request.data, dict) else set()


class TradeCancelView(_TradeAction):
    """Cancel: a new version with status cancelled; the trade leaves the positions."""

    scope = "trading.trade_cancel"

    @extend_schema(request=TradeActionInputSerializer, **_ACTION_SCHEMA)
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def act(self, user: Any, trade: Trade, data: dict[str, Any]) -> services.BookingResult:
        return services.trade_cancel(
            user=user, trade=trade, version=data["version"], reason=data["reason"]
        )


class TradeApproveView(_TradeAction):
    """Approve a trade pending approval (four eyes: never your own)."""

    scope = "trading.trade_approve"

    @extend_schema(request=TradeActionInputSerializer, **_ACTION_SCHEMA)
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def act(self, user: Any, trade: Trade, data: dict[str, Any]) -> services.BookingResult:
        return services.trade_approve(
            user=user, trade=trade, version=data["version"], reason=data["reason"]
        )


class TradeRejectView(_TradeAction):
    """Reject a trade pending approval (four eyes: never your own)."""

    scope = "trading.trade_reject"

    @extend_schema(request=TradeActionInputSerializer, **_ACTION_SCHEMA)
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def act(self, user: Any, trade: Trade, data: dict[str, Any]) -> services.BookingResult:
        return services.trade_reject(
            user=user, trade=trade, version=data["version"], reason=data["reason"]
        )


class PositionCursorPagination(SafeCursorPagination):
    ordering = "id"


class PositionFilter(filters.FilterSet):
    desk = filters.CharFilter(field_name="book__desk__code")
    book = filters.CharFilter(field_name="book__code")
    market = filters.CharFilter(field_name="market__code")
    month = filters.DateFilter(
        field_name="month", input_formats=["%Y-%m"], help_text=_("A delivery month: 2026-03.")
    )

    class Meta:
        model = Position
        fields = ["desk", "book", "market", "month"]


class PositionListView(generics.ListAPIView):
    """Net positions of your desks' books per market, delivery month and unit (and in MWh)."""

    permission_classes = [HasTradingRole]
    serializer_class = PositionSerializer
    pagination_class = PositionCursorPagination
    filterset_class = PositionFilter

    def get_queryset(self) -> QuerySet[Position]:
        return selectors.positions_for_user(self.request.user)
