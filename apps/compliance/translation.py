"""Pre-trade rule descriptions in English and Arabic (django-modeltranslation adds description_en,
description_ar); an empty Arabic description falls back to the English one."""

from modeltranslation.translator import TranslationOptions, register

from apps.compliance.models import PreTradeRule


@register(PreTradeRule)
class PreTradeRuleTranslation(TranslationOptions):
    fields = ("description",)
