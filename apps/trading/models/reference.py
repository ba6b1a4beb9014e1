"""Trading reference data (commodities, units, calendars, markets) and who we trade with.

Everything a market's arithmetic depends on — its time zone, trading-day start, peak hours,
holidays and contract expiry rule — is a column here, read by `apps.trading.calendars` into the
pure engines of `apps.trading.periods`. Nothing market-specific is a code constant.
"""

from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.accounts.models import Desk, Jurisdiction
from apps.trading.countries import is_country_code
from apps.trading.lei import lei_is_valid
from apps.trading.periods import PeakDefinition, PeriodError

# --- Validators ---------------------------------------------------------------------------------

validate_currency = RegexValidator(
    r"^[A-Z]{3}\Z", _("Enter a three-letter ISO 4217 currency code, e.g. EUR.")
)


def validate_lei(value: str) -> None:
    if not lei_is_valid(value):
        raise ValidationError(
            _(
                "%(value)s is not a valid LEI: 20 upper-case letters or digits whose last two "
                "check digits match (ISO 17442)."
            ),
            code="invalid_lei",
            params={"value": value},
        )


def validate_country(value: str) -> None:
    if not is_country_code(value):
        raise ValidationError(
            _("%(value)s is not an ISO 3166 two-letter country code, e.g. DE."),
            code="invalid_country",
            params={"value": value},
        )


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            _("%(value)s is not an IANA time zone, e.g. Europe/Berlin."),
            code="invalid_time_zone",
            params={"value": value},
        ) from None


def validate_weekdays(value: Any) -> None:
    if not (
        isinstance(value, list)
        and all(isinstance(day, int) and not isinstance(day, bool) for day in value)
        and set(value) <= set(range(7))
        and len(set(value)) == len(value)
    ):
        raise ValidationError(
            _("Give the weekdays as a list of distinct numbers, Monday = 0 to Sunday = 6."),
            code="invalid_weekdays",
        )


# The rule kinds `apps.trading.periods.contract_expiry` knows, with the keys each takes and the
# range of each key's value. Checked here so that a typo fails in the admin, not at expiry.
EXPIRY_RULE_KEYS: dict[str, dict[str, tuple[int, int]]] = {
    "nth_last_business_day": {"n": (1, 15), "months_before": (0, 12)},
    "last_business_day": {"months_before": (0, 12)},
    "business_days_before_day": {"day": (1, 28), "n": (1, 15), "months_before": (0, 12)},
}


def validate_expiry_rule(value: Any) -> None:
    if value in (None, {}):
        return
    if not isinstance(value, dict) or value.get("kind") not in EXPIRY_RULE_KEYS:
        raise ValidationError(
            _("The expiry rule needs a kind, one of: %(kinds)s."),
            code="invalid_expiry_rule",
            params={"kinds": ", ".join(EXPIRY_RULE_KEYS)},
        )
    allowed = EXPIRY_RULE_KEYS[value["kind"]]
    unknown = set(value) - set(allowed) - {"kind"}
    if unknown:
        raise ValidationError(
            _("The expiry rule has keys its kind does not take: %(keys)s."),
            code="invalid_expiry_rule",
            params={"keys": ", ".join(sorted(unknown))},
        )
    for key, (low, high) in allowed.items():
        item = value.get(key)
        required = key != "months_before"  # periods.contract_expiry defaults it to 1
        if item is None and not required:
            continue
        if not isinstance(item, int) or isinstance(item, bool) or not low <= item <= high:
            raise ValidationError(
                _("The expiry rule's %(key)s must be a whole number from %(low)s to %(high)s."),
                code="invalid_expiry_rule",
                params={"key": key, "low": low, "high": high},
            )


# --- Reference data -----------------------------------------------------------------------------


class Commodity(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        ordering = ["code"]
        verbose_name = _("commodity")
        verbose_name_plural = _("commodities")

    def __str__(self) -> str:
        return self.name


class Dimension(models.TextChoices):
    ENERGY = "energy", _("energy")
    VOLUME = "volume", _("volume")
    MASS = "mass", _("mass")
    EMISSIONS = "emissions", _("emissions")


class Unit(models.Model):
    code = models.CharField(_("code"), max_length=16, unique=True)  # "MWh", "MMBtu", "bbl"
    name = models.CharField(_("name"), max_length=100)
    dimension = models.CharField(_("dimension"), max_length=16, choices=Dimension.choices)

    class Meta:
        ordering = ["dimension", "code"]
        verbose_name = _("unit")
        verbose_name_plural = _("units")

    def __str__(self) -> str:
        return self.code


class UnitConversion(models.Model):
    """1 `from_unit` = `factor` `to_unit`, for every commodity or only for `commodity`.

    Used in both directions (the inverse is computed); chains are followed. A conversion across
    dimensions (a barrel to MMBtu) depends on what is in the barrel, so it must name a commodity.
    """

    from_unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="+", verbose_name=_("from unit")
    )
    to_unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="+", verbose_name=_("to unit")
    )
    factor = models.DecimalField(_("factor"), max_digits=24, decimal_places=12)
    commodity = models.ForeignKey(
        Commodity,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="unit_conversions",
        verbose_name=_("commodity"),
        help_text=_("Empty for a conversion that holds for every commodity."),
    )

    class Meta:
        ordering = ["commodity__code", "from_unit__code", "to_unit__code"]
        verbose_name = _("unit conversion")
        verbose_name_plural = _("unit conversions")
        constraints = [
            models.CheckConstraint(condition=Q(factor__gt=0), name="unitconversion_factor_gt_0"),
            models.CheckConstraint(
                condition=~Q(from_unit=models.F("to_unit")), name="unitconversion_distinct_units"
            ),
            # NULL commodities are distinct in a plain unique constraint, hence two partial ones.
            models.UniqueConstraint(
                fields=["from_unit", "to_unit"],
                condition=Q(commodity__isnull=True),
                name="unitconversion_generic_uniq",
            ),
            models.UniqueConstraint(
                fields=["from_unit", "to_unit", "commodity"],
                condition=Q(commodity__isnull=False),
                name="unitconversion_commodity_uniq",
            ),
        ]

    def __str__(self) -> str:
        scope = f" ({self.commodity})" if self.commodity_id else ""
        return f"1 {self.from_unit} = {self.factor.normalize()} {self.to_unit}{scope}"

    def clean(self) -> None:
        if self.from_unit_id is None or self.to_unit_id is None or self.commodity_id is not None:
            return
        if self.from_unit.dimension != self.to_unit.dimension:
            raise ValidationError(
                {
                    "commodity": _(
                        "A conversion between a %(from)s and a %(to)s unit depends on the "
                        "commodity: choose one."
                    )
                    % {
                        "from": self.from_unit.get_dimension_display(),
                        "to": self.to_unit.get_dimension_display(),
                    }
                }
            )


class HolidaySource(models.TextChoices):
    """Where a calendar's dates are loaded from (the `holidays` package), or by hand."""

    MANUAL = "", _("entered by hand")
    NYSE = "XNYS", _("NYSE (used for NYMEX)")
    ICE_FUTURES_EUROPE = "IFEU", _("ICE Futures Europe")
    ECB_TARGET = "XECB", _("ECB TARGET2")
    ENGLAND = "GB-ENG", _("England bank holidays")
    UAE = "AE", _("United Arab Emirates public holidays")
    OMAN = "OM", _("Oman public holidays")
    NERC = "NERC", _("NERC holidays (derived from the US federal list)")


class HolidayCalendar(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    source = models.CharField(
        _("source"), max_length=16, choices=HolidaySource.choices, blank=True, default=""
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("holiday calendar")
        verbose_name_plural = _("holiday calendars")

    def __str__(self) -> str:
        return self.name


class HolidayDate(models.Model):
    calendar = models.ForeignKey(
        HolidayCalendar,
        on_delete=models.CASCADE,
        related_name="dates",
        verbose_name=_("calendar"),
    )
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=200)
    # Loaded rows are replaced by the next load; rows entered by hand (an exchange closing for a
    # day of mourning) are kept.
    loaded = models.BooleanField(_("loaded from the source"), default=False, editable=False)

    class Meta:
        ordering = ["calendar", "date"]
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="holidaydate_calendar_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.date.isoformat()} {self.name}"


class Market(models.Model):
    """A market or hub with its conventions, all held as data."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    commodity = models.ForeignKey(
        Commodity, on_delete=models.PROTECT, related_name="markets", verbose_name=_("commodity")
    )
    time_zone = models.CharField(_("time zone"), max_length=64, validators=[validate_time_zone])
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    quote_scale = models.DecimalField(
        _("quote scale"),
        max_digits=10,
        decimal_places=6,
        default=Decimal(1),
        help_text=_(
            "A quoted price times this is the price in the currency: 0.01 for prices quoted "
            "in pence (NBP in GBp/therm)."
        ),
    )
    quotation_unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="+", verbose_name=_("quotation unit")
    )
    holiday_calendar = models.ForeignKey(
        HolidayCalendar,
        on_delete=models.PROTECT,
        related_name="markets",
        verbose_name=_("business-day calendar"),
        help_text=_("The exchange's holidays: business days for expiry and settlement."),
    )
    day_start_hour = models.PositiveSmallIntegerField(
        _("trading day start hour"),
        default=0,
        validators=[MaxValueValidator(23)],
        help_text=_("0 for power; 6 for the EU gas day; 9 (Central time) for the US gas day."),
    )
    day_start_zone = models.CharField(
        _("trading day start zone"),
        max_length=64,
        blank=True,
        default="",
        validators=[validate_time_zone],
        help_text=_("The zone the day start is counted in, when not the market's own."),
    )
    peak_weekdays = models.JSONField(
        _("peak weekdays"),
        default=list,
        blank=True,
        validators=[validate_weekdays],
        help_text=_("Monday = 0 … Sunday = 6; empty when the market has no peak product."),
    )
    peak_start_hour = models.PositiveSmallIntegerField(
        _("peak start hour"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(24)],
        help_text=_("Local, inclusive."),
    )
    peak_end_hour = models.PositiveSmallIntegerField(
        _("peak end hour"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(24)],
        help_text=_("Local, exclusive."),
    )
    peak_holiday_calendar = models.ForeignKey(
        HolidayCalendar,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("off-peak holiday calendar"),
        help_text=_("Holidays that are off-peak all day (NERC holidays for US power)."),
    )
    expiry_rule = models.JSONField(
        _("contract expiry rule"),
        null=True,
        blank=True,
        validators=[validate_expiry_rule],
        help_text=_(
            'e.g. {"kind": "nth_last_business_day", "n": 3, "months_before": 1} for Henry Hub.'
        ),
    )
    tick_size = models.DecimalField(_("tick size"), max_digits=12, decimal_places=6)
    lot_size = models.DecimalField(
        _("lot size"),
        max_digits=16,
        decimal_places=4,
        help_text=_("In the quotation unit (per delivery hour for power, per day for gas)."),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("market")
        verbose_name_plural = _("markets")
        constraints = [
            models.CheckConstraint(
                condition=Q(day_start_hour__lte=23), name="market_day_start_hour_range"
            ),
            models.CheckConstraint(
                condition=(Q(peak_start_hour__isnull=True) & Q(peak_end_hour__isnull=True))
                | Q(peak_start_hour__lt=models.F("peak_end_hour"), peak_end_hour__lte=24),
                name="market_peak_hours_range",
            ),
            models.CheckConstraint(condition=Q(tick_size__gt=0), name="market_tick_size_gt_0"),
            models.CheckConstraint(condition=Q(lot_size__gt=0), name="market_lot_size_gt_0"),
            models.CheckConstraint(condition=Q(quote_scale__gt=0), name="market_quote_scale_gt_0"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def price_unit_label(self) -> str:
        """ "EUR/MWh", or "0.01 GBP/therm" for a market quoted in minor units."""
        scale = "" if self.quote_scale == 1 else f"{self.quote_scale.normalize()} "
        return f"{scale}{self.currency}/{self.quotation_unit.code}"

    @property
    def has_peak(self) -> bool:
        return self.peak_start_hour is not None

    def peak_definition(self) -> PeakDefinition | None:
        if not self.has_peak:
            return None
        return PeakDefinition(
            weekdays=frozenset(self.peak_weekdays),
            start_hour=self.peak_start_hour,
            end_hour=self.peak_end_hour,
            exclude_holidays=self.peak_holiday_calendar_id is not None,
        )

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        if (self.peak_start_hour is None) != (self.peak_end_hour is None):
            errors["peak_end_hour"] = _("Give both peak hours, or neither.")
        elif self.has_peak:
            if not self.peak_weekdays:
                errors["peak_weekdays"] = _("A peak definition needs its weekdays.")
            else:
                try:
                    validate_weekdays(self.peak_weekdays)
                    self.peak_definition()
                except ValidationError:
                    pass  # the field validator reports it
                except PeriodError:
                    errors["peak_end_hour"] = _("Peak hours run from a start hour to a later end.")
        else:
            if self.peak_weekdays:
                errors["peak_start_hour"] = _("Peak weekdays need peak hours.")
            if self.peak_holiday_calendar_id is not None:
                errors["peak_holiday_calendar"] = _("Only a market with peak hours has one.")
        if errors:
            raise ValidationError(errors)


# --- Our legal entities, books, counterparties ----------------------------------------------------


class LegalEntity(models.Model):
    """One of our own legal entities: books belong to one, agreements are signed by one."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    lei = models.CharField(_("LEI"), max_length=20, unique=True, validators=[validate_lei])
    country = models.CharField(_("country"), max_length=2, validators=[validate_country])
    jurisdiction = models.CharField(_("jurisdiction"), max_length=16, choices=Jurisdiction.choices)

    class Meta:
        ordering = ["code"]
        verbose_name = _("legal entity")
        verbose_name_plural = _("legal entities")

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    code = models.CharField(
        _("code"),
        max_length=32,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9][A-Z0-9-]*\Z", _("Upper-case letters, digits, -."))],
    )
    name = models.CharField(_("name"), max_length=100)
    desk = models.ForeignKey(
        Desk,
        on_delete=models.PROTECT,
        related_name="books",
        verbose_name=pgettext_lazy("trading desk", "desk"),
    )
    legal_entity = models.ForeignKey(
        LegalEntity, on_delete=models.PROTECT, related_name="books", verbose_name=_("legal entity")
    )
    currency = models.CharField(
        _("reporting currency"),
        max_length=3,
        validators=[validate_currency],
        help_text=_("The currency the book's MtM and P&L are reported in."),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = pgettext_lazy("trading book", "book")
        verbose_name_plural = pgettext_lazy("trading book", "books")

    def __str__(self) -> str:
        return self.code


class Sector(models.TextChoices):
    UTILITY = "utility", _("utility")
    PRODUCER = "producer", _("producer")
    OIL_MAJOR = "oil_major", _("integrated oil and gas")
    NATIONAL_OIL_COMPANY = "noc", _("national oil company")
    TRADING_HOUSE = "trading_house", _("trading house")
    BANK = "bank", _("bank")
    INDUSTRIAL = "industrial", _("industrial end user")
    INTERNAL = "internal", _("internal (our own entity)")


class KycStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")
    EXPIRED = "expired", _("expired")


class Counterparty(models.Model):
    legal_name = models.CharField(_("legal name"), max_length=200)
    short_code = models.CharField(
        _("short code"),
        max_length=16,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9][A-Z0-9-]*\Z", _("Upper-case letters, digits, -."))],
    )
    lei = models.CharField(_("LEI"), max_length=20, unique=True, validators=[validate_lei])
    country = models.CharField(_("country"), max_length=2, validators=[validate_country])
    sector = models.CharField(_("sector"), max_length=16, choices=Sector.choices)
    kyc_status = models.CharField(
        _("KYC status"), max_length=16, choices=KycStatus.choices, default=KycStatus.PENDING
    )
    kyc_expires_on = models.DateField(_("KYC expires on"), null=True, blank=True)
    credit_limit = models.DecimalField(
        pgettext_lazy("credit limit", "credit limit"), max_digits=20, decimal_places=2
    )
    credit_currency = models.CharField(
        _("credit limit currency"), max_length=3, validators=[validate_currency]
    )
    # Set when the counterparty is one of our own entities: the self-trade check needs it.
    internal_entity = models.OneToOneField(
        LegalEntity,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="as_counterparty",
        verbose_name=_("internal legal entity"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["short_code"]
        verbose_name = _("counterparty")
        verbose_name_plural = _("counterparties")
        constraints = [
            models.CheckConstraint(
                condition=Q(credit_limit__gt=0), name="counterparty_credit_limit_gt_0"
            ),
            # An approval is always for a period: KYC is reviewed again when it runs out.
            models.CheckConstraint(
                condition=~Q(kyc_status=KycStatus.APPROVED) | Q(kyc_expires_on__isnull=False),
                name="counterparty_approved_kyc_has_expiry",
            ),
        ]
        indexes = [models.Index(fields=["kyc_status", "kyc_expires_on"])]

    def __str__(self) -> str:
        return f"{self.short_code} — {self.legal_name}"

    @property
    def is_internal(self) -> bool:
        return self.internal_entity_id is not None

    def kyc_valid_on(self, day: date) -> bool:
        """Approved, and the approval has not run out by `day`."""
        return (
            self.kyc_status == KycStatus.APPROVED
            and self.kyc_expires_on is not None
            and day <= self.kyc_expires_on
        )

    def clean(self) -> None:
        if self.kyc_status == KycStatus.APPROVED and self.kyc_expires_on is None:
            raise ValidationError(
                {"kyc_expires_on": _("An approved KYC needs the date it expires.")}
            )
        if self.credit_limit is not None and self.credit_limit <= 0:
            raise ValidationError(
                {"credit_limit": _("The credit limit must be greater than zero.")}
            )
        if self.internal_entity_id is not None and self.lei != self.internal_entity.lei:
            raise ValidationError(
                {"lei": _("An internal counterparty has the LEI of its legal entity.")}
            )


class AgreementKind(models.TextChoices):
    ISDA = "isda", "ISDA"
    EFET = "efet", "EFET"
    NAESB = "naesb", "NAESB"


class MasterAgreement(models.Model):
    kind = models.CharField(_("kind"), max_length=8, choices=AgreementKind.choices)
    counterparty = models.ForeignKey(
        Counterparty,
        on_delete=models.PROTECT,
        related_name="agreements",
        verbose_name=_("counterparty"),
    )
    legal_entity = models.ForeignKey(
        LegalEntity,
        on_delete=models.PROTECT,
        related_name="agreements",
        verbose_name=_("our legal entity"),
    )
    signed_on = models.DateField(_("signed on"))
    netting = models.BooleanField(_("close-out netting"), default=True)
    collateral_threshold = models.DecimalField(
        _("collateral threshold"), max_digits=20, decimal_places=2, null=True, blank=True
    )
    collateral_currency = models.CharField(
        _("collateral currency"),
        max_length=3,
        blank=True,
        default="",
        validators=[validate_currency],
    )

    class Meta:
        ordering = ["counterparty", "kind"]
        verbose_name = _("master agreement")
        verbose_name_plural = _("master agreements")
        constraints = [
            models.UniqueConstraint(
                fields=["counterparty", "legal_entity", "kind"], name="masteragreement_uniq"
            ),
            models.CheckConstraint(
                condition=Q(collateral_threshold__isnull=True) | Q(collateral_threshold__gte=0),
                name="masteragreement_threshold_gte_0",
            ),
            # A threshold is an amount of money: it carries its currency.
            models.CheckConstraint(
                condition=Q(collateral_threshold__isnull=True) | ~Q(collateral_currency=""),
                name="masteragreement_threshold_has_currency",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} {self.counterparty.short_code} / {self.legal_entity.code}"
        )

    def clean(self) -> None:
        if self.collateral_threshold is not None and not self.collateral_currency:
            raise ValidationError(
                {"collateral_currency": _("A collateral threshold needs its currency.")}
            )
