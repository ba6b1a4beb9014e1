"""Reads of the compliance app that are more than one line."""

from dataclasses import dataclass

from apps.compliance.models import AuditEntry


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_before: int | None  # the `before` of the next (older) page; None on the last page


def audit_entries_page(
    *, before: int | None = None, action: str = "", actor: str = "", size: int = 50
) -> AuditPage:
    """One page of the trail, newest first, by keyset on seq: one bounded query at any depth."""
    entries = AuditEntry.objects.select_related("actor").order_by("-seq")
    if before is not None:
        entries = entries.filter(seq__lt=before)
    if action:
        entries = entries.filter(action=action)
    if actor:
        entries = entries.filter(actor_label=actor)
    # One row more than shown says whether an older page exists, without a COUNT.
    rows = list(entries[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    return AuditPage(rows, rows[-1].seq if has_more else None)
