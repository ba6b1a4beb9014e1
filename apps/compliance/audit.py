"""The audit trail's one helper: `audit_append`, and the chain check `audit_verify`.

Every entry holds a gapless sequence number, the previous entry's hash and its own SHA-256 over a
canonical JSON encoding of (seq, time, actor, action, object reference, payload, request id,
previous hash). It is written inside the caller's transaction, so a change and its entry commit
or roll back together.

This module imports nothing from the other apps, so that every app (accounts included) may use it.
"""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection, models, transaction
from django.utils import timezone

from apps.compliance.models import AuditEntry
from qenergyz.requestid import current_request_id

GENESIS_HASH = "0" * 64

# Any constant works; it names "the audit chain's head" among PostgreSQL advisory locks.
_CHAIN_LOCK_KEY = 0x5145_4E41_5544_4954  # "QENAUDIT"


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot go into an audit payload")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is; Decimals and times as strings (never floats)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


def _format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    *,
    seq: int,
    created_at: datetime,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    payload: Any,
    request_id: str,
    prev_hash: str,
) -> str:
    record = {
        "seq": seq,
        "time": _format_time(created_at),
        "actor": {"id": actor_id, "name": actor_label},
        "action": action,
        "object": {"type": object_type, "id": object_id},
        "payload": payload,
        "request_id": request_id,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(record).encode()).hexdigest()


def _hash_of(entry: AuditEntry) -> str:
    return entry_hash(
        seq=entry.seq,
        created_at=entry.created_at,
        actor_id=entry.actor_id,
        actor_label=entry.actor_label,
        action=entry.action,
        object_type=entry.object_type,
        object_id=entry.object_id,
        payload=entry.payload,
        request_id=entry.request_id,
        prev_hash=entry.prev_hash,
    )


def _object_reference(obj: models.Model | tuple[str, object] | None) -> tuple[str, str]:
    if obj is None:
        return "", ""
    if isinstance(obj, tuple):
        return obj[0], str(obj[1])
    return obj._meta.label_lower, str(obj.pk)


def _lock_chain_head() -> None:
    """Serialise appenders until the surrounding transaction ends.

    Two writers that both read the head before either inserts would fork the chain. On
    PostgreSQL a transaction-scoped advisory lock orders them; the head is read by the *next*
    statement, whose snapshot is taken after the lock is granted. SQLite transactions already
    take the database write lock when they begin (transaction_mode IMMEDIATE in settings).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])


def audit_append(
    *,
    actor: Any | None,
    action: str,
    obj: models.Model | tuple[str, object] | None = None,
    payload: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the chain, inside the caller's transaction (or its own, if none).

    `actor` is a user or None for the system; `obj` a model instance or a (type, id) pair.
    Call it last in a business transaction: the chain's lock is held until the commit.
    """
    object_type, object_id = _object_reference(obj)
    # Round-trip the payload through the canonical encoding so that what is stored is exactly
    # what was hashed (Decimals and times become strings).
    clean_payload = json.loads(canonical_json(payload or {}))
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    actor_id = actor.pk if is_user else None
    actor_label = actor.get_username() if is_user else "system"
    with transaction.atomic(savepoint=False):
        _lock_chain_head()
        head = AuditEntry.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        created_at = timezone.now()
        request_id = current_request_id()
        entry = AuditEntry(
            seq=seq,
            created_at=created_at,
            actor_id=actor_id,
            actor_label=actor_label,
            action=action,
            object_type=object_type,
            object_id=object_id,
            payload=clean_payload,
            request_id=request_id,
            prev_hash=prev_hash,
        )
        entry.hash = _hash_of(entry)
        entry.save(force_insert=True)
    return entry


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_bad_seq: int | None
    problem: str

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


def _entries_in_order(chunk_size: int) -> Iterator[AuditEntry]:
    return AuditEntry.objects.order_by("seq").iterator(chunk_size=chunk_size)


def audit_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Re-hash the whole chain in order and name the first entry that does not hold."""
    expected_seq, expected_prev, checked = 1, GENESIS_HASH, 0
    for entry in _entries_in_order(chunk_size):
        if entry.seq != expected_seq:
            return ChainReport(
                checked, expected_seq, f"sequence gap: expected {expected_seq}, found {entry.seq}"
            )
        if entry.prev_hash != expected_prev:
            return ChainReport(checked, entry.seq, "previous hash does not match the entry before")
        if _hash_of(entry) != entry.hash:
            return ChainReport(checked, entry.seq, "content does not match its hash")
        checked += 1
        expected_seq, expected_prev = entry.seq + 1, entry.hash
    return ChainReport(checked, None, "")
