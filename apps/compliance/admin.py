from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from apps.compliance.audit import audit_verify_and_record
from apps.compliance.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: entries are written by `audit_append` alone, and never changed or deleted."""

    change_list_template = "admin/compliance/auditentry/change_list.html"
    list_display = (
        "seq",
        "created_at",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "request_id",
    )
    list_display_links = ("seq",)
    list_filter = ("action", "object_type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=seq", "action", "actor_label", "object_id", "=request_id")
    list_select_related = ("actor",)
    ordering = ("-seq",)
    # A long chain: no second COUNT(*) for "n of N", and pages stay one keyed query each.
    show_full_result_count = False
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        verify = path(
            "verify/",
            self.admin_site.admin_view(self.verify_view),
            name="compliance_auditentry_verify",
        )
        return [verify, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {
            **(extra_context or {}),
            "can_verify_audit": request.user.has_perm("compliance.verify_audit"),
        }
        return super().changelist_view(request, extra_context)

    @staticmethod
    @require_POST
    def verify_view(request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("compliance.verify_audit"):
            raise PermissionDenied
        report = audit_verify_and_record(actor=request.user)
        messages.add_message(
            request, messages.SUCCESS if report.ok else messages.ERROR, report.describe()
        )
        return HttpResponseRedirect(reverse("admin:compliance_auditentry_changelist"))
