"""The one way to publish a live event: after the current transaction commits, to a group.

Groups: `user.<id>` (one user's sockets) and `desk.<id>` (everyone on a desk). An event names a
template under templates/live/ and its context; the consumer renders it in the language of each
socket's user, so one publish serves English and Arabic readers alike.
"""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def desk_group(desk_id: int) -> str:
    return f"desk.{desk_id}"


def publish_after_commit(group: str, template: str, context: dict[str, Any]) -> None:
    """Send `template` rendered with `context` (JSON-serialisable) to `group` once committed.

    Nothing is sent if the transaction rolls back; outside a transaction it is sent at once.
    """

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        async_to_sync(layer.group_send)(
            group, {"type": "live.event", "template": template, "context": context}
        )

    transaction.on_commit(send)
