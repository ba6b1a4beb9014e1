"""The one way to publish a live event: after the current transaction commits, to a group.

Groups: `user.<id>` (one user's sockets), `desk.<id>` (everyone on a desk), `venue` (every
trader: the internal venue's anonymous depth ladders and last trades) and `venue-desk.<id>`
(the desk's traders: its orders, which only traders may see). An event names a
template under templates/live/ and its context; the consumer renders it in the language of each
socket's user, so one publish serves English and Arabic readers alike. Templates render an
element with `hx-swap-oob` (see live/notice.html), which the htmx websocket extension swaps into
the page.
"""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

# Only these templates may be named by an event: the consumer renders whatever the event names,
# so a publisher can never make it render a page template (with its context expectations).
LIVE_TEMPLATE_PREFIX = "live/"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def desk_group(desk_id: int) -> str:
    return f"desk.{desk_id}"


def venue_group() -> str:
    return "venue"


def venue_desk_group(desk_id: int) -> str:
    return f"venue-desk.{desk_id}"


def _send_after_commit(group: str, message: dict[str, Any]) -> None:
    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        async_to_sync(layer.group_send)(group, message)

    # on_commit runs `send` at once outside a transaction and drops it on rollback, so a
    # reader never sees an event about something that was not saved.
    transaction.on_commit(send)


def publish_after_commit(group: str, template: str, context: dict[str, Any]) -> None:
    """Send `template` rendered with `context` (JSON-serialisable) to `group` once committed.

    Nothing is sent if the transaction rolls back; outside a transaction it is sent at once.
    """
    if not template.startswith(LIVE_TEMPLATE_PREFIX):
        raise ValueError(f"Live events render templates under {LIVE_TEMPLATE_PREFIX!r}: {template}")
    _send_after_commit(group, {"type": "live.event", "template": template, "context": context})


def disconnect_user_after_commit(user_id: int) -> None:
    """Close every open socket of the user once committed (deactivation, role change, logout
    everywhere): a socket keeps the groups it joined at connect, so it must reconnect to be
    judged again by the gatekeeper."""
    _send_after_commit(user_group(user_id), {"type": "live.close"})
