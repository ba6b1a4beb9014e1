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
from qenergyz.validators import (
    PlainCharField,
    SaneDateField,
    SaneDateTimeField,
    StrictDecimalField,
    StrictModelSerializer,
    date_in_range,
    date_range_message,
    text_is_plain,
    validate_date,
)


class MasterAgreementSerializer(StrictModelSerializer):
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


class CounterpartySerializer(StrictModelSerializer):
    internal_entity = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
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
    holiday_calendar = PlainCharField(
        source="peak_holiday_calendar.code", read_only=True, allow_null=True
    )


class MarketSerializer(StrictModelSerializer):
    # `name` is in the request's language (django-modeltranslation), English when untranslated.
    commodity = serializers.SlugRelatedField(slug_field="code", read_only=True)
    quotation_unit = serializers.SlugRelatedField(slug_field="code", read_only=True)
    holiday_calendar = serializers.SlugRelatedField(slug_field="code", read_only=True)
    price_unit = PlainCharField(source="price_unit_label", read_only=True)
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

    book = PlainCharField(max_length=32)
    counterparty = PlainCharField(max_length=16)
    deal_type = serializers.ChoiceField(choices=DealType.choices)
    side = serializers.ChoiceField(choices=Side.choices)
    market = PlainCharField(max_length=32)
    period = PlainCharField(
        max_length=16,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("A period code: 2026-03, 2026-Q2, 2026-W13, SUM-2026, CAL-2027."),
    )
    delivery_start = SaneDateField(required=False, allow_null=True, default=None)
    delivery_end = SaneDateField(
        required=False, allow_null=True, default=None, help_text=_("Exclusive.")
    )
    profile = serializers.ChoiceField(
        choices=DeliveryProfile.choices, required=False, default=DeliveryProfile.BASE
    )
    quantity = StrictDecimalField(
        max_digits=18,
        decimal_places=6,
        help_text=_("Per delivery hour (MW) for power, per day for other commodities."),
    )
    unit = PlainCharField(max_length=16, required=False, allow_blank=True, default="")
    price = StrictDecimalField(max_digits=20, decimal_places=6)
    currency = PlainCharField(max_length=3)
    index_market = PlainCharField(max_length=32, required=False, allow_blank=True, default="")
    option_type = serializers.ChoiceField(
        choices=OptionKind.choices, required=False, allow_blank=True, default=""
    )
    strike = StrictDecimalField(
        max_digits=20, decimal_places=6, required=False, allow_null=True, default=None
    )
    expiry_date = SaneDateField(required=False, allow_null=True, default=None)
    trade_date = SaneDateField(
        required=False, allow_null=True, default=None, help_text=_("Default: today (UTC).")
    )
    executed_at = SaneDateTimeField(
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
        if type(raw) is not str or not raw.isascii() or not text_is_plain(raw):
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
        return _NOT_PLAIN if value is None or not date_in_range(value) else value

    def _datetime(self, field: serializers.DateTimeField, raw: Any) -> Any:
        if type(raw) is not str or self.time_zone is None:
            return _NOT_PLAIN
        try:
            value = parse_datetime(raw)
            if value is None or value.tzinfo is None or value.utcoffset() is None:
                return _NOT_PLAIN
            if not date_in_range(value):
                return _NOT_PLAIN
            return value.astimezone(self.time_zone)
        except (ValueError, OverflowError):
            return _NOT_PLAIN


_NOT_PLAIN = object()
_PLAIN_READERS: dict[type, Callable[..., Any]] = {
    PlainCharField: PlainTermsReader._text,
    serializers.ChoiceField: PlainTermsReader._choice,
    StrictDecimalField: PlainTermsReader._decimal,
    SaneDateField: PlainTermsReader._date,
    SaneDateTimeField: PlainTermsReader._datetime,
}


class TradeAmendInputSerializer(TradeTermsInputSerializer):
    """The version being amended and the terms that change (the others are kept)."""

    version = serializers.IntegerField(min_value=1)
    reason = PlainCharField(max_length=500, required=False, allow_blank=True, default="")


class TradeActionInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, help_text=_("The trade's current version, as the client last read it.")
    )
    reason = PlainCharField(max_length=500, required=False, allow_blank=True, default="")


class RuleResultSerializer(serializers.Serializer):
    rule = PlainCharField()
    outcome = PlainCharField()
    reason = PlainCharField(help_text=_("In the request's language."))


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


class TradeVersionSerializer(StrictModelSerializer):
    counterparty = PlainCharField(source="counterparty.short_code")
    market = PlainCharField(source="market.code")
    index_market = PlainCharField(source="index_market.code", allow_null=True)
    unit = PlainCharField(source="unit.code")
    created_by = PlainCharField(source="created_by.username")
    trader = PlainCharField(source="trader.username")
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


class TradeSerializer(StrictModelSerializer):
    """A trade with its current terms (`terms`); the detail adds every version."""

    book = PlainCharField(source="book.code")
    desk = PlainCharField(source="desk.code")
    created_by = PlainCharField(source="created_by.username")
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
    trade_ref = PlainCharField()
    status = PlainCharField()
    current_version = serializers.IntegerField()
    total_quantity = StrictDecimalField(max_digits=24, decimal_places=6)
    unit = PlainCharField()
    notional = StrictDecimalField(max_digits=22, decimal_places=2, allow_null=True)
    currency = PlainCharField()


class BulkItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = PlainCharField(help_text=_("booked, pending_approval, blocked or invalid."))
    trade = BulkTradeSerializer(allow_null=True)
    errors = serializers.DictField(child=serializers.ListField(child=PlainCharField()))
    checks = RuleResultSerializer(many=True)


class BulkResultSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    results = BulkItemResultSerializer(many=True)


class BlockedSerializer(serializers.Serializer):
    detail = PlainCharField()
    code = PlainCharField()
    checks = RuleResultSerializer(many=True)


class PositionSerializer(StrictModelSerializer):
    book = PlainCharField(source="book.code")
    market = PlainCharField(source="market.code")
    unit = PlainCharField(source="unit.code")
    month = serializers.SerializerMethodField()

    class Meta:
        model = Position
        fields = ["id", "book", "market", "month", "unit", "quantity", "quantity_mwh", "updated_at"]

    def get_month(self, position: Position) -> str:
        return position.month.strftime("%Y-%m")


# --- Valuation and P&L (apps.trading.pnl_api) ---------------------------------------------------


class ValuationDayInputSerializer(serializers.Serializer):
    date = SaneDateField(required=False, help_text=_("The pricing date; today by default."))

    def validate_date(self, value: datetime.date) -> datetime.date:
        if value > timezone.now().date():
            raise serializers.ValidationError(_("The day cannot be in the future."))
        return value


class MissingSerializer(serializers.Serializer):
    kind = PlainCharField()
    what = PlainCharField()
    message = PlainCharField()


class TradeValuationSerializer(serializers.Serializer):
    trade = PlainCharField()
    version = serializers.IntegerField()
    date = SaneDateField()
    currency = PlainCharField()
    mtm = StrictDecimalField(max_digits=22, decimal_places=2)
    realised = StrictDecimalField(max_digits=22, decimal_places=2)
    unrealised = StrictDecimalField(max_digits=22, decimal_places=2)
    delta = StrictDecimalField(
        max_digits=30, decimal_places=6, help_text=_("Options: units of the underlying.")
    )
    vega = StrictDecimalField(
        max_digits=22, decimal_places=2, help_text=_("Options: per 1.00 of volatility.")
    )
    missing = MissingSerializer(many=True)


class PnlExplainSerializer(serializers.Serializer):
    time_roll = StrictDecimalField(max_digits=22, decimal_places=2)
    curve_moves = StrictDecimalField(max_digits=22, decimal_places=2)
    fx = StrictDecimalField(max_digits=22, decimal_places=2)
    new_trades = StrictDecimalField(max_digits=22, decimal_places=2)
    amendments = StrictDecimalField(max_digits=22, decimal_places=2)
    cancellations = StrictDecimalField(max_digits=22, decimal_places=2)
    unexplained = StrictDecimalField(max_digits=22, decimal_places=2)


class BookPnlSerializer(serializers.Serializer):
    book = PlainCharField(source="book.code")
    currency = PlainCharField(source="book.currency")
    close_date = SaneDateField(source="close.date", allow_null=True, default=None)
    prior_date = SaneDateField(source="close.prior_date", allow_null=True, default=None)
    daily = StrictDecimalField(
        source="close.daily", max_digits=22, decimal_places=2, allow_null=True, default=None
    )
    daily_realised = StrictDecimalField(
        source="close.daily_realised",
        max_digits=22,
        decimal_places=2,
        allow_null=True,
        default=None,
    )
    month_to_date = StrictDecimalField(max_digits=22, decimal_places=2)
    year_to_date = StrictDecimalField(max_digits=22, decimal_places=2)
    realised = StrictDecimalField(
        source="close.realised", max_digits=22, decimal_places=2, allow_null=True, default=None
    )
    unrealised = StrictDecimalField(
        source="close.unrealised", max_digits=22, decimal_places=2, allow_null=True, default=None
    )
    explain = PnlExplainSerializer(source="close", allow_null=True, default=None)
    since_close = StrictDecimalField(
        source="intraday", max_digits=22, decimal_places=2, allow_null=True
    )


class HourlyInputSerializer(serializers.Serializer):
    book = PlainCharField()
    market = PlainCharField()
    month = serializers.RegexField(
        r"^[0-9]{4}-(0[1-9]|1[0-2])$", help_text=_("A delivery month, e.g. 2027-03.")
    )

    def validate_month(self, value: str) -> str:
        try:
            first = datetime.date.fromisoformat(f"{value}-01")
        except ValueError:  # year 0000 matches the pattern but is no date
            raise serializers.ValidationError(date_range_message()) from None
        validate_date(first)
        return value


class HourSerializer(serializers.Serializer):
    start = SaneDateTimeField(default_timezone=datetime.UTC, help_text=_("UTC"))
    local_start = PlainCharField()
    quantity = StrictDecimalField(max_digits=24, decimal_places=6)


class HourlyPositionsSerializer(serializers.Serializer):
    book = PlainCharField()
    market = PlainCharField()
    month = PlainCharField()
    time_zone = PlainCharField()
    unit = PlainCharField()
    hours = HourSerializer(many=True)
