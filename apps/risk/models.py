"""Risk runs and what they store, stress scenarios, collateral, limits (versioned, maker-checker)
and the alerts that limit checks raise.

A `RiskRun` is one computation (flow 4 of DESIGN.md): the positions booked at `as_of`, valued
on the curves of `market_data_date`, measured by the engine with the run's `parameters`. Its
inputs are kept in a `RiskRunSnapshot` (the engine's exact float64 inputs, plus the references
they were read from), so that rerunning from the snapshot gives identical numbers. Results are
rows per desk (`desk` empty: the whole firm), written once when the run finishes, never changed.

Limits are versioned like trades: `Limit` is the identity (what is limited, where), each change
of amount, warning level or effective time is a new `LimitVersion`, which counts only once a
second person approved it, from its `effective_from`. A run compares its figures with the
versions in force (`LimitCheck`); a warning or a breach raises an `Alert`.

Money is Decimal here; the engine's floats are rounded to cents when they are stored.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.accounts.models import Desk
from apps.trading.models import Book, Counterparty, LegalEntity, Market, Unit
from apps.trading.models.reference import validate_currency
from apps.trading.models.trades import MONEY, QUANTITY

RATIO = {"max_digits": 12, "decimal_places": 6}


class RunKind(models.TextChoices):
    INTRADAY = "intraday", _("intraday")
    END_OF_DAY = "eod", _("end of day")
    MANUAL = "manual", pgettext_lazy("risk run kind", "manual")
    INCREMENTAL = "incremental", _("incremental")
    RERUN = "rerun", _("rerun from snapshot")


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    PARTIAL = "partial", _("partly failed")
    FAILED = "failed", _("failed")


FINISHED_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED})


class Method(models.TextChoices):
    HISTORICAL = "historical", _("historical simulation")
    PARAMETRIC = "parametric", _("parametric (delta-normal)")
    MONTE_CARLO = "monte_carlo", _("Monte Carlo")


class RiskRun(models.Model):
    kind = models.CharField(_("kind"), max_length=12, choices=RunKind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    desk = models.ForeignKey(
        Desk,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=pgettext_lazy("trading desk", "desk"),
        help_text=_("Empty: every desk."),
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
        help_text=_("Empty for runs the schedule or a booking started."),
    )
    business_date = models.DateField(_("business date"))
    as_of = models.DateTimeField(
        _("positions as of"), help_text=_("Trades booked before this instant count.")
    )
    market_data_date = models.DateField(
        _("market data date"),
        null=True,
        blank=True,
        help_text=_("The date of the curves the run used (the latest at or before its day)."),
    )
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    parameters = models.JSONField(_("parameters"), default=dict)
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    timings = models.JSONField(
        _("timings"), default=dict, help_text=_("Seconds per step of the run.")
    )
    error = models.TextField(_("error"), blank=True, default="")
    # Problems that did not stop the run: [{"scope": desk code or "", "code": ..., "text": ...}]
    problems = models.JSONField(_("problems"), default=list)
    source_run = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reruns",
        verbose_name=_("rerun of"),
    )
    trade_count = models.PositiveIntegerField(_("trades"), default=0)
    position_count = models.PositiveIntegerField(pgettext_lazy("risk run", "positions"), default=0)
    factor_count = models.PositiveIntegerField(_("risk factors"), default=0)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("risk run")
        verbose_name_plural = _("risk runs")
        # The firm view: runs of every desk, the firm's figures and credit exposure. Held by the
        # firm risk manager role, not by every risk manager (apps.risk.services.sees_firm).
        permissions = [("view_firm_risk", _("Can see the firm-wide risk view"))]
        indexes = [
            models.Index(fields=["desk", "-id"], name="riskrun_desk_id_idx"),
            models.Index(fields=["kind", "status", "-business_date"], name="riskrun_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} {self.business_date.isoformat()}"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class RiskRunSnapshot(models.Model):
    """The inputs a run measured, exactly: `arrays` is a NumPy .npz (no pickles) of the engine's
    float64 inputs (factor history, exposures, options, labels); `data` the rest (credit and
    limit inputs, the P&L series of the backtest) and the references they were read from
    (trade count, curve snapshot ids, FX and rates). `digest` is the SHA-256 of `arrays`."""

    run = models.OneToOneField(
        RiskRun,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="snapshot",
        verbose_name=_("risk run"),
    )
    arrays = models.BinaryField(_("arrays"))
    data = models.JSONField(_("data"), default=dict)
    references = models.JSONField(_("references"), default=dict)
    digest = models.CharField(_("digest"), max_length=64)
    size = models.PositiveIntegerField(_("size in bytes"))

    class Meta:
        verbose_name = _("risk run snapshot")
        verbose_name_plural = _("risk run snapshots")

    def __str__(self) -> str:
        return f"{self.run_id}: {self.digest[:12]}"


class RiskFigure(models.Model):
    """VaR and ES of one group under one method and confidence. label "total" is the scope's
    whole portfolio (a desk's, or the firm's when `desk` is empty); other labels (desk, book,
    market, tenor) carry each group's standalone, component and marginal figures."""

    run = models.ForeignKey(
        RiskRun, on_delete=models.CASCADE, related_name="figures", verbose_name=_("risk run")
    )
    desk = models.ForeignKey(
        Desk,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=pgettext_lazy("trading desk", "desk"),
    )
    method = models.CharField(_("method"), max_length=12, choices=Method.choices)
    confidence = models.DecimalField(_("confidence"), max_digits=6, decimal_places=5)
    horizon_days = models.PositiveSmallIntegerField(_("horizon in days"))
    label = models.CharField(_("dimension"), max_length=12)
    group = models.CharField(_("group"), max_length=64)
    var = models.DecimalField(_("VaR"), **MONEY)
    es = models.DecimalField(_("expected shortfall"), **MONEY)
    component_var = models.DecimalField(_("component VaR"), **MONEY)
    component_es = models.DecimalField(_("component ES"), **MONEY)
    # VaR added per unit of the group's net exposure (a ratio; see apps.risk.engine.var):
    # empty for totals and for flat groups, which have no position to scale.
    marginal_var = models.DecimalField(
        _("marginal VaR"), max_digits=20, decimal_places=8, null=True, blank=True
    )

    class Meta:
        ordering = ["run", "desk", "method", "confidence", "label", "group"]
        verbose_name = _("risk figure")
        verbose_name_plural = _("risk figures")
        indexes = [
            models.Index(fields=["run", "desk", "label"], name="riskfigure_run_desk_idx"),
            models.Index(fields=["desk", "label", "method", "-run"], name="riskfigure_history_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} {self.method} {self.confidence} {self.label}:{self.group}"


# --- Stress scenarios -------------------------------------------------------------------------


class ScenarioKind(models.TextChoices):
    HISTORICAL = "historical", _("historical window")
    HYPOTHETICAL = "hypothetical", _("hypothetical shocks")


def validate_shocks(value: object) -> None:
    """Hypothetical shocks: a list of {"market" or "commodity" (or neither: every curve),
    "move" (0.10 = +10 %) or "shape" ([[tenor months, move], ...], increasing tenors),
    optional "tenor_from"/"tenor_to" in months}."""
    if not isinstance(value, list):
        raise ValidationError(_("Shocks must be a list."))
    allowed = {"market", "commodity", "move", "shape", "tenor_from", "tenor_to"}
    for index, shock in enumerate(value, start=1):
        where = {"n": index}
        if not isinstance(shock, dict) or set(shock) - allowed:
            raise ValidationError(
                _("Shock %(n)s must be an object with market or commodity, move or shape."),
                params=where,
            )
        if "market" in shock and "commodity" in shock:
            raise ValidationError(
                _("Shock %(n)s names both a market and a commodity; give one."), params=where
            )
        if ("move" in shock) == ("shape" in shock):
            raise ValidationError(_("Shock %(n)s needs either a move or a shape."), params=where)
        numbers: list[object] = [shock.get("move", 0), shock.get("tenor_from", 0)]
        numbers.append(shock.get("tenor_to", 0))
        shape = shock.get("shape", [])
        if not isinstance(shape, list) or any(
            not isinstance(knot, list) or len(knot) != 2 for knot in shape
        ):
            raise ValidationError(
                _("Shock %(n)s: a shape is a list of [tenor in months, move] pairs."),
                params=where,
            )
        numbers.extend(number for knot in shape for number in knot)
        if any(isinstance(n, bool) or not isinstance(n, int | float) for n in numbers):
            raise ValidationError(_("Shock %(n)s: moves and tenors are numbers."), params=where)
        tenors = [knot[0] for knot in shape]
        if tenors != sorted(set(tenors)):
            raise ValidationError(_("Shock %(n)s: the shape's tenors must increase."), params=where)


class StressScenario(models.Model):
    """A named stress scenario: a historical window of the curve history, or hypothetical
    relative shocks of curves (parallel or by tenor). Managed in the admin."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=ScenarioKind.choices)
    description = models.TextField(_("description"), blank=True, default="")
    start_date = models.DateField(_("window start"), null=True, blank=True)
    end_date = models.DateField(_("window end"), null=True, blank=True)
    shocks = models.JSONField(_("shocks"), default=list, blank=True, validators=[validate_shocks])
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["kind", "name"]
        verbose_name = _("stress scenario")
        verbose_name_plural = _("stress scenarios")
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="historical")
                | (
                    Q(start_date__isnull=False)
                    & Q(end_date__isnull=False)
                    & Q(end_date__gt=F("start_date"))
                ),
                name="stressscenario_window",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == ScenarioKind.HISTORICAL:
            if self.start_date is None or self.end_date is None:
                raise ValidationError(_("A historical window needs its start and end dates."))
            if self.end_date <= self.start_date:
                raise ValidationError({"end_date": _("The window must end after it starts.")})
        elif not self.shocks:
            raise ValidationError({"shocks": _("A hypothetical scenario needs shocks.")})


class StressOutcome(models.Model):
    """A scenario's P&L for one scope (label "total") or one book of it; `error` says why a
    scenario could not be applied (e.g. its window lies outside the history)."""

    run = models.ForeignKey(
        RiskRun, on_delete=models.CASCADE, related_name="stress", verbose_name=_("risk run")
    )
    desk = models.ForeignKey(
        Desk,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=pgettext_lazy("trading desk", "desk"),
    )
    scenario = models.ForeignKey(
        StressScenario,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("stress scenario"),
    )
    label = models.CharField(_("dimension"), max_length=12)
    group = models.CharField(_("group"), max_length=64)
    pnl = models.DecimalField(_("P&L"), **MONEY, null=True, blank=True)
    error = models.TextField(_("error"), blank=True, default="")

    class Meta:
        ordering = ["run", "desk", "scenario", "label", "group"]
        verbose_name = _("stress result")
        verbose_name_plural = _("stress results")
        indexes = [models.Index(fields=["run", "desk"], name="stressoutcome_run_desk_idx")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.scenario_id} {self.label}:{self.group}"


# --- Credit -----------------------------------------------------------------------------------


class Collateral(models.Model):
    """Collateral held from a counterparty under the master agreement with one of our legal
    entities, as of a date; the latest row at or before a run's date counts."""

    counterparty = models.ForeignKey(
        Counterparty, on_delete=models.PROTECT, related_name="+", verbose_name=_("counterparty")
    )
    legal_entity = models.ForeignKey(
        LegalEntity,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("our legal entity"),
    )
    amount = models.DecimalField(_("amount held"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    as_of = models.DateField(_("as of"))
    note = models.CharField(_("note"), max_length=200, blank=True, default="")

    class Meta:
        ordering = ["counterparty", "legal_entity", "-as_of"]
        verbose_name = _("collateral held")
        verbose_name_plural = _("collateral held")
        constraints = [
            models.UniqueConstraint(
                fields=["counterparty", "legal_entity", "as_of"], name="collateral_uniq"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="collateral_amount_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.counterparty_id}/{self.legal_entity_id} {self.amount} {self.currency}"


class CreditExposureResult(models.Model):
    """A netting set's exposures in the run's currency and its use of the counterparty's
    credit limit (usage = max(current, peak PFE) + settlement exposure, in the limit's
    currency)."""

    run = models.ForeignKey(
        RiskRun, on_delete=models.CASCADE, related_name="credit", verbose_name=_("risk run")
    )
    counterparty = models.ForeignKey(
        Counterparty, on_delete=models.PROTECT, related_name="+", verbose_name=_("counterparty")
    )
    legal_entity = models.ForeignKey(
        LegalEntity,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("our legal entity"),
    )
    netted = models.BooleanField(_("netted"))
    trades = models.PositiveIntegerField(_("trades"))
    mtm = models.DecimalField(_("MtM"), **MONEY)
    collateral = models.DecimalField(_("collateral"), **MONEY)
    current_exposure = models.DecimalField(_("current exposure"), **MONEY)
    settlement_exposure = models.DecimalField(_("settlement exposure"), **MONEY)
    peak_pfe = models.DecimalField(_("peak PFE"), **MONEY)
    peak_horizon_days = models.PositiveIntegerField(_("peak PFE horizon (days)"), null=True)
    profile = models.JSONField(_("exposure profile"), default=list)  # [[days, EE, PFE], ...]
    credit_limit = models.DecimalField(_("credit limit"), **MONEY, null=True, blank=True)
    limit_currency = models.CharField(_("limit currency"), max_length=3, blank=True, default="")
    usage = models.DecimalField(_("limit usage"), **MONEY, null=True, blank=True)
    utilisation = models.DecimalField(_("utilisation"), **RATIO, null=True, blank=True)

    class Meta:
        ordering = ["run", "-current_exposure", "counterparty"]
        verbose_name = _("credit exposure")
        verbose_name_plural = _("credit exposures")

    def __str__(self) -> str:
        return f"{self.run_id} {self.counterparty_id}/{self.legal_entity_id}"


# --- Backtesting and P&L statistics -----------------------------------------------------------


class BacktestResult(models.Model):
    """The backtest of a desk's (`book` empty) or a book's VaR against its realised daily P&L
    (the stored P&L closes), and the risk figures of that P&L series."""

    run = models.ForeignKey(
        RiskRun, on_delete=models.CASCADE, related_name="backtests", verbose_name=_("risk run")
    )
    desk = models.ForeignKey(
        Desk,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=pgettext_lazy("trading desk", "desk"),
    )
    book = models.ForeignKey(
        Book,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=pgettext_lazy("trading book", "book"),
    )
    method = models.CharField(_("method"), max_length=12, choices=Method.choices)
    confidence = models.DecimalField(_("confidence"), max_digits=6, decimal_places=5)
    observations = models.PositiveIntegerField(_("observations"))
    exceptions = models.PositiveIntegerField(_("exceptions"))
    kupiec_lr = models.DecimalField(_("Kupiec LR"), **RATIO, null=True, blank=True)
    kupiec_p_value = models.DecimalField(_("Kupiec p-value"), **RATIO, null=True, blank=True)
    zone = models.CharField(_("traffic-light zone"), max_length=8, blank=True, default="")
    series = models.JSONField(_("series"), default=dict)  # {dates, pnl, var, exception}
    pnl_days = models.PositiveIntegerField(_("P&L days"), default=0)
    volatility = models.DecimalField(_("daily volatility"), **MONEY, null=True, blank=True)
    sharpe = models.DecimalField(_("Sharpe ratio"), **RATIO, null=True, blank=True)
    sortino = models.DecimalField(_("Sortino ratio"), **RATIO, null=True, blank=True)
    max_drawdown = models.DecimalField(_("maximum drawdown"), **MONEY, null=True, blank=True)

    class Meta:
        ordering = ["run", "desk", "book"]
        verbose_name = _("backtest result")
        verbose_name_plural = _("backtest results")

    def __str__(self) -> str:
        return f"{self.run_id} {self.desk_id}/{self.book_id}"


# --- Limits -----------------------------------------------------------------------------------


class LimitKind(models.TextChoices):
    VAR = "var", _("VaR")
    VOLUME = "volume", _("volume")
    STOP_LOSS = "stop_loss", _("stop-loss on daily P&L")


class Limit(models.Model):
    """What is limited and where; its amounts are in its versions. A VaR or stop-loss limit is
    on a desk or one of its books; a volume limit also names a market and a delivery period
    (a month, quarter, season or year code) and the unit its net quantity is counted in."""

    kind = models.CharField(_("kind"), max_length=10, choices=LimitKind.choices)
    desk = models.ForeignKey(
        Desk,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=pgettext_lazy("trading desk", "desk"),
    )
    book = models.ForeignKey(
        Book,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=pgettext_lazy("trading book", "book"),
    )
    market = models.ForeignKey(
        Market,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("market"),
    )
    period_code = models.CharField(
        pgettext_lazy("delivery period", "period"), max_length=16, blank=True, default=""
    )
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    method = models.CharField(
        _("method"), max_length=12, choices=Method.choices, blank=True, default=""
    )
    confidence = models.DecimalField(
        _("confidence"), max_digits=6, decimal_places=5, null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["desk", "kind", "id"]
        verbose_name = pgettext_lazy("risk limit", "limit")
        verbose_name_plural = pgettext_lazy("risk limit", "limits")
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="var") | (~Q(method="") & Q(confidence__isnull=False)),
                name="limit_var_has_method",
            ),
            models.CheckConstraint(
                condition=~Q(kind="volume")
                | (Q(market__isnull=False) & ~Q(period_code="") & Q(unit__isnull=False)),
                name="limit_volume_has_market_period_unit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class VersionStatus(models.TextChoices):
    PENDING = "pending", _("pending approval")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")


class LimitVersion(models.Model):
    """One version of a limit's amount, warning level and effective time. Append-only but for
    its decision (approved or rejected, by whom, when), which is written once. The version in
    force at an instant is the approved one with the latest `effective_from` at or before it
    (the higher version number on a tie); an approved version with `active` off ends the
    limit."""

    limit = models.ForeignKey(
        Limit,
        on_delete=models.PROTECT,
        related_name="versions",
        verbose_name=pgettext_lazy("risk limit", "limit"),
    )
    version = models.PositiveIntegerField(_("version"))
    amount = models.DecimalField(_("amount"), **QUANTITY)
    currency = models.CharField(
        _("currency"),
        max_length=3,
        blank=True,
        default="",
        help_text=_("Money limits only: the risk runs' currency."),
    )
    warning_level = models.DecimalField(
        _("warning level"),
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.8"),
        help_text=_("A fraction of the limit: 0.8 warns at 80 %."),
    )
    active = models.BooleanField(_("in force"), default=True)
    effective_from = models.DateTimeField(_("effective from"))
    status = models.CharField(
        _("status"), max_length=10, choices=VersionStatus.choices, default=VersionStatus.PENDING
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=500, blank=True, default="")

    class Meta:
        ordering = ["limit", "-version"]
        verbose_name = _("limit version")
        verbose_name_plural = _("limit versions")
        constraints = [
            models.UniqueConstraint(fields=["limit", "version"], name="limitversion_uniq"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="limitversion_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(warning_level__gt=0) & Q(warning_level__lte=1),
                name="limitversion_warning_range",
            ),
            # Maker-checker, held by the database too: nobody decides their own request.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="limitversion_four_eyes",
            ),
        ]
        indexes = [models.Index(fields=["status", "effective_from"], name="limitversion_force_idx")]

    def __str__(self) -> str:
        return f"{self.limit_id} v{self.version}"


class CheckStatus(models.TextChoices):
    OK = "ok", _("within the limit")
    WARNING = "warning", pgettext_lazy("limit status", "warning")
    BREACH = "breach", _("breach")


class LimitCheck(models.Model):
    """A run's figure compared with one limit version in force: value / amount."""

    run = models.ForeignKey(
        RiskRun, on_delete=models.CASCADE, related_name="checks", verbose_name=_("risk run")
    )
    limit = models.ForeignKey(
        Limit,
        on_delete=models.PROTECT,
        related_name="checks",
        verbose_name=pgettext_lazy("risk limit", "limit"),
    )
    version = models.ForeignKey(
        LimitVersion, on_delete=models.PROTECT, related_name="+", verbose_name=_("version")
    )
    desk = models.ForeignKey(
        Desk,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=pgettext_lazy("trading desk", "desk"),
    )
    value = models.DecimalField(_("measured"), **QUANTITY)
    amount = models.DecimalField(_("amount"), **QUANTITY)
    utilisation = models.DecimalField(_("utilisation"), **RATIO)
    status = models.CharField(_("status"), max_length=8, choices=CheckStatus.choices)

    class Meta:
        ordering = ["run", "limit"]
        verbose_name = _("limit check")
        verbose_name_plural = _("limit checks")
        indexes = [models.Index(fields=["limit", "-run"], name="limitcheck_latest_idx")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.limit_id}: {self.status}"


class AlertLevel(models.TextChoices):
    WARNING = "warning", pgettext_lazy("limit status", "warning")
    BREACH = "breach", _("breach")


class Alert(models.Model):
    """A limit warning or breach found by a run; acknowledged once, by a risk manager."""

    run = models.ForeignKey(
        RiskRun, on_delete=models.PROTECT, related_name="alerts", verbose_name=_("risk run")
    )
    limit_check = models.OneToOneField(
        LimitCheck, on_delete=models.PROTECT, related_name="alert", verbose_name=_("limit check")
    )
    limit = models.ForeignKey(
        Limit,
        on_delete=models.PROTECT,
        related_name="alerts",
        verbose_name=pgettext_lazy("risk limit", "limit"),
    )
    desk = models.ForeignKey(
        Desk,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=pgettext_lazy("trading desk", "desk"),
    )
    level = models.CharField(_("level"), max_length=8, choices=AlertLevel.choices)
    value = models.DecimalField(_("measured"), **QUANTITY)
    amount = models.DecimalField(_("amount"), **QUANTITY)
    utilisation = models.DecimalField(_("utilisation"), **RATIO)
    created_at = models.DateTimeField(_("raised at"), default=timezone.now)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        verbose_name = _("limit alert")
        verbose_name_plural = _("limit alerts")
        indexes = [
            models.Index(fields=["desk", "-id"], name="alert_desk_id_idx"),
            models.Index(fields=["limit", "acknowledged_at"], name="alert_limit_open_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(acknowledged_by__isnull=True, acknowledged_at__isnull=True)
                | Q(acknowledged_by__isnull=False, acknowledged_at__isnull=False),
                name="alert_ack_who_and_when",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_level_display()} {self.limit_id} ({self.run_id})"
