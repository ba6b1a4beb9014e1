from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from modeltranslation.admin import TranslationAdmin

from apps.compliance.audit import audit_append, audit_verify_and_record
from apps.compliance.models import AuditEntry, PreTradeRule


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


@admin.register(PreTradeRule)
class PreTradeRuleAdmin(TranslationAdmin):
    """Rules are history: a rule that has taken effect shows read-only but for its end.

    To change one, end it ("End now" or its end date) and add its successor; the model's clean()
    refuses anything else, and overlapping periods of one rule and jurisdiction.
    """

    list_display = (
        "code",
        "jurisdiction_label",
        "outcome",
        "params",
        "effective_from",
        "effective_to",
        "enabled",
        "in_force_now",
    )
    list_filter = ("code", "jurisdiction", "enabled", "outcome")
    ordering = ("code", "jurisdiction", "-effective_from")
    date_hierarchy = "effective_from"
    actions = ("end_now",)
    fields = (
        "code",
        "jurisdiction",
        "outcome",
        "params",
        "effective_from",
        "effective_to",
        "enabled",
        "description",
    )

    @admin.display(description=_("jurisdiction"), ordering="jurisdiction")
    def jurisdiction_label(self, obj: PreTradeRule) -> str:
        return obj.get_jurisdiction_display()

    @admin.display(description=_("in force now"), boolean=True, ordering="in_force")
    def in_force_now(self, obj: PreTradeRule) -> bool:
        return obj.in_force

    def get_queryset(self, request: HttpRequest) -> QuerySet[PreTradeRule]:
        # Computed in the query, for one "now" across the page (and sortable).
        in_force = PreTradeRule.objects.in_force(timezone.now()).filter(pk=OuterRef("pk"))
        return super().get_queryset(request).annotate(in_force=Exists(in_force))

    def get_readonly_fields(self, request: HttpRequest, obj: PreTradeRule | None = None):
        if obj is not None and obj.effective_from <= timezone.now():
            frozen = ["code", "jurisdiction", "outcome", "params", "effective_from", "enabled"]
            if obj.effective_to is not None and obj.effective_to <= timezone.now():
                frozen.append("effective_to")
            return frozen
        return []

    def has_delete_permission(self, request: HttpRequest, obj: PreTradeRule | None = None) -> bool:
        # Only a rule that has not yet taken effect may be withdrawn; the rest is the record.
        if obj is not None and obj.effective_from <= timezone.now():
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Bulk delete would take rules that have taken effect with it: withdraw one at a time.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request: HttpRequest, obj: PreTradeRule) -> None:
        payload = _rule_payload(obj)
        reference = (obj._meta.label_lower, obj.pk)
        super().delete_model(request, obj)
        audit_append(
            actor=request.user, action="pretrade_rule.withdrawn", obj=reference, payload=payload
        )

    def save_model(self, request: HttpRequest, obj: PreTradeRule, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit_append(
            actor=request.user,
            action="pretrade_rule.changed" if change else "pretrade_rule.added",
            obj=obj,
            payload=_rule_payload(obj),
        )

    @admin.action(description=_("End the selected rules now"), permissions=["change"])
    def end_now(self, request: HttpRequest, queryset: QuerySet[PreTradeRule]) -> None:
        now = timezone.now()
        ended = 0
        # Rules in force (or planned to end later) end now; planned and ended ones are left.
        running = queryset.filter(effective_from__lte=now).exclude(effective_to__lte=now)
        with transaction.atomic():  # the ends and their audit entries together, or nothing
            for rule in running.select_for_update():
                rule.effective_to = now
                rule.save(update_fields=["effective_to"])
                audit_append(
                    actor=request.user,
                    action="pretrade_rule.ended",
                    obj=rule,
                    payload=_rule_payload(rule),
                )
                ended += 1
        self.message_user(
            request,
            ngettext("%(count)d rule ended.", "%(count)d rules ended.", ended) % {"count": ended},
            messages.SUCCESS,
        )


def _rule_payload(rule: PreTradeRule) -> dict[str, Any]:
    return {
        "code": rule.code,
        "jurisdiction": rule.jurisdiction,
        "outcome": rule.outcome,
        "params": rule.params,
        "effective_from": rule.effective_from,
        "effective_to": rule.effective_to,
        "enabled": rule.enabled,
    }
