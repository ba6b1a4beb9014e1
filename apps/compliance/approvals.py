"""Four eyes for admin changes: a change is recorded as a `ChangeRequest` and applied only when a
second person approves it.

Compliance cannot import the apps whose changes it holds (trading sits above it), so each app
registers its kinds of change here (`register`, from its AppConfig.ready): which model, which
permission an approver needs, and the function that applies the change through that app's own
service. Approval locks the request and the object, refuses a stale request (the object changed
since it was requested), validates the proposal again and applies it, all in one transaction
with the audit entries.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.apps import apps as django_apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.compliance.audit import audit_append
from apps.compliance.models import ChangeRequest, ChangeRequestStatus


@dataclass(frozen=True)
class ChangeKind:
    """How one kind of change is applied once approved.

    `apply(actor=, obj=)` gets the object locked, with the proposed values set and validated
    (unless `validate` is off), and writes it through the owning app's service. `prepare(obj)`
    may adjust it first (a start time that passed while the request waited becomes now).
    """

    key: str
    model: str
    permission: str
    label: Any
    apply: Callable[..., Any]
    prepare: Callable[[models.Model], None] | None = None
    validate: bool = True


_KINDS: dict[str, ChangeKind] = {}


def register(kind: ChangeKind) -> None:
    """Make `kind` known; registering the same key again replaces it (module reloads)."""
    _KINDS[kind.key] = kind


def change_kind(key: str) -> ChangeKind:
    try:
        return _KINDS[key]
    except KeyError:
        raise ValidationError(_("This kind of change is not known.")) from None


# --- Field values as JSON -------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    """A field's value as plain JSON: exact decimals and times as strings, times in UTC."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


# A user's password hash is never copied into a request or the audit trail, and a sign-in while
# a request waits does not make it stale.
_NOT_HELD = frozenset({"password", "last_login"})


def _editable_fields(model: type[models.Model]) -> list[models.Field]:
    """Concrete editable fields but the key; a translated field only through its per-language
    columns (modeltranslation's plain name reads and writes the active language's)."""
    names = {field.name for field in model._meta.concrete_fields}
    languages = [code for code, _name in settings.LANGUAGES]
    return [
        field
        for field in model._meta.concrete_fields
        if field.editable
        and not field.primary_key
        and field.name not in _NOT_HELD
        and not all(f"{field.name}_{code}" in names for code in languages)
    ]


def field_values(obj: models.Model) -> dict[str, Any]:
    """The object's editable fields by name (a foreign key by its target's key), as JSON."""
    return {
        field.name: _encode(field.value_from_object(obj)) for field in _editable_fields(type(obj))
    }


def values_set(obj: models.Model, values: dict[str, Any]) -> None:
    """Set the JSON `values` (as `field_values` gives them) on `obj`."""
    for name, value in values.items():
        field = obj._meta.get_field(name)
        setattr(obj, field.attname, None if value is None else field.to_python(value))


def changes_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"old": …, "new": …}} of what differs; every field of a new object (no before)."""
    return {
        name: {"old": before.get(name), "new": value}
        for name, value in after.items()
        if not before or before.get(name) != value
    }


# --- Requests and decisions -----------------------------------------------------------------------


def _stored(kind: ChangeKind, object_id: str, *, lock: bool) -> models.Model | None:
    model = django_apps.get_model(kind.model)
    rows = model._default_manager.filter(pk=object_id)
    return (rows.select_for_update() if lock else rows).first()


def change_request_create(
    *,
    actor: Any,
    kind: str,
    obj: models.Model,
    values: dict[str, Any] | None = None,
    label: str = "",
) -> ChangeRequest:
    """Record `obj`'s proposed change for a second person's approval; nothing else is written.

    `values` defaults to every editable field of `obj` as it stands (the form's proposal); the
    stored row's fields become the request's base, against which approval checks staleness.
    """
    change = change_kind(kind)
    with transaction.atomic():
        base: dict[str, Any] = {}
        object_id = ""
        if obj.pk is not None:
            stored = _stored(change, obj.pk, lock=True)
            if stored is None:
                raise ValidationError(_("The object no longer exists."))
            base = field_values(stored)
            object_id = str(obj.pk)
        if values is None:
            proposed = field_values(obj)
        else:
            proposed = {name: _encode(value) for name, value in values.items()}
        request = ChangeRequest.objects.create(
            kind=change.key,
            target=change.model,
            object_id=object_id,
            object_label=(label or str(obj))[:200],
            values=proposed,
            base=base,
            requested_by=actor,
        )
        audit_append(
            actor=actor,
            action="compliance.change_requested",
            obj=request,
            payload={
                "kind": change.key,
                "object": {"type": change.model, "id": object_id},
                "changes": changes_between(base, proposed),
            },
        )
    return request


def _decidable(request: ChangeRequest, actor: Any, change: ChangeKind) -> None:
    if request.status != ChangeRequestStatus.PENDING:
        raise ValidationError(_("This request has already been decided."))
    if request.requested_by_id == actor.pk:
        raise ValidationError(_("A second person must decide: you made this request."))
    if not actor.has_perm(change.permission):
        raise ValidationError(_("You may not decide changes of this kind."))


def _decide(request: ChangeRequest, actor: Any, status: str, note: str) -> None:
    request.status = status
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.note = note
    request.save(update_fields=["status", "decided_by", "decided_at", "note"])


def change_request_approve(*, actor: Any, request_id: int, note: str = "") -> ChangeRequest:
    """Apply the request's change through its app's service and record the approval, in one
    transaction; a ValidationError (stale, decided, own request, invalid now) writes nothing."""
    with transaction.atomic():
        request = ChangeRequest.objects.select_for_update().get(pk=request_id)
        change = change_kind(request.kind)
        _decidable(request, actor, change)
        if request.object_id:
            obj = _stored(change, request.object_id, lock=True)
            if obj is None or field_values(obj) != request.base:
                raise ValidationError(
                    _(
                        "%(object)s has changed since this request was made: reject it and "
                        "request the change again."
                    )
                    % {"object": request.object_label}
                )
        else:
            obj = django_apps.get_model(change.model)()
        values_set(obj, request.values)
        if change.prepare is not None:
            change.prepare(obj)
        if change.validate:
            obj.full_clean()
        change.apply(actor=actor, obj=obj)
        _decide(request, actor, ChangeRequestStatus.APPROVED, note)
        audit_append(
            actor=actor,
            action="compliance.change_approved",
            obj=request,
            payload={
                "kind": change.key,
                "object": {"type": change.model, "id": str(obj.pk or request.object_id)},
                "requested_by": request.requested_by_id,
                "note": note,
            },
        )
    return request


def change_request_reject(*, actor: Any, request_id: int, note: str = "") -> ChangeRequest:
    """Refuse the change: nothing of it is applied; the refusal is recorded and audited."""
    with transaction.atomic():
        request = ChangeRequest.objects.select_for_update().get(pk=request_id)
        change = change_kind(request.kind)
        _decidable(request, actor, change)
        _decide(request, actor, ChangeRequestStatus.REJECTED, note)
        audit_append(
            actor=actor,
            action="compliance.change_rejected",
            obj=request,
            payload={
                "kind": change.key,
                "object": {"type": change.model, "id": request.object_id},
                "requested_by": request.requested_by_id,
                "note": note,
            },
        )
    return request
