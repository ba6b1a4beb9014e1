"""The production command under test: daphne started as docker-compose.yml's `web` service starts
it (DEBUG off, a random SECRET_KEY, the static files collected as the Dockerfile collects them,
PostgreSQL through the connection pool), on a free loopback port.

It is probed with the compose healthcheck's own command (read from docker-compose.yml), and then
loaded by more concurrent API clients than its pool holds connections: every answer must be a
201 or a 4xx that says why, never a 5xx, and the server must never hold more connections than
its pool's maximum (before the pool, 8 such clients drove PostgreSQL past its connection limit).

The server is another process, so it needs the test database on a server: PostgreSQL (skipped
on SQLite, failed in CI when missing, as every service test).
"""

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from apps.accounts.services import api_token_create
from apps.trading.models import Trade
from tests.conftest import need_service
from tests.integration.workers import database_url
from tests.trading.test_trade_api import PAYLOAD

BASE_DIR = Path(settings.BASE_DIR)
WEB = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]["web"]
SITE = "qz.example"  # the one allowed host, as Caddy passes it on
APPLICATION_NAME = "qz-production-server-test"  # marks the server's connections to PostgreSQL
POOL_MAX = 4
CLIENTS = 16
POSTS_PER_CLIENT = 5
START_SECONDS = 60
LOAD_SECONDS = 90  # a bound on the load test, not a target: every post is expected long before


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _base_env() -> dict[str, str]:
    """A deployment's environment: nothing inherited that DEBUG or the test run set."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log: Path

    def request(
        self, method: str, path: str, *, host: str = SITE, body: bytes | None = None, **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers={"Host": host, **headers})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _server_env() -> dict[str, str]:
    return {
        **_base_env(),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": SITE,
        # The URL's own options reach the connections alongside the pool's.
        "DATABASE_URL": f"{database_url()}?application_name={APPLICATION_NAME}",
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": str(POOL_MAX),
        "DB_POOL_TIMEOUT": "30",
        # No REDIS_URL: each server starts with its own empty cache, so no earlier run's API
        # request counts (throttling) carry over; the pool under load is what is tested here.
        "LOG_LEVEL": "WARNING",
    }


def _web_command(port: int) -> list[str]:
    """docker-compose.yml's web command, bound to a free loopback port instead of 0.0.0.0:8000."""
    command = list(WEB["command"])
    anywhere = "0.0.0.0"  # noqa: S104 (what the container binds; replaced by loopback here)
    assert command[0] == "daphne"
    assert command.count(anywhere) == command.count("8000") == 1
    replaced = {
        "daphne": str(Path(sys.executable).with_name("daphne")),
        anywhere: "127.0.0.1",
        "8000": str(port),
    }
    return [replaced.get(arg, arg) for arg in command]


@pytest.fixture(scope="module")
def production_server(django_db_setup: None) -> Iterator[Server]:
    need_service("PostgreSQL (DATABASE_URL)", connection.vendor == "postgresql")
    env = _server_env()
    # WhiteNoise's manifest is strict with DEBUG off: collect as the Dockerfile does.
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert collected.returncode == 0, collected.stderr
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "daphne.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                _web_command(port), cwd=BASE_DIR, env=env, stdout=sink, stderr=subprocess.STDOUT
            )
        server = Server(port, process, log)
        try:
            deadline = time.monotonic() + START_SECONDS
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"daphne did not start:\n{server.output()}")
                try:
                    if server.request("GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            print(f"--- daphne output ---\n{server.output()}")


def _healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """docker-compose.yml's web healthcheck, run as the container runs it (ALLOWED_HOSTS in its
    environment), against `port` instead of 8000."""
    test = WEB["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert test[3].count("127.0.0.1:8000/") == 1
    code = test[3].replace("127.0.0.1:8000/", f"127.0.0.1:{port}/")
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**_base_env(), "ALLOWED_HOSTS": f"{SITE},www.{SITE}"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_production_server_passes_the_compose_healthcheck(production_server: Server) -> None:
    result = _healthcheck(production_server.port)

    assert result.returncode == 0, result.stderr


def test_compose_healthcheck_fails_where_nothing_answers() -> None:
    result = _healthcheck(_free_port())

    assert result.returncode == 1
    assert "Connection refused" in result.stderr


def test_production_server_answers_probes_over_plain_http(production_server: Server) -> None:
    ready = production_server.request("GET", "/readyz")
    alive = production_server.request("GET", "/healthz")

    assert (ready[0], json.loads(ready[2])) == (
        200,
        {"status": "ok", "checks": {"database": "ok"}},
    )
    assert (alive[0], json.loads(alive[2])) == (200, {"status": "ok"})


def test_production_server_redirects_pages_to_https(production_server: Server) -> None:
    status, headers, _body = production_server.request("GET", "/accounts/login/?next=/")

    assert (status, headers["Location"]) == (301, f"https://{SITE}/accounts/login/?next=/")


def test_production_server_serves_pages_behind_the_tls_proxy(production_server: Server) -> None:
    status, headers, body = production_server.request(
        "GET", "/accounts/login/", **{"X-Forwarded-Proto": "https"}
    )

    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert b'<link rel="stylesheet" href="/static/css/' in body  # the manifest's hashed names


def test_production_server_refuses_other_hosts_on_probes_too(production_server: Server) -> None:
    assert production_server.request("GET", "/readyz", host="127.0.0.1")[0] == 400
    assert production_server.request("GET", "/accounts/login/", host="evil.example")[0] == 400


class _ConnectionWatch(threading.Thread):
    """Samples how many connections the server holds to PostgreSQL until told to stop."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.counts: list[int] = []

    def run(self) -> None:
        with psycopg.connect(database_url(), autocommit=True) as conn:
            while not self.stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    [APPLICATION_NAME],
                ).fetchone()
                self.counts.append(row[0])
                self.stop.wait(0.02)


@pytest.mark.django_db(transaction=True)
def test_production_server_books_under_more_clients_than_its_pool_without_5xx(
    production_server: Server, trader
) -> None:
    call_command("seed_reference_data", verbosity=0)
    token = api_token_create(user=trader, name="load").plaintext
    answers: list[tuple[int, bytes]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + LOAD_SECONDS

    def client(number: int) -> None:
        for post in range(POSTS_PER_CLIENT):
            if time.monotonic() > deadline:
                return
            # A distinct price per post: identical repeated deals would be another case.
            price = Decimal("85.50") + Decimal(number * POSTS_PER_CLIENT + post) / 100
            body = json.dumps({**PAYLOAD, "quantity": "1", "price": str(price)}).encode()
            answer = production_server.request(
                "POST",
                "/api/v1/trades/",
                body=body,
                **{
                    "Authorization": f"Token {token}",
                    "Content-Type": "application/json",
                    "X-Forwarded-Proto": "https",  # as through Caddy
                    "Idempotency-Key": uuid.uuid4().hex,
                },
            )
            with lock:
                answers.append((answer[0], answer[2]))

    watch = _ConnectionWatch()
    watch.start()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    watch.stop.set()
    watch.join()

    assert len(answers) == CLIENTS * POSTS_PER_CLIENT
    assert [status for status, _body in answers if status >= 500] == []
    refused = [(status, json.loads(body)) for status, body in answers if status != 201]
    assert all(400 <= status < 500 and reason for status, reason in refused), refused
    # Every post booked (none was refused here), and each 201 is a trade that is stored.
    assert refused == []
    booked = sorted(json.loads(body)["trade_ref"] for _status, body in answers)
    assert booked == sorted(Trade.objects.values_list("trade_ref", flat=True))
    assert len(set(booked)) == CLIENTS * POSTS_PER_CLIENT
    assert 1 <= max(watch.counts) <= POOL_MAX
