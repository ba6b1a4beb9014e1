from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from modeltranslation.admin import TranslationAdmin, TranslationTabularInline

from apps.compliance.admin_changes import (
    AuditedAdminMixin,
    awaiting_message,
)
from apps.compliance.approvals import change_request_create as approval_request
from apps.compliance.audit import audit_append

# Market data (curves, FX) has its own admin module; importing it registers its models.
# Trades, positions and trading policies likewise (apps.trading.trades_admin).
from apps.trading import (
    approvals,
    marketdata_admin,  # noqa: F401
    services,
    trades_admin,  # noqa: F401
    venue,
)
from apps.trading.calendars import holiday_calendar_load
from apps.trading.models import (
    Book,
    Commodity,
    Counterparty,
    HolidayCalendar,
    HolidayDate,
    KycStatus,
    LegalEntity,
    Market,
    MasterAgreement,
    Order,
    OrderEvent,
    Unit,
    UnitConversion,
    VenueContract,
)
from apps.trading.trades_admin import ReadOnlyMixin


@admin.register(Commodity)
class CommodityAdmin(AuditedAdminMixin, TranslationAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name_en", "name_ar"]


@admin.register(Unit)
class UnitAdmin(AuditedAdminMixin, TranslationAdmin):
    list_display = ["code", "name", "dimension"]
    list_filter = ["dimension"]
    search_fields = ["code", "name_en", "name_ar"]


@admin.register(UnitConversion)
class UnitConversionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["from_unit", "factor", "to_unit", "commodity"]
    list_filter = ["commodity", "from_unit", "to_unit"]
    list_select_related = ["from_unit", "to_unit", "commodity"]
    autocomplete_fields = ["from_unit", "to_unit", "commodity"]


class HolidayDateInline(TranslationTabularInline):
    model = HolidayDate
    fields = ["date", "name", "loaded"]
    readonly_fields = ["loaded"]
    extra = 0
    ordering = ["-date"]


@admin.register(HolidayCalendar)
class HolidayCalendarAdmin(AuditedAdminMixin, TranslationAdmin):
    list_display = ["code", "name", "source", "holiday_count"]
    list_filter = ["source"]
    search_fields = ["code", "name_en", "name_ar"]
    inlines = [HolidayDateInline]
    actions = ["reload_from_source"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[HolidayCalendar]:
        return super().get_queryset(request).annotate(holiday_count=Count("dates"))

    @admin.display(description=_("holidays"), ordering="holiday_count")
    def holiday_count(self, calendar: HolidayCalendar) -> int:
        return calendar.holiday_count

    @admin.action(
        description=_("Reload the selected calendars from their source"), permissions=["change"]
    )
    def reload_from_source(self, request: HttpRequest, queryset: QuerySet[HolidayCalendar]) -> None:
        # The seed's span: six years back for history, four ahead for forward contracts.
        year = timezone.now().year
        years = range(year - 6, year + 5)
        calendars = [calendar for calendar in queryset if calendar.source]
        for calendar in calendars:
            with transaction.atomic():  # the dates and their audit entry together
                count = holiday_calendar_load(calendar=calendar, years=years)
                audit_append(
                    actor=request.user,
                    action="trading.holidaycalendar_reloaded",
                    obj=calendar,
                    payload={
                        "code": calendar.code,
                        "source": calendar.source,
                        "years": [years[0], years[-1]],
                        "loaded": count,
                    },
                )
        self.message_user(
            request,
            ngettext(
                "%(count)d calendar reloaded for %(first)d–%(last)d.",
                "%(count)d calendars reloaded for %(first)d–%(last)d.",
                len(calendars),
            )
            % {"count": len(calendars), "first": years[0], "last": years[-1]},
            messages.SUCCESS,
        )


@admin.register(HolidayDate)
class HolidayDateAdmin(AuditedAdminMixin, TranslationAdmin):
    list_display = ["date", "name", "calendar", "loaded"]
    list_filter = ["calendar", "loaded"]
    list_select_related = ["calendar"]
    search_fields = ["name_en", "name_ar"]
    date_hierarchy = "date"


@admin.register(Market)
class MarketAdmin(AuditedAdminMixin, TranslationAdmin):
    list_display = [
        "code",
        "name",
        "commodity",
        "time_zone",
        "price_unit",
        "holiday_calendar",
        "day_start_hour",
        "tick_size",
        "lot_size",
    ]
    list_filter = ["commodity", "currency", "holiday_calendar"]
    list_select_related = ["commodity", "quotation_unit", "holiday_calendar"]
    search_fields = ["code", "name_en", "name_ar"]
    fieldsets = [
        (None, {"fields": ["code", "name", "commodity"]}),
        (
            _("Price"),
            {"fields": ["currency", "quote_scale", "quotation_unit", "tick_size", "lot_size"]},
        ),
        (
            _("Calendar"),
            {
                "fields": [
                    "time_zone",
                    "holiday_calendar",
                    "day_start_hour",
                    "day_start_zone",
                    "expiry_rule",
                ]
            },
        ),
        (
            _("Peak hours"),
            {
                "fields": [
                    "peak_weekdays",
                    "peak_start_hour",
                    "peak_end_hour",
                    "peak_holiday_calendar",
                ]
            },
        ),
    ]

    @admin.display(description=_("price unit"))
    def price_unit(self, market: Market) -> str:
        return market.price_unit_label


@admin.register(LegalEntity)
class LegalEntityAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "lei", "country", "jurisdiction"]
    list_filter = ["jurisdiction", "country"]
    search_fields = ["code", "name", "lei"]


@admin.register(Book)
class BookAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "desk", "legal_entity"]
    list_filter = ["desk", "legal_entity"]
    list_select_related = ["desk", "legal_entity"]
    search_fields = ["code", "name"]


class MasterAgreementInline(admin.TabularInline):
    model = MasterAgreement
    fields = [
        "kind",
        "legal_entity",
        "signed_on",
        "netting",
        "collateral_threshold",
        "collateral_currency",
    ]
    extra = 0


@admin.register(Counterparty)
class CounterpartyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
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
    ]
    list_filter = [
        "kyc_status",
        "sector",
        "country",
        ("internal_entity", admin.EmptyFieldListFilter),
    ]
    list_select_related = ["internal_entity"]
    search_fields = ["short_code", "legal_name", "lei"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [MasterAgreementInline]

    def save_model(
        self, request: HttpRequest, obj: Counterparty, form: ModelForm, change: bool
    ) -> None:
        # KYC and credit terms are audited, old → new, in the transaction of the save. An
        # approval of KYC waits for a second person: the rest is saved with the KYC as it was
        # (pending for a new counterparty), and the approval becomes a change request.
        stored = Counterparty.objects.filter(pk=obj.pk).first() if change else None
        proposed = None
        if approvals.kyc_approval_proposed(stored, obj):
            proposed = {name: getattr(obj, name) for name in approvals.KYC_FIELDS}
            obj.kyc_status = stored.kyc_status if stored else KycStatus.PENDING
            obj.kyc_expires_on = stored.kyc_expires_on if stored else None
        services.counterparty_save(user=request.user, counterparty=obj)  # type: ignore[arg-type]
        if proposed is not None:
            change_request = approval_request(
                actor=request.user, kind=approvals.KYC_APPROVAL, obj=obj, values=proposed
            )
            self.message_user(request, awaiting_message(change_request), messages.INFO)


@admin.register(MasterAgreement)
class MasterAgreementAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["counterparty", "legal_entity", "kind", "signed_on", "netting"]
    list_filter = ["kind", "netting", "legal_entity"]
    list_select_related = ["counterparty", "legal_entity"]
    search_fields = ["counterparty__short_code", "counterparty__legal_name"]


# --- The internal venue: contracts are added and their settings changed through
# venue.contract_save (checked, audited, the engines told); orders and their events are
# written by the venue service only, so they are read-only here ---------------------------


class OrderEventInline(ReadOnlyMixin, admin.TabularInline):
    model = OrderEvent
    fk_name = "order"
    extra = 0
    can_delete = False
    ordering = ["id"]
    fields = ["kind", "created_at", "actor", "quantity", "price", "reason", "aggressor", "trade"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderEvent]:
        return super().get_queryset(request).select_related("actor", "trade")


class VenueContractForm(ModelForm):
    """The venue's own checks as form errors. The admin validates and saves a form in one
    transaction, so the contract's lock taken by `contract_check` here still holds when
    `contract_save` writes: no order comes to rest in between."""

    class Meta:
        model = VenueContract
        fields = ["market", "period_code", "deal_type", *venue.CONTRACT_SETTINGS]

    def validate_constraints(self) -> None:
        # Instead of the model's constraints (named, not explained): the venue's checks say it
        # in words (greater than zero, the period already listed, orders resting).
        if self.errors:
            return
        try:
            venue.contract_check(self.instance)
        except ValidationError as refused:
            self.add_error(None, refused)


@admin.register(VenueContract)
class VenueContractAdmin(admin.ModelAdmin):
    form = VenueContractForm
    list_display = [
        "__str__",
        "deal_type",
        "tick_size",
        "lot_size",
        "stp_mode",
        "last_trading_at",
        "active",
    ]
    list_filter = ["market", "active", "stp_mode"]
    list_select_related = ["market"]
    # Identity and the matcher's state: set when the contract is added, never edited.
    identity = ["market", "period_code", "deal_type"]
    derived = ["delivery_start", "delivery_end", "last_trading_at", "next_sequence", "created_at"]

    def get_fields(self, request: HttpRequest, obj: VenueContract | None = None) -> list[str]:
        if obj is None:
            return [*self.identity, *venue.CONTRACT_SETTINGS]
        return [*self.identity, *self.derived, *venue.CONTRACT_SETTINGS]

    def get_readonly_fields(
        self, request: HttpRequest, obj: VenueContract | None = None
    ) -> list[str]:
        return [] if obj is None else [*self.identity, *self.derived]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # orders and trades refer to it; close it to new orders (active) instead

    def save_model(
        self, request: HttpRequest, obj: VenueContract, form: ModelForm, change: bool
    ) -> None:
        venue.contract_save(user=request.user, contract=obj)  # type: ignore[arg-type]


@admin.register(Order)
class OrderAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "__str__",
        "contract",
        "desk",
        "book",
        "counterparty",
        "trader",
        "side",
        "order_type",
        "price",
        "quantity",
        "filled_quantity",
        "open_quantity",
        "status",
        "created_at",
    ]
    list_filter = ["status", "desk", "contract__market"]
    list_select_related = ["contract__market", "desk", "book", "counterparty", "trader"]
    inlines = [OrderEventInline]
