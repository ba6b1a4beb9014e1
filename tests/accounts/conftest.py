"""Helpers of the accounts tests: real TOTP codes, verified sessions, live-event capture."""

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.live import user_group
from apps.compliance.models import AuditEntry


def totp_code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The code the user's app shows now (or `steps_ahead` time steps later): computed from the
    device's key, as a phone would. A code is accepted once, so a second verification in the
    same 30 seconds uses the next step (the device's tolerance allows one step ahead)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def confirmed_device(user: Any) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def audit_actions(**filters: Any) -> list[str]:
    return list(
        AuditEntry.objects.filter(**filters).order_by("seq").values_list("action", flat=True)
    )


class LiveListener:
    """Joins a user's live group on the real channel layer and reads what was published."""

    def __init__(self, user_id: int) -> None:
        self.layer = get_channel_layer()
        self.group = user_group(user_id)
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(self.group, self.channel)

    def receive(self, timeout: float = 2.0) -> dict[str, Any] | None:
        async def get() -> dict[str, Any] | None:
            try:
                return await asyncio.wait_for(self.layer.receive(self.channel), timeout)
            except TimeoutError:
                return None

        return async_to_sync(get)()

    def close(self) -> None:
        async_to_sync(self.layer.group_discard)(self.group, self.channel)


@pytest.fixture
def live_listener():
    listeners: list[LiveListener] = []

    def listen(user_id: int) -> LiveListener:
        listener = LiveListener(user_id)
        listeners.append(listener)
        return listener

    yield listen
    for listener in listeners:
        listener.close()
