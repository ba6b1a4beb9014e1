"""The venue's live events after the commit: the depth ladder and the tape to every trader,
order rows to the order's desk only, fill notices to the order's trader only."""

# The fixtures imported from test_venue_support are injected by pytest through test arguments
# of the same names, which ruff reads as redefinitions.
# ruff: noqa: F811

from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from apps.compliance.models import PreTradeRule
from apps.trading.models import Counterparty, KycStatus
from apps.trading.venue import order_submit
from tests.test_live import _open, _session_cookie
from tests.trading.test_venue_support import (  # noqa: F401 - pytest fixtures
    _fresh_engines,
    contract,
    ticket,
    venue_data,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
async def _close_worker_connections():
    yield
    await sync_to_async(connections.close_all)()


def _expire_kyc(short_code: str) -> None:
    """The counterparty's KYC expired, and the KYC rule in force: a transactional test's flush
    empties the tables, the default rules written by compliance's migration 0006 included."""
    PreTradeRule.objects.get_or_create(
        code="kyc_valid",
        jurisdiction="",
        defaults={"effective_from": datetime(2020, 1, 1, tzinfo=UTC), "outcome": "block"},
    )
    Counterparty.objects.filter(short_code=short_code).update(kyc_status=KycStatus.EXPIRED)


async def _frames(socket) -> list[str]:
    """Everything the socket has received so far."""
    frames = []
    while not await socket.receive_nothing(timeout=0.3):
        frames.append(await socket.receive_from(timeout=1))
    return frames


async def test_resting_order_reaches_its_desk_and_the_depth_every_trader(
    contract, trader, other_desk_trader
) -> None:
    mine, (connected, _code) = await _open(await sync_to_async(_session_cookie)(trader))
    assert connected is True
    theirs, (connected, _code) = await _open(
        await sync_to_async(_session_cookie)(other_desk_trader)
    )
    assert connected is True

    result = await sync_to_async(order_submit)(
        user=trader, ticket=ticket(contract, "buy", 10, "50")
    )
    order = result.order

    mine_frames = await _frames(mine)
    theirs_frames = await _frames(theirs)
    ladder = f'<div id="venue-depth-{contract.pk}" class="venue-depth" hx-swap-oob="true">'
    # The anonymous depth: both desks.
    assert any(ladder in frame and "<bdi>50.00</bdi>" in frame for frame in mine_frames)
    assert any(ladder in frame for frame in theirs_frames)
    # The order's row: its desk only.
    row = [f for f in mine_frames if f'id="venue-order-{order.pk}"' in f]
    assert len(row) == 1
    assert '<tbody hx-swap-oob="afterbegin:#venue-order-rows">' in row[0]
    assert not [f for f in theirs_frames if "venue-order-" in f]
    # Nothing in the depth names a desk, a book or a trader.
    for frame in theirs_frames:
        assert "PEU-FLOW" not in frame
        assert trader.username not in frame

    # The other desk hits the bid: each side hears its own fill, its own row; nobody else's.
    hit = await sync_to_async(order_submit)(
        user=other_desk_trader, ticket=ticket(contract, "sell", 4, "50", book="GUS-FLOW")
    )
    mine_frames = await _frames(mine)
    theirs_frames = await _frames(theirs)
    mine_notice = [f for f in mine_frames if "venue-notice" in f]
    assert len(mine_notice) == 1
    assert (
        f"Order <bdi>#{order.pk}</bdi>: bought <bdi>4</bdi> at <bdi>50.00</bdi>" in (mine_notice[0])
    )
    theirs_notice = [f for f in theirs_frames if "venue-notice" in f]
    assert len(theirs_notice) == 1
    assert f"#{hit.order.pk}</bdi>: sold" in theirs_notice[0]
    changed = [f for f in mine_frames if f'<tr id="venue-order-{order.pk}"' in f]
    assert changed
    assert 'hx-swap-oob="true"' in changed[0]
    assert "status-partially_filled" in changed[0]
    assert not [f for f in mine_frames if f"venue-order-{hit.order.pk}" in f]
    assert not [f for f in theirs_frames if f"venue-order-{order.pk}" in f]
    # The tape reaches both; the blotter rows (from the booking) each desk its own.
    assert any(f"afterbegin:#venue-tape-{contract.pk}" in f for f in theirs_frames)
    assert any("PEU-FLOW" in f and "blotter-rows" in f for f in mine_frames)
    assert not any("PEU-FLOW" in f and "blotter-rows" in f for f in theirs_frames)
    await mine.disconnect()
    await theirs.disconnect()


async def test_refused_fill_is_told_to_both_traders_live(
    contract, trader, other_desk_trader
) -> None:
    bid = await sync_to_async(order_submit)(user=trader, ticket=ticket(contract, "buy", 10, "50"))
    mine, (connected, _code) = await _open(await sync_to_async(_session_cookie)(trader))
    assert connected is True
    theirs, (connected, _code) = await _open(
        await sync_to_async(_session_cookie)(other_desk_trader)
    )
    assert connected is True
    # The resting bid books against QZ-US: its side is refused, the fill voided.
    await sync_to_async(_expire_kyc)("QZ-US")

    hit = await sync_to_async(order_submit)(
        user=other_desk_trader, ticket=ticket(contract, "sell", 4, "50", book="GUS-FLOW")
    )

    assert (hit.fills, hit.refused) == (0, 1)
    mine_notice = [f for f in await _frames(mine) if "venue-notice" in f]
    theirs_notice = [f for f in await _frames(theirs) if "venue-notice" in f]
    assert len(mine_notice) == len(theirs_notice) == 1
    assert "notice-error" in mine_notice[0]
    assert f'data-order="{bid.order.pk}"' in mine_notice[0]
    assert (
        f"Order <bdi>#{bid.order.pk}</bdi>: booking refused your side of a fill of <bdi>4</bdi> "
        f"at <bdi>50.00</bdi>, <bdi>{contract.code}</bdi>. The fill is void and the order "
        "cancelled; its page says why."
    ) in mine_notice[0]
    assert (
        f"Order <bdi>#{hit.order.pk}</bdi>: booking refused the other side of a fill of "
        f"<bdi>4</bdi> at <bdi>50.00</bdi>, <bdi>{contract.code}</bdi>. The fill is void."
    ) in theirs_notice[0]
    await mine.disconnect()
    await theirs.disconnect()


async def test_a_non_traders_socket_receives_no_venue_frames(
    contract, trader, other_desk_trader, risk_manager
) -> None:
    """A risk manager of both desks: their socket joins the desks' groups (the blotter), never
    the venue's frames (the depth, the tape, orders, notices), which traders alone see."""
    user, verified = risk_manager, False
    socket, (connected, _code) = await _open(
        await sync_to_async(_session_cookie)(user, verified=verified)
    )
    assert connected is True
    watcher, (connected, _code) = await _open(await sync_to_async(_session_cookie)(trader))
    assert connected is True

    await sync_to_async(order_submit)(user=trader, ticket=ticket(contract, "buy", 10, "50"))
    await sync_to_async(order_submit)(
        user=other_desk_trader, ticket=ticket(contract, "sell", 4, "50", book="GUS-FLOW")
    )

    # The trader's socket heard the venue (the test can fail), the other socket nothing of it.
    assert any("venue-" in frame for frame in await _frames(watcher))
    assert [frame for frame in await _frames(socket) if "venue" in frame] == []
    await socket.disconnect()
    await watcher.disconnect()
