"""`manage.py verify_audit`: re-hash the audit chain; exit non-zero naming the first bad entry."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.compliance.audit import audit_verify, audit_verify_and_record


class Command(BaseCommand):
    help = "Re-hash the audit chain and report the first entry that does not hold."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--record",
            action="store_true",
            help='Also append an "audit.verified" entry recording the result.',
        )

    def handle(self, *args: Any, record: bool = False, **options: Any) -> None:
        report = audit_verify_and_record(actor=None) if record else audit_verify()
        if not report.ok:
            raise CommandError(f"FAILED seq={report.first_bad_seq}: {report.describe()}")
        self.stdout.write(self.style.SUCCESS(f"OK {report.checked} entries"))
