"""The market-data API: forward curves (list, detail with points, CSV upload) and FX rates.

Views parse, call `apps.trading.marketdata` and render; the import's validation lives there.
Reading needs a trading, risk or compliance role (HasTradingRole, the trading API's gate);
uploading a curve also needs the `trading.add_curvesnapshot` permission.
"""

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.idempotency import idempotent
from apps.trading import marketdata
from apps.trading.api import HasTradingRole
from apps.trading.models import CurvePoint, CurveSnapshot, FxRate, Market
from qenergyz.pagination import SafeCursorPagination
from qenergyz.parsers import LimitedFormParser
from qenergyz.validators import PlainCharField, PlainSlugRelatedField, SaneDateField

UPLOAD_PERMISSION = "trading.add_curvesnapshot"


class CanUploadCurves(HasTradingRole):
    """A trading, risk or compliance user who also holds the curve-upload permission."""

    message = _("You need the permission to upload forward curves.")

    def has_permission(self, request: Any, view: Any) -> bool:
        return super().has_permission(request, view) and request.user.has_perm(UPLOAD_PERMISSION)


class CsvBodyParser(BaseParser):
    """A raw `text/csv` body, handed on as bytes: the import decodes and checks it."""

    media_type = "text/csv"

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> bytes:
        # One byte past the limit is enough for the import to refuse the file as too large.
        return stream.read(marketdata.MAX_IMPORT_BYTES + 1)


# --- Serializers --------------------------------------------------------------------------------


class CurvePointSerializer(serializers.ModelSerializer):
    class Meta:
        model = CurvePoint
        fields = ["period", "kind", "start", "end", "price"]


class CurveSnapshotSerializer(serializers.ModelSerializer):
    market = serializers.SlugRelatedField(slug_field="code", read_only=True)
    currency = serializers.CharField(source="market.currency", read_only=True)
    price_unit = serializers.CharField(source="market.price_unit_label", read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = CurveSnapshot
        fields = [
            "id",
            "market",
            "pricing_date",
            "revision",
            "currency",
            "price_unit",
            "point_count",
            "source",
            "notes",
            "created_by",
            "created_at",
        ]


class CurveSnapshotDetailSerializer(CurveSnapshotSerializer):
    points = CurvePointSerializer(many=True, read_only=True)

    class Meta(CurveSnapshotSerializer.Meta):
        fields = [*CurveSnapshotSerializer.Meta.fields, "points"]


class CurveUploadSerializer(serializers.Serializer):
    market = PlainSlugRelatedField(
        slug_field="code", queryset=Market.objects.all(), label=_("market")
    )
    pricing_date = SaneDateField(label=pgettext_lazy("market data", "pricing date"))
    file = serializers.FileField(required=False, label=_("CSV file"))
    source = PlainCharField(
        required=False, allow_blank=True, max_length=200, default="", label=_("source")
    )
    notes = PlainCharField(
        required=False, allow_blank=True, max_length=2000, default="", label=_("notes")
    )


class LineErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    message = serializers.CharField()


class FxRateSerializer(serializers.ModelSerializer):
    class Meta:
        model = FxRate
        fields = ["base", "quote", "date", "rate", "source"]


# --- Views --------------------------------------------------------------------------------------


class PricingDateCursorPagination(SafeCursorPagination):
    # Newest pricing date first; the id breaks ties between markets and revisions of a date.
    ordering = ("-pricing_date", "-id")
    page_size_query_param = "page_size"
    max_page_size = 500


class DateCursorPagination(SafeCursorPagination):
    ordering = ("-date", "-id")
    page_size_query_param = "page_size"
    max_page_size = 500


class CurveFilter(filters.FilterSet):
    market = filters.CharFilter(field_name="market__code")
    pricing_date = filters.DateFilter()
    pricing_date_from = filters.DateFilter(field_name="pricing_date", lookup_expr="gte")
    pricing_date_to = filters.DateFilter(field_name="pricing_date", lookup_expr="lte")

    class Meta:
        model = CurveSnapshot
        fields = ["market", "pricing_date", "pricing_date_from", "pricing_date_to"]


class CurveListView(generics.ListAPIView):
    """Forward-curve snapshots (without their points), newest pricing date first."""

    permission_classes = [HasTradingRole]
    serializer_class = CurveSnapshotSerializer
    pagination_class = PricingDateCursorPagination
    filterset_class = CurveFilter

    def get_queryset(self) -> Any:
        return CurveSnapshot.objects.select_related(
            "market", "market__quotation_unit", "created_by"
        )


class CurveDetailView(generics.RetrieveAPIView):
    """One snapshot with all its points, in delivery order."""

    permission_classes = [HasTradingRole]
    serializer_class = CurveSnapshotDetailSerializer

    def get_queryset(self) -> Any:
        return CurveSnapshot.objects.select_related(
            "market", "market__quotation_unit", "created_by"
        ).prefetch_related("points")


class CurveUploadView(APIView):
    """Upload one market's curve for one pricing date: `period,price` CSV, all or nothing.

    Send multipart form data (`file`, `market`, `pricing_date`, optional `source`, `notes`), or
    the CSV itself as a `text/csv` body with those fields in the query string. A date that
    already has a curve gets the next revision.
    """

    permission_classes = [CanUploadCurves]
    parser_classes = [MultiPartParser, LimitedFormParser, CsvBodyParser]

    @extend_schema(
        request={"multipart/form-data": CurveUploadSerializer, "text/csv": str},
        parameters=[
            OpenApiParameter("market", str, description="With a text/csv body."),
            OpenApiParameter("pricing_date", str, description="With a text/csv body."),
        ],
        responses={
            201: CurveSnapshotSerializer,
            # The CSV's line errors, or field errors ({field: [messages]}) of the form.
            400: inline_serializer(
                "CurveUploadErrors", {"errors": LineErrorSerializer(many=True, required=False)}
            ),
        },
    )
    def post(self, request: Request) -> Response:
        # A retried upload with the same Idempotency-Key gets the first answer, not revision 2.
        return idempotent(request, "trading.curve_upload", lambda: self._upload(request))

    def _upload(self, request: Request) -> Response:
        raw_body = isinstance(request.data, bytes)
        fields = request.query_params if raw_body else request.data
        form = CurveUploadSerializer(data=fields)
        form.is_valid(raise_exception=True)
        text = request.data if raw_body else self._file_bytes(form.validated_data.get("file"))
        if text is None:
            return Response(
                {"file": [_("Send the CSV as a file or as a text/csv body.")]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        result = marketdata.curve_import_csv(
            user=request.user,
            market=form.validated_data["market"],
            pricing_date=form.validated_data["pricing_date"],
            text=text,
            source=form.validated_data["source"],
            notes=form.validated_data["notes"],
        )
        if not result.ok:
            return Response(
                {"errors": [error.as_dict() for error in result.errors]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        snapshot = CurveSnapshot.objects.select_related(
            "market", "market__quotation_unit", "created_by"
        ).get(pk=result.snapshot.pk)
        return Response(
            CurveSnapshotSerializer(snapshot).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("trading-api:curve-detail", args=[snapshot.pk])},
        )

    @staticmethod
    def _file_bytes(upload: Any) -> bytes | None:
        if upload is None:
            return None
        # From the start (the idempotency fingerprint may have read it already), and no more
        # than the limit allows: the import refuses anything longer.
        upload.seek(0)
        return upload.read(marketdata.MAX_IMPORT_BYTES + 1)


class FxRateFilter(filters.FilterSet):
    base = filters.CharFilter(method="filter_upper")
    quote = filters.CharFilter(method="filter_upper")
    date = filters.DateFilter()
    date_from = filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = filters.DateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = FxRate
        fields = ["base", "quote", "date", "date_from", "date_to"]

    def filter_upper(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(**{name: value.upper()})


class FxRateListView(generics.ListAPIView):
    """FX fixings as stored (1 base = rate quote), newest first."""

    permission_classes = [HasTradingRole]
    serializer_class = FxRateSerializer
    pagination_class = DateCursorPagination
    filterset_class = FxRateFilter

    def get_queryset(self) -> Any:
        return FxRate.objects.all()
