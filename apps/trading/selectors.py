"""Reads of reference data and counterparties, each with a bounded number of queries."""

from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet

from apps.trading.models import Commodity, Counterparty, Market, MasterAgreement, UnitConversion
from apps.trading.units import ConversionTable, conversion_table


def conversion_table_for(commodity: Commodity | None = None) -> ConversionTable:
    """The generic conversions, plus `commodity`'s own ones (which win on the same pair)."""
    scope = Q(commodity__isnull=True)
    if commodity is not None:
        scope |= Q(commodity=commodity)
    rows = (
        UnitConversion.objects.filter(scope)
        # Generic rows first, so that a commodity's own factor for the same pair replaces them.
        .order_by("commodity_id", "id")
        .values_list("from_unit__code", "to_unit__code", "factor", "commodity_id")
    )
    ordered = sorted(rows, key=lambda row: row[3] is not None)
    return conversion_table(
        [(source, target, factor) for source, target, factor, _ in ordered],
        commodity=commodity.code if commodity is not None else None,
    )


def unit_convert(
    quantity: Decimal, from_unit: str, to_unit: str, *, commodity: Commodity | None = None
) -> Decimal:
    """`quantity` in `to_unit`; raises units.ConversionUnavailable when no factor is known."""
    return conversion_table_for(commodity).convert(quantity, from_unit, to_unit)


def counterparty_list() -> QuerySet[Counterparty]:
    """Counterparties with what their API representation shows, in two queries."""
    agreements = MasterAgreement.objects.select_related("legal_entity").order_by("kind", "id")
    return Counterparty.objects.select_related("internal_entity").prefetch_related(
        Prefetch("agreements", queryset=agreements)
    )


def market_list() -> QuerySet[Market]:
    return Market.objects.select_related(
        "commodity", "quotation_unit", "holiday_calendar", "peak_holiday_calendar"
    )
