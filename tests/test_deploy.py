"""Production settings pass Django's deployment checks, and refuse to start without a secret.

Each check runs `manage.py` in a subprocess, because settings are read once, at import, from
the environment: the only honest way to test another environment is a fresh process.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _production_env(**overrides: str) -> dict[str, str]:
    """The environment of a real deployment: nothing inherited that DEBUG or tests set."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    # The database of the current run (PostgreSQL in CI); the SQLite default otherwise.
    for name in ("DATABASE_URL", "REDIS_URL"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="example.com",
    )
    env.update(overrides)
    return env


def test_deploy_checks_pass_with_production_settings() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_start_without_secret_key_fails_clearly() -> None:
    env = _production_env()
    del env["SECRET_KEY"]
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in the environment when DEBUG is off." in result.stderr


def test_debug_is_off_unless_asked_for() -> None:
    # No DEBUG and no SECRET_KEY: were DEBUG on by default, the development key would be used.
    env = _production_env()
    del env["SECRET_KEY"]
    del env["DEBUG"]
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_send_security_headers() -> None:
    script = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.LANGUAGE_COOKIE_SECURE, s.SECURE_HSTS_SECONDS >= 31536000,"
        " ' '.join(s.SECURE_CSP['script-src']), ' '.join(s.SECURE_CSP['style-src']))"
    )
    result = _manage("shell", "--no-imports", "-c", script, env=_production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True True True True True 'self' 'self'"
