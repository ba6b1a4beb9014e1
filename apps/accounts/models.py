from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Region(models.TextChoices):
    MIDDLE_EAST = "ME", _("Middle East")
    US = "US", _("United States")
    UK = "UK", _("United Kingdom")
    EU = "EU", _("European Union")
    GUYANA = "GY", _("Guyana")


class Jurisdiction(models.TextChoices):
    SHARIA = "ME_SHARIA", _("Middle East (Sharia rules)")
    CFTC = "US_CFTC", _("United States (CFTC)")
    FCA = "UK_FCA", _("United Kingdom (FCA)")
    MIFID_REMIT = "EU_MIFID_REMIT", _("European Union (MiFID II, REMIT)")
    GUYANA = "GY_LOCAL", _("Guyana (local content, EPA permits)")


class Role(models.TextChoices):
    """Roles are auth groups of these names; their permissions are set by a data migration."""

    TRADER = "trader", _("Trader")
    RISK_MANAGER = "risk_manager", _("Risk manager")
    COMPLIANCE_OFFICER = "compliance_officer", _("Compliance officer")
    FIELD_OPERATOR = "field_operator", _("Field operator")
    ADMINISTRATOR = "administrator", _("Administrator")


class Desk(models.Model):
    """A trading desk. Books belong to desks; a user sees only the data of their desks."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    region = models.CharField(_("region"), max_length=2, choices=Region.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = pgettext_lazy("trading desk", "desk")
        verbose_name_plural = pgettext_lazy("trading desk", "desks")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    region = models.CharField(_("region"), max_length=2, choices=Region.choices, default=Region.US)
    # Empty means "the region's default language".
    language = models.CharField(_("language"), max_length=8, blank=True, default="")
    desks = models.ManyToManyField(
        Desk, related_name="members", blank=True, verbose_name=_("desks")
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        permissions = [
            ("view_compliance_area", _("Can open the compliance pages")),
            ("view_risk_area", _("Can open the risk pages")),
            ("view_trading_area", _("Can open the trading pages")),
            ("view_operations_area", _("Can open the field operations pages")),
        ]
