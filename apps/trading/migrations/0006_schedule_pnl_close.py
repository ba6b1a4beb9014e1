"""Registers the end-of-day P&L close with django-celery-beat (default queue), on weekdays.

Idempotent: an existing task of the same name is updated, not duplicated.
"""

from django.db import migrations

TASK_NAME = "Close the day's book P&L (end of day)"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # 22:30 UTC on weekdays: after the US settlement curves of the day are in.
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30",
        hour="22",
        day_of_week="1-5",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "apps.trading.tasks.pnl_close_day",
            "crontab": crontab,
            "queue": "default",
            "enabled": True,
            "description": "Value every book on the day's market and store its P&L and explain.",
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("trading", "0005_valuation_inputs_and_book_pnl"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
