from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.trading.models import Counterparty, Market, MasterAgreement


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
