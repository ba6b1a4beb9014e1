"""Trading's kinds of four-eyes change (held by `apps.compliance.approvals`): a desk's four-eyes
threshold (its DeskTradingPolicy added, changed or deleted) and a counterparty's KYC approval.
Each is applied through trading's own service once a second person approves."""

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.compliance import approvals
from apps.compliance.services import record_delete, record_save
from apps.trading.models import Counterparty, KycStatus
from apps.trading.services import counterparty_save

POLICY = "trading.desktradingpolicy"
POLICY_SAVE = f"{POLICY}.save"
POLICY_DELETE = f"{POLICY}.delete"
COUNTERPARTY = "trading.counterparty"
KYC_APPROVAL = f"{COUNTERPARTY}.kyc"
KYC_FIELDS = ("kyc_status", "kyc_expires_on")


def kyc_approval_proposed(stored: Counterparty | None, counterparty: Counterparty) -> bool:
    """The save approves KYC: the status moves to approved, or an approval's period changes
    (extending it is approving again). Moving away from approved takes effect at once."""
    if counterparty.kyc_status != KycStatus.APPROVED:
        return False
    if stored is None or stored.kyc_status != KycStatus.APPROVED:
        return True
    return stored.kyc_expires_on != counterparty.kyc_expires_on


def _counterparty_apply(*, actor: Any, obj: models.Model) -> None:
    counterparty_save(user=actor, counterparty=obj)  # type: ignore[arg-type]


def _policy_save(*, actor: Any, obj: models.Model) -> None:
    record_save(actor=actor, obj=obj)


def _policy_delete(*, actor: Any, obj: models.Model) -> None:
    record_delete(actor=actor, obj=obj)


def register_change_kinds() -> None:
    approvals.register(
        approvals.ChangeKind(
            key=POLICY_SAVE,
            model=POLICY,
            permission="trading.change_desktradingpolicy",
            label=_("Desk four-eyes threshold: set"),
            apply=_policy_save,
        )
    )
    approvals.register(
        approvals.ChangeKind(
            key=POLICY_DELETE,
            model=POLICY,
            permission="trading.change_desktradingpolicy",
            label=_("Desk four-eyes threshold: remove"),
            apply=_policy_delete,
            validate=False,
        )
    )
    approvals.register(
        approvals.ChangeKind(
            key=KYC_APPROVAL,
            model=COUNTERPARTY,
            permission="trading.change_counterparty",
            label=_("Counterparty KYC approval"),
            apply=_counterparty_apply,
        )
    )
