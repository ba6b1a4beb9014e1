"""A booked trade's blotter row reaches its desk's open sockets after the commit, and only
that desk's."""

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from apps.trading.services import trade_book
from tests.test_live import _open, _session_cookie
from tests.trading.factories import trade_terms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded")]


@pytest.fixture(autouse=True)
async def _close_worker_connections():
    yield
    await sync_to_async(connections.close_all)()


async def test_booking_pushes_row_to_own_desk_only(trader, other_desk_trader) -> None:
    mine, (connected, _code) = await _open(await sync_to_async(_session_cookie)(trader))
    assert connected is True
    theirs, (connected, _code) = await _open(
        await sync_to_async(_session_cookie)(other_desk_trader)
    )
    assert connected is True

    await sync_to_async(trade_book)(user=trader, terms=trade_terms())

    html = await mine.receive_from(timeout=5)
    assert '<tbody hx-swap-oob="afterbegin:#blotter-rows">' in html
    assert '<tr id="trade-' in html
    assert "<td><bdi>T-000001</bdi></td>" in html
    assert '<td class="number"><bdi>10 MWh</bdi></td>' in html  # per hour, as traded
    assert await theirs.receive_nothing(timeout=0.3) is True
    await mine.disconnect()
    await theirs.disconnect()
