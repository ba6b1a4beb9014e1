"""Market data: forward-curve snapshots with their points, and FX rates.

All three are append-only in practice. A curve uploaded again for the same market and pricing
date becomes a new revision beside the old one, so that a valuation can always be re-run against
exactly the curve it first used. Writes go through `apps.trading.marketdata` only.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.trading.models.reference import Market, validate_currency


class CurvePointKind(models.TextChoices):
    """The delivery spans a curve point may cover (codes as `apps.trading.periods` reads them)."""

    MONTH = "month", _("month")
    QUARTER = "quarter", _("quarter")


class CurveSnapshot(models.Model):
    """One market's forward curve as of one pricing (settlement) date, in one revision."""

    market = models.ForeignKey(
        Market,
        on_delete=models.PROTECT,
        related_name="curve_snapshots",
        verbose_name=_("market"),
    )
    pricing_date = models.DateField(pgettext_lazy("market data", "pricing date"))
    revision = models.PositiveIntegerField(
        _("revision"),
        help_text=_("1 for the first upload of a date; a correction is the next revision."),
    )
    point_count = models.PositiveIntegerField(_("points"), default=0)
    source = models.CharField(_("source"), max_length=200, blank=True, default="")
    notes = models.TextField(_("notes"), blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
        help_text=_("Empty for curves loaded by the system (the demo history)."),
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        ordering = ["-pricing_date", "market", "-revision"]
        verbose_name = _("forward curve snapshot")
        verbose_name_plural = _("forward curve snapshots")
        constraints = [
            # Its index (market first) also serves "the latest snapshot at or before a date".
            models.UniqueConstraint(
                fields=["market", "pricing_date", "revision"], name="curvesnapshot_revision_uniq"
            ),
            models.CheckConstraint(
                condition=Q(revision__gte=1), name="curvesnapshot_revision_gte_1"
            ),
        ]
        # The API's list walks all markets by date.
        indexes = [models.Index(fields=["pricing_date", "id"], name="curvesnapshot_date_idx")]

    def __str__(self) -> str:
        return f"{self.market.code} {self.pricing_date.isoformat()} r{self.revision}"


class CurvePoint(models.Model):
    """The price of one delivery month or quarter, in the market's quotation (currency/unit)."""

    snapshot = models.ForeignKey(
        CurveSnapshot,
        # A point means nothing without its snapshot; snapshots themselves are never deleted
        # (their market is PROTECTed and the admin refuses deletion).
        on_delete=models.CASCADE,
        related_name="points",
        verbose_name=_("snapshot"),
    )
    period = models.CharField(
        pgettext_lazy("delivery period", "period"),
        max_length=8,
        help_text=_("2027-01 for a month, 2027-Q1 for a quarter."),
    )
    kind = models.CharField(_("kind"), max_length=8, choices=CurvePointKind.choices)
    start = models.DateField(_("delivery start"))
    end = models.DateField(_("delivery end"), help_text=_("Exclusive: the day after delivery."))
    price = models.DecimalField(
        pgettext_lazy("market price", "price"), max_digits=18, decimal_places=6
    )

    class Meta:
        ordering = ["snapshot", "start", "kind"]
        verbose_name = _("curve point")
        verbose_name_plural = _("curve points")
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "period"], name="curvepoint_period_uniq"),
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="curvepoint_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.price.normalize()}"


class FxRate(models.Model):
    """1 `base` = `rate` `quote` on `date` (EUR/USD 1.08: one euro buys 1.08 dollars)."""

    base = models.CharField(_("base currency"), max_length=3, validators=[validate_currency])
    quote = models.CharField(_("quote currency"), max_length=3, validators=[validate_currency])
    date = models.DateField(_("date"))
    rate = models.DecimalField(_("rate"), max_digits=18, decimal_places=8)
    source = models.CharField(_("source"), max_length=200, blank=True, default="")
    created_at = models.DateTimeField(_("loaded at"), default=timezone.now)

    class Meta:
        ordering = ["-date", "base", "quote"]
        verbose_name = _("FX rate")
        verbose_name_plural = _("FX rates")
        constraints = [
            models.UniqueConstraint(fields=["base", "quote", "date"], name="fxrate_pair_date_uniq"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="fxrate_rate_gt_0"),
            models.CheckConstraint(
                condition=~Q(base=F("quote")), name="fxrate_distinct_currencies"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.base}/{self.quote} {self.date.isoformat()} {self.rate.normalize()}"


class InterestRate(models.Model):
    """A currency's discount rate on a date: one continuously compounded rate for every tenor.

    A flat rate per currency is what the valuation needs to discount forwards' cash flows to the
    pricing date; it is market data like a curve, loaded daily and never changed in place.
    """

    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    date = models.DateField(_("date"))
    rate = models.DecimalField(
        _("rate"),
        max_digits=10,
        decimal_places=8,
        help_text=_("Annual, continuously compounded, as a fraction: 0.035 for 3.5 %."),
    )
    source = models.CharField(_("source"), max_length=200, blank=True, default="")
    created_at = models.DateTimeField(_("loaded at"), default=timezone.now)

    class Meta:
        ordering = ["-date", "currency"]
        verbose_name = _("interest rate")
        verbose_name_plural = _("interest rates")
        constraints = [
            models.UniqueConstraint(fields=["currency", "date"], name="interestrate_ccy_date_uniq"),
            # Negative rates happened (EUR 2014–2022); a rate of ±100 % is a typo.
            models.CheckConstraint(
                condition=Q(rate__gt=-1) & Q(rate__lt=1), name="interestrate_rate_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.date.isoformat()} {self.rate.normalize()}"
