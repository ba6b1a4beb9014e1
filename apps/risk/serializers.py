"""Serializers of the risk API: input ones parse (the services check meaning), output ones
show stored rows; money as strings (Decimal), never floats."""

from typing import Any

from rest_framework import serializers

from apps.risk.messages import describe_problems, run_error_text
from apps.risk.models import (
    Alert,
    BacktestResult,
    CreditExposureResult,
    Limit,
    LimitCheck,
    LimitKind,
    LimitVersion,
    Method,
    RiskFigure,
    RiskRun,
    StressOutcome,
    StressScenario,
)
from qenergyz.validators import (
    PlainCharField,
    SaneDateField,
    SaneDateTimeField,
    StrictModelSerializer,
)


class RunRequestSerializer(serializers.Serializer):
    desk = PlainCharField(
        required=False, allow_null=True, allow_blank=True, help_text="A desk code; empty: all."
    )
    business_date = SaneDateField(required=False, allow_null=True)
    parameters = serializers.DictField(
        required=False,
        help_text=(
            "confidences, horizon_days, window, age_decay, methods, covariance (sample, ewma, "
            "given), ewma_decay, paths, seed, distribution, dof, stress, credit, credit_paths, "
            "pfe_confidence, pfe_horizons, backtest, covariance_matrix"
        ),
    )


class RunSerializer(StrictModelSerializer):
    desk = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    started_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    error = serializers.SerializerMethodField()
    problems = serializers.SerializerMethodField()

    class Meta:
        model = RiskRun
        fields = [
            "id",
            "kind",
            "status",
            "desk",
            "started_by",
            "business_date",
            "as_of",
            "market_data_date",
            "currency",
            "parameters",
            "requested_at",
            "started_at",
            "finished_at",
            "timings",
            "error",
            "problems",
            "source_run",
            "trade_count",
            "position_count",
            "factor_count",
        ]

    def get_error(self, run: RiskRun) -> str:
        return run_error_text(run)

    def get_problems(self, run: RiskRun) -> list[str]:
        return describe_problems(run.problems)


class FigureSerializer(StrictModelSerializer):
    desk = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = RiskFigure
        fields = [
            "desk",
            "method",
            "confidence",
            "horizon_days",
            "label",
            "group",
            "var",
            "es",
            "component_var",
            "component_es",
            "marginal_var",
        ]


class StressSerializer(StrictModelSerializer):
    desk = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    scenario = PlainCharField(source="scenario.name", read_only=True)

    class Meta:
        model = StressOutcome
        fields = ["desk", "scenario", "label", "group", "pnl", "error"]


class CreditSerializer(StrictModelSerializer):
    counterparty = serializers.SlugRelatedField(slug_field="short_code", read_only=True)
    legal_entity = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = CreditExposureResult
        fields = [
            "counterparty",
            "legal_entity",
            "netted",
            "trades",
            "mtm",
            "collateral",
            "current_exposure",
            "settlement_exposure",
            "peak_pfe",
            "peak_horizon_days",
            "profile",
            "credit_limit",
            "limit_currency",
            "usage",
            "utilisation",
        ]


class BacktestSerializer(StrictModelSerializer):
    desk = serializers.SlugRelatedField(slug_field="code", read_only=True)
    book = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = BacktestResult
        fields = [
            "desk",
            "book",
            "method",
            "confidence",
            "observations",
            "exceptions",
            "kupiec_lr",
            "kupiec_p_value",
            "zone",
            "series",
            "pnl_days",
            "volatility",
            "sharpe",
            "sortino",
            "max_drawdown",
        ]


class CheckSerializer(StrictModelSerializer):
    desk = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = LimitCheck
        fields = ["limit", "version", "desk", "value", "amount", "utilisation", "status"]


def _results_page(rows: type[serializers.Serializer], name: str) -> serializers.Serializer:
    """One section of a run's results: a page of rows and the cursors of its neighbours."""
    page = type(
        name,
        (serializers.Serializer,),
        {
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": rows(many=True),
        },
    )
    return page()


class ResultsSerializer(serializers.Serializer):
    """Each section paginated on its own (cursor over the rows' ids, `page_size` rows): follow
    its `next`, which asks for that section only (`section=`)."""

    figures = _results_page(FigureSerializer, "FigurePage")
    stress = _results_page(StressSerializer, "StressPage")
    credit = _results_page(CreditSerializer, "CreditPage")
    backtests = _results_page(BacktestSerializer, "BacktestPage")
    checks = _results_page(CheckSerializer, "CheckPage")


class LimitVersionSerializer(StrictModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = LimitVersion
        fields = [
            "id",
            "version",
            "amount",
            "currency",
            "warning_level",
            "active",
            "effective_from",
            "status",
            "reason",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "decision_note",
        ]


class LimitSerializer(StrictModelSerializer):
    # The kinds' enum is documented once, on the input (one enum per name in the schema).
    kind = PlainCharField(read_only=True, help_text="var, volume or stop_loss")
    desk = serializers.SlugRelatedField(slug_field="code", read_only=True)
    book = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    market = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    unit = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    versions = LimitVersionSerializer(many=True, read_only=True)
    in_force = serializers.SerializerMethodField()

    class Meta:
        model = Limit
        fields = [
            "id",
            "kind",
            "desk",
            "book",
            "market",
            "period_code",
            "unit",
            "method",
            "confidence",
            "created_by",
            "created_at",
            "in_force",
            "versions",
        ]

    def get_in_force(self, limit: Limit) -> int | None:
        """The version in force now (its id), from the view's context."""
        version = self.context.get("in_force", {}).get(limit.pk)
        return version.pk if version is not None else None


class LimitCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=LimitKind.choices)
    desk = PlainCharField(help_text="A desk code.")
    book = PlainCharField(required=False, allow_blank=True, default="")
    market = PlainCharField(required=False, allow_blank=True, default="")
    period_code = PlainCharField(required=False, allow_blank=True, default="")
    unit = PlainCharField(required=False, allow_blank=True, default="")
    method = serializers.ChoiceField(
        choices=[("", ""), *Method.choices], required=False, allow_blank=True, default=""
    )
    confidence = PlainCharField(required=False, allow_null=True, default=None)
    amount = PlainCharField()
    warning_level = PlainCharField(required=False, allow_null=True, default=None)
    effective_from = SaneDateTimeField(required=False, allow_null=True, default=None)
    reason = PlainCharField(required=False, allow_blank=True, default="", max_length=500)


class LimitVersionCreateSerializer(serializers.Serializer):
    amount = PlainCharField()
    warning_level = PlainCharField(required=False, allow_null=True, default=None)
    effective_from = SaneDateTimeField(required=False, allow_null=True, default=None)
    active = serializers.BooleanField(required=False, default=True)
    reason = PlainCharField(required=False, allow_blank=True, default="", max_length=500)


class NoteSerializer(serializers.Serializer):
    note = PlainCharField(required=False, allow_blank=True, default="", max_length=500)


class AlertSerializer(StrictModelSerializer):
    desk = serializers.SlugRelatedField(slug_field="code", read_only=True)
    acknowledged_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    kind = PlainCharField(source="limit.kind", read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "run",
            "limit",
            "kind",
            "desk",
            "level",
            "value",
            "amount",
            "utilisation",
            "created_at",
            "acknowledged_by",
            "acknowledged_at",
            "note",
        ]


class ScenarioSerializer(StrictModelSerializer):
    class Meta:
        model = StressScenario
        fields = ["id", "name", "kind", "description", "start_date", "end_date", "shocks", "active"]


def field_errors(error: Any) -> dict[str, Any]:
    if hasattr(error, "error_dict"):
        return {name: [str(m) for m in messages] for name, messages in error.message_dict.items()}
    return {"non_field_errors": [str(m) for m in error.messages]}
