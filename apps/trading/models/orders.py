"""The internal venue: tradable contracts, orders and their events (DESIGN.md flow 3, issue 5).

A `VenueContract` is what the venue trades: one market × one delivery period, with its tick and
lot size, its self-trade prevention mode and the instant trading in it ends (from the market's
expiry rule, or the start of delivery). It also holds the matcher's two pieces of state that
must survive a restart: the next time-priority sequence, and a token that changes with every
write to its book (`apps.trading.venue` compares it to tell whether a process's engine is
still the book in the database).

An `Order` is one side of our interest (a book of a desk), or a broker's quote (an external
counterparty, managed by a desk). `OrderEvent` rows are the record of everything that happened
to an order — accepted, filled, fill refused by booking, cancelled, replaced, rejected — and are
append-only: never updated or deleted (a trigger refuses both on PostgreSQL). The order row's
state columns (status, open/filled/cancelled quantity, current price and time priority) are a
projection of those events, kept by the venue in the same transaction under the contract's
lock, so that the book is restored and the pages are read from indexed columns instead of
folding every event; a test holds that the projection equals the fold of the events. Quantity is
conserved (quantity = open + filled + cancelled, except for a rejected order, which never entered
the book): on PostgreSQL a check constraint holds it (migration 0009); SQLite sums decimals as
floats, where 0.7 + 1.4 is not 2.1, so there the tests hold it.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.accounts.models import Desk
from apps.trading.models.reference import Book, Counterparty, Market
from apps.trading.models.trades import PRICE, QUANTITY, DealType, Side, Trade

# The deal types a venue contract can trade: fixed price and plain terms only (an option needs a
# strike and expiry, an index-priced forward an index: neither is an order book's price).
VENUE_DEAL_TYPES = (DealType.PHYSICAL_FIXED, DealType.SWAP, DealType.FUTURE)


class StpMode(models.TextChoices):
    """What self-trade prevention cancels (values of apps.trading.matching.StpMode)."""

    CANCEL_RESTING = "cancel_resting", _("cancel the resting order")
    CANCEL_INCOMING = "cancel_incoming", _("cancel the incoming order")


class OrderType(models.TextChoices):
    LIMIT = "limit", pgettext_lazy("order type", "limit")
    MARKET = "market", pgettext_lazy("order type", "market")


class TimeInForce(models.TextChoices):
    GTC = "gtc", _("good till cancelled")
    IOC = "ioc", _("immediate or cancel")
    FOK = "fok", _("fill or kill")


class OrderStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("order status", "open")
    PARTIALLY_FILLED = "partially_filled", _("partially filled")
    FILLED = "filled", pgettext_lazy("order status", "filled")
    CANCELLED = "cancelled", pgettext_lazy("order status", "cancelled")
    REJECTED = "rejected", pgettext_lazy("order status", "rejected")


# Statuses of an order that still rests in the book.
WORKING_STATUSES = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})


class OrderEventKind(models.TextChoices):
    ACCEPTED = "accepted", pgettext_lazy("order event", "accepted")
    FILL = "fill", pgettext_lazy("order event", "fill")
    FILL_REFUSED = "fill_refused", _("fill refused by booking")
    CANCEL = "cancel", pgettext_lazy("order event", "cancel")
    REPLACE = "replace", pgettext_lazy("order event", "replace")
    REJECT = "reject", pgettext_lazy("order event", "reject")


class VenueContract(models.Model):
    market = models.ForeignKey(
        Market, on_delete=models.PROTECT, related_name="venue_contracts", verbose_name=_("market")
    )
    period_code = models.CharField(_("period"), max_length=16)
    delivery_start = models.DateField(_("delivery start"))
    delivery_end = models.DateField(_("delivery end"), help_text=_("Exclusive."))
    deal_type = models.CharField(
        _("deal type"),
        max_length=16,
        choices=[(value, value.label) for value in VENUE_DEAL_TYPES],
        default=DealType.PHYSICAL_FIXED,
        help_text=_("What a fill books on both sides."),
    )
    tick_size = models.DecimalField(_("tick size"), max_digits=12, decimal_places=6)
    lot_size = models.DecimalField(_("lot size"), max_digits=16, decimal_places=4)
    stp_mode = models.CharField(
        _("self-trade prevention"),
        max_length=16,
        choices=StpMode.choices,
        default=StpMode.CANCEL_RESTING,
    )
    last_trading_at = models.DateTimeField(
        _("last trading time"), help_text=_("Orders are refused from this instant (UTC).")
    )
    active = models.BooleanField(_("active"), default=True)
    # The matcher's state (apps.trading.venue), written under the contract's lock only.
    next_sequence = models.BigIntegerField(_("next time-priority sequence"), default=1)
    book_token = models.CharField(_("book token"), max_length=32, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["market__code", "delivery_start", "period_code"]
        verbose_name = _("venue contract")
        verbose_name_plural = _("venue contracts")
        constraints = [
            models.UniqueConstraint(
                fields=["market", "period_code"], name="venuecontract_market_period_uniq"
            ),
            models.CheckConstraint(
                condition=Q(tick_size__gt=0), name="venuecontract_tick_size_gt_0"
            ),
            models.CheckConstraint(condition=Q(lot_size__gt=0), name="venuecontract_lot_size_gt_0"),
            models.CheckConstraint(
                condition=Q(delivery_end__gt=F("delivery_start")),
                name="venuecontract_period_order",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def code(self) -> str:
        """ "eex-de-power 2027-03": the market's code and the period, as traders name it."""
        return f"{self.market.code} {self.period_code}"


class Order(models.Model):
    contract = models.ForeignKey(
        VenueContract,
        on_delete=models.PROTECT,
        related_name="orders",
        verbose_name=_("contract"),
    )
    # Who manages the order: the book's desk, or for a broker's quote the desk that entered it.
    desk = models.ForeignKey(
        Desk,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # the (desk, id) index below serves every desk-scoped read
        verbose_name=pgettext_lazy("trading desk", "desk"),
    )
    book = models.ForeignKey(
        Book,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=pgettext_lazy("trading book", "book"),
        help_text=_("Our side: the book a fill is booked into."),
    )
    counterparty = models.ForeignKey(
        Counterparty,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("broker"),
        help_text=_("A broker's quote: the external counterparty; only our side is booked."),
    )
    trader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("trader"),
    )
    side = models.CharField(pgettext_lazy("trade side", "side"), max_length=4, choices=Side.choices)
    order_type = models.CharField(
        _("order type"), max_length=8, choices=OrderType.choices, default=OrderType.LIMIT
    )
    time_in_force = models.CharField(
        _("time in force"), max_length=4, choices=TimeInForce.choices, default=TimeInForce.GTC
    )
    price = models.DecimalField(
        _("limit price"), **PRICE, null=True, blank=True, help_text=_("Empty for a market order.")
    )
    quantity = models.DecimalField(
        _("quantity"),
        **QUANTITY,
        help_text=_(
            "Per delivery hour for power, per day otherwise; filled + open + cancelled "
            "(a replace changes it)."
        ),
    )
    min_quantity = models.DecimalField(_("minimum quantity"), **QUANTITY, null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))

    # The projection of the order's events (see the module doc).
    status = models.CharField(
        pgettext_lazy("order status", "status"), max_length=16, choices=OrderStatus.choices
    )
    open_quantity = models.DecimalField(_("open quantity"), **QUANTITY)
    filled_quantity = models.DecimalField(_("filled quantity"), **QUANTITY)
    cancelled_quantity = models.DecimalField(_("cancelled quantity"), **QUANTITY)
    sequence = models.BigIntegerField(_("time priority"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        indexes = [
            models.Index(fields=["desk", "id"], name="order_desk_id_idx"),
            # The resting orders of a contract: the depth ladder and the engine's restore.
            models.Index(
                fields=["contract", "side", "price"],
                condition=Q(open_quantity__gt=0),
                name="order_resting_idx",
            ),
        ]
        constraints = [
            # Our side or a broker's quote, never both or neither.
            models.CheckConstraint(
                condition=Q(book__isnull=False, counterparty__isnull=True)
                | Q(book__isnull=True, counterparty__isnull=False),
                name="order_book_xor_broker",
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_quantity_gt_0"),
            models.CheckConstraint(
                condition=Q(open_quantity__gte=0)
                & Q(filled_quantity__gte=0)
                & Q(cancelled_quantity__gte=0),
                name="order_quantities_gte_0",
            ),
            models.CheckConstraint(
                condition=Q(order_type=OrderType.MARKET, price__isnull=True)
                | Q(order_type=OrderType.LIMIT, price__isnull=False),
                name="order_limit_has_price",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk}"

    @property
    def is_working(self) -> bool:
        return self.status in WORKING_STATUSES


class OrderEvent(models.Model):
    """One thing that happened to an order. Append-only."""

    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="events", verbose_name=_("order")
    )
    # The order's contract, copied: the contract's last trades read one index.
    contract = models.ForeignKey(
        VenueContract,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("contract"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=OrderEventKind.choices)
    created_at = models.DateTimeField(_("time"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
        help_text=_("Whose request made this happen (the aggressor's trader for a fill)."),
    )
    price = models.DecimalField(_("price"), **PRICE, null=True, blank=True)
    quantity = models.DecimalField(_("quantity"), **QUANTITY, null=True, blank=True)
    sequence = models.BigIntegerField(_("time priority"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=32, blank=True, default="")
    aggressor = models.BooleanField(_("aggressor"), null=True, blank=True)
    counter_order = models.ForeignKey(
        Order,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("counter order"),
    )
    trade = models.ForeignKey(
        Trade,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("trade"),
        help_text=_("The trade this fill booked on this order's side."),
    )
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("order event")
        verbose_name_plural = _("order events")
        indexes = [
            # The contract's last trades: its aggressor fills, newest first.
            models.Index(
                fields=["contract", "id"],
                condition=Q(kind="fill", aggressor=True),
                name="orderevent_tape_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind}"
