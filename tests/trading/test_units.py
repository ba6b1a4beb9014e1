from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from apps.trading.models import Commodity, UnitConversion
from apps.trading.selectors import conversion_table_for, unit_convert
from apps.trading.units import ConversionTable, ConversionUnavailable, conversion_table
from tests.trading.factories import CommodityFactory, UnitFactory

ENERGY = conversion_table(
    [
        ("MWh", "MMBtu", Decimal("3.412141633")),
        ("MWh", "GJ", Decimal("3.6")),
        ("therm", "MMBtu", Decimal("0.1")),
    ]
)


def test_conversion_table_converts_mwh_to_mmbtu_and_back():
    assert ENERGY.convert(Decimal("10"), "MWh", "MMBtu") == Decimal("34.12141633")
    assert ENERGY.convert(Decimal("34.12141633"), "MMBtu", "MWh") == Decimal("10")


def test_conversion_table_converts_therm_to_mmbtu_and_back():
    assert ENERGY.convert(Decimal("25000"), "therm", "MMBtu") == Decimal("2500.0")
    assert ENERGY.convert(Decimal("2500"), "MMBtu", "therm") == Decimal("25000")


def test_conversion_table_chains_therm_through_mmbtu_to_mwh():
    # 1000 therm = 100 MMBtu = 100 / 3.412141633 MWh (1 therm = 29.3071 kWh).
    mwh = ENERGY.convert(Decimal("1000"), "therm", "MWh")
    assert mwh.quantize(Decimal("0.000001")) == Decimal("29.307107")


def test_conversion_table_prefers_a_direct_factor_to_a_chain():
    table = conversion_table(
        [
            ("MWh", "GJ", Decimal("3.6")),
            ("GJ", "MMBtu", Decimal("0.947817120")),
            ("MWh", "MMBtu", Decimal("3.412141633")),
        ]
    )
    assert table.factor("MWh", "MMBtu") == Decimal("3.412141633")


def test_conversion_table_same_unit_is_identity():
    assert ENERGY.convert(Decimal("7.5"), "bbl", "bbl") == Decimal("7.5")


def test_conversion_table_refuses_units_it_cannot_link():
    with pytest.raises(ConversionUnavailable, match="no known conversion from bbl to MWh"):
        ENERGY.convert(Decimal("1"), "bbl", "MWh")


def test_conversion_table_refuses_a_factor_that_is_not_a_positive_decimal():
    with pytest.raises(ValueError, match="positive Decimal"):
        ConversionTable({("MWh", "GJ"): Decimal("-3.6")})
    with pytest.raises(ValueError, match="positive Decimal"):
        ConversionTable({("MWh", "GJ"): 3.6})


def test_unit_convert_uses_a_commodity_specific_factor_only_for_that_commodity(seeded):
    crude = Commodity.objects.get(code="crude-oil")
    gas = Commodity.objects.get(code="natural-gas")
    assert unit_convert(Decimal("1000"), "bbl", "MMBtu", commodity=crude) == Decimal("5800.0")
    assert unit_convert(Decimal("5800"), "MMBtu", "bbl", commodity=crude) == Decimal("1000")
    # 1000 bbl of crude = 5800 MMBtu = 5800 / 3.412141633 MWh
    in_mwh = unit_convert(Decimal("1000"), "bbl", "MWh", commodity=crude)
    assert in_mwh.quantize(Decimal("0.001")) == Decimal("1699.812")
    with pytest.raises(ConversionUnavailable, match="for natural-gas"):
        unit_convert(Decimal("1000"), "bbl", "MMBtu", commodity=gas)
    with pytest.raises(ConversionUnavailable):
        unit_convert(Decimal("1000"), "bbl", "MMBtu")


def test_unit_convert_refuses_emissions_to_energy(seeded):
    emissions = Commodity.objects.get(code="emissions")
    with pytest.raises(ConversionUnavailable, match="no known conversion from tCO2e to MWh"):
        unit_convert(Decimal("1000"), "tCO2e", "MWh", commodity=emissions)


def test_conversion_table_for_reads_in_one_query(seeded, django_assert_num_queries):
    crude = Commodity.objects.get(code="crude-oil")
    with django_assert_num_queries(1):
        table = conversion_table_for(crude)
    assert table.factors[("bbl", "MMBtu")] == Decimal("5.8")
    assert ("t", "MMBtu") not in table.factors  # LNG's factor is not crude's


def test_unit_conversion_across_dimensions_needs_a_commodity(db):
    bbl = UnitFactory(code="bbl", name_en="barrel", dimension="volume")
    mmbtu = UnitFactory(code="MMBtu", name_en="million Btu")
    conversion = UnitConversion(from_unit=bbl, to_unit=mmbtu, factor=Decimal("5.8"))
    with pytest.raises(ValidationError) as error:
        conversion.full_clean()
    assert list(error.value.message_dict) == ["commodity"]
    conversion.commodity = CommodityFactory(code="crude-oil")
    conversion.full_clean()


def test_unit_conversion_factor_must_be_positive_in_the_database(db):
    mwh, gj = UnitFactory(), UnitFactory(code="GJ", name_en="gigajoule")
    with pytest.raises(IntegrityError):
        UnitConversion.objects.create(from_unit=mwh, to_unit=gj, factor=Decimal("0"))


def test_unit_conversion_generic_pair_is_unique_in_the_database(db):
    mwh, gj = UnitFactory(), UnitFactory(code="GJ", name_en="gigajoule")
    UnitConversion.objects.create(from_unit=mwh, to_unit=gj, factor=Decimal("3.6"))
    with pytest.raises(IntegrityError):
        UnitConversion.objects.create(from_unit=mwh, to_unit=gj, factor=Decimal("3.7"))
