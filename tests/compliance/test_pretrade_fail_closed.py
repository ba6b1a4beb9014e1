"""Pre-trade checks fail closed when no rule is in force for a trade's jurisdiction.

"No rule in force" means neither a rule of the jurisdiction's own nor one for every jurisdiction,
of any kind: the trade is blocked under the pseudo-rule "pretrade". One rule left in force (of
any kind) is checked as usual.
"""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone, translation

from apps.accounts.models import Jurisdiction
from apps.compliance.models import AuditEntry, PreTradeRule
from apps.compliance.pretrade import Outcome, pretrade_check, pretrade_check_many
from apps.trading.models import Trade, TradeVersion
from apps.trading.services import TradeBlocked, trade_book
from tests.compliance.test_pretrade import make_proposal
from tests.risk.test_support import seeded  # noqa: F401 - a fixture
from tests.trading.factories import (
    BookFactory,
    CounterpartyFactory,
    LegalEntityFactory,
    trade_terms,
)

pytestmark = pytest.mark.django_db

NO_RULE_EU = (
    "No pre-trade rule is in force for jurisdiction EU_MIFID_REMIT: the trade cannot be checked."
)


@pytest.fixture
def book() -> Any:
    # Legal entity in the EU (MiFID II / REMIT), from the factory.
    return BookFactory()


@pytest.fixture
def counterparty() -> Any:
    return CounterpartyFactory()


def test_pretrade_no_rule_in_force_blocks_with_the_reason(counterparty: Any, book: Any) -> None:
    PreTradeRule.objects.update(enabled=False)

    report = pretrade_check(make_proposal(counterparty, book))

    assert [(r.rule, r.outcome, r.reason) for r in report.results] == [
        ("pretrade", Outcome.BLOCK, NO_RULE_EU)
    ]
    assert report.blocked


def test_pretrade_all_rules_ended_blocks(counterparty: Any, book: Any) -> None:
    PreTradeRule.objects.update(effective_to=timezone.now() - timedelta(minutes=1))

    report = pretrade_check(make_proposal(counterparty, book))

    assert [(r.rule, r.outcome) for r in report.results] == [("pretrade", Outcome.BLOCK)]


def test_pretrade_rule_of_another_jurisdiction_only_blocks_this_one(counterparty: Any) -> None:
    PreTradeRule.objects.update(enabled=False)
    PreTradeRule.objects.create(
        code="self_trade",
        jurisdiction=Jurisdiction.CFTC,
        outcome="block",
        params={},
        effective_from=timezone.now() - timedelta(days=1),
    )
    eu_book = BookFactory()
    us_book = BookFactory(legal_entity=LegalEntityFactory(jurisdiction=Jurisdiction.CFTC))

    eu, us = pretrade_check_many(
        [make_proposal(counterparty, eu_book), make_proposal(counterparty, us_book)]
    )

    assert [(r.rule, r.outcome) for r in eu.results] == [("pretrade", Outcome.BLOCK)]
    assert [(r.rule, r.outcome) for r in us.results] == [("self_trade", Outcome.PASS)]


def test_pretrade_one_rule_left_in_force_is_checked_and_passes(
    counterparty: Any, book: Any
) -> None:
    PreTradeRule.objects.exclude(code="self_trade").update(enabled=False)

    report = pretrade_check(make_proposal(counterparty, book))

    assert [(r.rule, r.outcome) for r in report.results] == [("self_trade", Outcome.PASS)]
    assert report.outcome is Outcome.PASS


def test_pretrade_no_rule_reason_is_read_in_arabic(counterparty: Any, book: Any) -> None:
    PreTradeRule.objects.update(enabled=False)
    (result,) = pretrade_check(make_proposal(counterparty, book)).results

    assert result.message.startswith("No pre-trade rule is in force")
    assert result.params == {"jurisdiction": "EU_MIFID_REMIT"}
    with translation.override("ar"):
        assert "EU_MIFID_REMIT" in result.reason


@pytest.mark.usefixtures("seeded")
def test_pretrade_booking_with_no_rule_is_refused_and_writes_no_trade(trader: Any) -> None:
    PreTradeRule.objects.update(enabled=False)

    with pytest.raises(TradeBlocked) as refused:
        trade_book(user=trader, terms=trade_terms())

    assert [(r.rule, r.outcome) for r in refused.value.report.results] == [
        ("pretrade", Outcome.BLOCK)
    ]
    assert (Trade.objects.count(), TradeVersion.objects.count()) == (0, 0)
    assert AuditEntry.objects.filter(action="trading.trade_blocked").count() == 1


@pytest.mark.usefixtures("seeded")
def test_pretrade_api_booking_with_no_rule_is_422_with_the_reason(trader: Any) -> None:
    PreTradeRule.objects.update(enabled=False)
    client = Client()
    client.force_login(trader)
    payload = {
        "book": "PEU-FLOW",
        "counterparty": "NORDWIND",
        "deal_type": "physical_fixed",
        "side": "buy",
        "market": "eex-de-power",
        "quantity": "10",
        "price": "85.50",
        "currency": "EUR",
        "period": "2026-03",
        "trade_date": "2026-01-15",
        "executed_at": "2026-01-15T09:30:00Z",
    }

    response = client.post(
        "/api/v1/trades/", data=json.dumps(payload), content_type="application/json"
    )

    assert response.status_code == 422
    assert NO_RULE_EU in json.dumps(response.json())
    assert Trade.objects.count() == 0


@pytest.mark.usefixtures("seeded")
def test_pretrade_default_rules_pass_an_ordinary_booking(trader: Any) -> None:
    result = trade_book(user=trader, terms=trade_terms())

    assert result.trade.status == "booked"
    assert [r["rule"] for r in result.version.pretrade_results] == [
        "kyc_valid",
        "credit_limit",
        "self_trade",
    ]
