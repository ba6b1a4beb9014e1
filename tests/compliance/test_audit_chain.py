"""The audit chain: appends, verification, tampering, append-only rows, concurrency."""

import hashlib
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from apps.compliance.audit import (
    GENESIS_HASH,
    ChainProblem,
    audit_append,
    audit_verify,
    entry_hash,
)
from apps.compliance.models import AuditEntry


def _tamper(seq: int, action: str) -> None:
    """Change one stored entry behind the application's back, as an intruder with SQL would."""
    table = AuditEntry._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Replica mode skips ordinary triggers: the append-only trigger would refuse this.
            cursor.execute("SET session_replication_role = replica")
        try:
            sql = f"UPDATE {table} SET action = %s WHERE seq = %s"  # noqa: S608 - our table
            cursor.execute(sql, [action, seq])
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")


def test_audit_append_links_entries_into_a_verified_chain(db):
    first = audit_append(actor=None, action="test.first", obj=("trade", 7), payload={"a": 1})
    second = audit_append(actor=None, action="test.second")
    third = audit_append(actor=None, action="test.third", payload={"b": [1, 2]})

    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert (first.object_type, first.object_id, first.actor_label) == ("trade", "7", "system")
    report = audit_verify()
    assert report.ok
    assert report.checked == 3
    assert report.head_hash == third.hash


def test_audit_append_records_the_user_as_actor(db, trader):
    entry = audit_append(actor=trader, action="test.by_user")

    stored = AuditEntry.objects.get(seq=entry.seq)
    assert (stored.actor_id, stored.actor_label) == (trader.pk, "trader")


def test_verify_audit_command_prints_ok_with_the_count(db, capsys):
    for number in range(4):
        audit_append(actor=None, action="test.event", payload={"n": number})

    call_command("verify_audit")

    assert capsys.readouterr().out.strip() == "OK 4 entries"


def test_verify_audit_command_names_the_first_altered_entry(db):
    for number in range(5):
        audit_append(actor=None, action="trade.booked", payload={"n": number})
    _tamper(3, "trade.bookeD")  # one byte of one entry

    with pytest.raises(CommandError, match=r"^FAILED seq=3: ") as failure:
        call_command("verify_audit")

    assert failure.value.returncode == 1
    report = audit_verify()
    assert (report.checked, report.first_bad_seq, report.problem) == (2, 3, ChainProblem.HASH)


def test_verify_audit_record_appends_the_result(db, capsys):
    audit_append(actor=None, action="test.event")

    call_command("verify_audit", "--record")

    recorded = AuditEntry.objects.get(seq=2)
    assert recorded.action == "audit.verified"
    assert recorded.payload == {
        "ok": True,
        "checked": 1,
        "first_bad_seq": None,
        "problem": "",
        "head_hash": AuditEntry.objects.get(seq=1).hash,
    }


def test_audit_verify_names_a_missing_entry(db):
    for _ in range(3):
        audit_append(actor=None, action="test.event")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(f"DELETE FROM {AuditEntry._meta.db_table} WHERE seq = 2")  # noqa: S608
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")

    report = audit_verify()

    assert (report.checked, report.first_bad_seq, report.problem) == (1, 2, ChainProblem.GAP)


def _raw(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _save_changed(entry: AuditEntry) -> None:
    entry.action = "x"
    entry.save()


def test_audit_entry_update_and_delete_are_refused_by_postgresql(postgres):
    entry = audit_append(actor=None, action="test.event", payload={"qty": "1"})
    table = AuditEntry._meta.db_table
    seq = entry.seq

    with pytest.raises(DatabaseError, match="append-only: UPDATE"), transaction.atomic():
        _raw(f"UPDATE {table} SET action = 'x' WHERE seq = %s", [seq])  # noqa: S608 - our table
    with pytest.raises(DatabaseError, match="append-only: DELETE"), transaction.atomic():
        _raw(f"DELETE FROM {table} WHERE seq = %s", [seq])  # noqa: S608 - our table
    with pytest.raises(DatabaseError, match="append-only: UPDATE"), transaction.atomic():
        AuditEntry.objects.filter(seq=seq).update(action="x")
    with pytest.raises(DatabaseError, match="append-only: UPDATE"), transaction.atomic():
        _save_changed(AuditEntry.objects.get(seq=seq))
    with pytest.raises(DatabaseError, match="append-only: DELETE"), transaction.atomic():
        AuditEntry.objects.filter(seq=seq).delete()

    stored = AuditEntry.objects.get(seq=seq)
    assert (stored.action, stored.payload) == ("test.event", {"qty": "1"})
    assert audit_verify().ok


def _append_then_fail() -> None:
    with transaction.atomic():
        audit_append(actor=None, action="test.rolled_back")
        raise RuntimeError("business failure")


def test_audit_append_leaves_no_entry_and_no_gap_after_a_rollback(transactional_db):
    audit_append(actor=None, action="test.kept")

    with pytest.raises(RuntimeError, match="business failure"):
        _append_then_fail()
    after = audit_append(actor=None, action="test.kept_too")

    assert list(AuditEntry.objects.order_by("seq").values_list("seq", "action")) == [
        (1, "test.kept"),
        (2, "test.kept_too"),
    ]
    assert after.seq == 2
    assert audit_verify().ok


def test_audit_payload_decimals_hash_as_their_exact_text(db):
    entry = audit_append(
        actor=None,
        action="trade.booked",
        obj=("trading.trade", 42),
        payload={"price": Decimal("70.10"), "qty": Decimal("1000"), "ratio": 0.5},
    )

    stored = AuditEntry.objects.get(seq=entry.seq)
    # Stored as strings, never floats: 70.10 keeps its trailing zero.
    assert stored.payload == {"price": "70.10", "qty": "1000", "ratio": "0.5"}
    canonical = (
        '{"action":"trade.booked","actor":{"id":null,"name":"system"},'
        '"object":{"id":"42","type":"trading.trade"},'
        '"payload":{"price":"70.10","qty":"1000","ratio":"0.5"},'
        f'"prev_hash":"{GENESIS_HASH}","request_id":"","seq":1,'
        f'"time":"{stored.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}"}}'
    )
    assert stored.hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert audit_verify().ok


def test_entry_hash_is_stable_for_equal_decimals_and_differs_for_other_scales():
    common = {
        "seq": 1,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "actor_id": None,
        "actor_label": "system",
        "action": "trade.booked",
        "object_type": "",
        "object_id": "",
        "request_id": "",
        "prev_hash": GENESIS_HASH,
    }

    once = entry_hash(**common, payload={"price": Decimal("70.10")})
    again = entry_hash(**common, payload={"price": Decimal("70.10")})
    other_scale = entry_hash(**common, payload={"price": Decimal("70.1")})

    assert once == again
    assert once != other_scale


def test_audit_payload_refuses_non_finite_numbers(db):
    with pytest.raises(ValueError, match="nan"):
        audit_append(actor=None, action="test.bad", payload={"x": float("nan")})

    assert AuditEntry.objects.count() == 0


def test_audit_append_keeps_a_gapless_chain_under_eight_concurrent_writers(
    postgres, transactional_db
):
    writers, per_writer = 8, 200
    failures: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(number: int) -> None:
        try:
            start.wait()
            for index in range(per_writer):
                # Each append is its own transaction, on this thread's own connection.
                audit_append(
                    actor=None, action="test.concurrent", payload={"w": number, "i": index}
                )
        except BaseException as exc:  # reported by the assertion below, not lost in the thread
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(number,)) for number in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, writers * per_writer + 1))
    report = audit_verify()
    assert (report.ok, report.checked) == (True, 1600)
