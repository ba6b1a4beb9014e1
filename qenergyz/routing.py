"""Websocket routes of every app, mounted by qenergyz.asgi."""

from django.urls import path

from apps.accounts.consumers import NotificationConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationConsumer.as_asgi()),
]
