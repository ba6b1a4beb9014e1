"""A real Celery worker: the task travels through the broker and keeps its request id."""

import time
from collections.abc import Iterator

import pytest

from apps.compliance.models import AuditEntry
from apps.compliance.tasks import audit_verify_chain
from qenergyz.celery import app
from qenergyz.requestid import bind_request_id, reset_request_id
from tests.integration.workers import WAIT_SECONDS, Worker, broker_url, celery_worker_process


@pytest.fixture
def celery_worker(transactional_db) -> Iterator[Worker]:
    with celery_worker_process("default") as worker:
        yield worker


def _publish_with_request_id(url: str, request_id: str) -> None:
    """Send the task as a page would: with a request id bound in the publisher."""
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # the test settings have no broker, so tasks run eagerly
    token = bind_request_id(request_id)
    try:
        with app.connection_for_write(url) as broker:
            audit_verify_chain.apply_async(connection=broker)
    finally:
        reset_request_id(token)
        app.conf.task_always_eager = was_eager


def test_celery_worker_runs_audit_verification_with_the_publishers_request_id(celery_worker):
    celery_worker.wait_until_ready()

    _publish_with_request_id(broker_url(), "celery-req-000001")

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
