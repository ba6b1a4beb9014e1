"""The admin is an OTP admin site: staff reach it only with a verified second factor."""

from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite


class QenergyzAdminSite(OTPAdminSite):
    site_header = _("Qenergyz administration")
    site_title = _("Qenergyz admin")
    index_title = _("Compliance and administration")

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
