"""The risk pages through their doors: what each role sees, the desk scope (another desk's
runs, figures and alerts are not there, or 404), forms and their errors, bounded queries."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.models import Role
from apps.risk.models import Alert, LimitKind, LimitVersion, RiskRun, RunKind, VersionStatus
from apps.risk.services import limit_propose, limit_version_approve, risk_run_request
from tests.factories import UserFactory
from tests.risk.test_support import (
    book,
    business_days,
    curve_history,
    fx_and_rates,
    gas_book,
    seeded,  # noqa: F401 - a fixture
)

pytestmark = pytest.mark.usefixtures("seeded")

QUICK = {"window": 5, "confidences": [0.95, 0.99], "covariance": "sample", "paths": 500}
M2 = ["100", "102", "99", "101", "98", "100"]


@pytest.fixture
def market(seeded):  # noqa: F811 - the fixture above
    days = business_days(6)
    curve_history("eex-de-power", days, lambda i, k: Decimal(M2[i]) + (k - 2))
    curve_history("henry-hub", days, lambda i, k: Decimal("3.5") + Decimal(i % 3) / 10 + k)
    fx_and_rates(days)
    return days


@pytest.fixture
def checker(desk_a, desk_b):
    return UserFactory(username="risk2", roles=[Role.RISK_MANAGER], desks=[desk_a, desk_b])


@pytest.fixture
def both_desks(market, trader, other_desk_trader):
    book(trader)
    gas_book(other_desk_trader)


def _run(capture, user=None, desk=None, kind=RunKind.MANUAL, **parameters) -> RiskRun:
    with capture(execute=True):
        run = risk_run_request(user=user, desk=desk, kind=kind, parameters={**QUICK, **parameters})
    run.refresh_from_db()
    return run


def _limits(maker, checker, desk, count: int) -> None:
    for n in range(count):
        version = limit_propose(
            user=maker,
            kind=LimitKind.VAR,
            desk=desk,
            method="historical",
            confidence="0.95",
            amount=str(100 + n),
        )
        limit_version_approve(user=checker, version=version)


def test_dashboard_shows_own_desk_only(
    client, trader, risk_manager, desk_b, both_desks, django_capture_on_commit_callbacks
):
    run = _run(django_capture_on_commit_callbacks, user=risk_manager)
    client.force_login(trader)
    response = client.get(reverse("risk:dashboard"))
    assert response.status_code == 200
    text = response.text
    assert f"run <bdi>#{run.pk}</bdi>" in text
    assert "<bdi>PEU-FLOW</bdi>" in text  # a contributor
    assert "GUS-FLOW" not in text
    assert "henry-hub" not in text
    assert 'data-chart="history" data-series="{&quot;labels&quot;: [&quot;' in text
    assert "<script>" not in text
    assert "style=" not in text
    assert 'hx-trigger="htmx:wsAfterMessage from:body delay:500ms"' in text
    assert "Run now" not in text  # traders read
    assert client.get(reverse("risk:dashboard"), {"desk": desk_b.code}).status_code == 404
    assert client.get(reverse("risk:dashboard"), {"desk": "firm"}).status_code == 404
    # The live region alone, for htmx.
    partial = client.get(reverse("risk:dashboard"), headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in partial.text


def test_firm_dashboard_for_risk_managers(
    client, risk_manager, both_desks, django_capture_on_commit_callbacks
):
    _run(django_capture_on_commit_callbacks, user=risk_manager)
    client.force_login(risk_manager)
    text = client.get(reverse("risk:dashboard")).text
    assert '<option value="firm" selected>' in text
    assert "<bdi>power-eu</bdi>" in text
    assert "<bdi>gas-us</bdi>" in text
    assert "Credit exposure by counterparty" in text
    assert "<bdi>NORDWIND</bdi>" in text
    assert "<bdi>PRAIRIE</bdi>" in text
    assert "Run now" in text


def test_other_desk_gets_404_for_runs_and_sees_no_figures(
    client, trader, other_desk_trader, risk_manager, desk_a, both_desks,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    desk_run = _run(django_capture_on_commit_callbacks, desk=desk_a, kind=RunKind.INCREMENTAL)
    firm_run = _run(django_capture_on_commit_callbacks, user=risk_manager)
    client.force_login(other_desk_trader)
    assert client.get(reverse("risk:run-detail", kwargs={"pk": desk_run.pk})).status_code == 404
    assert client.get(reverse("risk:run-detail", kwargs={"pk": firm_run.pk})).status_code == 404
    runs = client.get(reverse("risk:runs")).text
    assert f"#{desk_run.pk}</bdi>" not in runs
    assert f"#{firm_run.pk}</bdi>" not in runs
    text = client.get(reverse("risk:dashboard")).text
    assert "PEU-FLOW" not in text
    assert "eex-de-power" not in text
    client.force_login(trader)
    detail = client.get(reverse("risk:run-detail", kwargs={"pk": desk_run.pk}))
    assert detail.status_code == 200
    assert "<bdi>PEU-FLOW</bdi>" in detail.text


def test_run_start_form_errors_and_start(
    client, risk_manager, both_desks, django_capture_on_commit_callbacks
):
    client.force_login(risk_manager)
    form = {
        "desk": "power-eu",
        "methods": ["historical", "parametric"],
        "confidences": "0.95, 1.5",
        "window": "5",
        "horizon_days": "1",
        "paths": "500",
        "seed": "1",
    }
    response = client.post(reverse("risk:run-start"), form)
    assert response.status_code == 400
    assert "Must lie strictly between 0 and 1" in response.text
    assert not RiskRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("risk:run-start"), {**form, "confidences": "0.95"})
    run = RiskRun.objects.get()
    assert response.headers["Location"] == reverse("risk:run-detail", kwargs={"pk": run.pk})
    detail = client.get(response.headers["Location"]).text
    assert "succeeded" in detail
    assert "Rerun from the snapshot" in detail


def test_traders_cannot_start_runs_or_manage_limits(client, trader, desk_a):
    client.force_login(trader)
    assert client.post(reverse("risk:run-start"), {"desk": "power-eu"}).status_code == 403
    assert client.post(reverse("risk:limit-new"), {}).status_code == 403
    assert client.get(reverse("risk:limits")).status_code == 200


def test_limit_pages_maker_checker(client, risk_manager, checker, desk_a):
    client.force_login(risk_manager)
    response = client.post(
        reverse("risk:limit-new"),
        {
            "kind": "var",
            "desk": desk_a.pk,
            "method": "historical",
            "confidence": "2",
            "amount": "x",
        },
    )
    assert response.status_code == 400
    assert "strictly between 0 and 1" in response.text
    assert "Enter a number." in response.text
    response = client.post(
        reverse("risk:limit-new"),
        {
            "kind": "var",
            "desk": desk_a.pk,
            "method": "historical",
            "confidence": "0.99",
            "amount": "250000",
            "warning_level": "0.8",
            "reason": "desk mandate",
        },
    )
    version = LimitVersion.objects.get()
    assert response.headers["Location"] == reverse(
        "risk:limit-detail", kwargs={"pk": version.limit_id}
    )
    page = client.get(response.headers["Location"]).text
    assert "Awaits a second risk manager." in page  # no approve button for the requester
    approve = reverse("risk:limit-approve", kwargs={"pk": version.pk})
    client.post(approve)
    version.refresh_from_db()
    assert version.status == VersionStatus.PENDING
    client.force_login(checker)
    assert (
        "Approve" in client.get(reverse("risk:limit-detail", kwargs={"pk": version.limit_id})).text
    )
    client.post(approve, {"note": "agreed"})
    version.refresh_from_db()
    assert (version.status, version.decided_by) == (VersionStatus.APPROVED, checker)
    listing = client.get(reverse("risk:limits")).text
    assert "250,000.00 USD" in listing


def test_alerts_page_ack_and_scope(
    client, risk_manager, checker, trader, other_desk_trader, desk_a, both_desks,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    _limits(risk_manager, checker, desk_a, 1)
    _run(django_capture_on_commit_callbacks, user=risk_manager)
    alert = Alert.objects.get()
    client.force_login(other_desk_trader)
    assert f"risk-alert-{alert.pk}" not in client.get(reverse("risk:alerts")).text
    client.force_login(trader)
    text = client.get(reverse("risk:alerts")).text
    assert f'id="risk-alert-{alert.pk}"' in text
    assert "Acknowledge</button>" not in text
    assert client.post(reverse("risk:alert-ack", kwargs={"pk": alert.pk})).status_code == 403
    client.force_login(checker)
    assert "Acknowledge</button>" in client.get(reverse("risk:alerts")).text
    client.post(reverse("risk:alert-ack", kwargs={"pk": alert.pk}), {"note": "seen"})
    alert.refresh_from_db()
    assert alert.acknowledged_by == checker
    assert "Acknowledged by <bdi>risk2</bdi>" in client.get(reverse("risk:alerts")).text
    assert client.get(reverse("risk:alerts"), {"open": "1"}).text.count('class="alert-row') == 0


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_pages_cost_the_same_queries_for_one_row_or_three(
    client, risk_manager, checker, desk_a, both_desks, django_capture_on_commit_callbacks
):
    client.force_login(risk_manager)
    _limits(risk_manager, checker, desk_a, 1)
    _run(django_capture_on_commit_callbacks, user=risk_manager)
    run = RiskRun.objects.get()
    urls = [
        reverse("risk:dashboard"),
        reverse("risk:dashboard") + "?desk=power-eu",
        reverse("risk:alerts"),
        reverse("risk:limits"),
        reverse("risk:runs"),
        reverse("risk:run-detail", kwargs={"pk": run.pk}),
    ]
    one = [_queries(client, url) for url in urls]
    _limits(risk_manager, checker, desk_a, 2)
    _run(django_capture_on_commit_callbacks, user=risk_manager)
    _run(django_capture_on_commit_callbacks, user=risk_manager)
    assert Alert.objects.count() == 3
    three = [_queries(client, url) for url in urls]
    assert three == one


def test_dashboard_in_arabic_is_right_to_left(
    client, trader, risk_manager, both_desks, django_capture_on_commit_callbacks
):
    _run(django_capture_on_commit_callbacks, user=risk_manager)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ar"
    client.force_login(trader)
    text = client.get(reverse("risk:dashboard")).text
    assert '<html lang="ar" dir="rtl">' in text
    assert 'data-rtl="1"' in text  # the charts mirror their axes
