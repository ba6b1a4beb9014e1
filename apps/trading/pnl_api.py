"""The valuation and P&L API: a trade's MtM, the books' P&L with its explain, hourly positions.

Parse, select, serialise: every read is scoped by the user's desks (a trade or book of another
desk is a 404, like a missing one).
"""

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.trading import selectors
from apps.trading.api import HasTradingRole
from apps.trading.models import Market
from apps.trading.pnl import GAP_TEXT, trade_valuation
from apps.trading.positions import positions_hourly
from apps.trading.serializers import (
    BookPnlSerializer,
    HourlyInputSerializer,
    HourlyPositionsSerializer,
    TradeValuationSerializer,
    ValuationDayInputSerializer,
)
from apps.trading.services import HOURLY_COMMODITIES
from apps.trading.valuation import Gap

DATE_PARAMETER = OpenApiParameter("date", str, description="YYYY-MM-DD; today by default.")


def _day(request: Request) -> Any:
    data = ValuationDayInputSerializer(data=request.query_params)
    data.is_valid(raise_exception=True)
    return data.validated_data.get("date") or timezone.now().date()


def _missing(items: Any) -> list[dict[str, str]]:
    return [
        {"kind": str(kind), "what": what, "message": str(GAP_TEXT[Gap(kind)] % {"what": what})}
        for kind, what in sorted(items)
    ]


class TradeValuationView(APIView):
    """A trade's current version valued on a day's market, in its book's currency."""

    permission_classes = [HasTradingRole]

    @extend_schema(parameters=[DATE_PARAMETER], responses=TradeValuationSerializer)
    def get(self, request: Request, pk: int) -> Response:
        day = _day(request)
        trade = selectors.trade_get_for_user(request.user, pk)
        version = selectors.trade_versions(trade).get(version=trade.current_version)
        value = trade_valuation(version, day, trade.book.currency)
        return Response(
            TradeValuationSerializer(
                {
                    "trade": trade.trade_ref,
                    "version": version.version,
                    "date": day,
                    "currency": trade.book.currency,
                    "mtm": value.total,
                    "realised": value.realised,
                    "unrealised": value.unrealised,
                    "delta": value.delta,
                    "vega": value.vega,
                    "missing": _missing(value.missing),
                }
            ).data
        )


class BookPnlView(APIView):
    """Each of your books' P&L: the day's close (or the latest before it) with its explain,
    month and year to date, and the change since the close on the day's market."""

    permission_classes = [HasTradingRole]

    @extend_schema(parameters=[DATE_PARAMETER], responses=BookPnlSerializer(many=True))
    def get(self, request: Request) -> Response:
        summaries = selectors.pnl_summaries(request.user, _day(request))
        return Response(BookPnlSerializer(summaries, many=True).data)


class HourlyPositionsView(APIView):
    """A power book's net position (MW) for every delivery hour of a month, in UTC and in the
    market's local time (23- and 25-hour days included)."""

    permission_classes = [HasTradingRole]

    @extend_schema(parameters=[HourlyInputSerializer], responses=HourlyPositionsSerializer)
    def get(self, request: Request) -> Response:
        data = HourlyInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        book = get_object_or_404(
            selectors.books_for_user(request.user), code=data.validated_data["book"]
        )
        market = (
            Market.objects.select_related("commodity")
            .filter(code=data.validated_data["market"])
            .first()
        )
        if market is None:
            raise ValidationError({"market": [_("Unknown market.")]})
        if market.commodity.code not in HOURLY_COMMODITIES:
            raise ValidationError(
                {"market": [_("Hourly positions are kept for power markets only.")]}
            )
        month = date.fromisoformat(f"{data.validated_data['month']}-01")
        hours = positions_hourly(book_ids=[book.pk], market=market, month=month)
        zone = market.time_zone
        local = ZoneInfo(zone)
        return Response(
            HourlyPositionsSerializer(
                {
                    "book": book.code,
                    "market": market.code,
                    "month": data.validated_data["month"],
                    "time_zone": zone,
                    "unit": "MW",
                    "hours": [
                        {
                            "start": start,
                            "local_start": start.astimezone(local).isoformat(),
                            "quantity": mw,
                        }
                        for start, mw in hours
                    ],
                }
            ).data
        )
