from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from apps.accounts.live import desk_group, user_group
from apps.accounts.permissions import desks_for_user, socket_user_allowed
from apps.accounts.regions import region_defaults


class NotificationConsumer(AsyncWebsocketConsumer):
    """A signed-in user's live channel: their own events and their desks' events.

    The Origin is checked by qenergyz.asgi (AllowedHostsOriginValidator) before this runs.
    """

    async def connect(self) -> None:
        user = self.scope.get("user")
        session = self.scope.get("session")
        allowed, groups, language = await self._admit(user, session)
        if not allowed:
            await self.close(code=4403)
            return
        self.groups_joined = groups
        self.language = language
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Clients only listen; anything they send is ignored."""

    async def live_event(self, event: dict[str, Any]) -> None:
        with translation.override(self.language):
            html = render_to_string(event["template"], event["context"])
        await self.send(text_data=html)

    @database_sync_to_async
    def _admit(self, user: Any, session: Any) -> tuple[bool, list[str], str]:
        if not socket_user_allowed(user, session):
            return False, [], ""
        desk_ids = desks_for_user(user).values_list("pk", flat=True)
        groups = [user_group(user.pk)] + [desk_group(desk_id) for desk_id in desk_ids]
        cookies = self.scope.get("cookies") or {}
        language = cookies.get(settings.LANGUAGE_COOKIE_NAME) or user.language
        if language not in dict(settings.LANGUAGES):
            language = region_defaults(user.region).language
        return True, groups, language
