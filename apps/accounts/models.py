from datetime import datetime

from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_otp.models import Device, ThrottlingMixin, TimestampMixin


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
    # Held with the risk manager role: the firm view (every desk's runs, firm figures, credit).
    FIRM_RISK_MANAGER = "firm_risk_manager", _("Firm risk manager")
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


# Which permissions each role's group holds. Data migrations froze copies of this map (0003,
# 0007); `apps.accounts.services.role_groups_ensure` applies this live one (tests, seed_demo).
# Changes of a desk's four-eyes threshold, KYC approvals and pre-trade rules wait for a second
# holder of the change permission (apps.compliance.approvals); "view_changerequest" opens the
# queue of such requests.
_VIEW_ADD_CHANGE = ("view", "add", "change")
_ADMINISTERED_REFERENCE_DATA = (
    "commodity",
    "unit",
    "unitconversion",
    "market",
    "holidaycalendar",
    "holidaydate",
    "legalentity",
    "book",
    "venuecontract",
    "marketvolatility",
)

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.TRADER: ("accounts.view_trading_area",),
    Role.RISK_MANAGER: (
        "accounts.view_risk_area",
        "accounts.view_trading_area",
        "trading.add_curvesnapshot",  # risk owns the curves that P&L and VaR are marked on
    ),
    Role.FIRM_RISK_MANAGER: ("risk.view_firm_risk",),  # accounts migration 0008
    Role.COMPLIANCE_OFFICER: (
        "accounts.view_compliance_area",
        "compliance.view_auditentry",
        "compliance.verify_audit",
        "compliance.view_changerequest",
        "trading.view_counterparty",
        "trading.change_counterparty",  # KYC status and expiry, credit terms
        "trading.view_masteragreement",
        "trading.add_masteragreement",
        "trading.change_masteragreement",
        "compliance.view_pretraderule",
        "compliance.add_pretraderule",
        "compliance.change_pretraderule",
        "compliance.delete_pretraderule",  # only a rule not yet in force is withdrawn
        "trading.view_trade",  # trades read-only, with their versions
        "trading.view_tradeversion",
    ),
    Role.FIELD_OPERATOR: ("accounts.view_operations_area",),
    Role.ADMINISTRATOR: (
        "accounts.add_user",
        "accounts.change_user",
        "accounts.view_user",
        "accounts.add_desk",
        "accounts.change_desk",
        "accounts.view_desk",
        "accounts.view_apitoken",
        "accounts.change_apitoken",
        # Never auth.change_group: a role's permissions are this map, not an admin's edit.
        "auth.view_group",
        "compliance.view_changerequest",
        *(
            f"trading.{action}_{model}"
            for model in _ADMINISTERED_REFERENCE_DATA
            for action in _VIEW_ADD_CHANGE
        ),
        "trading.view_desktradingpolicy",
        "trading.add_desktradingpolicy",
        "trading.change_desktradingpolicy",
        "trading.delete_desktradingpolicy",
    ),
}

# Roles that work in the admin: their users are staff (apps.accounts.services.user_save).
STAFF_ROLES = frozenset({Role.COMPLIANCE_OFFICER, Role.ADMINISTRATOR})


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self, now: datetime | None = None) -> "ApiTokenQuerySet":
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True, expires_at__gt=now)


class ApiToken(models.Model):
    """A bearer token for the API: `Authorization: Token <prefix>.<secret>`.

    Only the SHA-256 of the secret is stored; the secret is shown once, when the token is made.
    Tokens are revoked, never deleted, so that the audit trail's references stay meaningful.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("user"),
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True)
    secret_hash = models.CharField(_("secret hash"), max_length=64)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    # The client's Idempotency-Key of the creating request; a replay finds this row.
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="apitoken_user_idempotency_key_uniq",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    def is_active(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


class BackupCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """One-time backup codes for a user's second factor, stored as salted password hashes.

    django_otp's own static device keeps its codes in plain text; this one keeps each code
    hashed with its own salt (`BackupCodeHasher`), so a leaked table must be attacked code by
    code, with or without the SECRET_KEY; each code works once.
    """

    class Meta(Device.Meta):
        verbose_name = _("backup code set")
        verbose_name_plural = _("backup code sets")

    def get_throttle_factor(self) -> int:
        return getattr(settings, "OTP_BACKUP_THROTTLE_FACTOR", 1)

    def verify_token(self, token: str) -> bool:
        """Use up `token` if it is one of this device's unused codes."""
        allowed, _info = self.verify_is_allowed()
        if not allowed:
            return False
        normalised = normalise_backup_code(token)
        match = None
        if normalised:
            # Salted: each unused code is checked (ten at most), never looked up by its hash.
            unused = self.codes.filter(used_at__isnull=True).order_by("pk")
            match = next(
                (code for code in unused if BACKUP_CODE_HASHER.verify(normalised, code.code_hash)),
                None,
            )
        # A conditional UPDATE: of two concurrent uses of the same code only one matches (the
        # MFA service also holds the device's row lock).
        used = match is not None and self.codes.filter(pk=match.pk, used_at__isnull=True).update(
            used_at=timezone.now()
        )
        if used:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return True
        self.throttle_increment(commit=True)
        return False

    def remaining(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()


class BackupCode(models.Model):
    device = models.ForeignKey(
        BackupCodeDevice, on_delete=models.CASCADE, related_name="codes", verbose_name=_("device")
    )
    code_hash = models.CharField(_("code hash"), max_length=128)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("backup code")
        verbose_name_plural = _("backup codes")

    def __str__(self) -> str:
        return f"{self.device_id}:{self.pk}"


BACKUP_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i look-alikes
BACKUP_CODE_LENGTH = 10


def normalise_backup_code(token: str) -> str:
    """Lower case, without spaces and dashes; "" when it cannot be a backup code."""
    cleaned = "".join(str(token).split()).replace("-", "").lower()
    if len(cleaned) != BACKUP_CODE_LENGTH or any(c not in BACKUP_CODE_ALPHABET for c in cleaned):
        return ""
    return cleaned


class BackupCodeHasher(PBKDF2PasswordHasher):
    """PBKDF2-SHA256 with a random salt per code, at fewer iterations than passwords: a code
    is ten random characters of 31 (about 50 bits), not a chosen password, and a sign-in with a
    backup code checks up to ten of them; at the password's work factor that would be seconds
    of CPU per attempt. Used directly (not through PASSWORD_HASHERS), so a change of the
    password hashers cannot make the stored codes unreadable."""

    algorithm = "pbkdf2_sha256_backup_code"
    iterations = 60_000


BACKUP_CODE_HASHER = BackupCodeHasher()


def backup_code_hash(normalised: str) -> str:
    """The stored form of a (normalised) backup code: make_password with its own salt."""
    return make_password(normalised, hasher=BACKUP_CODE_HASHER)


class IdempotencyRecord(models.Model):
    """The first answer to a create request that carried an `Idempotency-Key`.

    One per (user, key, scope). A replay with the same request body gets the stored answer
    again; the same key with another body is refused. Written in the same transaction as what
    the request created, so either both exist or neither (`apps.accounts.idempotency`).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("user"),
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    scope = models.CharField(_("scope"), max_length=100)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("response status"), null=True)
    response_body = models.JSONField(_("response body"), null=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key", "scope"], name="idempotencyrecord_user_key_scope_uniq"
            )
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
