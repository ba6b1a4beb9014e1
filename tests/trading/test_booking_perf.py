"""The fast paths of bulk booking give exactly what the general paths give."""

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from apps.trading.serializers import PlainTermsReader, TradeTermsInputSerializer

FIELDS = list(TradeTermsInputSerializer().fields)

# A well-formed item as a bulk client sends it (the shape bench/booking.py posts).
PLAIN = {
    "book": "PEU-FLOW",
    "counterparty": "NORDWIND",
    "deal_type": "physical_fixed",
    "side": "buy",
    "market": "eex-de-power",
    "profile": "peak",
    "quantity": "10",
    "price": "85.50",
    "currency": "EUR",
    "period": "2026-03",
    "trade_date": "2026-01-15",
    "executed_at": "2026-01-15T09:30:00Z",
}

ODD_VALUES = [
    "",
    " ",
    " 10 ",
    "10",
    "-1",
    "0",
    "1e3",
    "1E-7",
    "1_000",
    "0.0000001",
    "123456789012.123456",
    "1234567890123",
    "NaN",
    "-Infinity",
    "buy",
    "BUY",
    "sell ",
    "option",
    "peak",
    "call",
    "2026-03",
    "CAL-2027",
    "2026-01-15",
    "20260115",
    "2026-02-30",
    "2026-01-15T09:30:00Z",
    "2026-01-15T09:30:00+04:00",
    "2026-01-15T09:30:00",
    "2026-01-15 09:30",
    "9999-12-31T23:59:59-12:00",
    "x" * 33,
    "Nordwind é",
    "bad\x00byte",
    "\ud800",
    "EUR",
]
values = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**14), max_value=10**14),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
)
items = st.builds(
    lambda base, changes, dropped: {
        name: value for name, value in {**base, **changes}.items() if name not in dropped
    },
    st.sampled_from([PLAIN, {}]),
    st.dictionaries(st.sampled_from([*FIELDS, "unknown"]), values, max_size=6),
    st.sets(st.sampled_from(FIELDS), max_size=3),
)


def _exact(data: dict) -> dict:
    """Values with their types and representations: 10 and 10.000000 are equal Decimals but
    not the same value to store, nor are two equal times in different zones."""
    return {name: (type(value), repr(value)) for name, value in data.items()}


def _serializer_reads(item: dict) -> dict | None:
    try:
        return dict(TradeTermsInputSerializer().run_validation(item))
    except ValidationError:
        return None


@settings(max_examples=600, deadline=None)
@given(item=items, zone=st.sampled_from(["UTC", "Asia/Dubai", "America/Chicago"]))
def test_plain_reader_reads_what_the_serializer_reads(item, zone):
    with timezone.override(zone):
        plain = PlainTermsReader(TradeTermsInputSerializer()).read(item)
        expected = _serializer_reads(item)
    if plain is not None:  # otherwise the serializer reads the item, and words its errors
        assert expected is not None
        assert _exact(plain) == _exact(expected)


@pytest.mark.parametrize(
    "item",
    [
        PLAIN,
        {**PLAIN, "quantity": 25, "price": "-3.5"},
        {
            **PLAIN,
            "deal_type": "option",
            "option_type": "call",
            "strike": "75",
            "expiry_date": "2026-02-26",
            "period": "",
            "delivery_start": "2026-03-01",
            "delivery_end": "2026-04-01",
        },
        {name: PLAIN[name] for name in ("book", "counterparty", "deal_type", "side", "market")}
        | {"quantity": "1", "price": "1", "currency": "EUR", "period": "2026-Q2"},
    ],
)
def test_plain_reader_takes_the_usual_items(item):
    plain = PlainTermsReader(TradeTermsInputSerializer()).read(item)
    assert plain is not None
    assert _exact(plain) == _exact(_serializer_reads(item))
