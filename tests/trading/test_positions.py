"""Positions: incremental updates equal a rebuild from the trades, whatever happened."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.trading.models import Position, Trade, TradeStatus
from apps.trading.positions import positions_rebuild
from apps.trading.services import (
    TradeStateError,
    trade_amend,
    trade_book,
    trade_cancel,
)
from tests.trading.factories import trade_terms

pytestmark = pytest.mark.usefixtures("seeded")

PERIODS = ["2026-01", "2026-03", "2026-10", "2026-Q2", "2026-W13", "SUM-2026"]
MARKETS = [("eex-de-power", "EUR"), ("ttf", "EUR")]


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


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(st.one_of(book_op, amend_op, cancel_op), min_size=1, max_size=8))
def test_incremental_positions_equal_rebuild(trader, ops):
    with transaction.atomic():
        for op in ops:
            trades = list(Trade.objects.order_by("pk"))
            if op["op"] == "book":
                market, currency = op["market"]
                profile = op["profile"] if market == "eex-de-power" else "base"
                trade_book(
                    user=trader,
                    terms=trade_terms(
                        book=op["book"],
                        market=market,
                        currency=currency,
                        side=op["side"],
                        quantity=op["quantity"],
                        period=op["period"],
                        profile=profile,
                    ),
                )
            elif trades:
                trade = trades[op["which"] % len(trades)]
                try:
                    if op["op"] == "amend":
                        trade_amend(
                            user=trader,
                            trade=trade,
                            version=trade.current_version,
                            changes={
                                "quantity": op["quantity"],
                                "period": op["period"],
                                "side": op["side"],
                            },
                        )
                    else:
                        trade_cancel(user=trader, trade=trade, version=trade.current_version)
                except TradeStateError:
                    assert trade.status == TradeStatus.CANCELLED
        incremental = _snapshot()
        positions_rebuild()
        assert _snapshot() == incremental
        transaction.set_rollback(True)


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
