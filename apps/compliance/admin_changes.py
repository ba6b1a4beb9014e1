"""ModelAdmin mixins that route every admin write through a service and the audit trail.

`AuditedAdminMixin`: saves and deletions (inline rows too) go through
`services.record_save` / `record_delete`, which audit old → new in the save's transaction.

`FourEyesAdminMixin`: a save or deletion is not applied; it becomes a `ChangeRequest` that a
second person approves (`apps.compliance.approvals`). The admin's own log entry and success
message are left out for such a request (nothing was changed), and the user is told it awaits
approval.
"""

from typing import Any

from django.contrib import messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.compliance import approvals
from apps.compliance.models import ChangeRequest
from apps.compliance.services import record_delete, record_save

_REQUESTED = "_qz_change_request"


class AuditedAdminMixin:
    """Every save and deletion of this admin (and of its inlines) audited, through one service."""

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        record_save(actor=request.user, obj=obj)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        record_delete(actor=request.user, obj=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():  # the bulk action: all or none, each audited
            for obj in queryset:
                record_delete(actor=request.user, obj=obj)

    def save_formset(self, request: HttpRequest, form: ModelForm, formset: Any, change: bool):
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            record_delete(actor=request.user, obj=obj)
        for obj in instances:
            record_save(actor=request.user, obj=obj)
        formset.save_m2m()


def awaiting_message(change_request: ChangeRequest) -> str:
    return _(
        "The change to “%(object)s” is awaiting a second person's approval (request #%(id)s)."
    ) % {"object": change_request.object_label, "id": change_request.pk}


class FourEyesAdminMixin:
    """Saves and deletions become change requests of the kinds named here."""

    four_eyes_save: str = ""
    four_eyes_delete: str = ""

    def four_eyes_request(
        self, request: HttpRequest, obj: models.Model, kind: str, values: dict | None = None
    ) -> ChangeRequest:
        change_request = approvals.change_request_create(
            actor=request.user, kind=kind, obj=obj, values=values
        )
        setattr(request, _REQUESTED, change_request)
        self.message_user(request, awaiting_message(change_request), messages.INFO)  # type: ignore[attr-defined]
        return change_request

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        if change and not form.has_changed():
            # Nothing to approve: no request, no log entry, no "changed" message.
            setattr(request, _REQUESTED, False)
            self.message_user(request, _("Nothing was changed."), messages.INFO)  # type: ignore[attr-defined]
            return
        self.four_eyes_request(request, obj, self.four_eyes_save)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.four_eyes_request(request, obj, self.four_eyes_delete, values={})

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Deletions are requested one at a time, from the object's delete page.
        actions = super().get_actions(request)  # type: ignore[misc]
        actions.pop("delete_selected", None)
        return actions

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool):
        if getattr(request, _REQUESTED, None) is None:
            super().save_related(request, form, formsets, change)  # type: ignore[misc]

    # Nothing changed yet: no admin log entry, and no "was added/changed/deleted" message.
    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, _REQUESTED, None) is None:
            return super().log_addition(request, obj, message)  # type: ignore[misc]
        return None

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, _REQUESTED, None) is None:
            return super().log_change(request, obj, message)  # type: ignore[misc]
        return None

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        return None  # called before delete_model, and a deletion here is always a request

    def _to_changelist(self) -> HttpResponse:
        opts = self.model._meta  # type: ignore[attr-defined]
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None):
        if getattr(request, _REQUESTED, None) is not None:
            return self._to_changelist()
        return super().response_add(request, obj, post_url_continue)  # type: ignore[misc]

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        if getattr(request, _REQUESTED, None) is not None:
            return self._to_changelist()
        return super().response_change(request, obj)  # type: ignore[misc]

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any):
        return self._to_changelist()
