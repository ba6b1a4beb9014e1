"""Two amendments of one version at once, on PostgreSQL: one wins, the other is stale."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.trading.models import Position, Trade, TradeVersion
from apps.trading.services import StaleVersion, trade_amend, trade_book
from tests.trading.factories import trade_terms

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("seeded")]


@pytest.mark.django_db(transaction=True)
def test_concurrent_amendments_one_wins_other_stale(postgres, trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def amend(quantity: str) -> None:
        try:
            barrier.wait(timeout=10)
            trade_amend(
                user=trader, trade=trade, version=1, changes={"quantity": Decimal(quantity)}
            )
            outcomes.append("won")
        except StaleVersion:
            outcomes.append("stale")
        finally:
            connection.close()

    threads = [threading.Thread(target=amend, args=(q,)) for q in ("11", "12")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["stale", "won"]
    trade.refresh_from_db()
    assert trade.current_version == 2
    assert TradeVersion.objects.filter(trade=trade).count() == 2
    winner = TradeVersion.objects.get(trade=trade, version=2)
    assert Position.objects.get().quantity == winner.total_quantity


@pytest.mark.django_db(transaction=True)
def test_concurrent_bookings_into_one_book_sum_exactly(postgres, trader):
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def book() -> None:
        try:
            barrier.wait(timeout=10)
            trade_book(user=trader, terms=trade_terms(quantity=Decimal("1")))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=book) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(Trade.objects.values_list("trade_ref", flat=True)) == [
        "T-000001",
        "T-000002",
        "T-000003",
        "T-000004",
    ]
    assert Position.objects.get().quantity == Decimal("2972")  # 4 x 743 hours x 1 MW
