"""Rebuild position rows from the trades (all books, or the books named)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.trading.models import Book
from apps.trading.positions import positions_rebuild


class Command(BaseCommand):
    help = "Recompute positions from every booked trade's current version (safe to repeat)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("books", nargs="*", help="Book codes; all books when none is given.")

    def handle(self, *args: Any, books: list[str], **options: Any) -> None:
        book_ids = None
        if books:
            found = dict(Book.objects.filter(code__in=books).values_list("code", "pk"))
            missing = sorted(set(books) - set(found))
            if missing:
                raise CommandError(f"Unknown books: {', '.join(missing)}")
            book_ids = list(found.values())
        rows = positions_rebuild(book_ids=book_ids)
        self.stdout.write(f"{rows} position rows rebuilt")
