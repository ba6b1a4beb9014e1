"""The risk pages through their doors: what each role sees, the desk scope (another desk's
runs, figures and alerts are not there, or 404), forms and their errors, bounded queries."""

import html
import io
import json
import re
from decimal import Decimal

import numpy as np
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.models import Role
from apps.risk.engine import (
    historical_var,
    monte_carlo_var,
    parametric_var,
    sample_covariance,
)
from apps.risk.models import (
    Alert,
    BacktestResult,
    CreditExposureResult,
    LimitCheck,
    LimitKind,
    LimitVersion,
    RiskFigure,
    RiskRun,
    RiskRunSnapshot,
    RunKind,
    StressOutcome,
    VersionStatus,
)
from apps.risk.services import (
    limit_propose,
    limit_version_approve,
    risk_run_request,
    snapshot_inputs,
)
from apps.trading.models import TradeVersion
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


# --- Stress, backtests, horizons, the run form's options and reruns ---------------------------


def _money(value: Decimal) -> str:
    """An amount as the English pages write it (floatformat "2g")."""
    return f"{value:,.2f}"


def test_dashboard_stress_table_shows_each_scenario_with_its_books(
    client, trader, risk_manager, both_desks, django_capture_on_commit_callbacks
):
    run = _run(django_capture_on_commit_callbacks, user=risk_manager)
    client.force_login(trader)
    text = client.get(reverse("risk:dashboard")).text
    assert f"From run <bdi>#{run.pk}</bdi>." in text
    # "All curves +10 %" on the power book: a tenth of its exposure, for the desk and its book.
    up = StressOutcome.objects.get(
        run=run, desk__code="power-eu", label="total", scenario__name="All curves +10 %"
    )
    exposure = TradeVersion.objects.get(trade__book__code="PEU-FLOW").total_quantity * 110
    assert up.pnl == (exposure * Decimal("0.1")).quantize(Decimal("0.01"))
    assert (
        f'<tr><th scope="row">All curves +10 %</th><td class="num"><bdi>{_money(up.pnl)}</bdi>'
        f'</td><td class="small"><bdi>PEU-FLOW</bdi> <bdi>{_money(up.pnl)}</bdi></td></tr>'
    ) in text
    # Gas moves nothing on a power desk; a historical window the history does not reach is
    # shown as not applicable, with the reason.
    assert (
        '<tr><th scope="row">Gas +30 %</th><td class="num"><bdi>0.00</bdi></td>'
        '<td class="small"><bdi>PEU-FLOW</bdi> <bdi>0.00</bdi></td></tr>'
    ) in text
    assert (
        '<tr><th scope="row">Gas crisis 2021–22</th><td class="num">'
        '<span class="muted" title="the window 2021-'
    ) in text
    assert "GUS-FLOW" not in text  # the other desk's book


def _backtest_charts(text: str) -> list[dict]:
    """The numbers of each backtest chart on a page, in page order."""
    found = re.findall(r'data-chart="backtest" data-series="([^"]*)"', text)
    return [json.loads(html.unescape(series)) for series in found]


def _backtest(run: RiskRun, desk, exceptions: list[bool]) -> BacktestResult:
    days = [f"2026-11-{day:02d}" for day in range(2, 2 + len(exceptions))]
    return BacktestResult.objects.create(
        run=run,
        desk=desk,
        method="historical",
        confidence=Decimal("0.99"),
        observations=len(exceptions),
        exceptions=sum(exceptions),
        zone="green",
        series={
            "dates": days,
            "pnl": [-150.0 if e else 20.0 for e in exceptions],
            "var": [100.0] * len(exceptions),
            "exception": exceptions,
        },
        pnl_days=len(exceptions),
    )


def test_desk_dashboard_draws_the_backtest_with_its_exceptions(
    client, trader, risk_manager, desk_a, both_desks, django_capture_on_commit_callbacks
):
    run = _run(django_capture_on_commit_callbacks, user=risk_manager)
    _backtest(run, desk_a, [False, True, False])
    client.force_login(trader)
    text = client.get(reverse("risk:dashboard")).text
    assert "<bdi>1</bdi> exception in <bdi>3</bdi> days." in text
    assert _backtest_charts(text) == [
        {
            "dates": ["2026-11-02", "2026-11-03", "2026-11-04"],
            "pnl": [20.0, -150.0, 20.0],
            "var": [100.0, 100.0, 100.0],
            "exception": [False, True, False],
        }
    ]
    assert 'data-exception-label="Exceptions"' in text


def test_firm_dashboard_draws_a_backtest_chart_per_desk(
    client, risk_manager, desk_a, desk_b, both_desks, django_capture_on_commit_callbacks
):
    run = _run(django_capture_on_commit_callbacks, user=risk_manager)
    _backtest(run, desk_a, [True, False])
    _backtest(run, desk_b, [False, False])
    client.force_login(risk_manager)
    text = client.get(reverse("risk:dashboard")).text
    charts = _backtest_charts(text)
    assert sorted(chart["exception"] for chart in charts) == [[False, False], [True, False]]
    assert '<h3><a href="?desk=power-eu"><bdi>power-eu</bdi></a></h3>' in text
    assert "<bdi>1</bdi> exception in <bdi>2</bdi> days." in text
    assert "<bdi>0</bdi> exceptions in <bdi>2</bdi> days." in text


def test_dashboard_headline_and_history_keep_to_one_horizon(
    client, risk_manager, both_desks, django_capture_on_commit_callbacks
):
    daily = _run(django_capture_on_commit_callbacks, user=risk_manager)
    # Newer, over two days (five days of history: three 2-day returns).
    longer = _run(django_capture_on_commit_callbacks, user=risk_manager, horizon_days=2, window=3)
    assert longer.status == "succeeded", (longer.error, longer.problems)
    client.force_login(risk_manager)

    text = client.get(reverse("risk:dashboard")).text
    assert f"run <bdi>#{daily.pk}</bdi>" in text
    assert f"#{longer.pk}&quot;" not in text  # not in the history either
    assert f"#{daily.pk}&quot;" in text
    assert "VaR over <bdi>1</bdi> day." in text
    headline = RiskFigure.objects.get(
        run=daily, desk=None, method="historical", label="total", confidence=Decimal("0.99")
    )
    assert f"<bdi>{_money(headline.var)}</bdi>" in text

    chosen = client.get(reverse("risk:dashboard"), {"horizon": "2"}).text
    assert f"run <bdi>#{longer.pk}</bdi>" in chosen
    assert f"#{daily.pk}&quot;" not in chosen
    assert "VaR over <bdi>2</bdi> days." in chosen
    assert "horizon=2" in chosen  # the live reloads keep the reader's horizon

    none_yet = client.get(reverse("risk:dashboard"), {"horizon": "5"}).text
    assert "No risk run has measured this scope over <bdi>5</bdi> days yet." in none_yet
    bad = client.get(reverse("risk:dashboard"), {"horizon": "99"})
    assert bad.status_code == 200  # the field says what is wrong; one-day figures are shown
    assert "Ensure this value is less than or equal to 20." in bad.text
    assert f"run <bdi>#{daily.pk}</bdi>" in bad.text


def test_run_started_from_the_page_with_every_option(
    client, risk_manager, both_desks, django_capture_on_commit_callbacks
):
    client.force_login(risk_manager)
    runs = client.get(reverse("risk:runs")).text
    for label in ("Covariance", "Age weighting decay (historical)", "Monte Carlo shocks",
                  "Degrees of freedom (Student t)", "Stress tests", "Credit exposure"):  # fmt: skip
        assert f"{label}:</label>" in runs
    form = {
        "desk": "power-eu",
        "methods": ["historical", "parametric", "monte_carlo"],
        "confidences": "0.95",
        "window": "5",
        "horizon_days": "1",
        "paths": "500",
        "seed": "3",
        "covariance": "sample",
        "ewma_decay": "0.94",
        "age_decay": "0.9",
        "distribution": "student_t",
        "dof": "4",
        # stress, credit and backtest unticked: left out of the POST
    }
    bad = client.post(reverse("risk:run-start"), {**form, "covariance": "guess"})
    assert bad.status_code == 400
    assert "Select a valid choice. guess is not one of the available choices." in bad.text
    bad = client.post(reverse("risk:run-start"), {**form, "dof": "2", "age_decay": "1.5"})
    assert bad.status_code == 400
    assert "Degrees of freedom must be above 2." in bad.text
    assert "Must lie strictly between 0 and 1 (0.99 for 99 %); got 1.5." in bad.text
    assert not RiskRun.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("risk:run-start"), form)
    run = RiskRun.objects.get()
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error, run.problems)
    p = run.parameters
    assert (p["covariance"], p["age_decay"], p["distribution"], p["dof"], p["seed"]) == (
        "sample", 0.9, "student_t", 4.0, 3,
    )  # fmt: skip
    assert (p["stress"], p["credit"], p["backtest"]) == (False, False, False)
    assert not StressOutcome.objects.filter(run=run).exists()
    assert not CreditExposureResult.objects.filter(run=run).exists()
    # The figures follow the options: recomputed from the run's own snapshot.
    inputs, _scenarios = snapshot_inputs(run)
    portfolio = inputs.portfolio("power-eu")
    covariance = sample_covariance(inputs.history, portfolio.factor_names, window=5)
    expected = {
        "historical": historical_var(
            portfolio, inputs.history, confidence=0.95, window=5, age_decay=0.9
        ).var,
        "parametric": parametric_var(portfolio, covariance, confidence=0.95).var,
        "monte_carlo": monte_carlo_var(
            portfolio, covariance, confidence=0.95, seed=3, paths=500,
            distribution="student_t", dof=4,
        ).var,
    }  # fmt: skip
    for method, var in expected.items():
        stored = RiskFigure.objects.get(
            run=run, desk__code="power-eu", method=method, label="total"
        )
        assert float(stored.var) == pytest.approx(var, abs=0.005), method
    detail = client.get(reverse("risk:run-detail", kwargs={"pk": run.pk})).text
    assert "<bdi>student_t</bdi> <bdi>ν = 4.0</bdi>" in detail


def _results(run: RiskRun) -> dict[str, list[tuple]]:
    """Everything a run stored that a rerun must repeat: figures (with marginal VaR), stress
    outcomes and limit checks."""
    return {
        "figures": list(
            RiskFigure.objects.filter(run=run)
            .order_by("desk", "method", "confidence", "label", "group")
            .values_list(
                "desk",
                "method",
                "confidence",
                "horizon_days",
                "label",
                "group",
                "var",
                "es",
                "component_var",
                "component_es",
                "marginal_var",
            )
        ),
        "stress": list(
            StressOutcome.objects.filter(run=run)
            .order_by("desk", "scenario", "label", "group")
            .values_list("desk", "scenario", "label", "group", "pnl", "error")
        ),
        "checks": list(
            LimitCheck.objects.filter(run=run)
            .order_by("limit")
            .values_list("limit", "version", "desk", "value", "amount", "utilisation", "status")
        ),
    }


def tamper(run: RiskRun) -> None:
    """Change the snapshot's exposures (a valid snapshot, other numbers) and keep its digest."""
    snapshot = RiskRunSnapshot.objects.get(run=run)
    with np.load(io.BytesIO(bytes(snapshot.arrays)), allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["linear_exposure"] = arrays["linear_exposure"] * 2
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    RiskRunSnapshot.objects.filter(run=run).update(arrays=buffer.getvalue())


def test_rerun_from_the_page_repeats_figures_stress_and_limit_checks(
    client, risk_manager, checker, trader, desk_a, both_desks, django_capture_on_commit_callbacks
):
    _limits(risk_manager, checker, desk_a, 2)
    run = _run(django_capture_on_commit_callbacks, user=risk_manager)
    book(trader, quantity=Decimal("30"))  # the world moves on; the rerun does not see it
    client.force_login(risk_manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("risk:run-rerun", kwargs={"pk": run.pk}))
    rerun = RiskRun.objects.get(kind=RunKind.RERUN)
    assert response.headers["Location"] == reverse("risk:run-detail", kwargs={"pk": rerun.pk})
    rerun.refresh_from_db()
    assert rerun.status == "succeeded"
    original, again = _results(run), _results(rerun)
    assert again == original
    assert len(original["checks"]) == 2
    assert any(row[4] is not None for row in original["stress"])
    assert any(row[-1] is not None for row in original["figures"])  # marginal VaR too
    assert "Rerun of" in client.get(response.headers["Location"]).text


def test_rerun_from_the_page_is_refused_when_the_snapshot_was_altered(
    client, risk_manager, both_desks, django_capture_on_commit_callbacks
):
    run = _run(django_capture_on_commit_callbacks, user=risk_manager)
    tamper(run)
    client.force_login(risk_manager)
    response = client.post(reverse("risk:run-rerun", kwargs={"pk": run.pk}), follow=True)
    assert response.redirect_chain[-1][0] == reverse("risk:run-detail", kwargs={"pk": run.pk})
    assert f"The snapshot of run #{run.pk} no longer matches its SHA-256 digest" in response.text
    assert not RiskRun.objects.filter(kind=RunKind.RERUN).exists()
