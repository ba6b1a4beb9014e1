from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RiskConfig(AppConfig):
    name = "apps.risk"
    label = "risk"
    verbose_name = _("Risk")

    def ready(self) -> None:
        # Register the risk tasks with the Celery app in every process (web, workers, tests):
        # the trading service enqueues the incremental re-run by name, and a name Celery does
        # not know here would be sent to a broker even when tasks run eagerly.
        from apps.risk import tasks  # noqa: F401
