"""The risk API: start a run (Idempotency-Key), read it and its results, limits with
maker-checker, alerts and their acknowledgement; the desk scope and bad input."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.accounts.models import Role
from apps.risk.engine import historical_var, monte_carlo_var, sample_covariance
from apps.risk.models import (
    Alert,
    LimitVersion,
    RiskFigure,
    RiskRun,
    RiskRunSnapshot,
    VersionStatus,
)
from apps.risk.services import snapshot_inputs
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
def market(seeded, trader, other_desk_trader):  # noqa: F811 - the fixture above
    days = business_days(6)
    curve_history("eex-de-power", days, lambda i, k: Decimal(M2[i]) + (k - 2))
    curve_history("henry-hub", days, lambda i, k: Decimal("3.5") + Decimal(i % 3) / 10 + k)
    fx_and_rates(days)
    book(trader)
    gas_book(other_desk_trader)
    return days


@pytest.fixture
def checker(desk_a, desk_b):
    return UserFactory(username="risk2", roles=[Role.RISK_MANAGER], desks=[desk_a, desk_b])


def _client(client, user):
    client.force_login(user)
    return client


def _start(client, capture, body, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    with capture(execute=True):
        return client.post(
            reverse("risk-api:run-list"), body, content_type="application/json", headers=headers
        )


def test_start_run_once_per_idempotency_key(
    client, risk_manager, market, django_capture_on_commit_callbacks
):
    api = _client(client, risk_manager)
    body = {"desk": "power-eu", "parameters": QUICK}
    first = _start(api, django_capture_on_commit_callbacks, body, key="run-1")
    assert first.status_code == 201, first.json()
    data = first.json()
    # Queued in the request's transaction; the task (eager here) ran once it committed.
    assert (data["status"], data["desk"], data["kind"]) == ("queued", "power-eu", "manual")
    read = api.get(reverse("risk-api:run-detail", kwargs={"pk": data["id"]})).json()
    assert read["status"] == "succeeded"
    assert read["market_data_date"] is not None
    assert data["parameters"]["confidences"] == [0.95]
    again = _start(api, django_capture_on_commit_callbacks, body, key="run-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == data["id"]
    assert RiskRun.objects.count() == 1

    results = api.get(reverse("risk-api:run-results", kwargs={"pk": data["id"]})).json()
    total = next(
        f
        for f in results["figures"]["results"]
        if f["label"] == "total" and f["method"] == "historical" and f["desk"] == "power-eu"
    )
    stored = RiskFigure.objects.get(
        run_id=data["id"], method="historical", label="total", desk__code="power-eu"
    )
    assert total["var"] == str(stored.var)
    assert total["confidence"] == "0.95000"
    assert results["credit"]["results"]
    assert results["credit"]["results"][0]["counterparty"] == "NORDWIND"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"parameters": {"confidences": [0.95, 1.2]}}, {"parameters": ["confidences"]}),
        (
            {"parameters": {"confidences": [-0.1], "window": 1}},
            {"parameters": ["confidences", "window"]},
        ),
        ({"parameters": {"covariance": "given"}}, {"parameters": ["covariance_matrix"]}),
        ({"desk": "gas-us"}, {"desk": None}),  # not one of this risk manager's desks
        ({"business_date": "2099-01-01"}, {"business_date": None}),
        ({"parameters": "lots"}, {"parameters": None}),
    ],
)
def test_bad_run_requests_are_400_with_fields(
    client, desk_a, market, body, errors, django_capture_on_commit_callbacks
):
    risk_a = UserFactory(username="risk_a", roles=[Role.RISK_MANAGER], desks=[desk_a])
    # A run of its desk: every desk at once is a firm risk manager's (a 403 before any check).
    body = {"desk": "power-eu", **body}
    response = _start(_client(client, risk_a), django_capture_on_commit_callbacks, body)
    assert response.status_code == 400
    data = response.json()
    for name, inner in errors.items():
        assert name in data
        if inner:
            assert sorted(data[name]) == sorted(inner)
    assert not RiskRun.objects.exists()


def test_traders_read_but_cannot_start(client, trader, market, django_capture_on_commit_callbacks):
    api = _client(client, trader)
    assert api.get(reverse("risk-api:run-list")).status_code == 200
    assert _start(api, django_capture_on_commit_callbacks, {}).status_code == 403


def test_other_desk_sees_none_of_desk_a(
    client, risk_manager, other_desk_trader, market, django_capture_on_commit_callbacks
):
    desk_run = _start(
        _client(client, risk_manager),
        django_capture_on_commit_callbacks,
        {"desk": "power-eu", "parameters": QUICK},
    ).json()
    firm_run = _start(client, django_capture_on_commit_callbacks, {"parameters": QUICK}).json()
    api = _client(client, other_desk_trader)
    assert [r["id"] for r in api.get(reverse("risk-api:run-list")).json()["results"]] == []
    for run in (desk_run, firm_run):
        for name in ("risk-api:run-detail", "risk-api:run-results"):
            assert api.get(reverse(name, kwargs={"pk": run["id"]})).status_code == 404


def test_limits_and_alerts_through_the_api(
    client, risk_manager, checker, trader, market, django_capture_on_commit_callbacks
):
    api = _client(client, risk_manager)
    body = {
        "kind": "var",
        "desk": "power-eu",
        "method": "historical",
        "confidence": "0.95",
        "amount": "1000",
    }
    response = api.post(
        reverse("risk-api:limit-list"),
        body,
        content_type="application/json",
        headers={"Idempotency-Key": "limit-1"},
    )
    assert response.status_code == 201, response.json()
    version_id, limit_id = response.json()["id"], response.json()["limit"]
    replay = api.post(
        reverse("risk-api:limit-list"),
        body,
        content_type="application/json",
        headers={"Idempotency-Key": "limit-1"},
    )
    assert replay.json()["id"] == version_id
    assert LimitVersion.objects.count() == 1
    approve = reverse("risk-api:limit-version-approve", kwargs={"pk": version_id})
    own = api.post(approve, {}, content_type="application/json")
    assert own.status_code == 403
    assert "your own request" in own.json()["detail"]
    bad = api.post(
        reverse("risk-api:limit-versions", kwargs={"pk": limit_id}),
        {"amount": "0", "warning_level": "1.5"},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert set(bad.json()) == {"amount", "warning_level"}

    api = _client(client, checker)
    decided = api.post(approve, {"note": "fine"}, content_type="application/json")
    assert decided.status_code == 200
    assert decided.json()["status"] == VersionStatus.APPROVED
    detail = api.get(reverse("risk-api:limit-detail", kwargs={"pk": limit_id})).json()
    assert detail["in_force"] == version_id

    _start(api, django_capture_on_commit_callbacks, {"desk": "power-eu", "parameters": QUICK})
    alert = Alert.objects.get()
    listed = _client(client, trader).get(reverse("risk-api:alert-list"), {"open": "1"}).json()
    assert [a["id"] for a in listed["results"]] == [alert.pk]
    ack = reverse("risk-api:alert-ack", kwargs={"pk": alert.pk})
    assert client.post(ack, {}, content_type="application/json").status_code == 403
    done = _client(client, checker).post(ack, {"note": "ok"}, content_type="application/json")
    assert done.status_code == 200
    assert done.json()["acknowledged_by"] == "risk2"
    again = client.post(ack, {}, content_type="application/json")
    assert again.status_code == 400


def test_scenarios_are_listed(client, trader):
    names = [
        s["name"]
        for s in _client(client, trader).get(reverse("risk-api:scenario-list")).json()["results"]
    ]
    assert "Gas crisis 2021–22" in names
    assert "Winter spike 2024–25 (demo history)" in names


def test_results_are_paginated_section_by_section(
    client, risk_manager, market, django_capture_on_commit_callbacks
):
    api = _client(client, risk_manager)
    run = _start(api, django_capture_on_commit_callbacks, {"parameters": QUICK}).json()
    url = reverse("risk-api:run-results", kwargs={"pk": run["id"]})
    stored = list(
        RiskFigure.objects.filter(run_id=run["id"])
        .order_by("id")
        .values_list("method", "label", "group", "var")
    )
    assert len(stored) > 12  # firm and two desks, three methods: several pages of five

    first = api.get(url, {"page_size": 5}).json()
    assert set(first) == {"figures", "stress", "credit", "backtests", "checks"}
    assert len(first["figures"]["results"]) == 5
    assert first["figures"]["previous"] is None
    assert "section=figures" in first["figures"]["next"]
    seen = first["figures"]["results"]
    link = first["figures"]["next"]
    while link:
        page = api.get(link).json()
        assert set(page) == {"figures"}  # a section's link pages that section only
        seen += page["figures"]["results"]
        link = page["figures"]["next"]
    assert [(f["method"], f["label"], f["group"], Decimal(f["var"])) for f in seen] == stored

    assert api.get(url, {"section": "everything"}).status_code == 400
    cursor = first["figures"]["next"].split("cursor=")[1].split("&")[0]
    lost = api.get(url, {"cursor": cursor})
    assert lost.status_code == 400
    assert set(lost.json()) == {"cursor"}


def test_run_started_through_the_api_uses_its_parameters(
    client, risk_manager, market, django_capture_on_commit_callbacks
):
    parameters = {
        **QUICK,
        "methods": ["historical", "monte_carlo"],
        "covariance": "sample",
        "age_decay": 0.9,
        "distribution": "student_t",
        "dof": 4,
        "stress": False,
        "credit": False,
        "backtest": False,
    }
    api = _client(client, risk_manager)
    started = _start(
        api, django_capture_on_commit_callbacks, {"desk": "power-eu", "parameters": parameters}
    )
    assert started.status_code == 201, started.json()
    run = RiskRun.objects.get(pk=started.json()["id"])
    assert run.status == "succeeded", (run.error, run.problems)
    stored = run.parameters
    assert (stored["covariance"], stored["age_decay"], stored["distribution"], stored["dof"]) == (
        "sample",
        0.9,
        "student_t",
        4.0,
    )
    assert (stored["stress"], stored["credit"], stored["backtest"]) == (False, False, False)

    # The figures are those of these parameters: recomputed from the run's snapshot.
    inputs, _scenarios = snapshot_inputs(run)
    portfolio = inputs.portfolio("power-eu")
    weighted = historical_var(portfolio, inputs.history, confidence=0.95, window=5, age_decay=0.9)
    shocks = monte_carlo_var(
        portfolio,
        sample_covariance(inputs.history, portfolio.factor_names, window=5),
        confidence=0.95,
        seed=run.parameters["seed"],
        paths=500,
        distribution="student_t",
        dof=4,
    )

    def total(method):
        return RiskFigure.objects.get(run=run, desk__code="power-eu", method=method, label="total")

    assert float(total("historical").var) == pytest.approx(weighted.var, abs=0.005)
    assert float(total("monte_carlo").var) == pytest.approx(shocks.var, abs=0.005)
    results = api.get(reverse("risk-api:run-results", kwargs={"pk": run.pk})).json()
    assert results["stress"]["results"] == []
    assert results["credit"]["results"] == []
    assert results["backtests"]["results"] == []


def _all_results(api, run_id: int) -> dict[str, list[dict]]:
    """Every row of a run's results through the API, following each section's pages."""
    url = reverse("risk-api:run-results", kwargs={"pk": run_id})
    body = api.get(url, {"page_size": 7}).json()
    rows = {}
    for section, page in body.items():
        rows[section] = page["results"]
        link = page["next"]
        while link:
            more = api.get(link).json()[section]
            rows[section] += more["results"]
            link = more["next"]
    return rows


def test_rerun_through_the_api_repeats_figures_stress_and_limit_checks(
    client, risk_manager, checker, trader, market, django_capture_on_commit_callbacks
):
    api = _client(client, risk_manager)
    version = api.post(
        reverse("risk-api:limit-list"),
        {"kind": "var", "desk": "power-eu", "method": "parametric", "confidence": "0.95",
         "amount": "50000"},
        content_type="application/json",
    ).json()  # fmt: skip
    _client(client, checker).post(
        reverse("risk-api:limit-version-approve", kwargs={"pk": version["id"]}),
        {},
        content_type="application/json",
    )
    api = _client(client, risk_manager)
    run = _start(api, django_capture_on_commit_callbacks, {"parameters": QUICK}).json()
    book(trader, quantity=Decimal("25"))  # booked since: the rerun must not see it

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            reverse("risk-api:run-rerun", kwargs={"pk": run["id"]}),
            headers={"Idempotency-Key": "rerun-1"},
        )
    assert response.status_code == 201, response.json()
    rerun = response.json()
    assert (rerun["kind"], rerun["source_run"]) == ("rerun", run["id"])
    assert (
        api.get(reverse("risk-api:run-detail", kwargs={"pk": rerun["id"]})).json()["status"]
        == "succeeded"
    )

    original, again = _all_results(api, run["id"]), _all_results(api, rerun["id"])
    assert again == original
    assert len(original["checks"]) == 1
    assert [s for s in original["stress"] if s["pnl"] is not None]
    assert [f for f in original["figures"] if f["marginal_var"] is not None]


def test_rerun_through_the_api_is_refused_when_the_snapshot_was_altered(
    client, risk_manager, market, django_capture_on_commit_callbacks
):
    api = _client(client, risk_manager)
    run = _start(api, django_capture_on_commit_callbacks, {"parameters": QUICK}).json()
    RiskRunSnapshot.objects.filter(run_id=run["id"]).update(digest="0" * 64)
    response = api.post(reverse("risk-api:run-rerun", kwargs={"pk": run["id"]}))
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": [
            f"The snapshot of run #{run['id']} no longer matches its SHA-256 digest: it was "
            "altered or damaged, so a rerun could not give the run's numbers."
        ]
    }
    assert not RiskRun.objects.filter(kind="rerun").exists()
