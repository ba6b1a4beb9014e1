"""Admin of the risk app: stress scenarios and collateral are managed here (each save audited,
old → new); runs, limits and alerts are shown read-only (runs are written by the run service,
limits change only through the maker-checker pages, alerts are acknowledged on the alerts
page)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.compliance.admin_changes import AuditedAdminMixin
from apps.risk.models import (
    Alert,
    Collateral,
    Limit,
    LimitVersion,
    RiskRun,
    StressScenario,
)


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StressScenario)
class StressScenarioAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "start_date", "end_date", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["name"]
    fields = ["name", "kind", "description", "start_date", "end_date", "shocks", "active"]


@admin.register(Collateral)
class CollateralAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["counterparty", "legal_entity", "amount", "currency", "as_of"]
    list_filter = ["legal_entity", "currency"]
    search_fields = ["counterparty__short_code", "counterparty__legal_name"]
    autocomplete_fields = ["counterparty"]
    date_hierarchy = "as_of"


@admin.register(RiskRun)
class RiskRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "desk",
        "business_date",
        "market_data_date",
        "started_by",
        "requested_at",
        "finished_at",
    ]
    list_filter = ["kind", "status", "desk"]
    list_select_related = ["desk", "started_by"]
    date_hierarchy = "business_date"
    exclude = ["parameters", "timings", "problems"]
    readonly_fields = ["parameters", "timings", "problems"]


class LimitVersionInline(ReadOnlyMixin, admin.TabularInline):
    model = LimitVersion
    extra = 0
    can_delete = False
    fields = [
        "version",
        "amount",
        "currency",
        "warning_level",
        "active",
        "effective_from",
        "status",
        "requested_by",
        "decided_by",
        "decided_at",
        "reason",
    ]
    readonly_fields = fields


@admin.register(Limit)
class LimitAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "desk", "book", "market", "period_code", "created_by"]
    list_filter = ["kind", "desk"]
    list_select_related = ["desk", "book", "market", "created_by"]
    inlines = [LimitVersionInline]


@admin.register(Alert)
class AlertAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "level",
        "desk",
        "limit",
        "utilisation",
        "created_at",
        "acknowledged_by",
        "acknowledged_at",
    ]
    list_filter = ["level", "desk"]
    list_select_related = ["desk", "limit", "acknowledged_by"]
