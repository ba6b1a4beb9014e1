from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplianceConfig(AppConfig):
    name = "apps.compliance"
    label = "compliance"
    verbose_name = _("Compliance")

    def ready(self) -> None:
        # Four eyes: the kinds of change compliance owns (pre-trade rules).
        from apps.compliance.services import register_change_kinds

        register_change_kinds()
        # And the administrator role and superuser grants (a superuser and a second one).
        from apps.compliance import privilege

        privilege.register_change_kinds()
