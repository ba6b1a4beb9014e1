"""Operations basics: request ids, one log line per request, JSON logs, probes."""

import io
import json
import logging
import logging.config
import socket

from django.conf import settings
from django.urls import reverse

from apps.compliance.models import AuditEntry
from qenergyz.requestid import RequestIdLogFilter
from tests.conftest import login_verified


def _closed_port() -> int:
    """A loopback port nobody listens on (bound and released, so nothing else holds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_response_carries_a_new_request_id(client, db):
    response = client.get(reverse("healthz"))

    assert len(response["X-Request-ID"]) == 32
    assert int(response["X-Request-ID"], 16) >= 0


def test_request_id_from_upstream_is_kept_when_sane(client, db):
    response = client.get(reverse("healthz"), headers={"X-Request-ID": "edge-proxy.abc_123"})

    assert response["X-Request-ID"] == "edge-proxy.abc_123"


def test_request_id_from_upstream_is_replaced_when_insane(client, db):
    forged = "abc\n2026-01-01 INFO forged line"

    response = client.get(reverse("healthz"), headers={"X-Request-ID": forged})

    assert response["X-Request-ID"] != forged
    assert len(response["X-Request-ID"]) == 32


def test_request_logs_one_line_with_its_request_id(client, db, caplog):
    with caplog.at_level(logging.INFO, logger="qenergyz.request"):
        response = client.get(reverse("healthz"), headers={"X-Request-ID": "req-log-00000001"})

    records = [record for record in caplog.records if record.name == "qenergyz.request"]
    assert len(records) == 1
    record = records[0]
    assert record.getMessage() == "GET /healthz 200"
    assert (record.request_id, record.method, record.path, record.status) == (
        "req-log-00000001",
        "GET",
        "/healthz",
        200,
    )
    assert record.user_id is None
    assert response["X-Request-ID"] == "req-log-00000001"


def test_request_log_line_is_json_with_its_fields(client, trader):
    configurator = logging.config.DictConfigurator(settings.LOGGING)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configurator.configure_formatter(settings.LOGGING["formatters"]["json"]))
    handler.addFilter(RequestIdLogFilter())
    logger = logging.getLogger("qenergyz.request")
    logger.addHandler(handler)
    client.force_login(trader)
    try:
        client.get(reverse("healthz"), headers={"X-Request-ID": "req-json-0000001"})
    finally:
        logger.removeHandler(handler)

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert {key: line[key] for key in ("level", "logger", "message")} == {
        "level": "INFO",
        "logger": "qenergyz.request",
        "message": "GET /healthz 200",
    }
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert (line["request_id"], line["user_id"]) == ("req-json-0000001", trader.pk)
    assert isinstance(line["duration_ms"], float)
    assert "time" in line


def test_audit_entry_written_in_a_request_carries_its_request_id(client, compliance_officer):
    login_verified(client, compliance_officer)

    client.post(reverse("compliance:audit-verify"), headers={"X-Request-ID": "req-audit-000001"})

    entry = AuditEntry.objects.get(action="audit.verified")
    assert entry.request_id == "req-audit-000001"


def test_healthz_answers_200(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_200_with_the_database_up(client, db, settings):
    settings.REDIS_URL = ""

    response = client.get(reverse("readyz"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_readyz_answers_503_naming_redis_when_it_is_down(client, db, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"

    response = client.get(reverse("readyz"))

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "error: ConnectionError"},
    }
