"""Risk runs end to end (eager Celery): a tiny portfolio with hand-checkable numbers, the
snapshot a run keeps and a rerun from it, and runs that cannot be measured."""

import io
import itertools
import math
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from scipy.stats import norm

from apps.compliance.models import AuditEntry
from apps.risk.compute import ScenarioSpec, scenario_risk
from apps.risk.engine import (
    ewma_covariance,
    kupiec_pof,
    monte_carlo_pnl,
    monte_carlo_var,
    traffic_light,
)
from apps.risk.engine.var import delta_exposures
from apps.risk.messages import run_error_text
from apps.risk.models import (
    BacktestResult,
    CreditExposureResult,
    RiskFigure,
    RiskRun,
    RiskRunSnapshot,
    RunKind,
    RunStatus,
    StressOutcome,
    StressScenario,
)
from apps.risk.services import risk_run_perform, risk_run_request, risk_run_rerun, snapshot_inputs
from apps.trading.models import (
    Book,
    BookPnl,
    CurveSnapshot,
    Market,
    MarketVolatility,
    TradeVersion,
)
from apps.trading.pnl import end_of_day
from apps.trading.pricing import OptionType, black76
from tests.risk.test_support import (
    EUR_USD,
    book,
    business_days,
    curve_history,
    fx_and_rates,
    month_after,
    seeded,  # noqa: F401 - a fixture
)
from tests.trading.factories import trade_versions_dated

pytestmark = pytest.mark.usefixtures("seeded")

# M2 of EEX German power on the six days up to today: five daily returns.
M2 = ["100", "102", "99", "101", "98", "100"]


def cents(value: float) -> Decimal:
    """A float as the run stores it: rounded to cents."""
    return Decimal(repr(float(value))).quantize(Decimal("0.01"))


def ratio(value: float) -> Decimal:
    """A marginal VaR as the run stores it: eight decimals."""
    return Decimal(repr(float(value))).quantize(Decimal("0.00000001"))


PARAMS = {
    "window": 5,
    "confidences": [0.95],
    "covariance": "sample",
    "paths": 4000,
    "credit_paths": 500,
    "stress": False,
    "backtest": False,
}


@pytest.fixture
def market(seeded):  # noqa: F811 - the fixture above
    days = business_days(6)
    curve_history("eex-de-power", days, lambda i, k: Decimal(M2[i]) + (k - 2))
    fx_and_rates(days)
    return days


def _run(user, django_capture_on_commit_callbacks, **overrides) -> RiskRun:
    with django_capture_on_commit_callbacks(execute=True):
        run = risk_run_request(user=user, desk=None, parameters={**PARAMS, **overrides})
    run.refresh_from_db()
    return run


def _total(run: RiskRun, method: str, desk=None) -> RiskFigure:
    return RiskFigure.objects.get(run=run, desk=desk, method=method, label="total")


def test_run_end_to_end_gives_hand_checked_var_es(
    risk_manager, trader, desk_a, market, django_capture_on_commit_callbacks
):
    trade = book(trader)  # 10 MW base bought at 85.50 EUR/MWh, delivery in the month after next
    quantity = TradeVersion.objects.get(trade=trade).total_quantity  # MWh: 10 × the month's hours
    run = _run(risk_manager, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED, (run.error, run.problems)
    assert run.market_data_date == market[-1]
    assert run.trade_count == 1
    assert run.factor_count == 2  # eex-de-power M2 and FX EUR/USD
    # Exposure: quantity × today's M2 price (100) × EUR/USD (1.1); no discounting at 0 %.
    exposure = float(quantity) * 100 * float(EUR_USD)
    returns = np.array([float(b) / float(a) - 1 for a, b in itertools.pairwise(M2)])
    pnl = exposure * returns

    # Historical, 95 %, 5 scenarios: k = ⌈5 × 0.05⌉ = 1, the worst day (101 → 98).
    historical = _total(run, "historical")
    assert historical.var == cents(-pnl.min())
    assert historical.var == cents(exposure * 3 / 101)
    assert historical.es == historical.var  # one tail scenario
    # Parametric: z·σ with the sample standard deviation of the returns (FX does not move).
    sigma = exposure * returns.std(ddof=1)
    parametric = _total(run, "parametric")
    assert parametric.var == cents(norm.ppf(0.95) * sigma)
    es = sigma * norm.pdf(norm.ppf(0.95)) / 0.05
    assert parametric.es == cents(es)
    # Monte Carlo with 4,000 paths: within 5 % of the closed form for this linear position.
    monte_carlo = _total(run, "monte_carlo")
    assert math.isclose(float(monte_carlo.var), float(parametric.var), rel_tol=0.05)

    # By desk, book, market and tenor: the desk's components sum to the desk's VaR.
    desk_total = _total(run, "historical", desk=desk_a)
    assert desk_total.var == historical.var
    books = RiskFigure.objects.filter(run=run, desk=desk_a, method="parametric", label="book")
    assert [(f.group, f.component_var) for f in books] == [("PEU-FLOW", parametric.var)]
    tenors = RiskFigure.objects.filter(run=run, desk=desk_a, method="parametric", label="tenor")
    assert sum(f.component_var for f in tenors) == parametric.var
    assert {f.group for f in tenors} == {"M2", "spot"}  # the power month and the FX rate

    # Marginal VaR: component VaR per unit of the group's net exposure. The power month holds
    # exposure E (quantity × 100 × 1.1); the FX rate the trade's value in euros,
    # quantity × (100 − 85.5) × 1.1, and it does not move. The book holds both: E·114.5/100.
    def marginals(method: str, label: str) -> dict[str, Decimal | None]:
        return dict(
            RiskFigure.objects.filter(run=run, desk=desk_a, method=method, label=label).values_list(
                "group", "marginal_var"
            )
        )

    # Historical: the VaR scenario is the worst day, −3/101 on the power month, so one more
    # dollar of power exposure adds 3/101 of a dollar of VaR; the FX rate adds nothing; the
    # book (all of the VaR on E·1.145 of exposure) adds (3/101)/1.145 = 0.0259414…
    assert marginals("historical", "tenor") == {"M2": Decimal("0.02970297"), "spot": 0}
    assert marginals("historical", "book") == {"PEU-FLOW": Decimal("0.02594146")}
    # Parametric: ∂VaR/∂e = z·(Σe)/σ; for the power month z·σ(returns), for FX zero.
    z_sigma = norm.ppf(0.95) * returns.std(ddof=1)
    assert marginals("parametric", "tenor") == {"M2": ratio(z_sigma), "spot": 0}
    assert marginals("parametric", "book") == {"PEU-FLOW": ratio(z_sigma / 1.145)}
    assert marginals("parametric", "market") == {"eex-de-power": ratio(z_sigma), "fx-eur": 0}
    # A total is not a contributor: no marginal figure.
    assert historical.marginal_var is None

    # Credit: bought at 85.50, worth 100 today: NORDWIND owes us the difference (no netting
    # agreement, no collateral), and may owe more at the PFE's horizons.
    credit = CreditExposureResult.objects.get(run=run)
    assert credit.counterparty.short_code == "NORDWIND"
    assert credit.mtm == cents(float(quantity) * (100 - 85.5) * 1.1)
    assert credit.current_exposure == credit.mtm
    assert credit.peak_pfe > credit.current_exposure
    assert math.isclose(credit.usage, credit.peak_pfe / EUR_USD, abs_tol=0.01)  # limit in EUR

    actions = list(
        AuditEntry.objects.filter(object_type="risk.riskrun", object_id=str(run.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == ["risk.run_requested", "risk.run_completed"]


def test_rerun_from_snapshot_gives_identical_numbers(
    risk_manager, trader, market, django_capture_on_commit_callbacks
):
    book(trader)
    run = _run(risk_manager, django_capture_on_commit_callbacks, stress=True)
    snapshot = RiskRunSnapshot.objects.get(run=run)
    assert snapshot.references["history_dates"][-1] == market[-1].isoformat()
    assert len(snapshot.references["curve_snapshots"]["eex-de-power"]) == 6

    # The world moves on: another trade, and today's curve corrected (a new revision).
    book(trader, quantity=Decimal("50"), period=month_after(3))
    today = CurveSnapshot.objects.get(pricing_date=market[-1])
    corrected = CurveSnapshot.objects.create(
        market=today.market, pricing_date=today.pricing_date, revision=2, point_count=6
    )
    for point in today.points.all():
        point.pk, point.snapshot, point.price = None, corrected, point.price + 4
        point.save()
    with django_capture_on_commit_callbacks(execute=True):
        rerun = risk_run_rerun(user=risk_manager, run=run)
    rerun.refresh_from_db()
    assert rerun.status == RunStatus.SUCCEEDED
    assert rerun.source_run == run

    def figures(r: RiskRun) -> list[tuple]:
        return list(
            RiskFigure.objects.filter(run=r)
            .order_by("desk", "method", "confidence", "label", "group")
            .values_list(
                "desk", "method", "confidence", "label", "group", "var", "es", "component_var"
            )
        )

    assert figures(rerun) == figures(run)
    assert len(figures(run)) > 10
    credit = ["current_exposure", "peak_pfe", "settlement_exposure", "profile"]
    assert list(CreditExposureResult.objects.filter(run=rerun).values(*credit)) == list(
        CreditExposureResult.objects.filter(run=run).values(*credit)
    )
    # A fresh run sees the new trade.
    fresh = _run(risk_manager, django_capture_on_commit_callbacks)
    assert _total(fresh, "historical").var != _total(run, "historical").var


def test_monte_carlo_pnl_reduced_as_a_run_does_gives_the_engines_var(
    risk_manager, trader, market, django_capture_on_commit_callbacks
):
    book(trader)
    run = _run(risk_manager, django_capture_on_commit_callbacks)
    inputs, _scenarios = snapshot_inputs(run)
    portfolio = inputs.portfolio()
    covariance = ewma_covariance(inputs.history, portfolio.factor_names, window=5)
    layout = portfolio.layout(("book",))
    pnl = monte_carlo_pnl(portfolio, covariance, layout, seed=7, horizon_days=1, paths=3000)
    ours = scenario_risk(
        method="monte_carlo",
        pnl=pnl,
        layout=layout,
        confidence=0.99,
        horizon_days=1,
        exposure=delta_exposures(portfolio, layout),
    )
    engine = monte_carlo_var(
        portfolio, covariance, confidence=0.99, seed=7, paths=3000, group_by=("book",)
    )
    assert (ours.var, ours.es, ours.groups) == (engine.var, engine.es, engine.groups)


def test_stress_scenarios_per_book(
    risk_manager, trader, desk_a, market, django_capture_on_commit_callbacks
):
    trade = book(trader)
    quantity = float(TradeVersion.objects.get(trade=trade).total_quantity)
    up = StressScenario.objects.create(
        name="Power +20 %", kind="hypothetical", shocks=[{"commodity": "power", "move": 0.2}]
    )
    window = StressScenario.objects.create(
        name="This week", kind="historical", start_date=market[1], end_date=market[4]
    )
    outside = StressScenario.objects.create(
        name="Before the history",
        kind="historical",
        start_date=market[0].replace(year=2021),
        end_date=market[0].replace(year=2022),
    )
    run = _run(risk_manager, django_capture_on_commit_callbacks, stress=True)
    exposure = quantity * 100 * 1.1
    rows = {
        (o.scenario_id, o.desk_id, o.label, o.group): o
        for o in StressOutcome.objects.filter(run=run)
    }
    assert rows[(up.pk, None, "total", "")].pnl == cents(exposure * 0.2)
    assert rows[(up.pk, desk_a.pk, "book", "PEU-FLOW")].pnl == rows[(up.pk, None, "total", "")].pnl
    # 102 → 98 over the window, on today's exposure.
    assert rows[(window.pk, None, "total", "")].pnl == cents(exposure * (98 / 102 - 1))
    failed = rows[(outside.pk, None, "total", "")]
    assert failed.pnl is None
    assert "not inside the curve history" in failed.error


# --- Bad input --------------------------------------------------------------------------------


def test_empty_portfolio_is_a_stored_failure(
    risk_manager, market, django_capture_on_commit_callbacks
):
    run = _run(risk_manager, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    assert run.error == "empty"


def test_missing_history_is_named_per_factor(
    risk_manager, trader, market, django_capture_on_commit_callbacks
):
    book(trader, period=month_after(6))  # M6 exists today only on the curves below
    CurveSnapshot.objects.filter(pricing_date__lt=market[-1]).delete()
    curve_history("eex-de-power", market[:-1], lambda i, k: 100, tenors=(1, 2, 3))
    run = _run(risk_manager, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    assert "'eex-de-power M6' has no price" in run.error
    messages = {p.get("method"): p["text"] for p in run.problems if p["code"] == "method_failed"}
    assert set(messages) == {"historical", "parametric", "monte_carlo"}


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"confidences": [0.95, 1.0]}, "confidences"),
        ({"confidences": [0]}, "confidences"),
        ({"window": 0}, "window"),
        ({"methods": ["magic"]}, "methods"),
        ({"paths": "many"}, "paths"),
        ({"covariance": "given"}, "covariance_matrix"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_parameters_are_field_errors_and_write_nothing(risk_manager, parameters, field):
    with pytest.raises(ValidationError) as error:
        risk_run_request(user=risk_manager, desk=None, parameters=parameters)
    assert field in error.value.message_dict
    assert not RiskRun.objects.exists()


def test_non_positive_definite_covariance_is_repaired_and_reported(
    risk_manager, trader, market, django_capture_on_commit_callbacks
):
    book(trader)
    factors = ["eex-de-power M2", "FX EUR/USD"]
    # Correlation 1.5: not a covariance; the engine clips its negative eigenvalue.
    given = {"factors": factors, "matrix": [[0.0004, 0.0003], [0.0003, 0.0001]]}
    run = _run(
        risk_manager,
        django_capture_on_commit_callbacks,
        covariance="given",
        covariance_matrix=given,
        methods=["parametric"],
        credit=False,
    )
    assert run.status == RunStatus.SUCCEEDED
    (fixed,) = [p for p in run.problems if p["code"] == "covariance_fixed"]
    assert float(fixed["min_eigenvalue"]) < 0
    assert _total(run, "parametric").var > 0


def test_only_risk_managers_start_runs(trader, market):
    with pytest.raises(PermissionDenied):
        risk_run_request(user=trader, desk=None)


def test_a_run_taken_once_is_not_performed_twice(
    risk_manager, trader, market, django_capture_on_commit_callbacks
):
    book(trader)
    run = _run(risk_manager, django_capture_on_commit_callbacks, methods=["parametric"])
    assert risk_run_perform(run.pk) is None  # a redelivered task finds it finished
    assert RiskFigure.objects.filter(run=run, label="total", desk=None).count() == 1


def test_scenario_spec_round_trips_through_json():
    spec = ScenarioSpec(id=1, name="x", kind="hypothetical", shocks=({"move": 0.1},))
    assert ScenarioSpec(**{**spec.as_json(), "shocks": ({"move": 0.1},)}) == spec


def test_end_of_day_run_counts_trades_booked_by_the_end_of_its_day(
    risk_manager, trader, market, django_capture_on_commit_callbacks
):
    day = market[-2]  # yesterday's business day: it closed at midnight UTC after it
    close = end_of_day(day)
    before = book(trader)  # 10 MW, written a minute before the day closed
    trade_versions_dated(close - timedelta(minutes=1), trade=before)
    after = book(trader, quantity=Decimal("40"))  # a minute after: the next day's
    trade_versions_dated(close + timedelta(minutes=1), trade=after)
    book(trader, quantity=Decimal("70"))  # today
    with django_capture_on_commit_callbacks(execute=True):
        run = risk_run_request(
            user=risk_manager,
            desk=None,
            kind=RunKind.END_OF_DAY,
            business_date=day,
            # Four returns: the day's history ends a day before today's.
            parameters={**PARAMS, "window": 4, "methods": ["parametric"], "credit": False},
        )
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, (run.error, run.problems)
    assert run.as_of == close
    assert run.market_data_date == day
    assert run.trade_count == 1
    # The one position is the 10 MW trade: its exposure is its quantity at the day's M2 price
    # and EUR/USD (no discounting at 0 %), not 50, 80 or 120 MW's.
    inputs, _scenarios = snapshot_inputs(run)
    (power,) = [j for j, name in enumerate(inputs.history.names) if name.startswith("eex")]
    (exposure,) = inputs.linear_exposure[inputs.linear_factor == power]
    price = inputs.history.prices[-1, power]
    quantity = TradeVersion.objects.get(trade=before).total_quantity
    assert exposure == pytest.approx(float(quantity) * price * float(EUR_USD), rel=1e-12)


def test_rerun_refuses_a_snapshot_altered_after_it_was_requested(
    risk_manager, trader, market, django_capture_on_commit_callbacks
):
    book(trader)
    run = _run(risk_manager, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        rerun = risk_run_rerun(user=risk_manager, run=run)  # digest checked: it matches
    assert len(queued) == 1
    # Between the request and the worker, someone rewrites the stored arrays.
    snapshot = RiskRunSnapshot.objects.get(run=run)
    with np.load(io.BytesIO(bytes(snapshot.arrays)), allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["history_prices"] = arrays["history_prices"] * 1.01
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    RiskRunSnapshot.objects.filter(run=run).update(arrays=buffer.getvalue())

    risk_run_perform(rerun.pk)
    rerun.refresh_from_db()
    assert (rerun.status, rerun.error) == (RunStatus.FAILED, "snapshot_altered")
    assert not RiskFigure.objects.filter(run=rerun).exists()
    assert "no longer matches its SHA-256 digest" in run_error_text(rerun)
    # And a new rerun is refused at the door, naming the run.
    with pytest.raises(ValidationError, match=f"The snapshot of run #{run.pk} no longer"):
        risk_run_rerun(user=risk_manager, run=run)


def test_backtest_on_stored_pnl_closes(
    risk_manager, trader, desk_a, market, django_capture_on_commit_callbacks
):
    """End-of-day runs of three past days forecast the VaR of the next; the P&L closes of
    those next days are the realised series: one loss beyond its forecast is one exception."""
    trade = book(trader)
    trade_versions_dated(
        datetime.combine(market[0], time(), tzinfo=UTC) - timedelta(days=1), trade=trade
    )
    quick = {"window": 2, "confidences": [0.99], "methods": ["historical"], "backtest": False}
    forecasts = {}
    for day in market[2:5]:
        with django_capture_on_commit_callbacks(execute=True):
            run = risk_run_request(
                user=risk_manager,
                desk=desk_a,
                kind=RunKind.END_OF_DAY,
                business_date=day,
                parameters={**quick, "stress": False, "credit": False},
            )
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, (run.error, run.problems)
        forecasts[day] = _total(run, "historical", desk=desk_a).var
    eur_usd = float(EUR_USD)
    # P&L in euros on the three next days: a small loss, a loss beyond the forecast, a gain.
    daily = {
        market[3]: -float(forecasts[market[2]]) / eur_usd / 10,
        market[4]: -float(forecasts[market[3]]) / eur_usd * 2,
        market[5]: 1000.0,
    }
    zero = Decimal(0)
    BookPnl.objects.bulk_create(
        BookPnl(
            book=Book.objects.get(code="PEU-FLOW"),
            date=day,
            prior_date=day - timedelta(days=1),
            currency="EUR",
            realised=zero,
            unrealised=zero,
            daily=Decimal(repr(amount)).quantize(Decimal("0.01")),
            daily_realised=zero,
            time_roll=zero,
            curve_moves=zero,
            fx=zero,
            new_trades=zero,
            amendments=zero,
            cancellations=zero,
            unexplained=zero,
            trade_count=1,
            computed_at=timezone.now(),
        )
        for day, amount in daily.items()
    )
    run = _run(
        risk_manager,
        django_capture_on_commit_callbacks,
        confidences=[0.99],
        window=2,
        backtest=True,
    )
    result = BacktestResult.objects.get(run=run, desk=desk_a, book__isnull=True)
    assert (result.observations, result.exceptions) == (3, 1)
    assert result.series["dates"] == [d.isoformat() for d in market[3:]]
    assert result.series["exception"] == [False, True, False]
    assert result.series["var"] == [float(forecasts[d]) for d in market[2:5]]
    kupiec = kupiec_pof(exceptions=1, observations=3, confidence=0.99)
    assert result.kupiec_lr == Decimal(repr(kupiec.lr_statistic)).quantize(Decimal("0.000001"))
    assert result.zone == traffic_light(exceptions=1, observations=3, confidence=0.99).zone
    assert result.pnl_days == 3
    # Each close to the cent, in dollars to the cent: the first two days' fall.
    usd = [(cents(amount) * EUR_USD).quantize(Decimal("0.01")) for amount in daily.values()]
    assert result.max_drawdown == -(usd[0] + usd[1])
    book_row = BacktestResult.objects.get(run=run, book__code="PEU-FLOW")
    assert (book_row.observations, book_row.exceptions) == (3, 1)


def test_nothing_priced_is_a_failure_naming_what_is_missing(
    risk_manager, trader, market, django_capture_on_commit_callbacks
):
    book(trader, period=month_after(9))  # beyond the curves' six months
    run = _run(risk_manager, django_capture_on_commit_callbacks)
    assert (run.status, run.error) == (RunStatus.FAILED, "unpriced")
    (missing,) = run.problems
    assert missing["items"] == [["forward", f"eex-de-power {month_after(9)}"]]


def test_option_revalued_in_full_by_black76(
    risk_manager, trader, market, django_capture_on_commit_callbacks
):
    """A bought call on today's M2 (forward 100, strike 100, 50 % volatility): each scenario
    revalues it at F·(1 + r) with trading's own Black-76 (an independent implementation)."""
    MarketVolatility.objects.create(
        market=Market.objects.get(code="eex-de-power"), volatility=Decimal("0.5")
    )
    delivery = date.fromisoformat(f"{month_after(2)}-01")
    expiry = delivery - timedelta(days=3)
    trade = book(
        trader,
        deal_type="option",
        option_type="call",
        strike=Decimal("100"),
        expiry_date=expiry,
        price=Decimal("5"),
    )
    quantity = float(TradeVersion.objects.get(trade=trade).total_quantity) * float(EUR_USD)
    years = Decimal((expiry - market[-1]).days) / Decimal(365)

    def call(forward: float) -> float:
        value = black76(
            option_type=OptionType.CALL,
            forward=Decimal(repr(forward)),
            strike=Decimal(100),
            volatility=Decimal("0.5"),
            years=years,
            rate=Decimal(0),
        )
        return float(value.price)

    run = _run(risk_manager, django_capture_on_commit_callbacks, credit=False)
    assert run.status == RunStatus.SUCCEEDED, (run.error, run.problems)
    returns = [float(b) / float(a) - 1 for a, b in itertools.pairwise(M2)]
    pnl = [quantity * (call(100 * (1 + r)) - call(100)) for r in returns]
    historical = _total(run, "historical")
    assert abs(historical.var - cents(-min(pnl))) <= Decimal("0.02")
    delta = float(
        black76(
            option_type=OptionType.CALL,
            forward=Decimal(100),
            strike=Decimal(100),
            volatility=Decimal("0.5"),
            years=years,
            rate=Decimal(0),
        ).delta
    )
    sigma = np.std(returns, ddof=1) * quantity * 100 * delta
    assert abs(_total(run, "parametric").var - cents(norm.ppf(0.95) * sigma)) <= Decimal("0.02")
    # Monte Carlo revalues in full: a bought call loses less than its delta says on the way down.
    assert _total(run, "monte_carlo").var < _total(run, "parametric").var
