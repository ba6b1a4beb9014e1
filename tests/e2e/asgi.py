"""The ASGI test server's process, for tests/e2e/conftest.py.

The server is daphne's DaphneProcess (what Channels' ChannelsLiveServerTestCase runs), started
by spawn: a fresh interpreter, where forking this test process (multi-threaded by then:
Playwright, the WSGI live server) could deadlock the child and would hand it the test's open
database connections. What the child unpickles lives here, importing nothing of Django or the
project at import time, since Django is not set up yet when it is unpickled.
"""

import multiprocessing
from typing import Any

from daphne.testing import DaphneProcess

_SPAWN = multiprocessing.get_context("spawn")


class SpawnedDaphneProcess(DaphneProcess):
    """DaphneProcess started by spawn (its port, ready flag and error queue made to match)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.port = _SPAWN.Value("i", 0)
        self.ready = _SPAWN.Event()
        self.errors = _SPAWN.Queue()

    @staticmethod
    def _Popen(process_obj: Any) -> Any:  # multiprocessing's hook, by its name
        return _SPAWN.Process._Popen(process_obj)


def application(overrides: dict[str, Any]) -> Any:
    """The project's ASGI application (settings.ASGI_APPLICATION: qenergyz.asgi), with the test
    process's settings that the server must share applied first: the test database, the allowed
    hosts, DEBUG off (as pytest-django has it) and the fast password hasher of tests/conftest.py
    (the server starts once per session and never sees a test's own settings)."""
    from django.conf import settings

    for name, value in overrides.items():
        if name == "DATABASE_NAME":
            settings.DATABASES["default"]["NAME"] = value
        else:
            setattr(settings, name, value)
    from channels.testing.live import make_application

    # No static wrapper: WhiteNoise serves the collected STATIC_ROOT, as in production.
    return make_application(static_wrapper=None)
