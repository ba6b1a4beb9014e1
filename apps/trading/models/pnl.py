"""The daily P&L of each book, as closed at the end of the day.

A `BookPnl` row is derived data, like a position: `apps.trading.pnl.pnl_close` computes it from
the trade versions that were current at the end of the day and the market data of the day, and
closing a day again (after a curve correction) replaces it. Month-to-date and year-to-date
figures are sums of the stored daily rows.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.trading.models.reference import Book, validate_currency
from apps.trading.models.trades import MONEY


class BookPnl(models.Model):
    book = models.ForeignKey(
        Book,
        on_delete=models.CASCADE,
        related_name="pnl",
        verbose_name=pgettext_lazy("trading book", "book"),
    )
    date = models.DateField(_("date"))
    prior_date = models.DateField(
        _("previous date"), help_text=_("The day the daily P&L is measured from.")
    )
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    # Lifetime value of the book's trades at the end of the day.
    realised = models.DecimalField(_("realised"), **MONEY)
    unrealised = models.DecimalField(_("unrealised"), **MONEY)
    # The day's P&L (value today − value on the previous date) and its explain.
    daily = models.DecimalField(pgettext_lazy("P&L", "daily"), **MONEY)
    daily_realised = models.DecimalField(_("daily realised"), **MONEY)
    time_roll = models.DecimalField(_("time roll"), **MONEY)
    curve_moves = models.DecimalField(_("curve moves"), **MONEY)
    fx = models.DecimalField(_("FX"), **MONEY)
    new_trades = models.DecimalField(_("new trades"), **MONEY)
    amendments = models.DecimalField(_("amendments"), **MONEY)
    cancellations = models.DecimalField(_("cancellations"), **MONEY)
    unexplained = models.DecimalField(_("unexplained"), **MONEY)
    trade_count = models.PositiveIntegerField(_("trades"))
    missing = models.JSONField(
        _("missing market data"),
        default=list,
        help_text=_("What could not be priced; those parts are left out of the figures."),
    )
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        ordering = ["book", "-date"]
        verbose_name = _("daily book P&L")
        verbose_name_plural = _("daily book P&L")
        constraints = [models.UniqueConstraint(fields=["book", "date"], name="bookpnl_uniq")]
        indexes = [models.Index(fields=["date", "book"], name="bookpnl_date_book_idx")]

    def __str__(self) -> str:
        return f"{self.book_id} {self.date.isoformat()}: {self.daily} {self.currency}"
