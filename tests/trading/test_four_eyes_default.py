"""Four eyes on a desk with no policy: settings.DEFAULT_APPROVAL_THRESHOLD in
DEFAULT_APPROVAL_CURRENCY (1,000,000 EUR unless configured), the notional converted as for a
desk's own policy; a notional that cannot be converted waits for a second person."""

import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from apps.trading.models import DeskTradingPolicy, FxRate, Position, TradeStatus
from apps.trading.services import trade_approve, trade_book
from tests.trading.factories import DeskTradingPolicyFactory, trade_terms

pytestmark = pytest.mark.usefixtures("seeded")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_policy(seeded, desk_a):
    DeskTradingPolicy.objects.filter(desk=desk_a).delete()


def henry_hub(**overrides: object):
    # 10,000 MMBtu a day over April 2026 at 3.25 USD: a notional of 975,000.00 USD, with
    # PRAIRIE (credit in USD: its check needs no rate).
    values: dict[str, object] = {
        "counterparty": "PRAIRIE",
        "market": "henry-hub",
        "currency": "USD",
        "quantity": Decimal("10000"),
        "price": Decimal("3.25"),
        "period": "2026-04",
    }
    values.update(overrides)
    return trade_terms(**values)


@pytest.mark.usefixtures("no_policy")
def test_four_eyes_default_under_the_threshold_books(trader):
    # 10 MW over March 2026 at 85.50 EUR: 635,265.00 EUR, under 1,000,000 EUR.
    assert trade_book(user=trader, terms=trade_terms()).trade.status == TradeStatus.BOOKED


@pytest.mark.usefixtures("no_policy")
def test_four_eyes_default_over_the_threshold_waits_for_approval(trader, risk_manager):
    # 20 MW: 1,270,530.00 EUR, over 1,000,000 EUR.
    trade = trade_book(user=trader, terms=trade_terms(quantity=Decimal("20"))).trade

    assert trade.status == TradeStatus.PENDING_APPROVAL
    assert Position.objects.count() == 0
    approved = trade_approve(user=risk_manager, trade=trade, version=1)
    assert (approved.version.version, approved.version.status) == (2, TradeStatus.BOOKED)


@pytest.mark.usefixtures("no_policy")
def test_four_eyes_default_threshold_from_the_settings(trader, settings):
    settings.DEFAULT_APPROVAL_THRESHOLD = Decimal("600000")

    assert trade_book(user=trader, terms=trade_terms()).trade.status == (
        TradeStatus.PENDING_APPROVAL
    )


@pytest.mark.usefixtures("no_policy")
def test_four_eyes_default_without_an_fx_rate_waits_for_approval(trader):
    # 975,000.00 USD cannot be expressed in EUR: it cannot be shown to be under the threshold.
    assert trade_book(user=trader, terms=henry_hub()).trade.status == (TradeStatus.PENDING_APPROVAL)


@pytest.mark.usefixtures("no_policy")
def test_four_eyes_default_converts_the_notional_at_the_trade_dates_rate(trader):
    FxRate.objects.create(base="EUR", quote="USD", date=date(2026, 1, 14), rate=Decimal("1.25"))

    # 975,000.00 USD at 1.25 USD per EUR is 780,000.00 EUR, under the threshold; 1,320,000.00
    # USD is 1,056,000.00 EUR, over it.
    small = trade_book(user=trader, terms=henry_hub()).trade
    large = trade_book(user=trader, terms=henry_hub(price=Decimal("4.40"))).trade

    assert (small.status, large.status) == (TradeStatus.BOOKED, TradeStatus.PENDING_APPROVAL)


@pytest.mark.usefixtures("no_policy")
def test_four_eyes_default_currency_from_the_settings(trader, settings):
    settings.DEFAULT_APPROVAL_CURRENCY = "USD"

    # In USD no rate is needed: 975,000.00 USD is under 1,000,000 USD.
    assert trade_book(user=trader, terms=henry_hub()).trade.status == TradeStatus.BOOKED


def test_four_eyes_desk_policy_overrides_the_default(trader, desk_a):
    DeskTradingPolicyFactory(desk=desk_a, approval_threshold=Decimal("2000000"), currency="EUR")

    # 1,270,530.00 EUR: over the default, under the desk's own threshold.
    trade = trade_book(user=trader, terms=trade_terms(quantity=Decimal("20"))).trade

    assert trade.status == TradeStatus.BOOKED


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEFAULT_APPROVAL_THRESHOLD", "a lot", "DEFAULT_APPROVAL_THRESHOLD must be a decimal"),
        ("DEFAULT_APPROVAL_THRESHOLD", "-1", "DEFAULT_APPROVAL_THRESHOLD must be a number of 0"),
        ("DEFAULT_APPROVAL_THRESHOLD", "NaN", "DEFAULT_APPROVAL_THRESHOLD must be a number of 0"),
        ("DEFAULT_APPROVAL_CURRENCY", "euro", "DEFAULT_APPROVAL_CURRENCY must be a currency"),
    ],
)
def test_four_eyes_default_misconfigured_stops_start_up(variable, value, message):
    env = {**os.environ, "DEBUG": "1", variable: value}
    finished = subprocess.run(
        [sys.executable, "-c", "import qenergyz.settings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert finished.returncode == 1
    assert message in finished.stderr
