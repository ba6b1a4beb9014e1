"""A real worker's own metrics port (CELERY_METRICS_PORT): tasks that travel through the broker
are counted in the worker process that ran them, and served there behind METRICS_TOKEN.

A solo worker serves on the port itself; a prefork worker's children on the port plus their
pool number (0, 1, ...), so each child's tasks appear on its own port.
"""

import socket
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from apps.compliance.models import AuditEntry
from apps.compliance.tasks import audit_verify_chain
from qenergyz.celery import app
from tests.integration.workers import WAIT_SECONDS, Worker, broker_url, celery_worker_process

TOKEN = "worker-scraper-token-93b1e0"
TASK = "apps.compliance.tasks.audit_verify_chain"
# A queue of these tests' own: every worker on the broker consumes `default`, and another
# run's worker would take (and count) these tasks.
QUEUE = "metrics-test"


def _free_ports(count: int) -> int:
    """A base port with `count` consecutive free ports from it."""
    for _attempt in range(20):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    pytest.fail(f"no {count} consecutive free ports")


def _get(port: int, token: str | None) -> tuple[int, str]:
    url = f"http://127.0.0.1:{port}/metrics"
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""  # not listening (yet)


def _successes(port: int) -> float:
    status, text = _get(port, TOKEN)
    if status != 200:
        return -1.0
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "qenergyz_celery_tasks_total"
        and sample.labels == {"task": TASK, "outcome": "success"}
    )


def _send_verifications(count: int) -> None:
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # the test settings have no broker: tasks run eagerly
    try:
        with app.connection_for_write(broker_url()) as broker:
            for _n in range(count):
                audit_verify_chain.apply_async(connection=broker, queue=QUEUE)
    finally:
        app.conf.task_always_eager = was_eager


def _wait_for(worker: Worker, ports: range, total: int) -> list[float]:
    """Each port's count of successful verifications, once the ports' counts add up to
    `total` (or the wait is over)."""
    deadline = time.monotonic() + WAIT_SECONDS
    counts = [_successes(port) for port in ports]
    while sum(max(c, 0) for c in counts) < total and time.monotonic() < deadline:
        if worker.process.poll() is not None:
            break
        time.sleep(0.3)
        counts = [_successes(port) for port in ports]
    return counts


def _env(base: int) -> dict[str, str]:
    return {
        "CELERY_METRICS_PORT": str(base),
        "CELERY_METRICS_ADDRESS": "127.0.0.1",
        "METRICS_TOKEN": TOKEN,
    }


def test_worker_metrics_solo_worker_serves_its_tasks_on_the_port(transactional_db):
    base = _free_ports(1)
    with celery_worker_process(QUEUE, **_env(base)) as worker:
        worker.wait_until_ready()
        _send_verifications(2)
        counts = _wait_for(worker, range(base, base + 1), 2)
        assert counts == [2.0], worker.output()
        assert AuditEntry.objects.filter(action="audit.verified").count() == 2
        assert _get(base, None) == (403, "A valid metrics token is required.")
        assert _get(base, "not-the-token")[0] == 403


def test_worker_metrics_prefork_children_serve_on_port_plus_their_number(transactional_db):
    base = _free_ports(2)
    pool = ("--pool", "prefork", "--concurrency", "2")
    with celery_worker_process(QUEUE, pool=pool, **_env(base)) as worker:
        worker.wait_until_ready()
        _send_verifications(4)
        counts = _wait_for(worker, range(base, base + 2), 4)
        # Both children answer, each with the tasks it ran; together they ran all four.
        assert min(counts) >= 0, (counts, worker.output())
        assert sum(counts) == 4, (counts, worker.output())
        assert _get(base + 1, None)[0] == 403
