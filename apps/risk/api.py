"""The risk API (/api/v1/risk/...): runs (start, read, results, rerun), limits (propose a
limit or a version, approve, reject), alerts (read, acknowledge), stress scenarios (read).

Parse, call the service, serialise. Reads go through the desk-scoped selectors (another desk's
run, limit or alert is a 404, like a missing one); every POST that creates something accepts an
`Idempotency-Key`. Answers: 201 or 200; 400 with field errors (nothing written); 403 without
the role or the desk; 404 not visible.
"""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from apps.accounts.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from apps.accounts.models import Role
from apps.accounts.permissions import desks_for_user, has_role
from apps.risk import selectors, services
from apps.risk.inputs import versions_in_force
from apps.risk.models import Limit, LimitVersion, RiskRun, RunKind, StressScenario
from apps.risk.serializers import (
    AlertSerializer,
    BacktestSerializer,
    CheckSerializer,
    CreditSerializer,
    FigureSerializer,
    LimitCreateSerializer,
    LimitSerializer,
    LimitVersionCreateSerializer,
    LimitVersionSerializer,
    NoteSerializer,
    ResultsSerializer,
    RunRequestSerializer,
    RunSerializer,
    ScenarioSerializer,
    StressSerializer,
    field_errors,
)
from apps.trading.models import Book, Market, Unit
from qenergyz.pagination import SafeCursorPagination

RESULT_SECTIONS = ("figures", "stress", "credit", "backtests", "checks")
ERRORS = {
    400: OpenApiResponse(description=str(_("Field errors; nothing was written."))),
    403: OpenApiResponse(description=str(_("Not allowed to do this."))),
    404: OpenApiResponse(description=str(_("Not among your desks' risk data."))),
}


class CanReadRisk(BasePermission):
    """The risk API's gate: reads for the desks' traders and risk managers, writes for risk
    managers (the services check the desk)."""

    message = _("You need the trader or risk manager role for this.")

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and has_role(user, *selectors.VIEW_ROLES)):
            return False
        return request.method in SAFE_METHODS or has_role(user, Role.RISK_MANAGER)


def _answer(call: Callable[[], Response]) -> Response:
    try:
        return call()
    except DjangoValidationError as exc:
        return Response(field_errors(exc), status=status.HTTP_400_BAD_REQUEST)
    except DjangoPermissionDenied as exc:
        detail = str(exc) or str(_("You are not allowed to do this."))
        return Response({"detail": detail}, status=status.HTTP_403_FORBIDDEN)


class NewestFirst(SafeCursorPagination):
    ordering = "-id"  # ids only grow: a stable cursor under inserts


class ResultRows(SafeCursorPagination):
    """A run's result rows in the order they were stored; one cursor per section."""

    ordering = "id"
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 2000


# --- Runs -------------------------------------------------------------------------------------


class RunListCreateView(generics.ListAPIView):
    """Risk runs of your desks (and of every desk, for firm risk managers), newest first; POST
    starts one (risk managers)."""

    permission_classes = [CanReadRisk]
    throttle_scope = "risk_run"  # requesting runs (not listing them) has its own rate
    serializer_class = RunSerializer
    pagination_class = NewestFirst

    def get_queryset(self) -> QuerySet[RiskRun]:
        runs = selectors.runs_for_user(self.request.user)
        desk = self.request.query_params.get("desk")
        if desk:
            runs = runs.filter(desk__code=desk)
        kind = self.request.query_params.get("kind")
        if kind:
            runs = runs.filter(kind=kind)
        return runs

    @extend_schema(
        request=RunRequestSerializer,
        responses={201: RunSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request) -> Response:
        return idempotent(request, "risk.run_create", lambda: self._create(request))

    def _create(self, request: Request) -> Response:
        serializer = RunRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        desk = None
        if data.get("desk"):
            desk = desks_for_user(request.user).filter(code=data["desk"]).first()
            if desk is None:
                return Response(
                    {"desk": [str(_("No such desk among yours."))]},
                    status=status.HTTP_400_BAD_REQUEST,
                )

        def start() -> Response:
            try:
                run = services.risk_run_request(
                    user=request.user,
                    desk=desk,
                    kind=RunKind.MANUAL,
                    business_date=data.get("business_date"),
                    parameters=data.get("parameters") or {},
                )
            except DjangoValidationError as exc:
                errors = field_errors(exc)
                dated = {k: v for k, v in errors.items() if k == "business_date"}
                params = {k: v for k, v in errors.items() if k != "business_date"}
                body = {**dated, **({"parameters": params} if params else {})}
                return Response(body, status=status.HTTP_400_BAD_REQUEST)
            return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)

        return _answer(start)


class RunDetailView(generics.RetrieveAPIView):
    permission_classes = [CanReadRisk]
    serializer_class = RunSerializer

    def get_queryset(self) -> QuerySet[RiskRun]:
        return selectors.runs_for_user(self.request.user)


class RunResultsView(APIView):
    """A run's figures (VaR and ES by desk, book, market, tenor), stress, credit exposure
    (firm risk managers), backtests and limit checks — the rows of your desks."""

    permission_classes = [CanReadRisk]

    @extend_schema(
        responses={200: ResultsSerializer, 400: ERRORS[400], 404: ERRORS[404]},
        parameters=[
            OpenApiParameter(
                "section",
                str,
                enum=list(RESULT_SECTIONS),
                description="Only this section (its `next` links carry it).",
            ),
            OpenApiParameter("cursor", str, description="A section's cursor, from its links."),
            OpenApiParameter("page_size", int, description="Rows per section (up to 2000)."),
        ],
    )
    def get(self, request: Request, pk: int) -> Response:
        run = selectors.run_get_for_user(request.user, pk)
        user = request.user
        section = request.query_params.get("section")
        if section is not None and section not in RESULT_SECTIONS:
            return Response(
                {
                    "section": [
                        str(_("Choose among %(choices)s."))
                        % {"choices": ", ".join(RESULT_SECTIONS)}
                    ]
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        if section is None and request.query_params.get("cursor"):
            # One cursor belongs to one section: without it, every section would skip.
            return Response(
                {"cursor": [str(_("A cursor needs the section it belongs to."))]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        sections = {
            "figures": (
                selectors.figures_for_user(user).filter(run=run).select_related("desk"),
                FigureSerializer,
            ),
            "stress": (
                selectors.stress_for_user(user).filter(run=run).select_related("desk"),
                StressSerializer,
            ),
            "credit": (selectors.credit_for_user(user).filter(run=run), CreditSerializer),
            "backtests": (
                selectors.backtests_for_user(user).filter(run=run),
                BacktestSerializer,
            ),
            "checks": (selectors.checks_for_user(user).filter(run=run), CheckSerializer),
        }
        body = {}
        for name, (rows, serializer) in sections.items():
            if section is not None and name != section:
                continue
            pages = ResultRows()
            page = pages.paginate_queryset(rows, request, view=self)
            # The section's links ask for it alone, so following them pages this one only.
            pages.base_url = replace_query_param(pages.base_url, "section", name)
            body[name] = {
                "next": pages.get_next_link(),
                "previous": pages.get_previous_link(),
                "results": serializer(page, many=True).data,
            }
        return Response(body)


class RunRerunView(APIView):
    """Rerun a run from its snapshot (risk managers): the same numbers, no alert."""

    permission_classes = [CanReadRisk]
    throttle_scope = "risk_run"

    @extend_schema(
        request=None,
        responses={201: RunSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request, pk: int) -> Response:
        run = selectors.run_get_for_user(request.user, pk)

        def rerun() -> Response:
            new = services.risk_run_rerun(user=request.user, run=run)
            return Response(RunSerializer(new).data, status=status.HTTP_201_CREATED)

        return idempotent(request, f"risk.run_rerun.{run.pk}", lambda: _answer(rerun))


# --- Limits -----------------------------------------------------------------------------------


def _limits(user: Any) -> QuerySet[Limit]:
    versions = LimitVersion.objects.select_related("requested_by", "decided_by").order_by(
        "-version"
    )
    return selectors.limits_for_user(user).prefetch_related(Prefetch("versions", versions))


class LimitListCreateView(generics.ListAPIView):
    """Limits of your desks with their versions; POST proposes a new limit (risk managers),
    pending a second risk manager's approval."""

    permission_classes = [CanReadRisk]
    serializer_class = LimitSerializer
    pagination_class = NewestFirst

    def get_queryset(self) -> QuerySet[Limit]:
        return _limits(self.request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        limits = self.filter_queryset(self.get_queryset())
        context["in_force"] = versions_in_force(timezone.now(), limits)
        return context

    @extend_schema(
        request=LimitCreateSerializer,
        responses={201: LimitVersionSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request) -> Response:
        return idempotent(request, "risk.limit_create", lambda: self._create(request))

    def _create(self, request: Request) -> Response:
        serializer = LimitCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        desks = desks_for_user(request.user)
        errors: dict[str, list[str]] = {}
        desk = desks.filter(code=data["desk"]).first()
        if desk is None:
            errors["desk"] = [str(_("No such desk among yours."))]
        refs: dict[str, Any] = {}
        for name, model, field in (
            ("book", Book, "code"),
            ("market", Market, "code"),
            ("unit", Unit, "code"),
        ):
            refs[name] = None
            if data[name]:
                refs[name] = model.objects.filter(**{field: data[name]}).first()
                if refs[name] is None:
                    errors[name] = [str(_("Unknown code."))]
        if errors:
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)

        def propose() -> Response:
            version = services.limit_propose(
                user=request.user,
                kind=data["kind"],
                desk=desk,
                book=refs["book"],
                market=refs["market"],
                unit=refs["unit"],
                period_code=data["period_code"].strip().upper(),
                method=data["method"],
                confidence=data["confidence"],
                amount=data["amount"],
                warning_level=data["warning_level"],
                effective_from=data["effective_from"],
                reason=data["reason"],
            )
            return Response(
                {"limit": version.limit_id, **LimitVersionSerializer(version).data},
                status=status.HTTP_201_CREATED,
            )

        return _answer(propose)


class LimitDetailView(generics.RetrieveAPIView):
    permission_classes = [CanReadRisk]
    serializer_class = LimitSerializer

    def get_queryset(self) -> QuerySet[Limit]:
        return _limits(self.request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        pk = self.kwargs.get("pk")
        context["in_force"] = versions_in_force(timezone.now(), Limit.objects.filter(pk=pk))
        return context


class LimitVersionCreateView(APIView):
    """Propose a new version of a limit (a changed amount, warning level, effective time, or
    its end with active false), pending approval."""

    permission_classes = [CanReadRisk]

    @extend_schema(
        request=LimitVersionCreateSerializer,
        responses={201: LimitVersionSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request, pk: int) -> Response:
        limit = selectors.limit_get_for_user(request.user, pk)
        return idempotent(
            request, f"risk.limit_version.{limit.pk}", lambda: self._create(request, limit)
        )

    def _create(self, request: Request, limit: Limit) -> Response:
        serializer = LimitVersionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def propose() -> Response:
            version = services.limit_change_propose(
                user=request.user,
                limit=limit,
                amount=data["amount"],
                warning_level=data["warning_level"],
                effective_from=data["effective_from"],
                active=data["active"],
                reason=data["reason"],
            )
            return Response(LimitVersionSerializer(version).data, status=status.HTTP_201_CREATED)

        return _answer(propose)


class LimitVersionDecisionView(APIView):
    """Approve or reject a pending version (a risk manager other than its requester)."""

    permission_classes = [CanReadRisk]
    approve = True

    @extend_schema(request=NoteSerializer, responses={200: LimitVersionSerializer, **ERRORS})
    def post(self, request: Request, pk: int) -> Response:
        version = selectors.limit_version_get_for_user(request.user, pk)
        serializer = NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decide = services.limit_version_approve if self.approve else services.limit_version_reject

        def call() -> Response:
            decided = decide(
                user=request.user, version=version, note=serializer.validated_data["note"]
            )
            return Response(LimitVersionSerializer(decided).data)

        return _answer(call)


# --- Alerts and scenarios -----------------------------------------------------------------


class AlertListView(generics.ListAPIView):
    """Limit alerts of your desks, newest first; `?open=1` for those not acknowledged."""

    permission_classes = [CanReadRisk]
    serializer_class = AlertSerializer
    pagination_class = NewestFirst

    def get_queryset(self) -> QuerySet[Any]:
        alerts = selectors.alerts_for_user(self.request.user).select_related("limit")
        if self.request.query_params.get("open") == "1":
            alerts = alerts.filter(acknowledged_at__isnull=True)
        return alerts


class AlertAcknowledgeView(APIView):
    permission_classes = [CanReadRisk]

    @extend_schema(request=NoteSerializer, responses={200: AlertSerializer, **ERRORS})
    def post(self, request: Request, pk: int) -> Response:
        alert = selectors.alert_get_for_user(request.user, pk)
        serializer = NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def call() -> Response:
            done = services.alert_acknowledge(
                user=request.user, alert=alert, note=serializer.validated_data["note"]
            )
            return Response(AlertSerializer(done).data)

        return _answer(call)


class ScenarioListView(generics.ListAPIView):
    permission_classes = [CanReadRisk]
    serializer_class = ScenarioSerializer
    pagination_class = NewestFirst

    def get_queryset(self) -> QuerySet[StressScenario]:
        return StressScenario.objects.all()
