"""The firm view (runs of every desk, the firm's figures, credit exposure by counterparty) is a
firm risk manager's only: a risk manager sees the desks assigned to them, even all of them,
and nothing of the firm without the firm risk manager role (risk.view_firm_risk)."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.accounts.models import Role, User
from apps.risk.models import RiskFigure, RiskRun
from apps.risk.selectors import sees_firm
from apps.risk.services import risk_run_request
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

M2 = ["100", "102", "99", "101", "98", "100"]
QUICK = {"window": 5, "confidences": [0.95], "covariance": "sample", "paths": 500}


@pytest.fixture
def desk_risk(desk_a):
    return UserFactory(username="risk_a", roles=[Role.RISK_MANAGER], desks=[desk_a])


@pytest.fixture
def all_desks_risk(desk_a, desk_b):
    # Every desk there is, but not the firm risk manager role.
    return UserFactory(username="risk_all", roles=[Role.RISK_MANAGER], desks=[desk_a, desk_b])


@pytest.fixture
def runs(seeded, trader, other_desk_trader, risk_manager, desk_a, desk_b, capture):  # noqa: F811
    """A run of the firm, of desk A and of desk B, each finished."""
    days = business_days(6)
    curve_history("eex-de-power", days, lambda i, k: Decimal(M2[i]) + (k - 2))
    curve_history("henry-hub", days, lambda i, k: Decimal("3.5") + Decimal(i % 3) / 10 + k)
    fx_and_rates(days)
    book(trader)
    gas_book(other_desk_trader)
    made = {}
    for name, desk in (("firm", None), ("a", desk_a), ("b", desk_b)):
        with capture(execute=True):
            made[name] = risk_run_request(user=risk_manager, desk=desk, parameters=QUICK)
    assert set(RiskRun.objects.values_list("status", flat=True)) == {"succeeded"}
    return made


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def _client(client, user):
    client.force_login(user)
    return client


def test_firm_view_needs_the_firm_role_with_the_risk_manager_role(
    risk_manager, desk_risk, all_desks_risk, desk_a
):
    firm_trader = UserFactory(
        username="firm_trader", roles=[Role.TRADER, Role.FIRM_RISK_MANAGER], desks=[desk_a]
    )

    assert [sees_firm(u) for u in (risk_manager, desk_risk, all_desks_risk, firm_trader)] == [
        True,
        False,
        False,
        False,
    ]


@pytest.mark.parametrize("who", ["desk_risk", "all_desks_risk"])
def test_firm_view_dashboard_is_404_without_the_firm_role(client, request, who):
    user = request.getfixturevalue(who)

    response = _client(client, user).get(reverse("risk:dashboard"), {"desk": "firm"})

    assert response.status_code == 404


def test_firm_view_default_dashboard_of_a_desk_risk_manager_is_their_desk(client, runs, desk_risk):
    text = _client(client, desk_risk).get(reverse("risk:dashboard")).text

    assert '<option value="firm"' not in text
    assert '<option value="power-eu" selected>' in text
    assert "Credit exposure by counterparty" not in text


def test_firm_view_dashboard_for_the_firm_risk_manager(client, runs, risk_manager):
    text = _client(client, risk_manager).get(reverse("risk:dashboard")).text

    assert '<option value="firm" selected>' in text
    assert "Credit exposure by counterparty" in text


def test_firm_view_run_pages_404_for_other_desks_and_the_firm(
    client, runs, desk_risk, all_desks_risk
):
    pages = _client(client, desk_risk)
    statuses = [
        pages.get(reverse("risk:run-detail", kwargs={"pk": runs[name].pk})).status_code
        for name in ("firm", "a", "b")
    ]
    assert statuses == [404, 200, 404]

    pages = _client(client, all_desks_risk)
    statuses = [
        pages.get(reverse("risk:run-detail", kwargs={"pk": runs[name].pk})).status_code
        for name in ("firm", "a", "b")
    ]
    assert statuses == [404, 200, 200]


def test_firm_view_run_list_page_shows_only_the_desks_runs(client, runs, desk_risk):
    response = _client(client, desk_risk).get(reverse("risk:runs"))

    assert [run.pk for run in response.context["runs"]] == [runs["a"].pk]


def test_firm_view_api_runs_and_results_404_for_other_desks_and_the_firm(client, runs, desk_risk):
    api = _client(client, desk_risk)

    listed = [r["id"] for r in api.get(reverse("risk-api:run-list")).json()["results"]]
    details = [
        api.get(reverse("risk-api:run-detail", kwargs={"pk": runs[n].pk})).status_code
        for n in ("firm", "a", "b")
    ]
    results = [
        api.get(reverse("risk-api:run-results", kwargs={"pk": runs[n].pk})).status_code
        for n in ("firm", "a", "b")
    ]

    assert listed == [runs["a"].pk]
    assert details == [404, 200, 404]
    assert results == [404, 200, 404]


def test_firm_view_api_results_of_the_own_desk_have_no_credit_nor_firm_rows(
    client, runs, desk_risk
):
    body = (
        _client(client, desk_risk)
        .get(reverse("risk-api:run-results", kwargs={"pk": runs["a"].pk}))
        .json()
    )

    assert body["credit"]["results"] == []
    assert {f["desk"] for f in body["figures"]["results"]} == {"power-eu"}


def test_firm_view_api_firm_risk_manager_sees_the_firm_run_and_credit(client, runs, risk_manager):
    body = (
        _client(client, risk_manager)
        .get(reverse("risk-api:run-results", kwargs={"pk": runs["firm"].pk}))
        .json()
    )

    assert {f["desk"] for f in body["figures"]["results"]} == {None, "power-eu", "gas-us"}
    assert [c["counterparty"] for c in body["credit"]["results"]][:1] == ["NORDWIND"]


def test_firm_view_api_run_of_every_desk_is_refused_without_the_firm_role(
    client, runs, all_desks_risk, capture
):
    before = RiskRun.objects.count()
    with capture(execute=True):
        response = _client(client, all_desks_risk).post(
            reverse("risk-api:run-list"), {"parameters": QUICK}, content_type="application/json"
        )

    assert response.status_code == 403
    assert RiskRun.objects.count() == before


def test_firm_view_api_rerun_of_the_firm_run_is_404_without_the_firm_role(
    client, runs, all_desks_risk
):
    response = _client(client, all_desks_risk).post(
        reverse("risk-api:run-rerun", kwargs={"pk": runs["firm"].pk}),
        {},
        content_type="application/json",
    )

    assert response.status_code == 404


def test_firm_view_page_run_of_every_desk_is_a_form_error_without_the_firm_role(
    client, runs, all_desks_risk
):
    before = RiskRun.objects.count()
    response = _client(client, all_desks_risk).post(
        reverse("risk:run-start"),
        {"desk": "", "methods": ["historical"], "confidences": "0.95", "window": "5"}
        | {"horizon_days": "1", "paths": "500", "seed": "7"},
    )

    assert response.status_code == 400
    assert response.context["run_form"].errors["desk"] == ["Choose one of your desks."]
    assert RiskRun.objects.count() == before


def test_firm_view_firm_rows_never_reach_a_desk_risk_manager(runs, desk_risk):
    from apps.risk.selectors import figures_for_user, runs_for_user

    assert RiskFigure.objects.filter(desk__isnull=True).exists()
    assert not figures_for_user(desk_risk).filter(desk__isnull=True).exists()
    assert list(runs_for_user(desk_risk).values_list("pk", flat=True)) == [runs["a"].pk]


def test_firm_view_demo_risk_has_it_and_demo_risk_2_does_not(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())

    users = {u.username: u for u in User.objects.filter(username__startswith="demo-risk")}

    assert (sees_firm(users["demo-risk"]), sees_firm(users["demo-risk-2"])) == (True, False)
