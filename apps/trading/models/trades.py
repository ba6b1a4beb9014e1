"""Trades (versioned), the desks' trading policies, and positions.

A `Trade` is the identity of a deal and a pointer to its current version; every change of its
terms or status (amend, cancel, approve, reject) appends a `TradeVersion` and moves the pointer
with an optimistic check (`services`). Versions are never updated or deleted.

`Trade` also carries copies of the current version's market, counterparty, trade date and
status, so that the blotter filters and pages on indexed columns of one table; they change only
together with `current_version`, in the same UPDATE statement. It carries its book's desk too,
copied when it is booked and never changed: every trade list is scoped by the user's desks, and
that filter then needs no join.

`Position` rows are derived data: `apps.trading.positions` keeps them current on every booking
and can rebuild them from the versions; both sum the same stored monthly legs of each version.
`CounterpartyExposure` rows are derived likewise: `services` keeps them current and can rebuild
them from the versions.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.accounts.models import Desk
from apps.trading.models.reference import (
    Book,
    Counterparty,
    Market,
    Unit,
    validate_currency,
)

# Quantities: up to 12 digits before the point and 6 after (a year of 1,000 MW is 8.76 million
# MWh); money: 2 after the point on up to 20 digits; prices: 6 after the point.
QUANTITY = {"max_digits": 24, "decimal_places": 6}
PRICE = {"max_digits": 20, "decimal_places": 6}
MONEY = {"max_digits": 22, "decimal_places": 2}


class DealType(models.TextChoices):
    PHYSICAL_FIXED = "physical_fixed", _("physical fixed-price forward")
    PHYSICAL_INDEX = "physical_index", _("physical index-priced forward")
    SWAP = "swap", _("fixed-for-floating swap")
    FUTURE = "future", _("exchange future")
    OPTION = "option", _("European option on a future")


class Side(models.TextChoices):
    BUY = "buy", _("buy")
    SELL = "sell", _("sell")


class TradeStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", _("pending approval")
    BOOKED = "booked", pgettext_lazy("trade status", "booked")
    CANCELLED = "cancelled", _("cancelled")
    REJECTED = "rejected", _("rejected")


# Statuses after which nothing more can happen to a trade.
FINAL_STATUSES = frozenset({TradeStatus.CANCELLED, TradeStatus.REJECTED})


class DeliveryProfile(models.TextChoices):
    BASE = "base", _("base load")
    PEAK = "peak", _("peak load")
    OFF_PEAK = "offpeak", _("off-peak")


class OptionKind(models.TextChoices):
    CALL = "call", _("call")
    PUT = "put", _("put")


class DeskTradingPolicy(models.Model):
    """The four-eyes rule of a desk: a trade whose notional exceeds the threshold waits for a
    second person's approval. A desk without a policy has settings.DEFAULT_APPROVAL_THRESHOLD."""

    desk = models.OneToOneField(
        Desk,
        on_delete=models.CASCADE,
        related_name="trading_policy",
        verbose_name=pgettext_lazy("trading desk", "desk"),
    )
    approval_threshold = models.DecimalField(
        _("approval threshold"),
        **MONEY,
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("Trades with a larger notional need a second person's approval."),
    )
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])

    class Meta:
        verbose_name = _("desk trading policy")
        verbose_name_plural = _("desk trading policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(approval_threshold__gte=0), name="desktradingpolicy_threshold_gte_0"
            )
        ]

    def __str__(self) -> str:
        return f"{self.desk}: {self.approval_threshold} {self.currency}"


class MarketVolatility(models.Model):
    """The default implied volatility of options on a market's futures.

    Used to compute an option's delta when it is booked (Black-76 with the market's forward
    curve): the delta is stored on the version and positions carry delta × quantity. Until the
    market-data issue provides volatility surfaces, this per-market default is the input.
    """

    market = models.OneToOneField(
        Market, on_delete=models.CASCADE, related_name="volatility", verbose_name=_("market")
    )
    volatility = models.DecimalField(
        _("volatility"),
        max_digits=8,
        decimal_places=6,
        help_text=_("Annualised, as a fraction: 0.45 for 45 %."),
    )

    class Meta:
        verbose_name = _("market volatility")
        verbose_name_plural = _("market volatilities")
        constraints = [
            models.CheckConstraint(condition=Q(volatility__gt=0), name="marketvolatility_gt_0")
        ]

    def __str__(self) -> str:
        return f"{self.market}: {self.volatility}"


class TradeRefCounter(models.Model):
    """The one counter that numbers trades ("T-000123"): a batch reserves its range with one
    UPDATE, whose row lock orders concurrent bookings' numbers until they commit."""

    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("trade number counter")
        verbose_name_plural = _("trade number counters")

    def __str__(self) -> str:
        return f"T-{self.value:06d}"


class Trade(models.Model):
    trade_ref = models.CharField(_("trade reference"), max_length=20, unique=True)
    book = models.ForeignKey(
        Book,
        on_delete=models.PROTECT,
        related_name="trades",
        verbose_name=pgettext_lazy("trading book", "book"),
    )
    # The book's desk when the trade was booked (a copy, see the module doc); indexed with id.
    desk = models.ForeignKey(
        Desk,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=pgettext_lazy("trading desk", "desk"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"))
    current_version = models.PositiveIntegerField(_("current version"), default=1)
    status = models.CharField(_("status"), max_length=20, choices=TradeStatus.choices)
    # Copies of the current version's terms, for filtering on one table (see the module doc).
    market = models.ForeignKey(
        Market, on_delete=models.PROTECT, related_name="+", verbose_name=_("market")
    )
    counterparty = models.ForeignKey(
        Counterparty,
        on_delete=models.PROTECT,
        related_name="trades",
        verbose_name=_("counterparty"),
    )
    trade_date = models.DateField(_("trade date"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("trade")
        verbose_name_plural = _("trades")
        indexes = [
            models.Index(fields=["book", "id"], name="trade_book_id_idx"),
            models.Index(fields=["desk", "id"], name="trade_desk_id_idx"),
            models.Index(fields=["counterparty", "id"], name="trade_cp_id_idx"),
            models.Index(fields=["market", "id"], name="trade_market_id_idx"),
            models.Index(fields=["status", "id"], name="trade_status_id_idx"),
            models.Index(fields=["trade_date", "id"], name="trade_date_id_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(current_version__gte=1), name="trade_current_version_gte_1"
            )
        ]

    def __str__(self) -> str:
        return self.trade_ref


class TradeVersion(models.Model):
    """One version of a trade's terms and status. Append-only."""

    trade = models.ForeignKey(
        Trade, on_delete=models.PROTECT, related_name="versions", verbose_name=_("trade")
    )
    version = models.PositiveIntegerField(_("version"))
    status = models.CharField(_("status"), max_length=20, choices=TradeStatus.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"))
    reason = models.CharField(_("reason"), max_length=500, blank=True)

    # Economic terms.
    deal_type = models.CharField(_("deal type"), max_length=16, choices=DealType.choices)
    side = models.CharField(_("side"), max_length=4, choices=Side.choices)
    counterparty = models.ForeignKey(
        Counterparty, on_delete=models.PROTECT, related_name="+", verbose_name=_("counterparty")
    )
    trader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("trader"),
    )
    market = models.ForeignKey(
        Market, on_delete=models.PROTECT, related_name="+", verbose_name=_("market")
    )
    index_market = models.ForeignKey(
        Market,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("index market"),
        help_text=_("The index an index-priced forward is priced on."),
    )
    period_code = models.CharField(_("period"), max_length=16, blank=True)
    delivery_start = models.DateField(_("delivery start"))
    delivery_end = models.DateField(_("delivery end"), help_text=_("Exclusive."))
    profile = models.CharField(
        _("profile"), max_length=8, choices=DeliveryProfile.choices, default=DeliveryProfile.BASE
    )
    quantity = models.DecimalField(
        _("quantity per delivery unit"),
        **QUANTITY,
        help_text=_("Per hour for power (MW), per day for other commodities."),
    )
    total_quantity = models.DecimalField(_("total quantity"), **QUANTITY)
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="+", verbose_name=_("unit")
    )
    price = models.DecimalField(
        _("price"),
        **PRICE,
        help_text=_(
            "The fixed price; the spread over the index for an index-priced forward; "
            "the premium for an option."
        ),
    )
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    notional = models.DecimalField(
        _("notional"),
        **MONEY,
        null=True,
        blank=True,
        help_text=_(
            "|total quantity × price| in the currency (the strike for an option); empty "
            "when it needs a forward price that was not available."
        ),
    )
    option_type = models.CharField(
        _("option type"), max_length=4, choices=OptionKind.choices, blank=True
    )
    strike = models.DecimalField(_("strike"), **PRICE, null=True, blank=True)
    expiry_date = models.DateField(_("expiry date"), null=True, blank=True)
    delta = models.DecimalField(
        _("delta"),
        max_digits=12,
        decimal_places=8,
        null=True,
        blank=True,
        help_text=_("An option's delta when this version was booked."),
    )
    trade_date = models.DateField(_("trade date"))
    executed_at = models.DateTimeField(_("execution time"))

    # What the version contributes to positions while booked: [[month, quantity, MWh or null]],
    # signed and (for options) delta-weighted. Stored, so that the incremental update and the
    # rebuild sum exactly the same numbers whatever the calendars or conversions say later.
    position_legs = models.JSONField(_("position legs"), default=list)
    pretrade_results = models.JSONField(_("pre-trade check results"), default=list)

    class Meta:
        ordering = ["trade", "version"]
        verbose_name = _("trade version")
        verbose_name_plural = _("trade versions")
        constraints = [
            models.UniqueConstraint(fields=["trade", "version"], name="tradeversion_uniq"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="tradeversion_quantity_gt_0"),
            models.CheckConstraint(
                condition=Q(delivery_end__gt=models.F("delivery_start")),
                name="tradeversion_period_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trade_id} v{self.version}"

    @property
    def signed_total(self) -> Decimal:
        return self.total_quantity if self.side == Side.BUY else -self.total_quantity


class Position(models.Model):
    """Net quantity of booked trades per book × market × delivery month × unit."""

    book = models.ForeignKey(
        Book,
        on_delete=models.CASCADE,
        related_name="positions",
        verbose_name=pgettext_lazy("trading book", "book"),
    )
    market = models.ForeignKey(
        Market, on_delete=models.PROTECT, related_name="+", verbose_name=_("market")
    )
    month = models.DateField(_("delivery month"), help_text=_("The first day of the month."))
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="+", verbose_name=_("unit")
    )
    quantity = models.DecimalField(_("net quantity"), **QUANTITY)
    quantity_mwh = models.DecimalField(
        _("net quantity (MWh)"),
        **QUANTITY,
        null=True,
        blank=True,
        help_text=_("Empty when no conversion of the unit to MWh is known."),
    )
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        ordering = ["book", "market", "month"]
        verbose_name = pgettext_lazy("trading position", "position")
        verbose_name_plural = pgettext_lazy("trading position", "positions")
        constraints = [
            models.UniqueConstraint(
                fields=["book", "market", "month", "unit"], name="position_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.book_id} {self.market_id} {self.month:%Y-%m}: {self.quantity}"


class CounterpartyExposure(models.Model):
    """A counterparty's running credit exposure in one currency: the notionals of its booked
    trades' current versions in that currency.

    Derived data, kept by `services` in the transaction of every booking, amendment,
    cancellation, approval and rejection, under the counterparty's row lock, so that the credit
    check reads one row instead of summing every trade; `services.exposures_rebuild` recomputes
    it from the versions. A trade booked without a notional makes the figure unknown
    (`unknown` > 0) and the credit check fail closed. A row with no trade counts for nothing.
    """

    counterparty = models.ForeignKey(
        Counterparty,
        on_delete=models.CASCADE,
        related_name="exposures",
        verbose_name=_("counterparty"),
    )
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    amount = models.DecimalField(
        _("exposure"), **MONEY, help_text=_("The sum of the known notionals.")
    )
    trades = models.PositiveIntegerField(_("booked trades"))
    unknown = models.PositiveIntegerField(
        _("trades without a notional"),
        help_text=_("While above zero, the exposure is unknown and the credit check blocks."),
    )
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        ordering = ["counterparty", "currency"]
        verbose_name = _("counterparty exposure")
        verbose_name_plural = _("counterparty exposures")
        constraints = [
            models.UniqueConstraint(
                fields=["counterparty", "currency"], name="counterpartyexposure_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.counterparty_id}: {self.amount} {self.currency}"
