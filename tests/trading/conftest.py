import pytest
from django.core.management import call_command
from django.utils import translation


@pytest.fixture(autouse=True)
def _english() -> None:
    """Each test starts in English: a request in Arabic leaves its language active on the
    thread (the middleware activates, nothing deactivates), which would leak into the next test.
    """
    with translation.override("en"):
        yield


@pytest.fixture
def seeded(db: None) -> None:
    """The demo reference data of `seed_reference_data`, holidays for 2020-2030."""
    call_command("seed_reference_data", verbosity=0)


@pytest.fixture
def api_client(db: None):
    """A function giving a test Client signed in as `user`, its session verified by a confirmed
    TOTP device (MFARequiredMiddleware asks it of compliance officers)."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return client

    return make
