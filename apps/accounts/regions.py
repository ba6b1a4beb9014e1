"""What a user's region implies: time zone, currency, jurisdiction and language by default."""

from dataclasses import dataclass

from apps.accounts.models import Jurisdiction, Region


@dataclass(frozen=True)
class RegionDefaults:
    time_zone: str
    currency: str
    jurisdiction: str
    language: str


REGION_DEFAULTS: dict[str, RegionDefaults] = {
    Region.MIDDLE_EAST: RegionDefaults("Asia/Dubai", "AED", Jurisdiction.SHARIA, "ar"),
    Region.US: RegionDefaults("America/New_York", "USD", Jurisdiction.CFTC, "en"),
    Region.UK: RegionDefaults("Europe/London", "GBP", Jurisdiction.FCA, "en"),
    Region.EU: RegionDefaults("Europe/Brussels", "EUR", Jurisdiction.MIFID_REMIT, "en"),
    Region.GUYANA: RegionDefaults("America/Guyana", "GYD", Jurisdiction.GUYANA, "en"),
}


def region_defaults(region: str) -> RegionDefaults:
    return REGION_DEFAULTS.get(region, REGION_DEFAULTS[Region.US])
