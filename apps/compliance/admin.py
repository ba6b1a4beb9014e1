from typing import Any

from django.apps import apps as django_apps
from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from modeltranslation.admin import TranslationAdmin

from apps.compliance import approvals, services
from apps.compliance.admin_changes import FourEyesAdminMixin
from apps.compliance.audit import audit_verify_and_record
from apps.compliance.models import AuditEntry, ChangeRequest, ChangeRequestStatus, PreTradeRule


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
class PreTradeRuleAdmin(FourEyesAdminMixin, TranslationAdmin):
    """Rules are history: a rule that has taken effect shows read-only but for its end.

    To change one, end it ("End now" or its end date) and add its successor; the model's clean()
    refuses anything else, and overlapping periods of one rule and jurisdiction. Every add,
    change, end and withdrawal waits for a second person's approval (a change request).
    """

    four_eyes_save = services.RULE_SAVE
    four_eyes_delete = services.RULE_WITHDRAW

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

    @admin.action(description=_("End the selected rules now"), permissions=["change"])
    def end_now(self, request: HttpRequest, queryset: QuerySet[PreTradeRule]) -> None:
        # Rules in force (or planned to end later) are to end; planned and ended ones are left.
        # Each end is a request that a second person approves: the rule ends at the approval.
        now = timezone.now()
        running = list(queryset.filter(effective_from__lte=now).exclude(effective_to__lte=now))
        with transaction.atomic():
            for rule in running:
                self.four_eyes_request(request, rule, services.RULE_END, values={})


@admin.register(ChangeRequest)
class ChangeRequestAdmin(admin.ModelAdmin):
    """Changes awaiting a second person: read-only, decided by the approve and reject actions
    or the decision form on a request's page (apps.compliance.approvals checks who may)."""

    change_form_template = "admin/compliance/changerequest/change_form.html"
    list_display = (
        "id",
        "kind_label",
        "object_label",
        "requested_by",
        "requested_at",
        "status",
        "decided_by",
        "decided_at",
    )
    list_display_links = ("id", "kind_label")
    list_filter = ("status", "kind")
    list_select_related = ("requested_by", "decided_by")
    search_fields = ("object_label", "=object_id", "requested_by__username")
    fields = (
        "kind_label",
        "object_label",
        "target",
        "object_id",
        "proposal",
        "requested_by",
        "requested_at",
        "status",
        "decided_by",
        "decided_at",
        "note",
    )
    readonly_fields = fields
    actions = ("approve_selected", "reject_selected")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # requests are made by the admins whose changes need four eyes

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_decide_permission(self, request: HttpRequest) -> bool:
        # Who may decide which request is the approvals service's question, per request.
        return self.has_view_permission(request)

    @admin.display(description=_("kind of change"), ordering="kind")
    def kind_label(self, obj: ChangeRequest) -> str:
        try:
            return str(approvals.change_kind(obj.kind).label)
        except ValidationError:
            return obj.kind

    @admin.display(description=_("proposed change"))
    def proposal(self, obj: ChangeRequest) -> str:
        if not obj.values:
            return str(_("(the object as it is)"))
        rows = format_html_join(
            "",
            '<tr><th scope="row">{}</th><td>{}</td><td>{}</td></tr>',
            (
                (
                    _field_label(obj.target, name),
                    _shown(obj.base.get(name)) if obj.base else "—",
                    _shown(value),
                )
                for name, value in obj.values.items()
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            _("field"),
            _("when requested"),
            _("proposed"),
            rows,
        )

    def get_urls(self) -> list[URLPattern]:
        decide = path(
            "<path:object_id>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name="compliance_changerequest_decide",
        )
        return [decide, *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        change_request = ChangeRequest.objects.filter(pk=_int_or_none(object_id)).first()
        extra_context = {
            **(extra_context or {}),
            "can_decide": change_request is not None and _may_decide(request.user, change_request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        if not self.has_view_permission(request):
            raise PermissionDenied
        pk = _int_or_none(object_id)
        if pk is None or not ChangeRequest.objects.filter(pk=pk).exists():
            raise Http404
        self._decide(request, [pk], approve="_approve" in request.POST)
        return HttpResponseRedirect(reverse("admin:compliance_changerequest_change", args=[pk]))

    def _decide(self, request: HttpRequest, pks: list[int], *, approve: bool) -> int:
        """Each request in its own transaction; refusals are reported by request."""
        note = str(request.POST.get("note", ""))[:2000]
        service = approvals.change_request_approve if approve else approvals.change_request_reject
        done = 0
        for pk in pks:
            try:
                service(actor=request.user, request_id=pk, note=note)
            except ValidationError as refused:
                self.message_user(
                    request,
                    _("Request #%(id)s: %(reason)s")
                    % {"id": pk, "reason": " ".join(refused.messages)},
                    messages.ERROR,
                )
            else:
                done += 1
        if done:
            message = (
                ngettext(
                    "%(count)d change approved and applied.",
                    "%(count)d changes approved and applied.",
                    done,
                )
                if approve
                else ngettext("%(count)d change rejected.", "%(count)d changes rejected.", done)
            )
            self.message_user(request, message % {"count": done}, messages.SUCCESS)
        return done

    @admin.action(description=_("Approve and apply the selected changes"), permissions=["decide"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[ChangeRequest]) -> None:
        self._decide(request, list(queryset.values_list("pk", flat=True)), approve=True)

    @admin.action(description=_("Reject the selected changes"), permissions=["decide"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[ChangeRequest]) -> None:
        self._decide(request, list(queryset.values_list("pk", flat=True)), approve=False)


def _int_or_none(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _field_label(target: str, name: str) -> str:
    # Through the app registry: compliance does not import the apps whose changes it holds.
    try:
        return str(django_apps.get_model(target)._meta.get_field(name).verbose_name)
    except (LookupError, ValueError, FieldDoesNotExist):
        return name


def _shown(value: Any) -> str:
    return "—" if value is None or value == "" else str(value)


def _may_decide(user: Any, change_request: ChangeRequest) -> bool:
    if change_request.status != ChangeRequestStatus.PENDING:
        return False
    if change_request.requested_by_id == user.pk:
        return False
    try:
        return user.has_perm(approvals.change_kind(change_request.kind).permission)
    except ValidationError:
        return False
