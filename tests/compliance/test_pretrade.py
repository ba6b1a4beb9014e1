"""Pre-trade checks: the rules in force, their figures, and failing closed."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from apps.compliance.pretrade import (
    CheckReport,
    Outcome,
    TradeProposal,
    pretrade_check,
)
from tests.trading.factories import BookFactory, CounterpartyFactory

pytestmark = pytest.mark.django_db

TRADE_DATE = date(2026, 3, 10)


def make_proposal(counterparty: Any, book: Any, **overrides: Any) -> TradeProposal:
    values: dict[str, Any] = {
        "trade_date": TRADE_DATE,
        "trader_id": 1,
        "desk_id": book.desk_id,
        "book_id": book.pk,
        "legal_entity_id": book.legal_entity_id,
        "jurisdiction": book.legal_entity.jurisdiction,
        "counterparty_id": counterparty.pk,
        "market_code": "eex-de-power",
        "commodity": "power",
        "deal_type": "physical_fixed",
        "side": "buy",
        "quantity": Decimal("1000"),
        "unit": "MWh",
        "price": Decimal("100.00"),
        "currency": "EUR",
        "notional": Decimal("100000.00"),
        "notional_in_credit_currency": Decimal("100000.00"),
        "counterparty_exposure": Decimal("0.00"),
    }
    values.update(overrides)
    return TradeProposal(**values)


def by_rule(report: CheckReport) -> dict[str, Any]:
    return {result.rule: result for result in report.results}


@pytest.fixture
def book() -> Any:
    return BookFactory()


@pytest.fixture
def counterparty() -> Any:
    return CounterpartyFactory()


def test_pretrade_check_default_rules_pass_a_sound_trade(counterparty: Any, book: Any) -> None:
    report = pretrade_check(make_proposal(counterparty, book))

    assert [(r.rule, r.outcome) for r in report.results] == [
        ("kyc_valid", Outcome.PASS),
        ("credit_limit", Outcome.PASS),
        ("self_trade", Outcome.PASS),
    ]
    assert report.outcome is Outcome.PASS
