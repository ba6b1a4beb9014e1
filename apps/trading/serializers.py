import datetime
from collections.abc import Callable, Mapping
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.trading.models import (
    Counterparty,
    DealType,
    DeliveryProfile,
    Market,
    MasterAgreement,
    OptionKind,
    Position,
    Side,
    Trade,
    TradeVersion,
)


class MasterAgreementSerializer(serializers.ModelSerializer):
    legal_entity = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = MasterAgreement
        fields = [
            "kind",
            "legal_entity",
            "signed_on",
            "netting",
            "collateral_threshold",
            "collateral_currency",
        ]


class CounterpartySerializer(serializers.ModelSerializer):
    internal_entity = serializers.SlugRelatedField(slug_field="code", read_only=True)
    agreements = MasterAgreementSerializer(many=True, read_only=True)

    class Meta:
        model = Counterparty
        fields = [
            "id",
            "short_code",
            "legal_name",
            "lei",
            "country",
            "sector",
            "kyc_status",
            "kyc_expires_on",
            "credit_limit",
            "credit_currency",
            "internal_entity",
            "agreements",
            "updated_at",
        ]


class PeakSerializer(serializers.Serializer):
    weekdays = serializers.ListField(child=serializers.IntegerField(), source="peak_weekdays")
    start_hour = serializers.IntegerField(source="peak_start_hour")
    end_hour = serializers.IntegerField(source="peak_end_hour")
    holiday_calendar = serializers.CharField(
        source="peak_holiday_calendar.code", read_only=True, allow_null=True
    )


class MarketSerializer(serializers.ModelSerializer):
    # `name` is in the request's language (django-modeltranslation), English when untranslated.
    commodity = serializers.SlugRelatedField(slug_field="code", read_only=True)
    quotation_unit = serializers.SlugRelatedField(slug_field="code", read_only=True)
    holiday_calendar = serializers.SlugRelatedField(slug_field="code", read_only=True)
    price_unit = serializers.CharField(source="price_unit_label", read_only=True)
    peak = serializers.SerializerMethodField()

    class Meta:
        model = Market
        fields = [
            "id",
            "code",
            "name",
            "commodity",
            "time_zone",
            "currency",
            "quote_scale",
            "quotation_unit",
            "price_unit",
            "holiday_calendar",
            "day_start_hour",
            "day_start_zone",
            "peak",
            "expiry_rule",
            "tick_size",
            "lot_size",
        ]

    @extend_schema_field(PeakSerializer(allow_null=True))
    def get_peak(self, market: Market) -> dict | None:
        return PeakSerializer(market).data if market.has_peak else None


# --- Trades and positions --------------------------------------------------------------------


class TradeTermsInputSerializer(serializers.Serializer):
    """The terms of a trade as a client sends them; references by code. Shapes and types are
    checked here, meaning (references, currency, period, deal-type rules) by the service."""

    book = serializers.CharField(max_length=32)
    counterparty = serializers.CharField(max_length=16)
    deal_type = serializers.ChoiceField(choices=DealType.choices)
    side = serializers.ChoiceField(choices=Side.choices)
    market = serializers.CharField(max_length=32)
    period = serializers.CharField(
        max_length=16,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("A period code: 2026-03, 2026-Q2, 2026-W13, SUM-2026, CAL-2027."),
    )
    delivery_start = serializers.DateField(required=False, allow_null=True, default=None)
    delivery_end = serializers.DateField(
        required=False, allow_null=True, default=None, help_text=_("Exclusive.")
    )
    profile = serializers.ChoiceField(
        choices=DeliveryProfile.choices, required=False, default=DeliveryProfile.BASE
    )
    quantity = serializers.DecimalField(
        max_digits=18,
        decimal_places=6,
        help_text=_("Per delivery hour (MW) for power, per day for other commodities."),
    )
    unit = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    price = serializers.DecimalField(max_digits=20, decimal_places=6)
    currency = serializers.CharField(max_length=3)
    index_market = serializers.CharField(
        max_length=32, required=False, allow_blank=True, default=""
    )
    option_type = serializers.ChoiceField(
        choices=OptionKind.choices, required=False, allow_blank=True, default=""
    )
    strike = serializers.DecimalField(
        max_digits=20, decimal_places=6, required=False, allow_null=True, default=None
    )
    expiry_date = serializers.DateField(required=False, allow_null=True, default=None)
    trade_date = serializers.DateField(
        required=False, allow_null=True, default=None, help_text=_("Default: today (UTC).")
    )
    executed_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text=_("Default: now.")
    )


class PlainTermsReader:
    """Reads trade terms sent in their plain form as TradeTermsInputSerializer does, only faster.

    Plain: text in ASCII, numbers as strings or integers, ISO dates, ISO times with an offset,
    null only where the field allows it. A bulk request of 1,000 trades spent more time in the
    serializer's generic field machinery than in booking them (bench/booking.py). Anything else
    (a blank, a wrong type, a value out of range or a time without its zone) gives None, and the
    serializer then reads the item itself, with its own error messages.
    tests/trading/test_booking_perf.py holds the two to the same results.
    """

    def __init__(self, serializer: "TradeTermsInputSerializer") -> None:
        self.fields = list(serializer.fields.items())
        # Read once: the serializer looks the request's time zone up for every value.
        self.time_zone = serializer.fields["executed_at"].default_timezone()

    def read(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        for name, field in self.fields:
            if name not in data:
                if field.required:
                    return None
                values[name] = field.get_default()
                continue
            raw = data[name]
            if raw is None:
                if not field.allow_null:
                    return None
                values[name] = None
                continue
            reader = _PLAIN_READERS.get(type(field))
            value = reader(self, field, raw) if reader is not None else _NOT_PLAIN
            if value is _NOT_PLAIN:
                return None
            values[name] = value
        return values

    def _text(self, field: serializers.CharField, raw: Any) -> Any:
        if type(raw) is not str or not raw.isascii() or "\x00" in raw:
            return _NOT_PLAIN
        value = raw.strip()
        if not value:
            return "" if field.allow_blank else _NOT_PLAIN
        if field.max_length is not None and len(value) > field.max_length:
            return _NOT_PLAIN
        return value

    def _choice(self, field: serializers.ChoiceField, raw: Any) -> Any:
        if type(raw) is not str:
            return _NOT_PLAIN
        if not raw:
            return "" if field.allow_blank else _NOT_PLAIN
        return field.choice_strings_to_values.get(raw, _NOT_PLAIN)

    def _decimal(self, field: serializers.DecimalField, raw: Any) -> Any:
        if type(raw) is not str and type(raw) is not int:
            return _NOT_PLAIN
        try:
            return field.to_internal_value(raw)  # the field's own parsing, rounding and limits
        except serializers.ValidationError:
            return _NOT_PLAIN

    def _date(self, field: serializers.DateField, raw: Any) -> Any:
        if type(raw) is not str:
            return _NOT_PLAIN
        try:
            value = parse_date(raw)
        except ValueError:
            return _NOT_PLAIN
        return _NOT_PLAIN if value is None else value

    def _datetime(self, field: serializers.DateTimeField, raw: Any) -> Any:
        if type(raw) is not str or self.time_zone is None:
            return _NOT_PLAIN
        try:
            value = parse_datetime(raw)
            if value is None or value.tzinfo is None or value.utcoffset() is None:
                return _NOT_PLAIN
            return value.astimezone(self.time_zone)
        except (ValueError, OverflowError):
            return _NOT_PLAIN


_NOT_PLAIN = object()
_PLAIN_READERS: dict[type, Callable[..., Any]] = {
    serializers.CharField: PlainTermsReader._text,
    serializers.ChoiceField: PlainTermsReader._choice,
    serializers.DecimalField: PlainTermsReader._decimal,
    serializers.DateField: PlainTermsReader._date,
    serializers.DateTimeField: PlainTermsReader._datetime,
}


class TradeAmendInputSerializer(TradeTermsInputSerializer):
    """The version being amended and the terms that change (the others are kept)."""

    version = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class TradeActionInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, help_text=_("The trade's current version, as the client last read it.")
    )
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RuleResultSerializer(serializers.Serializer):
    rule = serializers.CharField()
    outcome = serializers.CharField()
    reason = serializers.CharField(help_text=_("In the request's language."))


def rule_results(results: list[dict]) -> list[dict]:
    """Stored pre-trade results with their reason in the active language."""
    return [
        {
            "rule": r["rule"],
            "outcome": r["outcome"],
            "reason": gettext(r["message"]) % r["params"] if r["message"] else "",
        }
        for r in results
    ]


class TradeVersionSerializer(serializers.ModelSerializer):
    counterparty = serializers.CharField(source="counterparty.short_code")
    market = serializers.CharField(source="market.code")
    index_market = serializers.CharField(source="index_market.code", allow_null=True)
    unit = serializers.CharField(source="unit.code")
    created_by = serializers.CharField(source="created_by.username")
    trader = serializers.CharField(source="trader.username")
    pretrade_results = serializers.SerializerMethodField()

    class Meta:
        model = TradeVersion
        fields = [
            "version",
            "status",
            "created_by",
            "created_at",
            "reason",
            "deal_type",
            "side",
            "counterparty",
            "trader",
            "market",
            "index_market",
            "period_code",
            "delivery_start",
            "delivery_end",
            "profile",
            "quantity",
            "total_quantity",
            "unit",
            "price",
            "currency",
            "notional",
            "option_type",
            "strike",
            "expiry_date",
            "delta",
            "trade_date",
            "executed_at",
            "pretrade_results",
        ]

    @extend_schema_field(RuleResultSerializer(many=True))
    def get_pretrade_results(self, version: TradeVersion) -> list[dict]:
        return rule_results(version.pretrade_results)


class TradeSerializer(serializers.ModelSerializer):
    """A trade with its current terms (`terms`); the detail adds every version."""

    book = serializers.CharField(source="book.code")
    desk = serializers.CharField(source="desk.code")
    created_by = serializers.CharField(source="created_by.username")
    terms = serializers.SerializerMethodField()

    class Meta:
        model = Trade
        fields = [
            "id",
            "trade_ref",
            "book",
            "desk",
            "status",
            "current_version",
            "created_by",
            "created_at",
            "terms",
        ]

    @extend_schema_field(TradeVersionSerializer)
    def get_terms(self, trade: Trade) -> dict:
        current = getattr(trade, "current", None)
        if current is None:
            current = next(v for v in trade.versions.all() if v.version == trade.current_version)
        # One serializer for the whole list: building its fields per trade cost more than the
        # queries (measured by bench/booking.py). The context is shared by a list's items.
        terms = self.context.setdefault("_terms_serializer", TradeVersionSerializer())
        return terms.to_representation(current)


class TradeDetailSerializer(TradeSerializer):
    versions = TradeVersionSerializer(many=True, read_only=True)

    class Meta(TradeSerializer.Meta):
        fields = [*TradeSerializer.Meta.fields, "versions"]


class BulkTradeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    trade_ref = serializers.CharField()
    status = serializers.CharField()
    current_version = serializers.IntegerField()
    total_quantity = serializers.DecimalField(max_digits=24, decimal_places=6)
    unit = serializers.CharField()
    notional = serializers.DecimalField(max_digits=22, decimal_places=2, allow_null=True)
    currency = serializers.CharField()


class BulkItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.CharField(help_text=_("booked, pending_approval, blocked or invalid."))
    trade = BulkTradeSerializer(allow_null=True)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    checks = RuleResultSerializer(many=True)


class BulkResultSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    results = BulkItemResultSerializer(many=True)


class BlockedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    checks = RuleResultSerializer(many=True)


class PositionSerializer(serializers.ModelSerializer):
    book = serializers.CharField(source="book.code")
    market = serializers.CharField(source="market.code")
    unit = serializers.CharField(source="unit.code")
    month = serializers.SerializerMethodField()

    class Meta:
        model = Position
        fields = ["id", "book", "market", "month", "unit", "quantity", "quantity_mwh", "updated_at"]

    def get_month(self, position: Position) -> str:
        return position.month.strftime("%Y-%m")


# --- Valuation and P&L (apps.trading.pnl_api) ---------------------------------------------------


class ValuationDayInputSerializer(serializers.Serializer):
    date = serializers.DateField(required=False, help_text=_("The pricing date; today by default."))

    def validate_date(self, value: datetime.date) -> datetime.date:
        if value > timezone.now().date():
            raise serializers.ValidationError(_("The day cannot be in the future."))
        return value


class MissingSerializer(serializers.Serializer):
    kind = serializers.CharField()
    what = serializers.CharField()
    message = serializers.CharField()


class TradeValuationSerializer(serializers.Serializer):
    trade = serializers.CharField()
    version = serializers.IntegerField()
    date = serializers.DateField()
    currency = serializers.CharField()
    mtm = serializers.DecimalField(max_digits=22, decimal_places=2)
    realised = serializers.DecimalField(max_digits=22, decimal_places=2)
    unrealised = serializers.DecimalField(max_digits=22, decimal_places=2)
    delta = serializers.DecimalField(
        max_digits=30, decimal_places=6, help_text=_("Options: units of the underlying.")
    )
    vega = serializers.DecimalField(
        max_digits=22, decimal_places=2, help_text=_("Options: per 1.00 of volatility.")
    )
    missing = MissingSerializer(many=True)


class PnlExplainSerializer(serializers.Serializer):
    time_roll = serializers.DecimalField(max_digits=22, decimal_places=2)
    curve_moves = serializers.DecimalField(max_digits=22, decimal_places=2)
    fx = serializers.DecimalField(max_digits=22, decimal_places=2)
    new_trades = serializers.DecimalField(max_digits=22, decimal_places=2)
    amendments = serializers.DecimalField(max_digits=22, decimal_places=2)
    cancellations = serializers.DecimalField(max_digits=22, decimal_places=2)
    unexplained = serializers.DecimalField(max_digits=22, decimal_places=2)


class BookPnlSerializer(serializers.Serializer):
    book = serializers.CharField(source="book.code")
    currency = serializers.CharField(source="book.currency")
    close_date = serializers.DateField(source="close.date", allow_null=True, default=None)
    prior_date = serializers.DateField(source="close.prior_date", allow_null=True, default=None)
    daily = serializers.DecimalField(
        source="close.daily", max_digits=22, decimal_places=2, allow_null=True, default=None
    )
    daily_realised = serializers.DecimalField(
        source="close.daily_realised",
        max_digits=22,
        decimal_places=2,
        allow_null=True,
        default=None,
    )
    month_to_date = serializers.DecimalField(max_digits=22, decimal_places=2)
    year_to_date = serializers.DecimalField(max_digits=22, decimal_places=2)
    realised = serializers.DecimalField(
        source="close.realised", max_digits=22, decimal_places=2, allow_null=True, default=None
    )
    unrealised = serializers.DecimalField(
        source="close.unrealised", max_digits=22, decimal_places=2, allow_null=True, default=None
    )
    explain = PnlExplainSerializer(source="close", allow_null=True, default=None)
    since_close = serializers.DecimalField(
        source="intraday", max_digits=22, decimal_places=2, allow_null=True
    )


class HourlyInputSerializer(serializers.Serializer):
    book = serializers.CharField()
    market = serializers.CharField()
    month = serializers.RegexField(
        r"^\d{4}-(0[1-9]|1[0-2])$", help_text=_("A delivery month, e.g. 2027-03.")
    )


class HourSerializer(serializers.Serializer):
    start = serializers.DateTimeField(default_timezone=datetime.UTC, help_text=_("UTC"))
    local_start = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=24, decimal_places=6)


class HourlyPositionsSerializer(serializers.Serializer):
    book = serializers.CharField()
    market = serializers.CharField()
    month = serializers.CharField()
    time_zone = serializers.CharField()
    unit = serializers.CharField()
    hours = HourSerializer(many=True)
