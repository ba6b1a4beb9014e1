"""ISO 3166-1 alpha-2 country codes. Pure: imports nothing from Django.

The list comes from the IANA time zone database's `iso3166.tab`, shipped by the `tzdata` package
(and by the operating system): maintained upstream, so no hand-kept copy here goes stale.
"""

from functools import cache
from importlib import resources
from pathlib import Path

_SYSTEM_TABLE = Path("/usr/share/zoneinfo/iso3166.tab")


def _table_text() -> str:
    try:
        return resources.files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return _SYSTEM_TABLE.read_text("utf-8")


@cache
def country_names() -> dict[str, str]:
    """{"AE": "United Arab Emirates", ...} (English names, as the table gives them)."""
    names = {}
    for line in _table_text().splitlines():
        if line and not line.startswith("#"):
            code, name = line.split("\t", 1)
            names[code] = name.strip()
    return names


def is_country_code(code: str) -> bool:
    return code in country_names()
