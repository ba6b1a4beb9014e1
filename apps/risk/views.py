"""The risk pages: dashboard (live), runs and run detail, limits (propose, approve, reject),
alerts (acknowledge). Views parse, call the services or selectors, and render; who sees what
is the selectors' (desk scope), who may do what the services' (risk managers)."""

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import Role
from apps.accounts.permissions import has_role, role_required
from apps.risk import selectors, services
from apps.risk.forms import (
    LimitChangeForm,
    LimitForm,
    NoteForm,
    RunForm,
    ScopeForm,
    apply_errors,
)
from apps.risk.inputs import versions_in_force
from apps.risk.messages import describe_problems, run_error_text
from apps.risk.models import (
    Alert,
    LimitVersion,
    RiskFigure,
    RunKind,
    VersionStatus,
)
from apps.risk.services import alert_live_context
from apps.trading.curve_status import curve_status

VIEW_ROLES = selectors.VIEW_ROLES
PAGE_SIZE = 25


def _is_risk_manager(request: HttpRequest) -> bool:
    return has_role(request.user, Role.RISK_MANAGER)


@require_GET
@login_required
@role_required(*VIEW_ROLES)
def dashboard(request: HttpRequest) -> HttpResponse:
    form = ScopeForm(request.GET or None, user=request.user, firm=selectors.sees_firm(request.user))
    valid, desk = form.scope()
    if not valid:
        raise Http404
    board = selectors.dashboard(request.user, desk, horizon=form.chosen_horizon())
    context = {
        # The run line states the curve date; this adds the demo label and a stale warning.
        "curves": curve_status(board.run.business_date) if board.run else None,
        "form": form,
        "board": board,
        "scope_code": desk.code if desk else "firm",
        "can_run": _is_risk_manager(request),
        "can_ack": _is_risk_manager(request),
        "run_form": RunForm(user=request.user, initial={"desk": desk.code if desk else ""}),
        "live_updates": True,
        "backtest_chart": board.backtest.series if board.backtest else None,
        # Chart numbers as JSON in data attributes (see the template): plain floats, never
        # localised text.
        "history_json": json.dumps(board.history),
        "backtest_json": json.dumps(board.backtest.series if board.backtest else {}),
        # The firm's backtests: one chart per desk, each with its own numbers.
        "firm_backtests": (
            [] if board.backtest else [(row, json.dumps(row.series)) for row in board.backtests]
        ),
    }
    if request.htmx:
        return render(request, "risk/dashboard.html#live", context)
    return render(request, "risk/dashboard.html", context)


@require_GET
@login_required
@role_required(*VIEW_ROLES)
def runs(request: HttpRequest) -> HttpResponse:
    """Recent runs, newest first, by keyset (`?before=<id>`)."""
    rows = selectors.runs_for_user(request.user).order_by("-id")
    before = request.GET.get("before", "")
    if before.isascii() and before.isdigit():
        rows = rows.filter(pk__lt=int(before))
    page = list(rows[: PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    return render(
        request,
        "risk/runs.html",
        {
            "runs": page,
            "next_before": page[-1].pk if more else None,
            "can_run": _is_risk_manager(request),
            "run_form": RunForm(user=request.user),
            "live_updates": True,
        },
    )


@require_POST
@login_required
@role_required(Role.RISK_MANAGER)
def run_start(request: HttpRequest) -> HttpResponse:
    form = RunForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            run = services.risk_run_request(
                user=request.user,
                desk=form.chosen_desk(),
                kind=RunKind.MANUAL,
                business_date=form.cleaned_data.get("business_date"),
                parameters=form.parameters(),
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, _("Risk run #%(id)s was started.") % {"id": run.pk})
            return redirect("risk:run-detail", pk=run.pk)
    rows = list(selectors.runs_for_user(request.user).order_by("-id")[:PAGE_SIZE])
    return render(
        request,
        "risk/runs.html",
        {"runs": rows, "next_before": None, "can_run": True, "run_form": form},
        status=400,
    )


@require_GET
@login_required
@role_required(*VIEW_ROLES)
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.run_get_for_user(request.user, pk)
    figures = list(
        selectors.figures_for_user(request.user)
        .filter(run=run)
        .select_related("desk")
        .order_by("desk__code", "method", "confidence", "label", "-var")
    )
    totals = [f for f in figures if f.label == "total"]
    groups: dict[tuple[str, str], list[RiskFigure]] = {}
    for figure in figures:
        if figure.label != "total":
            key = (figure.desk.code if figure.desk else "", figure.label)
            groups.setdefault(key, []).append(figure)
    context: dict[str, Any] = {
        "run": run,
        "totals": totals,
        "groups": sorted(groups.items()),
        "stress": list(
            selectors.stress_for_user(request.user)
            .filter(run=run)
            .select_related("desk")
            .order_by("desk__code", "scenario__name", "label", "group")
        ),
        "credit": list(selectors.credit_for_user(request.user).filter(run=run)),
        "backtests": list(selectors.backtests_for_user(request.user).filter(run=run)),
        "checks": list(selectors.checks_for_user(request.user).filter(run=run)),
        "problems": describe_problems(run.problems),
        "error": run_error_text(run),
        "can_rerun": _is_risk_manager(request) and run.finished,
        "live_updates": True,
    }
    if request.htmx:
        return render(request, "risk/run_detail.html#body", context)
    return render(request, "risk/run_detail.html", context)


@require_POST
@login_required
@role_required(Role.RISK_MANAGER)
def run_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.run_get_for_user(request.user, pk)
    try:
        rerun = services.risk_run_rerun(user=request.user, run=run)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("risk:run-detail", pk=run.pk)
    messages.success(request, _("Rerun #%(id)s of the snapshot was started.") % {"id": rerun.pk})
    return redirect("risk:run-detail", pk=rerun.pk)


# --- Limits -----------------------------------------------------------------------------------


def _limits_context(request: HttpRequest, form: LimitForm | None = None) -> dict[str, Any]:
    limits = list(selectors.limits_for_user(request.user).order_by("desk__code", "kind", "pk"))
    versions = list(
        LimitVersion.objects.filter(limit__in=limits)
        .select_related("requested_by", "decided_by")
        .order_by("limit_id", "-version")
    )
    in_force = versions_in_force(timezone.now(), limits)
    pending: dict[int, list[LimitVersion]] = {}
    for version in versions:
        if version.status == VersionStatus.PENDING:
            pending.setdefault(version.limit_id, []).append(version)
    rows = [(limit, in_force.get(limit.pk), pending.get(limit.pk, [])) for limit in limits]
    return {
        "rows": rows,
        "form": form or LimitForm(user=request.user),
        "can_manage": _is_risk_manager(request),
    }


@require_GET
@login_required
@role_required(*VIEW_ROLES)
def limits(request: HttpRequest) -> HttpResponse:
    return render(request, "risk/limits.html", _limits_context(request))


@require_http_methods(["GET", "POST"])
@login_required
@role_required(Role.RISK_MANAGER)
def limit_new(request: HttpRequest) -> HttpResponse:
    form = LimitForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            version = services.limit_propose(
                user=request.user,
                kind=data["kind"],
                desk=data["desk"],
                book=data["book"],
                market=data["market"],
                period_code=data["period_code"].strip().upper(),
                unit=data["unit"],
                method=data["method"],
                confidence=data["confidence"] or None,
                amount=data["amount"],
                warning_level=data["warning_level"],
                effective_from=data["effective_from"],
                reason=data["reason"],
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(
                request,
                _("Limit #%(id)s was proposed; a second risk manager must approve it.")
                % {"id": version.limit_id},
            )
            return redirect("risk:limit-detail", pk=version.limit_id)
    status = 400 if request.method == "POST" else 200
    return render(request, "risk/limit_form.html", {"form": form}, status=status)


def _limit_detail(request: HttpRequest, pk: int, form: LimitChangeForm | None, status: int = 200):
    limit = selectors.limit_get_for_user(request.user, pk)
    versions = list(
        limit.versions.select_related("requested_by", "decided_by").order_by("-version")
    )
    current = versions_in_force(timezone.now(), [limit]).get(limit.pk)
    checks = list(
        selectors.checks_for_user(request.user).filter(limit=limit).order_by("-run_id")[:20]
    )
    return render(
        request,
        "risk/limit_detail.html",
        {
            "limit": limit,
            "versions": versions,
            "current": current,
            "checks": checks,
            "form": form
            or LimitChangeForm(initial={"amount": current.amount} if current else None),
            "can_manage": _is_risk_manager(request),
            "decision_form": NoteForm(),
        },
        status=status,
    )


@require_GET
@login_required
@role_required(*VIEW_ROLES)
def limit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _limit_detail(request, pk, None)


@require_POST
@login_required
@role_required(Role.RISK_MANAGER)
def limit_change(request: HttpRequest, pk: int) -> HttpResponse:
    limit = selectors.limit_get_for_user(request.user, pk)
    form = LimitChangeForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            version = services.limit_change_propose(
                user=request.user,
                limit=limit,
                amount=data["amount"],
                warning_level=data["warning_level"],
                effective_from=data["effective_from"],
                active=not data["retire"],
                reason=data["reason"],
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(
                request,
                _("Version %(version)s was proposed; a second risk manager must approve it.")
                % {"version": version.version},
            )
            return redirect("risk:limit-detail", pk=limit.pk)
    return _limit_detail(request, pk, form, status=400)


def _decide(request: HttpRequest, pk: int, approve: bool) -> HttpResponse:
    version = selectors.limit_version_get_for_user(request.user, pk)
    form = NoteForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    decide = services.limit_version_approve if approve else services.limit_version_reject
    try:
        decide(user=request.user, version=version, note=note)
    except PermissionDenied as error:
        messages.error(request, str(error))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        text = (
            _("Version %(version)s was approved.")
            if approve
            else _("Version %(version)s was rejected.")
        )
        messages.success(request, text % {"version": version.version})
    return redirect("risk:limit-detail", pk=version.limit_id)


@require_POST
@login_required
@role_required(Role.RISK_MANAGER)
def limit_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, approve=True)


@require_POST
@login_required
@role_required(Role.RISK_MANAGER)
def limit_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, approve=False)


# --- Alerts -----------------------------------------------------------------------------------


@require_GET
@login_required
@role_required(*VIEW_ROLES)
def alerts(request: HttpRequest) -> HttpResponse:
    """The desks' alerts, newest first, by keyset (`?before=<id>`); `?open=1` for those not
    acknowledged yet."""
    rows = selectors.alerts_for_user(request.user).order_by("-id")
    if request.GET.get("open") == "1":
        rows = rows.filter(acknowledged_at__isnull=True)
    before = request.GET.get("before", "")
    if before.isascii() and before.isdigit():
        rows = rows.filter(pk__lt=int(before))
    page: list[Alert] = list(rows[: PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    query = {"before": page[-1].pk} if more else None
    if query and request.GET.get("open") == "1":
        query["open"] = 1
    return render(
        request,
        "risk/alerts.html",
        {
            "alerts": [alert_live_context(a, a.desk.code) for a in page],
            "next_query": urlencode(query) if query else "",
            "only_open": request.GET.get("open") == "1",
            "can_ack": _is_risk_manager(request),
            "live_updates": True,
        },
    )


@require_POST
@login_required
@role_required(Role.RISK_MANAGER)
def alert_ack(request: HttpRequest, pk: int) -> HttpResponse:
    alert = selectors.alert_get_for_user(request.user, pk)
    form = NoteForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        services.alert_acknowledge(user=request.user, alert=alert, note=note)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Alert #%(id)s was acknowledged.") % {"id": alert.pk})
    return redirect("risk:alerts")
