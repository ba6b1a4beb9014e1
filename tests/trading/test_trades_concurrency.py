"""Concurrent writes on PostgreSQL: two amendments of one version (one wins, the other is
stale), through the service and through the API; one Idempotency-Key sent twice at once; bookings
into one book, and the counterparties' credit exposure under the row locks."""

import json
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from apps.compliance.models import AuditEntry, PreTradeRule
from apps.trading.models import Counterparty, CounterpartyExposure, Position, Trade, TradeVersion
from apps.trading.services import (
    StaleVersion,
    TradeBlocked,
    exposures_computed,
    trade_amend,
    trade_book,
    trade_cancel,
)
from tests.trading.factories import trade_terms
from tests.trading.test_trade_api import PAYLOAD

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


def _post_at_once(requests: list[tuple[Client, str, dict, dict]]) -> list:
    """POST each (client, url, body, headers) from its own thread (and database connection),
    released together; the responses in the order given."""
    barrier = threading.Barrier(len(requests))
    responses: list = [None] * len(requests)

    def post(i: int) -> None:
        client, url, body, headers = requests[i]
        try:
            barrier.wait(timeout=10)
            responses[i] = client.post(
                url, data=json.dumps(body), content_type="application/json", headers=headers
            )
        except BaseException as exc:
            responses[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return responses


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db(transaction=True)
def test_concurrent_api_amendments_one_wins_other_409(postgres, trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    url = f"/api/v1/trades/{trade.pk}/amend/"

    responses = _post_at_once(
        [
            (_signed_in(trader), url, {"version": 1, "quantity": quantity}, {})
            for quantity in ("11", "12")
        ]
    )

    assert sorted(r.status_code for r in responses) == [200, 409]
    won = next(r for r in responses if r.status_code == 200).json()
    lost = next(r for r in responses if r.status_code == 409).json()
    assert lost["code"] == "stale_version"
    assert won["current_version"] == 2
    trade.refresh_from_db()
    assert trade.current_version == 2
    assert TradeVersion.objects.filter(trade=trade).count() == 2
    winner = TradeVersion.objects.get(trade=trade, version=2)
    assert f"{winner.quantity:.6f}" == won["terms"]["quantity"]
    assert Position.objects.get().quantity == winner.total_quantity
    assert AuditEntry.objects.filter(action="trading.trade_amended").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_idempotency_key_book_once(postgres, trader):
    headers = {"Idempotency-Key": "order-at-once"}

    responses = _post_at_once(
        [(_signed_in(trader), "/api/v1/trades/", PAYLOAD, headers) for _ in range(2)]
    )

    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json() == responses[1].json()
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in responses) == ["", "true"]
    assert Trade.objects.count() == 1
    assert TradeVersion.objects.count() == 1
    assert Position.objects.get().quantity == Decimal("7430")
    assert AuditEntry.objects.filter(action="trading.trade_booked").count() == 1


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


def _run_at_once(work, count: int) -> list[str]:
    """Run `work(i)` in `count` threads released together; each returns an outcome word."""
    barrier = threading.Barrier(count)
    outcomes: list[str] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes.append(work(i))
        except BaseException as exc:
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


def _running_exposure() -> dict[tuple[int, str], tuple[Decimal, int, int]]:
    return {
        (row.counterparty_id, row.currency): (row.amount, row.trades, row.unknown)
        for row in CounterpartyExposure.objects.all()
    }


@pytest.fixture
def credit_rule() -> None:
    """The credit rule in force: the data migration wrote it, but a transactional test's flush
    removes it."""
    PreTradeRule.objects.get_or_create(
        code="credit_limit",
        jurisdiction="",
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
        defaults={"outcome": "block", "params": {}},
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_bookings_never_pass_the_credit_limit_together(postgres, trader, credit_rule):
    # NORDWIND's limit is 50,000,000 EUR and each trade is 6,352,650 EUR: after five, only two
    # more fit. Four at once into two books (two book locks, one counterparty lock): two pass.
    for _ in range(5):
        trade_book(user=trader, terms=trade_terms(quantity=Decimal("100")))

    def book(i: int) -> str:
        terms = trade_terms(quantity=Decimal("100"), book=("PEU-FLOW", "PEU-HEDGE")[i % 2])
        try:
            return trade_book(user=trader, terms=terms).status
        except TradeBlocked:
            return "blocked"

    assert _run_at_once(book, 4) == ["blocked", "blocked", "booked", "booked"]
    nordwind = Counterparty.objects.get(short_code="NORDWIND").pk
    assert _running_exposure() == exposures_computed()
    assert _running_exposure() == {(nordwind, "EUR"): (7 * Decimal("6352650.00"), 7, 0)}


@pytest.mark.django_db(transaction=True)
def test_concurrent_cancels_amends_and_bookings_keep_exposure_exact(postgres, trader):
    trades = [trade_book(user=trader, terms=trade_terms()).trade for _ in range(4)]

    def change(i: int) -> str:
        if i < 2:
            trade_cancel(user=trader, trade=trades[i], version=1)
        elif i < 4:
            trade_amend(user=trader, trade=trades[i], version=1, changes={"quantity": Decimal(3)})
        else:
            trade_book(user=trader, terms=trade_terms(book="PEU-HEDGE", quantity=Decimal(7)))
        return "done"

    assert _run_at_once(change, 6) == ["done"] * 6
    assert _running_exposure() == exposures_computed()
    assert sum(figures[1] for figures in _running_exposure().values()) == 4
