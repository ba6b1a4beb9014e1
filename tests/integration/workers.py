"""A real `celery worker` subprocess on the test database, for the integration tests."""

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from tests.conftest import need_service

BASE_DIR = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60


def database_url() -> str:
    """The test database pytest-django created, as a URL for the worker's settings."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or "5432"
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def broker_url() -> str:
    """The broker the test asked for (CELERY_TEST_BROKER_URL); skipped or failed without it."""
    url = os.environ.get("CELERY_TEST_BROKER_URL", "")
    need_service("RabbitMQ (CELERY_TEST_BROKER_URL)", bool(url))
    return url


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        pytest.fail(f"the celery worker did not become ready:\n{self.output()}")


@contextmanager
def celery_worker_process(
    queue: str, *, pool: tuple[str, ...] = ("--pool", "solo", "--concurrency", "1"), **env: str
) -> Iterator[Worker]:
    """A worker consuming `queue` through the test broker, on the test database; stopped (and
    its output printed, which pytest shows when the test fails) on the way out. One process
    (the solo pool) unless `pool` says otherwise."""
    url = broker_url()
    # The worker is another process: it needs the test database on a server. An in-memory
    # SQLite test database is invisible to it.
    need_service("PostgreSQL (DATABASE_URL)", connection.vendor == "postgresql")
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "qenergyz.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": url,
        "DEBUG": "1",  # the plain log format, "[request id]" in each line
        "DB_CONN_MAX_AGE": "0",  # no connection left open on the test database afterwards
        **env,
    }
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "worker.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "qenergyz", "worker",
                    "-Q", queue, *pool,
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "-n", f"qz-test-{queue}-{os.getpid()}@%h", "--loglevel", "INFO",
                ],
                cwd=BASE_DIR, env=environment, stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
        worker = Worker(process, log)
        try:
            yield worker
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            print(f"--- celery worker output ---\n{worker.output()}")
