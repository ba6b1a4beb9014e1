"""Benchmark: the production web command under load. daphne as docker-compose.yml's `web` service
starts it (DEBUG off, static files collected, PostgreSQL through the connection pool), loaded by
wrk on loopback: trades posted through the API (bench/web_load.lua), a read endpoint (the trade
list's first page) and a signed-in page (the blotter).

    DATABASE_URL=postgres://user@host:5432/any .venv/bin/python bench/web_load.py

Needs wrk (Debian's package) and PostgreSQL. The script creates its own scratch database beside
the one DATABASE_URL names, migrates it, seeds the reference data, and drops it at the end, also
on failure. The server runs without a Celery broker, so each booking's quick risk re-run runs
eagerly inside its request (a deployment's web process hands it to the risk worker instead), and
with API request rates unthrottled (the per-client rate would otherwise answer most of the load
with 429s: throttling is not what is measured here).

Targets: no 5xx answer at all with more concurrent connections (32) than the pool holds (10),
and never more database connections held by the server than its pool's maximum (before the
pool, 8 clients posting trades drove PostgreSQL past its connection limit and 1.6 % of the
answers were 500s; with 16, 37 %). Rates and latencies are printed to compare runs; they have no
absolute target on a shared 2-core machine.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from scratch import BASE_DIR, is_postgres, scratch_database, with_database

SITE = "qz.example"
APPLICATION_NAME = "qz-web-load"
DESK = "power-eu"
COUNTERPARTY = "BENCH-CP1"  # web_load.lua books with it
HUGE = Decimal("1000000000000000.00")  # credit limit and four-eyes threshold: every trade books
LUA = BASE_DIR / "bench" / "web_load.lua"


@dataclass
class Result:
    statuses: dict[int, int] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    socket_errors: int = 0
    connections_held: int = 0

    def count(self, low: int, high: int) -> int:
        return sum(n for status, n in self.statuses.items() if low <= status < high)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32, help="wrk's open connections")
    parser.add_argument("--seconds", type=int, default=15, help="each scenario's duration")
    parser.add_argument("--pool", type=int, default=10, help="the server's DB_POOL_MAX_SIZE")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not is_postgres(url):
        print(
            "bench/web_load.py needs PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr
        )
        return 2
    if shutil.which("wrk") is None:
        print("bench/web_load.py needs wrk (apt-get install wrk)", file=sys.stderr)
        return 2
    with scratch_database(url) as name:
        return _measure(with_database(url, name), args)


def _setup() -> tuple[str, str, str]:
    """The trader (power desk) with an API token and a signed-in session, and a counterparty
    and desk policy under which every benchmark trade books directly."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.test import Client

    from apps.accounts.models import Desk, Role, User
    from apps.accounts.services import api_token_create
    from apps.trading.lei import lei_check_digits
    from apps.trading.models import Counterparty, DeskTradingPolicy, KycStatus, Sector

    call_command("migrate", verbosity=0)
    call_command("seed_reference_data", verbosity=0)
    desk = Desk.objects.get(code=DESK)
    trader = User.objects.create_user(username="load-trader", email="load@example.com")
    trader.groups.add(Group.objects.get_or_create(name=Role.TRADER)[0])
    trader.desks.add(desk)
    DeskTradingPolicy.objects.update_or_create(
        desk=desk, defaults={"approval_threshold": HUGE, "currency": "EUR"}
    )
    base = "QZ9900LOAD00000001"
    Counterparty.objects.create(
        legal_name="Load Counterparty GmbH",
        short_code=COUNTERPARTY,
        lei=base + lei_check_digits(base),
        country="DE",
        sector=Sector.UTILITY,
        kyc_status=KycStatus.APPROVED,
        kyc_expires_on=date(2030, 12, 31),
        credit_limit=HUGE,
        credit_currency="EUR",
    )
    token = api_token_create(user=trader, name="load").plaintext
    client = Client()
    client.force_login(trader)  # a session row the server reads (same SECRET_KEY)
    return trader.username, token, client.session.session_key


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _web_command(port: int) -> list[str]:
    """docker-compose.yml's web command, on a loopback port instead of 0.0.0.0:8000."""
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    anywhere = "0.0.0.0"  # noqa: S104 (what the container binds; replaced by loopback here)
    replaced = {
        "daphne": str(Path(sys.executable).with_name("daphne")),
        anywhere: "127.0.0.1",
        "8000": str(port),
    }
    return [replaced.get(arg, arg) for arg in compose["services"]["web"]["command"]]


def _server_env(database_url: str, pool: int, secret_key: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "DEBUG": "0",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": SITE,
        "DATABASE_URL": f"{database_url}?application_name={APPLICATION_NAME}",
        "DB_POOL_MAX_SIZE": str(pool),
        "DB_POOL_TIMEOUT": "30",
        "API_THROTTLE_USER": "1000000/min",
        "LOG_LEVEL": "WARNING",
    }


class ConnectionWatch(threading.Thread):
    """The most connections the server held to PostgreSQL since the last `take()`."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.database_url = database_url
        self.stop = threading.Event()
        self.peak = 0
        self.lock = threading.Lock()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self.stop.is_set():
                (held,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    [APPLICATION_NAME],
                ).fetchone()
                with self.lock:
                    self.peak = max(self.peak, held)
                self.stop.wait(0.05)

    def take(self) -> int:
        with self.lock:
            peak, self.peak = self.peak, 0
        return peak


def _wrk(port: int, path: str, headers: dict[str, str], args: Any, *script_args: str) -> Result:
    command = ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.seconds}s"]
    command += ["--timeout", "60s", "-s", str(LUA)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://127.0.0.1:{port}{path}")
    if script_args:
        command += ["--", *script_args]
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=args.seconds + 120, check=True
    ).stdout
    result = Result()
    for line in output.splitlines():
        fields = line.split()
        if fields[:1] != ["QZ"]:
            continue
        if fields[1] == "status":
            result.statuses[int(fields[2])] = int(fields[3])
        elif fields[1] == "requests":
            result.requests = int(fields[2])
        elif fields[1] == "duration_us":
            result.seconds = int(fields[2]) / 1e6
        elif fields[1] == "socket_errors":
            result.socket_errors = sum(int(n) for n in fields[2:])
        elif fields[1] == "latency_us":
            result.p50_ms, result.p99_ms = int(fields[3]) / 1000, int(fields[5]) / 1000
    return result


def _measure(database_url: str, args: Any) -> int:
    from django.conf import settings

    from apps.trading.models import Trade

    started = time.perf_counter()
    _username, token, session = _setup()
    env = _server_env(database_url, args.pool, settings.SECRET_KEY)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
    )
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "daphne.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(
                _web_command(port), cwd=BASE_DIR, env=env, stdout=sink, stderr=subprocess.STDOUT
            )
        watch = ConnectionWatch(database_url)
        try:
            _wait_until_up(port, server, log)
            print(
                f"set-up (migrate, seed, collectstatic, daphne up) "
                f"{time.perf_counter() - started:.1f} s; wrk: 2 threads, {args.connections} "
                f"connections, {args.seconds} s per scenario; server pool max {args.pool}; "
                f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
            )
            watch.start()
            proxied = {"Host": SITE, "X-Forwarded-Proto": "https"}  # as Caddy sends
            api = {**proxied, "Authorization": f"Token {token}"}
            scenarios = [
                ("POST /api/v1/trades/ (book one trade)", "/api/v1/trades/", api, ("post",)),
                ("GET /api/v1/trades/ (first 100)", "/api/v1/trades/", api, ()),
                (
                    "GET /trading/blotter/ (signed-in page)",
                    "/trading/blotter/",
                    {**proxied, "Cookie": f"__Host-sessionid={session}"},  # DEBUG off
                    (),
                ),
            ]
            results = []
            for label, path, headers, script_args in scenarios:
                watch.take()
                result = _wrk(port, path, headers, args, *script_args)
                result.connections_held = watch.take()
                results.append((label, result))
            booked = Trade.objects.count()
        finally:
            watch.stop.set()
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
            errors = [ln for ln in log.read_text(errors="replace").splitlines() if " 500 " in ln]
    return _report(results, booked, args.pool, args.connections, errors)


def _wait_until_up(port: int, server: subprocess.Popen, log: Path) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/readyz", headers={"Host": SITE})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (loopback, our URL)
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"daphne did not start:\n{log.read_text(errors='replace')}")


def _report(
    results: list[tuple[str, Result]], booked: int, pool: int, connections: int, errors: list[str]
) -> int:
    print()
    print(
        f"{'scenario':<40} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>7} "
        f"{'answers':>8} {'non-2xx':>8} {'5xx':>5} {'db conns':>8}"
    )
    ok = True
    for label, r in results:
        answered = sum(r.statuses.values())
        ratio = r.p99_ms / r.p50_ms if r.p50_ms else float("nan")
        print(
            f"{label:<40} {r.requests / r.seconds:>7.1f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} "
            f"{ratio:>7.1f} {answered:>8} {answered - r.count(200, 300):>8} "
            f"{r.count(500, 600):>5} {r.connections_held:>8}"
        )
        other = {s: n for s, n in sorted(r.statuses.items()) if not 200 <= s < 300}
        if other or r.socket_errors:
            print(f"{'':<40} other answers {other}, socket errors {r.socket_errors}")
        ok = ok and r.count(500, 600) == 0 and r.connections_held <= pool
    posted = results[0][1].count(201, 202)
    print()
    print(f"target: 5xx = 0 in every scenario; db conns (peak held by the server) <= pool {pool}")
    # wrk stops counting at the end of its run, while the server still books the requests that
    # were in flight then: at most one per connection.
    print(
        f"trades answered 201: {posted}; trades stored: {booked} (target: the 201s plus at most "
        f"one in flight per connection, {connections})"
    )
    for line in errors[:5]:
        print(f"server: {line}")
    ok = ok and 0 < posted <= booked <= posted + connections
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
