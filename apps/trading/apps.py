from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TradingConfig(AppConfig):
    name = "apps.trading"
    label = "trading"
    verbose_name = _("Trading")

    def ready(self) -> None:
        # Four eyes: compliance holds the requests; trading says how its kinds are applied.
        from apps.trading.approvals import register_change_kinds

        register_change_kinds()
