"""The audit trail's one helper: `audit_append`, and the chain check `audit_verify`.

Every entry holds a gapless sequence number, the previous entry's hash and its own SHA-256 over a
canonical JSON encoding of (seq, time, actor, action, object reference, payload, request id,
previous hash). It is written inside the caller's transaction, so a change and its entry commit
or roll back together.

This module imports nothing from the other apps, so that every app (accounts included) may use it.
"""

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from apps.compliance.models import AuditEntry
from qenergyz.db import insert_rows
from qenergyz.requestid import current_request_id

GENESIS_HASH = "0" * 64
VERIFIED_ACTION = "audit.verified"

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


def _without_floats(value: Any) -> Any:
    """Floats become their shortest decimal string, as Decimals do.

    A float does not survive PostgreSQL's jsonb unchanged (1e20 comes back as the integer
    100000000000000000000, -0.0 as 0.0), so hashing it as a JSON number would make a sound entry
    fail verification once read back. NaN and infinity are not JSON at all and are refused.
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot go into an audit payload")
        return repr(value)
    if isinstance(value, dict):
        return {key: _without_floats(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_floats(item) for item in value]
    return value


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is; Decimals, floats and times as strings."""
    return json.dumps(
        _without_floats(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
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


def _lock_and_read_head() -> tuple[int, str] | None:
    """Serialise appenders until the surrounding transaction ends; return the head (seq, hash).

    Two writers that both read the head before either inserts would fork the chain. On
    PostgreSQL a transaction-scoped advisory lock orders them, and the head must be read by a
    statement that *starts after* the lock is granted: under READ COMMITTED each statement
    takes its snapshot when it starts, so a single "lock and read" statement could read a head
    that the previous lock holder has since replaced. The two statements travel in one simple
    query (one round trip; the lock key is a constant, no parameters), and PostgreSQL still runs
    them one after the other, each with its own snapshot.

    SQLite transactions take the database write lock when they begin (transaction_mode
    IMMEDIATE in settings), so a plain read is already serialised there.
    """
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(AuditEntry._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT pg_advisory_xact_lock({int(_CHAIN_LOCK_KEY)}); "  # noqa: S608 - constants
                f"SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1"
            )
            cursor.nextset()
            row = cursor.fetchone()
        return (row[0], row[1]) if row else None
    return AuditEntry.objects.order_by("-seq").values_list("seq", "hash").first()


@dataclass(frozen=True)
class AuditRecord:
    """One entry for `audit_append_many`: the arguments `audit_append` takes."""

    actor: Any | None
    action: str
    obj: models.Model | tuple[str, object] | None = None
    payload: dict[str, Any] | None = None


def _unchained(record: AuditRecord) -> AuditEntry:
    """The entry's own fields, prepared before the chain's lock is taken (seq, time, request id
    and the hashes are set under it)."""
    object_type, object_id = _object_reference(record.obj)
    actor = record.actor
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEntry(
        actor_id=actor.pk if is_user else None,
        actor_label=actor.get_username() if is_user else "system",
        action=record.action,
        object_type=object_type,
        object_id=object_id,
        # Round-trip the payload through the canonical encoding so that what is stored is
        # exactly what was hashed (Decimals and times become strings).
        payload=json.loads(canonical_json(record.payload or {})),
    )


def _chain(entries: list[AuditEntry]) -> None:
    """Link `entries` after the chain's head. Call with the lock held (inside one atomic)."""
    head = _lock_and_read_head()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    created_at, request_id = timezone.now(), current_request_id()
    for entry in entries:
        entry.seq, entry.created_at, entry.request_id = seq, created_at, request_id
        entry.prev_hash = prev_hash
        entry.hash = _hash_of(entry)
        seq, prev_hash = seq + 1, entry.hash


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
    entry = _unchained(AuditRecord(actor, action, obj, payload))
    with transaction.atomic(savepoint=False):
        _chain([entry])
        entry.save(force_insert=True)
    return entry


def audit_append_many(records: Sequence[AuditRecord]) -> list[AuditEntry]:
    """Append several entries in order, under one hold of the chain's lock and one INSERT.

    The same chain as `audit_append` makes one by one, for a batch of bookings, whose entries
    would otherwise cost two round trips each. Inside the caller's transaction, like
    audit_append.
    """
    entries = [_unchained(record) for record in records]
    if not entries:
        return []
    with transaction.atomic(savepoint=False):
        _chain(entries)
        insert_rows(entries)
    return entries


class ChainProblem:
    """Why verification stopped; stable codes, recorded in "audit.verified" entries."""

    GAP = "sequence_gap"
    PREV_HASH = "prev_hash_mismatch"
    HASH = "hash_mismatch"


_PROBLEM_TEXT = {
    ChainProblem.GAP: gettext_lazy("the entry is missing (the sequence has a gap)"),
    ChainProblem.PREV_HASH: gettext_lazy("it does not point at the hash of the entry before it"),
    ChainProblem.HASH: gettext_lazy("its content does not match its hash (it was altered)"),
}


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""  # a ChainProblem code, empty when the chain holds
    head_hash: str = GENESIS_HASH  # the hash of the last entry that held

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None

    def describe(self) -> str:
        """The result in the reader's language, for the admin, the page and the command."""
        if self.ok:
            return ngettext(
                "The audit chain holds: %(count)d entry verified.",
                "The audit chain holds: %(count)d entries verified.",
                self.checked,
            ) % {"count": self.checked}
        return _("The audit chain is broken at #%(seq)s: %(problem)s.") % {
            "seq": self.first_bad_seq,
            "problem": _PROBLEM_TEXT[self.problem],
        }

    def as_payload(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "head_hash": self.head_hash,
        }


def _entries_in_order(chunk_size: int) -> Iterator[AuditEntry]:
    return AuditEntry.objects.order_by("seq").iterator(chunk_size=chunk_size)


def audit_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Re-hash the whole chain in order and name the first entry that does not hold.

    The chain proves the order and content of what it holds; it cannot see entries cut off its
    end. The head hash recorded by each "audit.verified" entry is the anchor against that.
    """
    expected_seq, expected_prev, checked = 1, GENESIS_HASH, 0
    for entry in _entries_in_order(chunk_size):
        if entry.seq != expected_seq:
            return ChainReport(checked, expected_seq, ChainProblem.GAP, expected_prev)
        if entry.prev_hash != expected_prev:
            return ChainReport(checked, entry.seq, ChainProblem.PREV_HASH, expected_prev)
        if _hash_of(entry) != entry.hash:
            return ChainReport(checked, entry.seq, ChainProblem.HASH, expected_prev)
        checked += 1
        expected_seq, expected_prev = entry.seq + 1, entry.hash
    return ChainReport(checked, head_hash=expected_prev)


def audit_verify_and_record(*, actor: Any | None) -> ChainReport:
    """Verify the chain and append an "audit.verified" entry saying what was found.

    Verification reads outside any transaction (it may take a while on a long chain and must
    not hold the chain's lock); only the entry recording the result is written.
    """
    report = audit_verify()
    audit_append(actor=actor, action=VERIFIED_ACTION, payload=report.as_payload())
    return report
