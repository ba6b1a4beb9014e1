"""Domain operations of compliance's admin: the audited save of plain reference data, and the
pre-trade rules' save, end and withdrawal.

`record_save` / `record_delete` serve every admin whose model has no service of its own (books,
units, markets, desk policies, ...): one transaction that locks the row, writes it and audits
what changed, old → new. Each function owns its transaction and calls `audit_append` last.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.compliance import approvals
from apps.compliance.audit import audit_append
from apps.compliance.models import PreTradeRule


def _action(obj: models.Model, verb: str) -> str:
    return f"{obj._meta.app_label}.{obj._meta.model_name}_{verb}"


def record_save(*, actor: Any, obj: models.Model) -> models.Model:
    """Save `obj` (new or changed) and audit its changed fields, old → new; a save that changes
    nothing is not audited. The values audited are read back as stored (two decimal places,
    whatever was typed)."""
    model = type(obj)
    creating = obj.pk is None or obj._state.adding
    with transaction.atomic():
        before: dict[str, Any] = {}
        if not creating:
            # Locked: two saves of one row would each audit a stale "before".
            stored = model._default_manager.select_for_update().get(pk=obj.pk)
            before = approvals.field_values(stored)
        obj.save()
        after = approvals.field_values(model._default_manager.get(pk=obj.pk))
        changes = approvals.changes_between(before, after)
        if changes:
            audit_append(
                actor=actor,
                action=_action(obj, "created" if creating else "changed"),
                obj=obj,
                payload={"object": str(obj), "changes": changes},
            )
    return obj


def record_delete(*, actor: Any, obj: models.Model) -> None:
    """Delete `obj` and audit what it held."""
    model = type(obj)
    reference = (obj._meta.label_lower, obj.pk)
    with transaction.atomic():
        stored = model._default_manager.select_for_update().get(pk=obj.pk)
        payload = {"object": str(stored), "old": approvals.field_values(stored)}
        stored.delete()
        audit_append(actor=actor, action=_action(obj, "deleted"), obj=reference, payload=payload)


# --- Pre-trade rules ------------------------------------------------------------------------------


def _rule_payload(rule: PreTradeRule) -> dict[str, Any]:
    return {
        "code": rule.code,
        "jurisdiction": rule.jurisdiction,
        "outcome": rule.outcome,
        "params": rule.params,
        "effective_from": rule.effective_from,
        "effective_to": rule.effective_to,
        "enabled": rule.enabled,
    }


def pretrade_rule_save(*, actor: Any, rule: PreTradeRule) -> PreTradeRule:
    """Save a validated rule (new, a planned one changed, or one in force given its end), with
    its terms and what changed, old → new, audited."""
    creating = rule.pk is None
    with transaction.atomic():
        before: dict[str, Any] = {}
        if not creating:
            stored = PreTradeRule.objects.select_for_update().get(pk=rule.pk)
            before = approvals.field_values(stored)
        rule.save()
        changes = approvals.changes_between(before, approvals.field_values(rule))
        audit_append(
            actor=actor,
            action="pretrade_rule.added" if creating else "pretrade_rule.changed",
            obj=rule,
            payload={**_rule_payload(rule), "changes": changes},
        )
    return rule


def pretrade_rule_end(*, actor: Any, rule: PreTradeRule) -> PreTradeRule:
    """End a rule in force now (or one planned to end later); a rule not yet in force or
    already ended is refused."""
    with transaction.atomic():
        rule = PreTradeRule.objects.select_for_update().get(pk=rule.pk)
        now = timezone.now()
        if rule.effective_from > now:
            raise ValidationError(_("This rule has not taken effect: withdraw it instead."))
        if rule.effective_to is not None and rule.effective_to <= now:
            raise ValidationError(_("This rule has already ended."))
        old = rule.effective_to
        rule.effective_to = now
        rule.save(update_fields=["effective_to"])
        audit_append(
            actor=actor,
            action="pretrade_rule.ended",
            obj=rule,
            payload={
                **_rule_payload(rule),
                "changes": {"effective_to": {"old": old, "new": now}},
            },
        )
    return rule


def pretrade_rule_withdraw(*, actor: Any, rule: PreTradeRule) -> None:
    """Delete a rule that has not taken effect; one that has is the record and stays."""
    with transaction.atomic():
        rule = PreTradeRule.objects.select_for_update().get(pk=rule.pk)
        if rule.effective_from <= timezone.now():
            raise ValidationError(_("This rule has taken effect and is part of the record."))
        payload = _rule_payload(rule)
        reference = (rule._meta.label_lower, rule.pk)
        rule.delete()
        audit_append(actor=actor, action="pretrade_rule.withdrawn", obj=reference, payload=payload)


def _rule_catch_up(rule: models.Model) -> None:
    """A start or end the request named has passed while it waited: the rule takes effect (or
    ends) at the approval, which is when it really does."""
    assert isinstance(rule, PreTradeRule)
    now = timezone.now()
    stored = PreTradeRule.objects.filter(pk=rule.pk).first() if rule.pk else None
    if (stored is None or stored.effective_from > now) and rule.effective_from < now:
        rule.effective_from = now
    moved_end = stored is None or stored.effective_to != rule.effective_to
    if rule.effective_to is not None and rule.effective_to < now and moved_end:
        rule.effective_to = now


def _rule_apply(*, actor: Any, obj: models.Model) -> None:
    pretrade_rule_save(actor=actor, rule=obj)  # type: ignore[arg-type]


def _rule_end(*, actor: Any, obj: models.Model) -> None:
    pretrade_rule_end(actor=actor, rule=obj)  # type: ignore[arg-type]


def _rule_withdraw(*, actor: Any, obj: models.Model) -> None:
    pretrade_rule_withdraw(actor=actor, rule=obj)  # type: ignore[arg-type]


RULE = "compliance.pretraderule"
RULE_SAVE = f"{RULE}.save"
RULE_END = f"{RULE}.end"
RULE_WITHDRAW = f"{RULE}.withdraw"


def register_change_kinds() -> None:
    """Pre-trade rules change only with a second person's approval (ComplianceConfig.ready)."""
    permission = "compliance.change_pretraderule"
    approvals.register(
        approvals.ChangeKind(
            key=RULE_SAVE,
            model=RULE,
            permission=permission,
            label=_("Pre-trade rule: add or change"),
            apply=_rule_apply,
            prepare=_rule_catch_up,
        )
    )
    approvals.register(
        approvals.ChangeKind(
            key=RULE_END,
            model=RULE,
            permission=permission,
            label=_("Pre-trade rule: end now"),
            apply=_rule_end,
            validate=False,
        )
    )
    approvals.register(
        approvals.ChangeKind(
            key=RULE_WITHDRAW,
            model=RULE,
            permission=permission,
            label=_("Pre-trade rule: withdraw"),
            apply=_rule_withdraw,
            validate=False,
        )
    )
