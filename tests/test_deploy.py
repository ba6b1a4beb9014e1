"""Production settings pass Django's deployment checks, and refuse to start without a secret;
docker-compose.yml and deploy/Caddyfile hold together.

Each check runs `manage.py` in a subprocess, because settings are read once, at import, from
the environment: the only honest way to test another environment is a fresh process. The
deployment files are checked by docker-compose and caddy themselves (CI installs both; no Docker
engine is needed).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml
from django.conf import settings

from tests.conftest import need_service
from tests.production import manage, production_env

BASE_DIR = Path(settings.BASE_DIR)


def test_deploy_checks_pass_with_production_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_start_without_secret_key_fails_clearly() -> None:
    env = production_env()
    del env["SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in the environment when DEBUG is off." in result.stderr


def test_debug_is_off_unless_asked_for() -> None:
    # No DEBUG and no SECRET_KEY: were DEBUG on by default, the development key would be used.
    env = production_env()
    del env["SECRET_KEY"]
    del env["DEBUG"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_send_security_headers() -> None:
    script = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.LANGUAGE_COOKIE_SECURE, s.SECURE_HSTS_SECONDS >= 31536000,"
        " ' '.join(s.SECURE_CSP['script-src']), ' '.join(s.SECURE_CSP['style-src']))"
    )
    result = manage("shell", "--no-imports", "-c", script, env=production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True True True True True 'self' 'self'"


# The secrets docker-compose.yml asks for, as dummies (.ci/run validates with the same names).
COMPOSE_ENV = {
    "SECRET_KEY": "ci",
    "POSTGRES_PASSWORD": "ci",
    "ALLOWED_HOSTS": "qenergyz.example",
    "QZ_SITE_ADDRESS": "qenergyz.example",
    "MQTT_USERNAME": "ci",
    "MQTT_PASSWORD": "ci",
}


def _compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    need_service("docker-compose", shutil.which("docker-compose") is not None)
    return subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config"],
        cwd=BASE_DIR,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_is_valid_with_its_secrets_set() -> None:
    result = _compose_config(COMPOSE_ENV)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    # Only the TLS proxy is published; the web process is reached through it.
    published = {
        name: [(int(p["published"]), p["target"], p.get("protocol", "tcp")) for p in s["ports"]]
        for name, s in services.items()
        if s.get("ports")
    }
    assert published == {"caddy": [(80, 80, "tcp"), (443, 443, "tcp"), (443, 443, "udp")]}
    assert services["web"]["command"][-2:] == ["--proxy-headers", "qenergyz.asgi:application"]
    for name in ("web", "worker-default", "worker-risk", "worker-iot", "beat"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, name
    assert services["mosquitto"]["depends_on"] == {
        "mosquitto-passwd": {"condition": "service_completed_successfully"}
    }
    assert services["web"]["environment"]["MQTT_URL"] == "mqtt://ci:ci@mosquitto:1883"
    assert {"web", "postgres", "redis", "mosquitto"} <= {
        name for name, s in services.items() if "healthcheck" in s
    }


def test_compose_file_refuses_to_start_without_a_secret() -> None:
    env = {**COMPOSE_ENV}
    del env["MQTT_PASSWORD"]
    result = _compose_config(env)
    assert result.returncode != 0
    assert "set MQTT_PASSWORD" in result.stderr


def test_caddyfile_proxies_the_site_address_to_web(tmp_path: Path) -> None:
    need_service("caddy", shutil.which("caddy") is not None)
    result = subprocess.run(
        ["caddy", "adapt", "--config", "deploy/Caddyfile", "--adapter", "caddyfile"],
        cwd=BASE_DIR,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "QZ_SITE_ADDRESS": "qz.example",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # caddy warns on stderr of anything it finds odd
    (server,) = json.loads(result.stdout)["apps"]["http"]["servers"].values()
    (route,) = server["routes"]
    metrics, everything_else = route["handle"][0]["routes"]
    assert (server["listen"], route["match"], everything_else["handle"]) == (
        [":443"],
        [{"host": ["qz.example"]}],
        [{"handler": "reverse_proxy", "upstreams": [{"dial": "web:8000"}]}],
    )
    # Prometheus scrapes inside the network: the public site answers 404 for /metrics first.
    assert metrics == {
        "match": [{"path": ["/metrics"]}],
        "handle": [{"handler": "static_response", "status_code": 404}],
    }


def _database_settings(**env: str) -> str:
    script = (
        "from django.conf import settings as s; d = s.DATABASES['default'];"
        " print(d['CONN_MAX_AGE'], sorted(d['OPTIONS'].items()))"
    )
    # Settings only parse the URL: nothing connects to this server.
    url = "postgres://qz@127.0.0.1:5432/qz?application_name=qz-web"
    result = manage(
        "shell", "--no-imports", "-c", script, env=production_env(DATABASE_URL=url, **env)
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_postgres_connections_come_from_a_pool_sized_by_the_environment() -> None:
    assert _database_settings(
        DB_POOL_MIN_SIZE="3", DB_POOL_MAX_SIZE="12", DB_POOL_TIMEOUT="2.5"
    ) == (
        "0 [('application_name', 'qz-web'),"
        " ('pool', {'min_size': 3, 'max_size': 12, 'timeout': 2.5})]"
    )


def test_postgres_pool_is_on_by_default_in_production() -> None:
    assert _database_settings() == (
        "0 [('application_name', 'qz-web'),"
        " ('pool', {'min_size': 2, 'max_size': 10, 'timeout': 10.0})]"
    )


def test_postgres_pool_off_keeps_persistent_connections() -> None:
    assert _database_settings(DB_POOL_MAX_SIZE="0", DB_CONN_MAX_AGE="30") == (
        "30 [('application_name', 'qz-web')]"
    )
