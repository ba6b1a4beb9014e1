"""The nightly verification: its beat schedule and the task itself (eager, in-process)."""

from django_celery_beat.models import PeriodicTask

from apps.compliance.audit import audit_append
from apps.compliance.models import AuditEntry
from apps.compliance.tasks import audit_verify_chain
from qenergyz.requestid import bind_request_id, reset_request_id


def test_audit_verification_is_scheduled_nightly_on_the_default_queue(db):
    task = PeriodicTask.objects.select_related("crontab").get(
        task="apps.compliance.tasks.audit_verify_chain"
    )

    assert (task.enabled, task.queue) == (True, "default")
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("30", "2", "*")
    assert str(crontab.timezone) == "UTC"


def test_audit_verify_chain_task_records_the_result_with_the_callers_request_id(db):
    audit_append(actor=None, action="test.event")
    token = bind_request_id("task-eager-00001")
    try:
        result = audit_verify_chain.delay().get()
    finally:
        reset_request_id(token)

    entry = AuditEntry.objects.get(action="audit.verified")
    assert (entry.seq, entry.request_id, entry.actor_label) == (2, "task-eager-00001", "system")
    assert result == entry.payload
    assert result["ok"] is True
    assert result["checked"] == 1
