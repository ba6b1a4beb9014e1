from datetime import datetime, timedelta
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.compliance.rules import RuleCode, validate_params


class AuditEntry(models.Model):
    """One link of the hash-chained audit trail. Never updated or deleted (a PostgreSQL trigger
    refuses both); written only by `apps.compliance.audit.audit_append`."""

    seq = models.BigIntegerField(_("sequence"), primary_key=True)
    created_at = models.DateTimeField(_("time"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,  # a user who acted is deactivated, never deleted
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(_("actor name"), max_length=150)
    action = models.CharField(_("action"), max_length=64)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    payload = models.JSONField(_("payload"), default=dict)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            # The trail page filters by action or actor and pages by seq (keyset): these keep
            # "WHERE action = %s AND seq < %s ORDER BY seq DESC LIMIT n" an index range scan.
            models.Index(fields=["action", "seq"], name="audit_action_seq_idx"),
            models.Index(fields=["actor_label", "seq"], name="audit_actor_seq_idx"),
        ]
        permissions = [("verify_audit", _("Can verify the audit chain"))]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


# --- Pre-trade rules ------------------------------------------------------------------------------


def jurisdiction_choices() -> list[tuple[str, Any]]:
    """Blank (every jurisdiction) and accounts.Jurisdiction's values.

    Read through the app registry when the choices are first used, not imported: the audit
    helper imports this module and must import nothing from accounts (import-linter).
    """
    accounts = django_apps.get_app_config("accounts").models_module
    return [("", _("All jurisdictions")), *accounts.Jurisdiction.choices]


class RuleOutcome(models.TextChoices):
    """What a broken rule does to the trade."""

    WARN = "warn", _("Warn (book with a warning)")
    BLOCK = "block", _("Block (refuse the trade)")


# A rule added or ended in the admin may name a time this far in the past (the time it takes to
# fill in the form after pressing "Now"); it is moved to now. Anything earlier would rewrite
# history and is refused.
EDIT_GRACE = timedelta(minutes=10)


class PreTradeRuleQuerySet(models.QuerySet["PreTradeRule"]):
    def in_force(self, at: datetime) -> "PreTradeRuleQuerySet":
        """Enabled rules whose [effective_from, effective_to) contains `at`."""
        return self.filter(enabled=True, effective_from__lte=at).filter(
            Q(effective_to__isnull=True) | Q(effective_to__gt=at)
        )


class PreTradeRule(models.Model):
    """One period of one pre-trade rule, for every jurisdiction (blank) or for one.

    Rules are history: a rule that has taken effect is never edited. To change it, end it
    (set effective_to) and add its successor from that moment. Periods of one code and
    jurisdiction never overlap (validated here; on PostgreSQL also an exclusion constraint).
    """

    code = models.CharField(_("rule"), max_length=32, choices=RuleCode.choices)
    jurisdiction = models.CharField(
        _("jurisdiction"),
        max_length=16,
        blank=True,
        default="",
        choices=jurisdiction_choices,
        help_text=_("Empty: every jurisdiction, unless a rule for the jurisdiction itself exists."),
    )
    outcome = models.CharField(
        _("when broken"), max_length=8, choices=RuleOutcome.choices, default=RuleOutcome.BLOCK
    )
    params = models.JSONField(
        _("parameters"),
        default=dict,
        blank=True,
        help_text=_('Credit limit: {"warn_ratio": "0.80"} warns above 0.80 of the limit.'),
    )
    effective_from = models.DateTimeField(_("effective from"))
    effective_to = models.DateTimeField(
        _("effective to"),
        null=True,
        blank=True,
        help_text=_("Exclusive; empty while the rule has no planned end."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    objects = PreTradeRuleQuerySet.as_manager()

    class Meta:
        ordering = ["code", "jurisdiction", "-effective_from"]
        verbose_name = _("pre-trade rule")
        verbose_name_plural = _("pre-trade rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gt=F("effective_from")),
                name="pretraderule_period_not_empty",
            ),
        ]
        indexes = [models.Index(fields=["effective_from"], name="pretraderule_from_idx")]

    def __str__(self) -> str:
        scope = self.jurisdiction or "*"
        return f"{self.get_code_display()} [{scope}] {self.effective_from:%Y-%m-%d %H:%M}"

    def is_in_force(self, at: datetime | None = None) -> bool:
        at = at or timezone.now()
        return (
            self.enabled
            and self.effective_from <= at
            and (self.effective_to is None or at < self.effective_to)
        )

    def clean(self) -> None:
        errors: dict[str, list[Any]] = {}
        if self.code:
            try:
                validate_params(self.code, self.params)
            except ValidationError as error:
                errors.update(error.message_dict)
        if (
            self.effective_from is not None
            and self.effective_to is not None
            and self.effective_to <= self.effective_from
        ):
            errors.setdefault("effective_to", []).append(
                _("The end must be after the start of the period.")
            )
        if not errors:
            errors.update(self._history_errors())
        if not errors and self.code and self.effective_from is not None:
            errors.update(self._overlap_errors())
        if errors:
            raise ValidationError(errors)

    def _history_errors(self) -> dict[str, list[Any]]:
        """A rule that has taken effect may only be ended (from now on), never rewritten.

        A start or end a few minutes in the past (the time spent on the form after pressing
        "Now") is moved to now: the record says when the change really took effect.
        """
        now = timezone.now()
        earliest = now - EDIT_GRACE
        stored = PreTradeRule.objects.filter(pk=self.pk).first() if self.pk else None
        if stored is None or stored.effective_from > now:
            # New, or planned and not yet in effect: free to change, but not into the past.
            if self.effective_from is not None and self.effective_from < now:
                if self.effective_from < earliest:
                    return {"effective_from": [_("A rule takes effect now or later.")]}
                self.effective_from = now
            return {}
        frozen = ("code", "jurisdiction", "outcome", "params", "effective_from", "enabled")
        changed = [name for name in frozen if getattr(self, name) != getattr(stored, name)]
        if changed:
            message = _(
                "This rule has taken effect and is part of the record: end it and add a new rule "
                "from that moment instead."
            )
            return {name: [message] for name in changed}
        if self.effective_to != stored.effective_to:
            if stored.effective_to is not None and stored.effective_to <= now:
                return {"effective_to": [_("This rule has already ended.")]}
            if self.effective_to is not None and self.effective_to < now:
                if self.effective_to < earliest:
                    return {"effective_to": [_("A rule in force can be ended now or later.")]}
                self.effective_to = now
        return {}

    def _overlap_errors(self) -> dict[str, list[Any]]:
        others = PreTradeRule.objects.filter(code=self.code, jurisdiction=self.jurisdiction)
        if self.pk:
            others = others.exclude(pk=self.pk)
        if self.effective_to is not None:
            others = others.filter(effective_from__lt=self.effective_to)
        others = others.filter(
            Q(effective_to__isnull=True) | Q(effective_to__gt=self.effective_from)
        )
        clash = others.order_by("effective_from").first()
        if clash is None:
            return {}
        return {
            "effective_from": [
                _(
                    "This period overlaps the rule effective from %(start)s for the same rule "
                    "and jurisdiction: end that one first."
                )
                % {"start": clash.effective_from.isoformat()}
            ]
        }


# --- Four eyes: changes that wait for a second person ---------------------------------------------


class ChangeRequestStatus(models.TextChoices):
    PENDING = "pending", _("awaiting approval")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")


class ChangeRequest(models.Model):
    """A change made in the admin that takes effect only when a second person approves it.

    `kind` names how it is applied (`apps.compliance.approvals` holds the registry the owning
    apps fill); `values` are the proposed field values, `base` the object's editable fields when
    it was requested (an approval of an object changed since is refused as stale). Rows are
    never deleted; only the decision (status, decided_by/at, note) is written after creation.
    """

    kind = models.CharField(_("kind of change"), max_length=64)
    target = models.CharField(_("object type"), max_length=64)
    object_id = models.CharField(_("object id"), max_length=64, blank=True, default="")
    object_label = models.CharField(_("object"), max_length=200)
    values = models.JSONField(_("proposed values"), default=dict)
    base = models.JSONField(_("values when requested"), default=dict)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    status = models.CharField(
        _("status"),
        max_length=8,
        choices=ChangeRequestStatus.choices,
        default=ChangeRequestStatus.PENDING,
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("change request")
        verbose_name_plural = _("change requests")
        constraints = [
            # The second person is never the first.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="changerequest_decider_not_requester",
            ),
            models.CheckConstraint(
                condition=Q(status=ChangeRequestStatus.PENDING, decided_at__isnull=True)
                | (
                    ~Q(status=ChangeRequestStatus.PENDING)
                    & Q(decided_at__isnull=False, decided_by__isnull=False)
                ),
                name="changerequest_decision_complete",
            ),
        ]
        indexes = [models.Index(fields=["status", "requested_at"], name="changerequest_status_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.object_label}"
