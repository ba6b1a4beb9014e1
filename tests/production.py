"""A production process for the tests that need one: settings are read once, at import, from the
environment, so the only honest way to test another environment is a fresh `manage.py` process."""

import json
import os
import secrets
import subprocess
import sys
from typing import Any

from django.conf import settings


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def production_env(**overrides: str) -> dict[str, str]:
    """The environment of a real deployment: nothing inherited that DEBUG or tests set."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    # The stores of the current run (PostgreSQL and Redis in CI); the SQLite default otherwise.
    for name in ("DATABASE_URL", "REDIS_URL"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    env.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="example.com")
    env.update(overrides)
    return env


def shell_probe(script: str, marker: str, **env: str) -> Any:
    """Run `script` in a production `manage.py shell` and return the JSON it printed after
    `marker` on a line of its own."""
    result = manage("shell", "--no-imports", "-c", script, env=production_env(**env))
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith(marker))
    return json.loads(line.removeprefix(marker))
