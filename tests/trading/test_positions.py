"""Positions: incremental updates equal a rebuild from the trades, whatever happened, and the
legs themselves are what a hand computation gives."""

import contextlib
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.accounts.models import Role
from apps.compliance.models import PreTradeRule
from apps.trading.models import (
    CurvePoint,
    CurvePointKind,
    CurveSnapshot,
    FxRate,
    Market,
    MarketVolatility,
    Position,
    Trade,
    TradeStatus,
)
from apps.trading.positions import positions_rebuild
from apps.trading.services import (
    TradeBlocked,
    TradeStateError,
    trade_amend,
    trade_approve,
    trade_book,
    trade_cancel,
    trade_reject,
)
from tests.factories import UserFactory
from tests.trading.factories import DeskTradingPolicyFactory, trade_terms

pytestmark = pytest.mark.usefixtures("seeded")

PERIODS = ["2026-01", "2026-03", "2026-10", "2026-Q2", "2026-W13", "SUM-2026"]
# NBP trades in therms (GBP, pence), the others in MWh.
MARKETS = [("eex-de-power", "EUR"), ("ttf", "EUR"), ("nbp", "GBP")]
TRADE_DATE = date(2026, 1, 15)  # trade_terms' trade date


@pytest.fixture
def market_data(seeded):
    """Curves of the trade date for every month of 2026 (options need a forward for their
    delta), 50 % volatility, and the GBP rate the credit check converts NBP trades at."""
    for code, price in (("eex-de-power", "80"), ("ttf", "30"), ("nbp", "75")):
        market = Market.objects.get(code=code)
        snapshot = CurveSnapshot.objects.create(
            market=market, pricing_date=TRADE_DATE, revision=1, point_count=12
        )
        CurvePoint.objects.bulk_create(
            CurvePoint(
                snapshot=snapshot,
                period=f"2026-{month:02d}",
                kind=CurvePointKind.MONTH,
                start=date(2026, month, 1),
                end=date(2026 + month // 12, month % 12 + 1, 1),
                price=Decimal(price),
            )
            for month in range(1, 13)
        )
        MarketVolatility.objects.create(market=market, volatility=Decimal("0.5"))
    FxRate.objects.create(base="EUR", quote="GBP", date=TRADE_DATE, rate=Decimal("0.85"))


@pytest.fixture
def second_trader(desk_a):
    return UserFactory(username="trader2", roles=[Role.TRADER], desks=[desk_a])


def _snapshot() -> dict[tuple, tuple[Decimal, Decimal | None]]:
    return {
        (p.book_id, p.market_id, p.month, p.unit_id): (p.quantity, p.quantity_mwh)
        for p in Position.objects.all()
    }


book_op = st.fixed_dictionaries(
    {
        "op": st.just("book"),
        "book": st.sampled_from(["PEU-FLOW", "PEU-HEDGE"]),
        "market": st.sampled_from(MARKETS),
        "side": st.sampled_from(["buy", "sell"]),
        "quantity": st.integers(min_value=1, max_value=50).map(Decimal),
        "period": st.sampled_from(PERIODS),
        "profile": st.sampled_from(["base", "peak"]),
        # None: a fixed-price forward; else an option of that type and strike.
        "option": st.none()
        | st.tuples(st.sampled_from(["call", "put"]), st.sampled_from([60, 80])),
    }
)
amend_op = st.fixed_dictionaries(
    {
        "op": st.just("amend"),
        "which": st.integers(min_value=0, max_value=20),
        "quantity": st.integers(min_value=1, max_value=50).map(Decimal),
        "period": st.sampled_from(PERIODS),
        "side": st.sampled_from(["buy", "sell"]),
    }
)
cancel_op = st.fixed_dictionaries(
    {"op": st.just("cancel"), "which": st.integers(min_value=0, max_value=20)}
)
decide_op = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["approve", "reject"]),
        "which": st.integers(min_value=0, max_value=20),
    }
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(st.one_of(book_op, amend_op, cancel_op, decide_op), min_size=1, max_size=8))
def test_incremental_positions_equal_rebuild(trader, second_trader, desk_a, market_data, ops):
    with transaction.atomic():
        # Trades over 300,000 EUR wait for a second person (four eyes): approvals and
        # rejections move positions too, or must not. NBP and its options are far below it.
        DeskTradingPolicyFactory(desk=desk_a, approval_threshold=Decimal("300000"))
        for op in ops:
            trades = list(Trade.objects.order_by("pk"))
            if op["op"] == "book":
                market, currency = op["market"]
                profile = op["profile"] if market == "eex-de-power" else "base"
                option = {}
                if op["option"] is not None:
                    option_type, strike = op["option"]
                    option = {
                        "deal_type": "option",
                        "option_type": option_type,
                        "strike": Decimal(strike),
                        "expiry_date": date(2026, 2, 24),
                        "price": Decimal("3.00"),
                    }
                terms = trade_terms(
                    book=op["book"],
                    market=market,
                    currency=currency,
                    side=op["side"],
                    quantity=op["quantity"],
                    period=op["period"],
                    profile=profile,
                    **option,
                )
                # A refusal (credit) writes nothing, which the comparison checks too.
                with contextlib.suppress(TradeBlocked):
                    trade_book(user=trader, terms=terms)
                continue
            if op["op"] in ("approve", "reject"):  # mostly on trades that wait for it
                trades = [t for t in trades if t.status == TradeStatus.PENDING_APPROVAL] or trades
            if not trades:
                continue
            trade = trades[op["which"] % len(trades)]
            version = trade.current_version
            try:
                if op["op"] == "amend":
                    trade_amend(
                        user=trader,
                        trade=trade,
                        version=version,
                        changes={
                            "quantity": op["quantity"],
                            "period": op["period"],
                            "side": op["side"],
                        },
                    )
                elif op["op"] == "cancel":
                    trade_cancel(user=trader, trade=trade, version=version)
                elif op["op"] == "approve":
                    trade_approve(user=second_trader, trade=trade, version=version)
                else:
                    trade_reject(user=second_trader, trade=trade, version=version)
            except TradeStateError:
                # Cancelled or rejected trades take no change; neither does a booked one an
                # approval or rejection is asked of.
                assert trade.status != TradeStatus.PENDING_APPROVAL or op["op"] in (
                    "amend",
                    "cancel",
                )
            except TradeBlocked:
                pass  # an approval or amendment the checks refuse: nothing written
        incremental = _snapshot()
        positions_rebuild()
        assert _snapshot() == incremental
        transaction.set_rollback(True)


def test_position_legs_are_the_hand_computed_quantities(trader, market_data):
    # Credit aside (this is about quantities): the credit check converts and limits amounts.
    PreTradeRule.objects.filter(code="credit_limit").update(enabled=False)
    power, nbp = Market.objects.get(code="eex-de-power"), Market.objects.get(code="nbp")
    # 10 MW base, March 2026: 31 × 24 − 1 hours (clocks go forward on the 29th) = 743 h:
    # 7,430 MWh.
    trade_book(user=trader, terms=trade_terms(period="2026-03"))
    # Sell 10 MW peak, March 2026: 22 weekdays × 12 h (08-20) = 264 h: −2,640 MWh.
    trade_book(user=trader, terms=trade_terms(period="2026-03", profile="peak", side="sell"))
    # Buy 1,000 therm/day of NBP, March 2026: 31 gas days = 31,000 therm (a row of its own, in
    # therm); in MWh: 31,000 × 0.1 MMBtu / 3.412141633 MMBtu per MWh = 908.520318.
    trade_book(
        user=trader,
        terms=trade_terms(market="nbp", currency="GBP", quantity=Decimal(1000), price=Decimal(75)),
    )
    # Buy an at-the-money call, 10 MW base April 2026 (30 × 24 = 720 h: 7,200 MWh) on the
    # curve's 80, strike 80, 50 % volatility, expiring 2026-02-24 (40 days after the trade):
    # σ√T = 0.5 × √(40/365) = 0.165521, d1 = σ√T / 2 = 0.082761, delta N(d1) = 0.53297905;
    # leg 0.53297905 × 7,200 = 3,837.449160 MWh.
    trade_book(
        user=trader,
        terms=trade_terms(
            period="2026-04",
            deal_type="option",
            option_type="call",
            strike=Decimal(80),
            expiry_date=date(2026, 2, 24),
            price=Decimal("3.00"),
        ),
    )
    rows = {
        (p.market_id, p.month, p.unit.code): (p.quantity, p.quantity_mwh)
        for p in Position.objects.select_related("unit")
    }
    assert rows == {
        (power.pk, date(2026, 3, 1), "MWh"): (Decimal("4790"), Decimal("4790")),
        (nbp.pk, date(2026, 3, 1), "therm"): (Decimal("31000"), Decimal("908.520318")),
        (power.pk, date(2026, 4, 1), "MWh"): (Decimal("3837.449160"), Decimal("3837.449160")),
    }


def test_rebuild_positions_command_restores_deleted_rows(trader):
    trade_book(user=trader, terms=trade_terms(period="2026-Q1"))
    before = _snapshot()
    Position.objects.all().delete()
    out = StringIO()
    call_command("rebuild_positions", stdout=out)
    assert out.getvalue() == "3 position rows rebuilt\n"
    assert _snapshot() == before


def test_rebuild_positions_command_one_book(trader):
    trade_book(user=trader, terms=trade_terms(book="PEU-HEDGE"))
    out = StringIO()
    call_command("rebuild_positions", "PEU-FLOW", stdout=out)
    assert out.getvalue() == "0 position rows rebuilt\n"
    assert Position.objects.count() == 1  # PEU-HEDGE's row was not touched
