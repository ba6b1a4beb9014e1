"""Registers the scheduled risk runs with django-celery-beat, on the `risk` queue: intraday
every hour of the European and US trading day, and end of day after the P&L close (22:30 UTC,
apps.trading's 0006), so that the day's backtest has the day's P&L. Weekdays only.

Idempotent: an existing task of the same name is updated, not duplicated.
"""

from django.db import migrations

INTRADAY = "Risk run of every desk (intraday)"
END_OF_DAY = "Risk run of every desk (end of day)"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    plans = [
        (
            INTRADAY,
            "apps.risk.tasks.risk_run_intraday",
            {"minute": "5", "hour": "7-21"},
            "VaR, ES, stress and limits of every desk on the positions booked now.",
        ),
        (
            END_OF_DAY,
            "apps.risk.tasks.risk_run_end_of_day",
            {"minute": "0", "hour": "23"},
            "The day's risk run: the trades booked by the end of the day, on its curves.",
        ),
    ]
    for name, task, when, description in plans:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            day_of_week="1-5", day_of_month="*", month_of_year="*", timezone="UTC", **when
        )
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={
                "task": task,
                "crontab": crontab,
                "queue": "risk",
                "enabled": True,
                "description": description,
            },
        )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[INTRADAY, END_OF_DAY]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("risk", "0002_seed_stress_scenarios"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
