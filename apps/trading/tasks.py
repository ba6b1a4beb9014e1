"""Celery tasks of the trading app: thin, they call the domain and return a summary."""

from datetime import date
from typing import Any

from celery import shared_task
from django.utils import timezone

from apps.trading.pnl import pnl_close


@shared_task(name="apps.trading.tasks.pnl_close_day")
def pnl_close_day(on: str | None = None, book_ids: list[int] | None = None) -> dict[str, Any]:
    """Close the day's P&L (today's UTC date unless `on` is given) of the books (all unless
    `book_ids` are given)."""
    day = date.fromisoformat(on) if on else timezone.now().date()
    rows = pnl_close(on=day, book_ids=book_ids)
    return {"date": day.isoformat(), "books": len(rows)}
