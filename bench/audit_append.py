"""Benchmark: audit entries appended per second, against plain single-row inserts.

    DATABASE_URL=postgres://user@host:5432/any .venv/bin/python bench/audit_append.py [--count N]

PostgreSQL only (the chain's concurrency control is what is measured). The script creates its
own scratch database beside the one DATABASE_URL names, migrates it, and drops it at the end.
Each append or insert is its own transaction, as a business operation would be.
Target: chained >= 0.5 x plain with one writer.
"""

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable

from scratch import is_postgres, scratch_database

TARGET_RATIO = 0.5


def _rate(count: int, writers: int, work: Callable[[int], None]) -> float:
    """Entries per second for `writers` threads doing `count` operations between them."""
    from django.db import connections

    share = count // writers
    failures: list[BaseException] = []
    start = threading.Barrier(writers + 1)

    def run(writer: int) -> None:
        try:
            work(writer)  # warm the connection outside the timing
            start.wait()
            for index in range(share):
                work(index)
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)
            start.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(number,)) for number in range(writers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise failures[0]
    return share * writers / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="operations per measurement")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not is_postgres(url):
        print(
            "bench/audit_append.py needs PostgreSQL: set DATABASE_URL=postgres://... "
            "(SQLite serialises all writers on one file lock; its figures would say nothing "
            "about the chain).",
            file=sys.stderr,
        )
        return 2
    with scratch_database(url):
        return _measure(args.count)


def _measure(count: int) -> int:
    from django.core.management import call_command
    from django.db import connection, models, transaction
    from django.utils import timezone

    from apps.compliance.audit import audit_append, audit_verify
    from apps.compliance.models import AuditEntry

    call_command("migrate", verbosity=0)

    class PlainEntry(models.Model):  # noqa: DJ008 - a scratch table, never shown
        """The audit table's columns and indexes without the chain: an ordinary insert."""

        created_at = models.DateTimeField()
        actor_label = models.CharField(max_length=150)
        action = models.CharField(max_length=64)
        object_type = models.CharField(max_length=64, blank=True)
        object_id = models.CharField(max_length=64, blank=True)
        payload = models.JSONField(default=dict)
        request_id = models.CharField(max_length=64, blank=True)
        hash = models.CharField(max_length=64, unique=True)

        class Meta:
            app_label = "compliance"
            db_table = "bench_plain_entry"
            indexes = [
                models.Index(fields=["object_type", "object_id"], name="bench_object_idx"),
                models.Index(fields=["action", "id"], name="bench_action_idx"),
                models.Index(fields=["actor_label", "id"], name="bench_actor_idx"),
            ]

    with connection.schema_editor() as editor:
        editor.create_model(PlainEntry)

    payload = {"book": "PWR-EU-1", "qty": "25.000", "price": "71.35", "side": "buy"}

    def chained(index: int) -> None:
        audit_append(actor=None, action="bench.append", obj=("bench", index), payload=payload)

    def plain(index: int) -> None:
        with transaction.atomic():
            PlainEntry.objects.create(
                created_at=timezone.now(),
                actor_label="system",
                action="bench.insert",
                object_type="bench",
                object_id=str(index),
                payload=payload,
                hash=uuid.uuid4().hex * 2,
            )

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        synchronous_commit = cursor.fetchone()[0]
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
    connection.close()

    # Interleaved rounds, median of each: a shared machine's load drifts, and measuring one
    # kind after the other would hand the drift to whichever ran second.
    rounds = 5
    share = max(count // rounds, 4)
    rates: dict[str, list[float]] = {"plain_1": [], "chained_1": [], "plain_4": [], "chained_4": []}
    for _ in range(rounds):
        rates["plain_1"].append(_rate(share, 1, plain))
        rates["chained_1"].append(_rate(share, 1, chained))
        rates["chained_4"].append(_rate(share, 4, chained))
        rates["plain_4"].append(_rate(share, 4, plain))
    plain_1, chained_1, plain_4, chained_4 = (
        statistics.median(rates[key]) for key in ("plain_1", "chained_1", "plain_4", "chained_4")
    )
    report = audit_verify()
    ratio = chained_1 / plain_1

    print(f"PostgreSQL {server_version}, synchronous_commit={synchronous_commit}")
    print(f"{rounds} interleaved rounds of {share} operations each; medians of the rounds")
    print(f"plain inserts, 1 writer:    {plain_1:8.0f} /s")
    print(f"plain inserts, 4 writers:   {plain_4:8.0f} /s")
    print(f"audit_append, 1 writer:     {chained_1:8.0f} /s")
    print(f"audit_append, 4 writers:    {chained_4:8.0f} /s")
    print(f"ratio chained/plain, 1 writer: {ratio:.2f}")
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"target: chained >= {TARGET_RATIO} x plain with one writer ({verdict})")
    print(f"chain after the run: {'OK' if report.ok else 'BROKEN'} ({report.checked} entries)")
    assert AuditEntry.objects.count() == report.checked
    return 0 if report.ok and ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
