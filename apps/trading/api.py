"""Read-only API of reference data and counterparties: parse, select, serialise."""

from typing import Any

from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from rest_framework import generics
from rest_framework.permissions import BasePermission

from apps.accounts.models import Role
from apps.accounts.permissions import has_role
from apps.trading import selectors
from apps.trading.models import Counterparty, KycStatus, Sector
from apps.trading.serializers import CounterpartySerializer, MarketSerializer
from qenergyz.pagination import SafeCursorPagination

# Who reads trading data through the API. Field operators and administrators do not.
TRADING_READ_ROLES = (Role.TRADER, Role.RISK_MANAGER, Role.COMPLIANCE_OFFICER)


class HasTradingRole(BasePermission):
    """The trading API's one gate: a signed-in trader, risk manager or compliance officer."""

    message = _("You need a trading, risk or compliance role to read this.")

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and has_role(user, *TRADING_READ_ROLES))


class CodeCursorPagination(SafeCursorPagination):
    # Codes are unique and, for reference data, stable: a fine cursor and a readable order.
    ordering = "short_code"


class MarketCursorPagination(SafeCursorPagination):
    ordering = "code"


class CounterpartyFilter(filters.FilterSet):
    kyc_status = filters.ChoiceFilter(choices=KycStatus.choices)
    sector = filters.ChoiceFilter(choices=Sector.choices)
    country = filters.CharFilter(method="filter_country")

    class Meta:
        model = Counterparty
        fields = ["kyc_status", "country", "sector"]

    def filter_country(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(country=value.upper())


class CounterpartyListView(generics.ListAPIView):
    """Counterparties with their KYC, credit limit and master agreements."""

    permission_classes = [HasTradingRole]
    serializer_class = CounterpartySerializer
    pagination_class = CodeCursorPagination
    filterset_class = CounterpartyFilter

    def get_queryset(self) -> Any:
        return selectors.counterparty_list()


class CounterpartyDetailView(generics.RetrieveAPIView):
    permission_classes = [HasTradingRole]
    serializer_class = CounterpartySerializer

    def get_queryset(self) -> Any:
        return selectors.counterparty_list()


class MarketListView(generics.ListAPIView):
    """Markets and hubs with their conventions (time zone, calendar, peak hours, expiry rule)."""

    permission_classes = [HasTradingRole]
    serializer_class = MarketSerializer
    pagination_class = MarketCursorPagination
    filterset_fields = ["commodity__code", "currency"]

    def get_queryset(self) -> Any:
        return selectors.market_list()


class MarketDetailView(generics.RetrieveAPIView):
    permission_classes = [HasTradingRole]
    serializer_class = MarketSerializer
    lookup_field = "code"

    def get_queryset(self) -> Any:
        return selectors.market_list()
