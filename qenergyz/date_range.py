"""The dates a desk accepts, 1990-01-01 to 2100-12-31: trade, delivery, pricing and query dates.

Python's dates run from year 1 to 9999, and the ends break things (a delivery month's end in
year 10000 is an OverflowError; year 1 is a typing slip, never a trade). Pure Python: the pure
engines (apps.trading.periods) use it as well as qenergyz.validators.
"""

from datetime import date, datetime

SANE_DATE_MIN = date(1990, 1, 1)
SANE_DATE_MAX = date(2100, 12, 31)


def date_in_range(value: date) -> bool:
    day = value.date() if isinstance(value, datetime) else value
    return SANE_DATE_MIN <= day <= SANE_DATE_MAX
