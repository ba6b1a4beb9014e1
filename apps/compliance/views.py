from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.models import Role
from apps.accounts.permissions import role_required
from apps.compliance.models import AuditEntry


@login_required
@role_required(Role.COMPLIANCE_OFFICER, Role.ADMINISTRATOR)
def audit_trail(request: HttpRequest) -> HttpResponse:
    entries = AuditEntry.objects.select_related("actor")[:50]
    return render(request, "compliance/audit_trail.html", {"entries": entries})
