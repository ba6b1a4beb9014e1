"""Reference-data names in English and Arabic (django-modeltranslation adds name_en, name_ar).

An empty Arabic name falls back to the English one. Legal names of companies are not translated:
they are what the register says.
"""

from modeltranslation.translator import TranslationOptions, register

from apps.trading.models import Commodity, HolidayCalendar, HolidayDate, Market, Unit


class NameTranslation(TranslationOptions):
    fields = ("name",)
    required_languages = ("en",)


@register(Commodity)
class CommodityTranslation(NameTranslation):
    pass


@register(Unit)
class UnitTranslation(NameTranslation):
    pass


@register(HolidayCalendar)
class HolidayCalendarTranslation(NameTranslation):
    pass


@register(HolidayDate)
class HolidayDateTranslation(NameTranslation):
    pass


@register(Market)
class MarketTranslation(NameTranslation):
    pass
