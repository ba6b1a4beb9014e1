"""The counterparties' running credit exposure: what the credit check reads, kept current by
every booking, amendment, cancellation, approval and rejection, and always equal to the sum
from the trades themselves."""

import importlib
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.accounts.models import Role
from apps.compliance.models import PreTradeRule
from apps.trading.models import (
    Counterparty,
    CounterpartyExposure,
    FxRate,
    Trade,
    TradeStatus,
    TradeVersion,
)
from apps.trading.services import (
    TradeBlocked,
    TradeStateError,
    exposures_computed,
    exposures_rebuild,
    trade_amend,
    trade_approve,
    trade_book,
    trade_book_many,
    trade_cancel,
    trade_reject,
)
from tests.factories import UserFactory
from tests.trading.factories import DeskTradingPolicyFactory, trade_terms

pytestmark = pytest.mark.usefixtures("seeded")

# 10 MW of March 2026 at 85.50 EUR/MWh: 7,430 MWh, a notional of 635,265.00 EUR.
MARCH_10MW = Decimal("635265.00")


@pytest.fixture
def second_trader(desk_a):
    return UserFactory(username="trader2", roles=[Role.TRADER], desks=[desk_a])


def _running() -> dict[tuple[int, str], tuple[Decimal, int, int]]:
    return {
        (row.counterparty_id, row.currency): (row.amount, row.trades, row.unknown)
        for row in CounterpartyExposure.objects.all()
    }


def _from_scratch() -> dict[int, dict[str, Decimal | None]]:
    """The credit exposure as the credit check defines it, summed here trade by trade: per
    counterparty and currency, the notional of every booked trade's current version; None
    when one of them has no notional."""
    sums: dict[int, dict[str, Decimal | None]] = defaultdict(dict)
    for trade in Trade.objects.filter(status=TradeStatus.BOOKED):
        version = TradeVersion.objects.get(trade=trade, version=trade.current_version)
        by_currency = sums[trade.counterparty_id]
        before = by_currency.get(version.currency, Decimal(0))
        by_currency[version.currency] = (
            None if before is None or version.notional is None else before + version.notional
        )
    return dict(sums)


def _as_exposures(
    running: dict[tuple[int, str], tuple[Decimal, int, int]],
) -> dict[int, dict[str, Decimal | None]]:
    exposures: dict[int, dict[str, Decimal | None]] = defaultdict(dict)
    for (counterparty_id, currency), (amount, _trades, unknown) in running.items():
        exposures[counterparty_id][currency] = None if unknown else amount
    return dict(exposures)


def _nordwind() -> tuple[int, str]:
    return (Counterparty.objects.get(short_code="NORDWIND").pk, "EUR")


# --- Kept current -----------------------------------------------------------------------------


def test_booking_adds_its_notional(trader):
    trade_book(user=trader, terms=trade_terms())
    trade_book(user=trader, terms=trade_terms(side="sell"))  # a sale adds to the exposure too
    assert _running() == {_nordwind(): (2 * MARCH_10MW, 2, 0)}


def test_amend_replaces_the_notional_and_cancel_removes_the_row(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    trade_amend(user=trader, trade=trade, version=1, changes={"quantity": Decimal("20")})
    assert _running() == {_nordwind(): (2 * MARCH_10MW, 1, 0)}
    trade_cancel(user=trader, trade=trade, version=2)
    assert _running() == {}  # no trade left: no row, as the sum over no trade has none


def test_amend_to_another_counterparty_moves_the_exposure(other_desk_trader):
    # GUS-FLOW trades Henry Hub in USD; GULFSTAR and PRAIRIE both have USD credit limits.
    terms = trade_terms(
        book="GUS-FLOW",
        counterparty="GULFSTAR",
        market="henry-hub",
        currency="USD",
        quantity=Decimal("1000"),
        price=Decimal("3.10"),
    )
    trade = trade_book(user=other_desk_trader, terms=terms).trade
    trade_amend(user=other_desk_trader, trade=trade, version=1, changes={"counterparty": "PRAIRIE"})
    prairie = Counterparty.objects.get(short_code="PRAIRIE").pk
    # 1,000 MMBtu a day for the 31 days of March at 3.10 USD.
    assert _running() == {(prairie, "USD"): (Decimal("96100.00"), 1, 0)}


def test_pending_counts_only_once_approved_and_never_when_rejected(trader, second_trader, desk_a):
    DeskTradingPolicyFactory(desk=desk_a, approval_threshold=Decimal("500000"))
    first = trade_book(user=trader, terms=trade_terms()).trade
    second = trade_book(user=trader, terms=trade_terms()).trade
    assert first.status == second.status == TradeStatus.PENDING_APPROVAL
    assert _running() == {}
    trade_approve(user=second_trader, trade=first, version=1)
    trade_reject(user=second_trader, trade=second, version=1)
    assert _running() == {_nordwind(): (MARCH_10MW, 1, 0)}


def test_blocked_booking_leaves_the_exposure_unchanged(trader):
    trade_book(user=trader, terms=trade_terms())
    with pytest.raises(TradeBlocked):
        trade_book(user=trader, terms=trade_terms(quantity=Decimal("1000")))  # 63.5 M > 50 M
    assert _running() == {_nordwind(): (MARCH_10MW, 1, 0)}


# --- What the credit check reads ----------------------------------------------------------------


def test_credit_check_reads_the_running_exposure(trader):
    # NORDWIND's limit is 50,000,000 EUR; each trade is 6,352,650 EUR: the eighth is over.
    for _ in range(7):
        trade_book(user=trader, terms=trade_terms(quantity=Decimal("100")))
    with pytest.raises(TradeBlocked) as caught:
        trade_book(user=trader, terms=trade_terms(quantity=Decimal("100")))
    assert [r.rule for r in caught.value.report.blocks] == ["credit_limit"]
    assert caught.value.proposal.counterparty_exposure == 7 * 10 * MARCH_10MW


def test_cancel_frees_credit(trader):
    trades = [
        trade_book(user=trader, terms=trade_terms(quantity=Decimal("100"))).trade for _ in range(7)
    ]
    trade_cancel(user=trader, trade=trades[0], version=1)
    assert trade_book(user=trader, terms=trade_terms(quantity=Decimal("100"))).status == "booked"


def test_amend_is_checked_without_its_own_old_notional(trader):
    trades = [
        trade_book(user=trader, terms=trade_terms(quantity=Decimal("100"))).trade for _ in range(7)
    ]
    # 6 x 6,352,650 + 9,528,975 = 47.6 M: within the limit only because the amended trade's
    # old notional no longer counts.
    result = trade_amend(
        user=trader, trade=trades[0], version=1, changes={"quantity": Decimal("150")}
    )
    assert result.status == TradeStatus.BOOKED
    assert _running() == {_nordwind(): (Decimal("47644875.00"), 7, 0)}


@pytest.fixture
def credit_rule_off():
    PreTradeRule.objects.filter(code="credit_limit").update(enabled=False)
    yield
    PreTradeRule.objects.filter(code="credit_limit").update(enabled=True)


def test_trade_without_notional_makes_exposure_unknown_until_it_goes(
    trader, risk_manager, credit_rule_off
):
    # An index-priced forward with no index curve has no notional; booked while the credit rule
    # was off, it leaves NORDWIND's exposure unknown, and the credit check fails closed. A
    # notional that cannot be compared with the desk's threshold needs a second person.
    index = trade_book(
        user=trader,
        terms=trade_terms(deal_type="physical_index", index_market="eex-de-power"),
    ).trade
    assert index.status == "pending_approval"
    index = trade_approve(user=risk_manager, trade=index, version=1).trade
    assert _running() == {_nordwind(): (Decimal(0), 1, 1)}
    PreTradeRule.objects.filter(code="credit_limit").update(enabled=True)
    with pytest.raises(TradeBlocked) as caught:
        trade_book(user=trader, terms=trade_terms())
    assert caught.value.proposal.counterparty_exposure is None
    trade_cancel(user=trader, trade=index, version=2)
    assert trade_book(user=trader, terms=trade_terms()).status == "booked"


def test_other_currency_exposure_needs_an_fx_rate(trader, risk_manager, credit_rule_off):
    # A USD trade with NORDWIND (EUR credit): without a USD/EUR rate the exposure cannot be
    # expressed in EUR, and the next trade is blocked; with the rate it is converted. Nor can
    # it be compared with the desk's EUR threshold, so it waits for a second person.
    usd = trade_book(
        user=trader,
        terms=trade_terms(
            market="henry-hub", currency="USD", quantity=Decimal("1000"), price=Decimal("3.10")
        ),
    ).trade
    assert usd.status == "pending_approval"
    trade_approve(user=risk_manager, trade=usd, version=1)
    PreTradeRule.objects.filter(code="credit_limit").update(enabled=True)
    with pytest.raises(TradeBlocked):
        trade_book(user=trader, terms=trade_terms())
    FxRate.objects.create(base="EUR", quote="USD", date=date(2026, 1, 14), rate=Decimal("1.25"))
    result = trade_book(user=trader, terms=trade_terms())
    credit = next(r for r in result.version.pretrade_results if r["rule"] == "credit_limit")
    assert credit["outcome"] == "pass"


def test_bulk_batch_reads_exposure_once_and_accumulates(trader):
    trade_book(user=trader, terms=trade_terms(quantity=Decimal("100")))
    results = trade_book_many(user=trader, terms_list=[trade_terms(quantity=Decimal("100"))] * 8)
    assert [r.status for r in results] == ["booked"] * 6 + ["blocked"] * 2
    assert _running() == {_nordwind(): (7 * 10 * MARCH_10MW, 7, 0)}


# --- Rebuilt from the trades ---------------------------------------------------------------


def test_rebuild_restores_lost_and_wrong_rows(trader):
    trade_book(user=trader, terms=trade_terms())
    trade_book(user=trader, terms=trade_terms(period="2026-Q2"))
    before = _running()
    CounterpartyExposure.objects.update(amount=Decimal(1))
    assert exposures_rebuild() == 1
    assert _running() == before
    CounterpartyExposure.objects.all().delete()
    exposures_rebuild()
    assert _running() == before


def test_data_migration_fills_exposure_of_existing_trades(trader):
    trade_book(user=trader, terms=trade_terms())
    trade_book(user=trader, terms=trade_terms(quantity=Decimal("5")))
    before = _running()
    CounterpartyExposure.objects.all().delete()
    migration = importlib.import_module("apps.trading.migrations.0007_counterparty_exposure")
    migration.fill(apps, None)
    assert _running() == before == {_nordwind(): (Decimal("952897.50"), 2, 0)}


# --- The property: running == from scratch, whatever happened ---------------------------------

book_op = st.fixed_dictionaries(
    {
        "op": st.just("book"),
        "counterparty": st.sampled_from(["NORDWIND", "GULFSTAR"]),
        "market": st.sampled_from([("eex-de-power", "EUR"), ("ttf", "EUR"), ("henry-hub", "USD")]),
        "indexed": st.booleans(),  # no index curve: a trade without a notional
        "side": st.sampled_from(["buy", "sell"]),
        "quantity": st.integers(min_value=1, max_value=60).map(Decimal),
        "period": st.sampled_from(["2026-03", "2026-Q2", "2026-10"]),
    }
)
amend_op = st.fixed_dictionaries(
    {
        "op": st.just("amend"),
        "which": st.integers(min_value=0, max_value=20),
        "quantity": st.integers(min_value=1, max_value=60).map(Decimal),
        "counterparty": st.sampled_from(["NORDWIND", "GULFSTAR"]),
    }
)
change_op = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["cancel", "approve", "reject"]),
        "which": st.integers(min_value=0, max_value=20),
    }
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    credit_rule=st.booleans(),
    ops=st.lists(st.one_of(book_op, amend_op, change_op), min_size=3, max_size=12),
)
def test_running_exposure_equals_sum_from_trades(trader, second_trader, desk_a, credit_rule, ops):
    with transaction.atomic():
        # Trades over 300,000 EUR wait for a second person: approvals and rejections happen.
        DeskTradingPolicyFactory(desk=desk_a, approval_threshold=Decimal("300000"))
        # With the credit rule off, trades without a notional and in USD for NORDWIND (no FX
        # rate) are booked too; with it on, they are blocked and must leave nothing behind.
        PreTradeRule.objects.filter(code="credit_limit").update(enabled=credit_rule)
        for op in ops:
            trades = list(Trade.objects.order_by("pk"))
            try:
                if op["op"] == "book":
                    market, currency = op["market"]
                    trade_book(
                        user=trader,
                        terms=trade_terms(
                            counterparty=op["counterparty"],
                            market=market,
                            currency=currency,
                            deal_type="physical_index" if op["indexed"] else "physical_fixed",
                            index_market=market if op["indexed"] else "",
                            side=op["side"],
                            quantity=op["quantity"],
                            period=op["period"],
                        ),
                    )
                    continue
                if op["op"] in ("approve", "reject"):  # mostly on trades that wait for it
                    pending = [t for t in trades if t.status == TradeStatus.PENDING_APPROVAL]
                    trades = pending or trades
                if not trades:
                    continue
                trade = trades[op["which"] % len(trades)]
                version = trade.current_version
                if op["op"] == "amend":
                    trade_amend(
                        user=trader,
                        trade=trade,
                        version=version,
                        changes={"quantity": op["quantity"], "counterparty": op["counterparty"]},
                    )
                elif op["op"] == "cancel":
                    trade_cancel(user=trader, trade=trade, version=version)
                elif op["op"] == "approve":
                    trade_approve(user=second_trader, trade=trade, version=version)
                else:
                    trade_reject(user=second_trader, trade=trade, version=version)
            except (TradeBlocked, TradeStateError, ValidationError):
                pass  # refused: nothing written, which the comparison below checks too
        running = _running()
        assert _as_exposures(running) == _from_scratch()
        assert running == exposures_computed()
        exposures_rebuild()
        assert _running() == running
        transaction.set_rollback(True)
