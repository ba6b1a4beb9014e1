"""Credit exposure through a real risk run (eager Celery), with hand-checked numbers: a
counterparty under a netting agreement (PRAIRIE with qz-us) and one without (GULFSTAR with
qz-us), Henry Hub in USD so no FX enters, one factor with a given covariance.

Henry Hub's curve is 3.25 USD/MMBtu at every tenor on every day. Both counterparties are
bought from at 3.00 and sold to at 3.10, the same quantity of the same month (M2): the two
trades' exposures to the factor cancel, so a netted set's value never moves, while without
netting each trade's positive value counts on its own on every path."""

import math
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from apps.risk.compute import remaining_life_days
from apps.risk.engine.exposure import TRADING_DAYS_PER_YEAR
from apps.risk.inputs import add_months
from apps.risk.models import Collateral, CreditExposureResult, RiskRun, RunStatus
from apps.risk.services import risk_run_request
from apps.trading.models import Counterparty, LegalEntity, TradeVersion
from tests.risk.test_support import (
    business_days,
    curve_history,
    fx_and_rates,
    gas_book,
    month_after,
    seeded,  # noqa: F401 - a fixture
)

pytestmark = pytest.mark.usefixtures("seeded")

LEVEL = 3.25
SIGMA = 0.03  # a day
PATHS = 20_000
PARAMS = {
    "window": 5,
    "confidences": [0.95],
    "methods": ["historical"],
    "covariance": "given",
    "covariance_matrix": {"factors": ["henry-hub M2"], "matrix": [[SIGMA**2]]},
    "credit_paths": PATHS,
    "pfe_confidence": 0.95,
    "pfe_horizons": [5, 10, 252],
    "stress": False,
    "backtest": False,
}


def cents(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal("0.01"))


@pytest.fixture
def henry_hub(seeded):  # noqa: F811 - the fixture above
    # Thirty business days reach back before this month began: its settlement price exists.
    days = business_days(30)
    curve_history("henry-hub", days, lambda i, k: LEVEL)
    fx_and_rates(days)
    return days


def _quantity(trade) -> float:
    return float(TradeVersion.objects.get(trade=trade).total_quantity)


def _run(user, django_capture_on_commit_callbacks, **overrides) -> RiskRun:
    with django_capture_on_commit_callbacks(execute=True):
        run = risk_run_request(user=user, desk=None, parameters={**PARAMS, **overrides})
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, (run.error, run.problems)
    return run


def _pfe_not_netted(quantity: float, days: int) -> float:
    """The 95 % quantile of q·(max(F − 3.00, 0) + max(3.10 − F, 0)) for the lognormal
    F = 3.25·exp(σ√h·Z − σ²h/2): the x with P(F > 3 + x) + P(F < 3.1 − x) = 5 %."""
    s = SIGMA * math.sqrt(days)

    def above(level: float) -> float:  # P(F > level)
        return float(norm.sf((math.log(level / LEVEL) + s * s / 2) / s))

    def tail(x: float) -> float:
        low = 3.1 - x
        below = 1.0 - above(low) if low > 0 else 0.0
        return above(3.0 + x) + below - 0.05

    return quantity * brentq(tail, 0.1, 5.0, xtol=1e-12)


def test_credit_exposure_netted_and_not_netted_hand_checked(
    risk_manager, other_desk_trader, henry_hub, django_capture_on_commit_callbacks
):
    bought = gas_book(other_desk_trader, counterparty="PRAIRIE", price=Decimal("3.00"))
    gas_book(other_desk_trader, counterparty="PRAIRIE", side="sell", price=Decimal("3.10"))
    # Sold for this month: delivering, invoiced after the month, paid on the 20th of the next.
    delivering = gas_book(
        other_desk_trader,
        counterparty="PRAIRIE",
        side="sell",
        price=Decimal("3.10"),
        period=month_after(0),
    )
    gas_book(other_desk_trader, counterparty="GULFSTAR", price=Decimal("3.00"))
    gas_book(other_desk_trader, counterparty="GULFSTAR", side="sell", price=Decimal("3.10"))
    us = LegalEntity.objects.get(code="qz-us")
    prairie = Counterparty.objects.get(short_code="PRAIRIE")
    Collateral.objects.create(
        counterparty=prairie, legal_entity=us, amount=Decimal("500"), currency="USD",
        as_of=henry_hub[-1],
    )  # fmt: skip
    q = _quantity(bought)
    q_now = _quantity(delivering)

    run = _run(risk_manager, django_capture_on_commit_callbacks)

    netted = CreditExposureResult.objects.get(run=run, counterparty=prairie)
    assert netted.netted is True
    assert netted.trades == 3
    # MtM: q·(3.25 − 3.00) + q·(3.10 − 3.25) = 0.10·q (this month's sale is realised).
    assert netted.mtm == cents(0.10 * q)
    assert netted.collateral == Decimal("500.00")
    assert netted.current_exposure == cents(0.10 * q - 500)
    # Delivered, not yet paid: the sale's invoice, 3.10 × this month's quantity.
    assert netted.settlement_exposure == cents(3.10 * q_now)
    # The two M2 trades' exposures cancel: no position moves, so no PFE above the current.
    assert netted.peak_pfe == netted.current_exposure
    assert netted.profile == []
    assert netted.credit_limit == Decimal("25000000.00")
    usage = (0.10 * q - 500) + 3.10 * q_now
    assert netted.usage == cents(usage)
    assert netted.utilisation == Decimal(repr(usage / 25_000_000)).quantize(Decimal("0.000001"))

    gross = CreditExposureResult.objects.get(run=run, counterparty__short_code="GULFSTAR")
    assert gross.netted is False
    assert gross.trades == 2
    assert gross.mtm == cents(0.10 * q)
    assert gross.settlement_exposure == 0
    # Without netting only the purchase is owed to us today: q·0.25 (the sale is worth −0.15·q).
    assert gross.current_exposure == cents(0.25 * q)
    # PFE over the remaining life: M2 starts delivering 28 to 62 days from now (19 to 43
    # business days), so 5 and 10 days are inside it and 252 is not.
    life = (add_months(henry_hub[-1], 2) - henry_hub[-1]).days * TRADING_DAYS_PER_YEAR / 365
    assert 10 <= life < 252
    assert [h for h, _ee, _pfe in gross.profile] == [5, 10]
    for days, _ee, pfe in gross.profile:
        assert pfe == pytest.approx(_pfe_not_netted(q, days), rel=0.02)
    assert gross.peak_horizon_days == 10
    assert float(gross.peak_pfe) == gross.profile[1][2]
    assert gross.usage == cents(float(gross.peak_pfe))  # a USD limit: no conversion


def test_credit_exposure_not_netted_is_at_least_the_netted_on_the_same_trades(
    risk_manager, other_desk_trader, henry_hub, django_capture_on_commit_callbacks
):
    # The same two trades with each counterparty: without netting the PFE cannot be less,
    # and here it is far more (the netted value is 0.10·q on every path).
    for counterparty in ("PRAIRIE", "GULFSTAR"):
        trade = gas_book(other_desk_trader, counterparty=counterparty, price=Decimal("3.00"))
        gas_book(other_desk_trader, counterparty=counterparty, side="sell", price=Decimal("3.10"))
    q = _quantity(trade)

    run = _run(risk_manager, django_capture_on_commit_callbacks, pfe_horizons=[5])

    rows = {r.counterparty.short_code: r for r in CreditExposureResult.objects.filter(run=run)}
    assert rows["PRAIRIE"].peak_pfe == cents(0.10 * q)
    assert rows["GULFSTAR"].peak_pfe == pytest.approx(
        Decimal(repr(_pfe_not_netted(q, 5))), rel=Decimal("0.02")
    )
    assert rows["GULFSTAR"].peak_pfe > 3 * rows["PRAIRIE"].peak_pfe


def test_credit_exposure_collateral_above_the_exposure_leaves_none(
    risk_manager, other_desk_trader, henry_hub, django_capture_on_commit_callbacks
):
    gas_book(other_desk_trader, counterparty="GULFSTAR", price=Decimal("3.00"))
    Collateral.objects.create(
        counterparty=Counterparty.objects.get(short_code="GULFSTAR"),
        legal_entity=LegalEntity.objects.get(code="qz-us"),
        amount=Decimal("1000000000"), currency="USD", as_of=henry_hub[-1],
    )  # fmt: skip

    run = _run(risk_manager, django_capture_on_commit_callbacks)

    row = CreditExposureResult.objects.get(run=run)
    assert row.current_exposure == 0
    assert row.peak_pfe == 0
    assert all(pfe == 0 for _h, _ee, pfe in row.profile)
    assert row.usage == 0


def test_remaining_life_counts_to_the_last_months_delivery():
    linear = {
        "netting_set": np.array(["1:1", "1:1", "2:1#7", "2:1#7"]),
        "tenor": np.array(["M1", "M3", "M2", "spot"]),
    }
    options = {"netting_set": np.array(["3:1"]), "tenor": np.array(["M1"])}

    life = remaining_life_days(date(2026, 1, 15), [linear, options])

    # To 2026-04-01: 76 days; to 2026-03-01: 45; to 2026-02-01: 17; 252 business days a year.
    assert life == {"1:1": 76 * 252 / 365, "2:1#7": 45 * 252 / 365, "3:1": 17 * 252 / 365}
