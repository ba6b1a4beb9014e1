"""A real Celery worker: the task travels through the broker and keeps its request id."""

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from apps.compliance.models import AuditEntry
from apps.compliance.tasks import audit_verify_chain
from qenergyz.celery import app
from qenergyz.requestid import bind_request_id, reset_request_id
from tests.conftest import need_service

BASE_DIR = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60


def _database_url() -> str:
    """The test database pytest-django created, as a URL for the worker's settings."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or "5432"
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


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


@pytest.fixture
def celery_worker(transactional_db) -> Iterator[Worker]:
    broker_url = os.environ.get("CELERY_TEST_BROKER_URL", "")
    need_service("RabbitMQ (CELERY_TEST_BROKER_URL)", bool(broker_url))
    # The worker is another process: it needs the test database on a server. An in-memory
    # SQLite test database is invisible to it.
    need_service("PostgreSQL (DATABASE_URL)", connection.vendor == "postgresql")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "qenergyz.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        "DEBUG": "1",  # the plain log format, "[request id]" in each line
        "DB_CONN_MAX_AGE": "0",  # no connection left open on the test database afterwards
    }
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "worker.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "qenergyz", "worker",
                    "-Q", "default", "--pool", "solo", "--concurrency", "1",
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "-n", f"qz-test-{os.getpid()}@%h", "--loglevel", "INFO",
                ],
                cwd=BASE_DIR, env=env, stdout=sink, stderr=subprocess.STDOUT,
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
            # Captured by pytest and shown when the test fails.
            print(f"--- celery worker output ---\n{worker.output()}")


def _publish_with_request_id(broker_url: str, request_id: str) -> None:
    """Send the task as a page would: with a request id bound in the publisher."""
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # the test settings have no broker, so tasks run eagerly
    token = bind_request_id(request_id)
    try:
        with app.connection_for_write(broker_url) as broker:
            audit_verify_chain.apply_async(connection=broker)
    finally:
        reset_request_id(token)
        app.conf.task_always_eager = was_eager


def test_celery_worker_runs_audit_verification_with_the_publishers_request_id(celery_worker):
    celery_worker.wait_until_ready()

    _publish_with_request_id(os.environ["CELERY_TEST_BROKER_URL"], "celery-req-000001")

    deadline = time.monotonic() + WAIT_SECONDS
    entry = None
    while entry is None and time.monotonic() < deadline and celery_worker.process.poll() is None:
        entry = AuditEntry.objects.filter(action="audit.verified").first()
        if entry is None:
            time.sleep(0.2)
    assert entry is not None, f"no audit.verified entry; worker output:\n{celery_worker.output()}"
    assert entry.request_id == "celery-req-000001", celery_worker.output()
    # The worker's own log line for the task carries the id too (the plain DEBUG format).
    assert (
        "celery.app.trace [celery-req-000001] Task apps.compliance.tasks.audit_verify_chain["
        in (celery_worker.output())
    )
    assert (entry.actor_id, entry.actor_label) == (None, "system")
    assert entry.payload == {
        "ok": True,
        "checked": 0,
        "first_bad_seq": None,
        "problem": "",
        "head_hash": "0" * 64,
    }
