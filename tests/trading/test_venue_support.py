"""Shared set-up of the venue tests (no tests here; the test_venue_* modules import it): the
seeded reference data, an EUR/USD rate (the internal counterparty QZ-US keeps its credit limit
in dollars, so a euro fill needs it), a contract and tickets.

Desk A (power-eu, the `trader` fixture) books into PEU-FLOW and PEU-HEDGE (legal entity qz-eu);
desk B (gas-us, `other_desk_trader`) into GUS-FLOW (qz-us). A cross between them books A's side
against QZ-US and B's side against QZ-EU.
"""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command

from apps.trading.models import FxRate, Market, VenueContract
from apps.trading.venue import OrderTicket, contract_open, engines_reset

# Far enough ahead to trade whatever the day the tests run (last trading day: end of 2029-02).
PERIOD = "2029-03"


@pytest.fixture(autouse=True)
def _fresh_engines() -> Any:
    """Every test starts with no engine in this process, as after a restart."""
    engines_reset()
    yield
    engines_reset()


@pytest.fixture
def venue_data(db: None) -> None:
    """The seeded reference data (holidays of the years the tests trade only: the seed is most
    of a venue test's time) and an EUR/USD rate."""
    call_command("seed_reference_data", verbosity=0, from_year=2025, to_year=2030)
    FxRate.objects.create(base="EUR", quote="USD", date=date(2026, 1, 2), rate=Decimal("1.08"))


@pytest.fixture
def contract(venue_data: None) -> VenueContract:
    return contract_open(market=Market.objects.get(code="eex-de-power"), period_code=PERIOD)


def ticket(contract: VenueContract, side: str, quantity: Any, price: Any = None, **extra: Any):
    """A GTC limit order into PEU-FLOW unless told otherwise."""
    values: dict[str, Any] = {
        "contract": contract.pk,
        "side": side,
        "quantity": Decimal(str(quantity)),
        "price": None if price is None else Decimal(str(price)),
        "book": "PEU-FLOW",
    }
    values.update(extra)
    return OrderTicket(**values)
