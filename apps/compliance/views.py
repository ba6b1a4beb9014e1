from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Role
from apps.accounts.permissions import role_required
from apps.compliance.audit import audit_verify_and_record
from apps.compliance.forms import AuditTrailFilterForm
from apps.compliance.selectors import audit_entries_page

AUDIT_ROLES = (Role.COMPLIANCE_OFFICER, Role.ADMINISTRATOR)
AUDIT_PAGE_SIZE = 50


@require_GET
@login_required
@role_required(*AUDIT_ROLES)
def audit_trail(request: HttpRequest) -> HttpResponse:
    form = AuditTrailFilterForm(request.GET)
    page = None
    if form.is_valid():
        page = audit_entries_page(
            before=form.cleaned_data["before"],
            action=form.cleaned_data["action"],
            actor=form.cleaned_data["actor"],
            size=AUDIT_PAGE_SIZE,
        )
    return render(
        request,
        "compliance/audit_trail.html",
        {
            "form": form,
            "entries": page.entries if page else [],
            "next_before": page.next_before if page else None,
        },
        status=200 if page else 400,
    )


@require_POST
@login_required
@role_required(*AUDIT_ROLES)
def audit_verify(request: HttpRequest) -> HttpResponse:
    report = audit_verify_and_record(actor=request.user)
    if report.ok:
        messages.success(request, report.describe())
    else:
        messages.error(request, report.describe())
    return redirect("compliance:audit-trail")
