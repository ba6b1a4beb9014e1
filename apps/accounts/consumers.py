import asyncio
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.template.loader import render_to_string
from django.utils import translation

from apps.accounts.live import (
    LIVE_TEMPLATE_PREFIX,
    desk_group,
    user_group,
    venue_desk_group,
    venue_group,
)
from apps.accounts.middleware import session_seconds_left
from apps.accounts.models import Role
from apps.accounts.permissions import desks_for_user, has_role, socket_user_allowed
from apps.accounts.regions import region_defaults
from qenergyz import metrics

# Application close codes (4000-4999): the browser sees why the socket ended.
CLOSE_FORBIDDEN = 4403
CLOSE_REVOKED = 4401


class NotificationConsumer(AsyncWebsocketConsumer):
    """A signed-in user's live channel: their own events and their desks' events.

    The Origin is checked by qenergyz.asgi (scheme, host and port) before this runs. The
    consumer only listens and forwards: it never writes to the database.
    """

    groups_joined: list[str]
    language: str
    counted_open = False  # in the open-sockets gauge, to be taken out on disconnect
    session_watch: "asyncio.Task[None] | None" = None
    revoked = False  # closed by live_close: once, whichever of its causes came first

    async def connect(self) -> None:
        self.groups_joined = []
        allowed, groups, language, seconds_left = await self._admit(
            self.scope.get("user"), self.scope.get("session")
        )
        if not allowed:
            # Closing before accept refuses the handshake (HTTP 403 to the browser).
            metrics.websocket_refused()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.language = language
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)
        await self.accept()
        metrics.websocket_opened()
        self.counted_open = True
        self.session_watch = asyncio.ensure_future(self._watch_session(seconds_left))

    async def disconnect(self, code: int) -> None:
        self._stop_watch()
        if self.counted_open:
            metrics.websocket_closed()
            self.counted_open = False
        await self._leave_groups()

    async def _leave_groups(self) -> None:
        groups, self.groups_joined = self.groups_joined, []
        for group in groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Clients only listen; anything they send is ignored."""

    async def live_event(self, event: dict[str, Any]) -> None:
        if not self.groups_joined:
            return  # closed (live_close): nothing more reaches it
        template = event.get("template", "")
        if not template.startswith(LIVE_TEMPLATE_PREFIX):
            return  # live.publish_after_commit refuses these; never render a page template
        with translation.override(self.language):
            html = render_to_string(template, event.get("context") or {})
        await self.send(text_data=html)

    async def live_close(self, event: dict[str, Any]) -> None:
        if self.revoked:
            return
        self.revoked = True
        # Leave the groups first: until the browser answers the close, events already on their
        # way would still be sent to a socket whose session has ended.
        await self._leave_groups()
        self._stop_watch()
        await self.close(code=CLOSE_REVOKED)

    def _stop_watch(self) -> None:
        watch, self.session_watch = self.session_watch, None
        if watch is not None and watch is not asyncio.current_task():
            watch.cancel()

    async def _watch_session(self, seconds_left: float) -> None:
        """Close the socket when its session ends by itself (idle or absolute timeout), at the
        moment it would: the socket never marks the session active, and nothing else would
        tell it. One session read per period, not per event."""
        # The first read waits for the time the admission found left: no database work of the
        # socket's own while the page is in use.
        left = seconds_left
        while left > 0:
            await asyncio.sleep(left + 1)
            try:
                left = await self._session_seconds_left()
            except Exception:
                left = 0.0  # an unreadable session is an ended one (fail closed)
        await self.live_close({"type": "live.close"})

    @database_sync_to_async
    def _session_seconds_left(self) -> float:
        # The session as stored now (the scope's copy was read at connect).
        session_key = self.scope["session"].session_key
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
        user = self.scope["user"]
        if session_key is None or store.get(SESSION_KEY) != str(user.pk):
            return 0.0  # signed out (flushed) or another user's session now
        return session_seconds_left(store)

    @database_sync_to_async
    def _admit(self, user: Any, session: Any) -> tuple[bool, list[str], str, float]:
        # The same gatekeeper as the pages: signed in, active, second factor where required.
        if not socket_user_allowed(user, session):
            return False, [], "", 0.0
        seconds_left = session_seconds_left(session)
        if seconds_left <= 0:
            return False, [], "", 0.0  # idle or expired: the pages would not let it in either
        desk_ids = list(desks_for_user(user).values_list("pk", flat=True))
        groups = [user_group(user.pk)] + [desk_group(desk_id) for desk_id in desk_ids]
        if has_role(user, Role.TRADER):
            # The venue's depth and last trades: every trader; a desk's orders: its traders
            # (the venue's gatekeeper shows orders to traders only, not to all of the desk).
            groups.append(venue_group())
            groups += [venue_desk_group(desk_id) for desk_id in desk_ids]
        # The language the pages use: the cookie first (as LocaleMiddleware), then the profile.
        cookies = self.scope.get("cookies") or {}
        language = cookies.get(settings.LANGUAGE_COOKIE_NAME) or user.language
        if language not in dict(settings.LANGUAGES):
            language = region_defaults(user.region).language
        return True, groups, language, seconds_left
