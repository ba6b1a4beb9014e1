"""Admin of trades (read-only, with their versions), positions (read-only), and the editable
trading settings: desk policies (four eyes: a change of a desk's threshold is itself approved by
a second person) and default option volatilities (audited)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.compliance.admin_changes import AuditedAdminMixin, FourEyesAdminMixin
from apps.trading import approvals
from apps.trading.models import (
    BookPnl,
    DeskTradingPolicy,
    MarketVolatility,
    Position,
    Trade,
    TradeVersion,
)


class ReadOnlyMixin:
    """Trades are written only by the trading services, positions only by their updates."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TradeVersionInline(ReadOnlyMixin, admin.TabularInline):
    model = TradeVersion
    extra = 0
    can_delete = False
    ordering = ["version"]
    fields = [
        "version",
        "status",
        "created_by",
        "created_at",
        "deal_type",
        "side",
        "counterparty",
        "market",
        "period_code",
        "delivery_start",
        "delivery_end",
        "profile",
        "quantity",
        "total_quantity",
        "unit",
        "price",
        "currency",
        "notional",
        "reason",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .select_related("created_by", "counterparty", "market", "unit")
        )


@admin.register(Trade)
class TradeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "trade_ref",
        "book",
        "status",
        "current_version",
        "market",
        "counterparty",
        "trade_date",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "book__desk", "book", "market"]
    list_select_related = ["book", "market", "counterparty", "created_by"]
    search_fields = ["trade_ref", "counterparty__short_code"]
    date_hierarchy = "trade_date"
    inlines = [TradeVersionInline]


@admin.register(Position)
class PositionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["book", "market", "month", "quantity", "unit", "quantity_mwh", "updated_at"]
    list_filter = ["book__desk", "book", "market"]
    list_select_related = ["book", "market", "unit"]


@admin.register(DeskTradingPolicy)
class DeskTradingPolicyAdmin(FourEyesAdminMixin, admin.ModelAdmin):
    list_display = ["desk", "approval_threshold", "currency"]
    list_select_related = ["desk"]
    four_eyes_save = approvals.POLICY_SAVE
    four_eyes_delete = approvals.POLICY_DELETE


@admin.register(MarketVolatility)
class MarketVolatilityAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["market", "volatility"]
    list_select_related = ["market"]


@admin.register(BookPnl)
class BookPnlAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Daily closes, for reading: they are written only by the P&L close (apps.trading.pnl)."""

    list_display = [
        "book",
        "date",
        "daily",
        "daily_realised",
        "realised",
        "unrealised",
        "unexplained",
        "currency",
        "computed_at",
    ]
    list_filter = ["book__desk", "book"]
    list_select_related = ["book"]
    date_hierarchy = "date"
