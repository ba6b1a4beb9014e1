"""Registers the nightly audit chain verification with django-celery-beat (default queue).

Idempotent: an existing task of the same name is updated, not duplicated.
"""

from django.db import migrations

TASK_NAME = "Verify the audit chain (nightly)"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # 02:30 UTC: after the end-of-day risk runs, before the European desks open.
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30",
        hour="2",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "apps.compliance.tasks.audit_verify_chain",
            "crontab": crontab,
            "queue": "default",
            "enabled": True,
            "description": "Re-hash the audit chain and record the result as an audit entry.",
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0002_audit_append_only_trigger"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
