"""The venue API's shapes: what a client sends (orders, replaces) and what it reads (orders with
their events, contracts, the depth ladder). Shapes and types are checked here; the venue service
(apps.trading.venue) decides what they mean, so the API and the pages meet the same rules."""

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.trading.models import (
    Order,
    OrderEvent,
    OrderType,
    Side,
    TimeInForce,
    VenueContract,
)
from apps.trading.serializers import rule_results
from qenergyz.validators import PlainCharField, StrictDecimalField, StrictModelSerializer

# Up to the order columns' size: 12 digits before the point, 6 after.
_AMOUNT = {"max_digits": 18, "decimal_places": 6}


class OrderInputSerializer(serializers.Serializer):
    contract = serializers.IntegerField(min_value=1, help_text=_("A venue contract's id."))
    side = serializers.ChoiceField(choices=Side.choices)
    order_type = serializers.ChoiceField(
        choices=OrderType.choices, required=False, default=OrderType.LIMIT
    )
    time_in_force = serializers.ChoiceField(
        choices=TimeInForce.choices, required=False, default=TimeInForce.GTC
    )
    price = StrictDecimalField(
        **_AMOUNT,
        required=False,
        allow_null=True,
        default=None,
        help_text=_("A limit order's price, on the contract's tick grid; none for a market order."),
    )
    quantity = StrictDecimalField(
        **_AMOUNT,
        help_text=_("Per delivery hour (MW) for power, per day otherwise; whole lots."),
    )
    min_quantity = StrictDecimalField(
        **_AMOUNT,
        required=False,
        allow_null=True,
        default=None,
        help_text=_("Fill at least this much at once, or nothing."),
    )
    book = PlainCharField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Your book (our side); leave empty for a broker's quote."),
    )
    counterparty = PlainCharField(
        max_length=16,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("For a broker's quote: the broker's short code."),
    )
    desk = PlainCharField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("For a broker's quote: the desk that manages it (if you have several)."),
    )


class OrderReplaceInputSerializer(serializers.Serializer):
    price = StrictDecimalField(**_AMOUNT, required=False, allow_null=True, default=None)
    quantity = StrictDecimalField(
        **_AMOUNT,
        required=False,
        allow_null=True,
        default=None,
        help_text=_("The new open quantity."),
    )


class OrderEventSerializer(StrictModelSerializer):
    """An order's event. Who asked for it (stored) and the other side's order are left out:
    the venue is anonymous across desks."""

    trade = PlainCharField(source="trade.trade_ref", allow_null=True)
    checks = serializers.SerializerMethodField(
        help_text=_("A refused fill: the pre-trade results of each refused side.")
    )

    class Meta:
        model = OrderEvent
        fields = [
            "id",
            "kind",
            "created_at",
            "price",
            "quantity",
            "sequence",
            "reason",
            "aggressor",
            "trade",
            "checks",
        ]

    def get_checks(self, event: OrderEvent) -> dict[str, list[dict[str, Any]]]:
        reasons = (event.detail or {}).get("reasons") or {}
        return {order: rule_results(why.get("checks", [])) for order, why in reasons.items()}


class OrderSerializer(StrictModelSerializer):
    contract_code = PlainCharField(source="contract.code")
    desk = PlainCharField(source="desk.code")
    book = PlainCharField(source="book.code", allow_null=True)
    counterparty = PlainCharField(source="counterparty.short_code", allow_null=True)
    trader = PlainCharField(source="trader.username")

    class Meta:
        model = Order
        fields = [
            "id",
            "contract",
            "contract_code",
            "desk",
            "book",
            "counterparty",
            "trader",
            "side",
            "order_type",
            "time_in_force",
            "price",
            "quantity",
            "min_quantity",
            "status",
            "open_quantity",
            "filled_quantity",
            "cancelled_quantity",
            "sequence",
            "created_at",
            "updated_at",
        ]


class OrderDetailSerializer(OrderSerializer):
    events = OrderEventSerializer(many=True, read_only=True)

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "events"]


class OrderResultSerializer(serializers.Serializer):
    order = OrderDetailSerializer()
    fills = serializers.IntegerField(help_text=_("Fills booked by this request."))
    fills_refused = serializers.IntegerField(help_text=_("Fills voided: booking refused them."))


class VenueContractSerializer(StrictModelSerializer):
    market = PlainCharField(source="market.code")
    currency = PlainCharField(source="market.currency")
    unit = PlainCharField(source="market.quotation_unit.code")

    class Meta:
        model = VenueContract
        fields = [
            "id",
            "code",
            "market",
            "period_code",
            "delivery_start",
            "delivery_end",
            "deal_type",
            "tick_size",
            "lot_size",
            "stp_mode",
            "currency",
            "unit",
            "last_trading_at",
        ]


class DepthLevelSerializer(serializers.Serializer):
    price = PlainCharField()
    quantity = PlainCharField()
    orders = serializers.IntegerField()


class TapeSerializer(serializers.Serializer):
    time = PlainCharField(help_text=_("UTC, HH:MM:SS."))
    price = PlainCharField()
    quantity = PlainCharField()
    side = PlainCharField(help_text=_("The aggressor's side."))


class DepthSerializer(serializers.Serializer):
    contract = serializers.IntegerField()
    code = PlainCharField()
    bids = DepthLevelSerializer(many=True, help_text=_("Best first."))
    asks = DepthLevelSerializer(many=True, help_text=_("Best first."))
    last_trades = TapeSerializer(many=True, help_text=_("Newest first."))
