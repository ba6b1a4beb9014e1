"""The Celery application: queues `default`, `risk` and `iot`; beat from django-celery-beat.

Without CELERY_BROKER_URL tasks run eagerly in-process (settings.CELERY_TASK_ALWAYS_EAGER).
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qenergyz.settings")

app = Celery("qenergyz")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("risk"), Queue("iot"))
app.autodiscover_tasks()

# Carry the request id of whoever enqueued a task into the task's logs and audit entries.
from qenergyz import requestid  # noqa: E402

requestid.connect_celery_signals()

# Task durations and outcomes; a worker's own metrics port (CELERY_METRICS_PORT).
from qenergyz import metrics  # noqa: E402

metrics.connect_celery_signals()
