"""The default pre-trade rules, and on PostgreSQL a constraint that keeps rule periods apart.

Defaults: KYC valid (block), credit limit (block above 100%, warn above 80%), self-trade (block),
for every jurisdiction, in force from 2020-01-01 UTC. Later changes are new rows (see the model).

The exclusion constraint refuses two periods of one code and jurisdiction that overlap, whoever
writes them (the model's clean() says the same in the admin, and on SQLite it is the only guard).
It needs btree_gist for the equality parts of a GiST index.
"""

from datetime import UTC, datetime

from django.db import migrations

CONSTRAINT = "pretraderule_periods_no_overlap"
START = datetime(2020, 1, 1, tzinfo=UTC)

DEFAULTS = [
    {
        "code": "kyc_valid",
        "params": {},
        "en": "The counterparty's KYC is approved and does not expire before the trade date.",
        "ar": "اعتماد «اعرف عميلك» للطرف المقابل ساري ولا ينتهي قبل تاريخ الصفقة.",
    },
    {
        "code": "credit_limit",
        "params": {"warn_ratio": "0.80"},
        "en": (
            "Current exposure plus this trade stays within the counterparty's credit limit; "
            "a warning above 80% of it."
        ),
        "ar": (
            "التعرض الحالي مضافاً إليه هذه الصفقة لا يتجاوز الحد الائتماني للطرف المقابل، "
            "مع تنبيه عند تجاوز 80% منه."
        ),
    },
    {
        "code": "self_trade",
        "params": {},
        "en": "The counterparty is not the legal entity that owns the book.",
        "ar": "الطرف المقابل ليس الكيان القانوني المالك للدفتر.",
    },
]


def create_defaults(apps, schema_editor):
    rule = apps.get_model("compliance", "PreTradeRule")
    for item in DEFAULTS:
        rule.objects.create(
            code=item["code"],
            jurisdiction="",
            outcome="block",
            params=item["params"],
            effective_from=START,
            effective_to=None,
            enabled=True,
            description=item["en"],
            description_en=item["en"],
            description_ar=item["ar"],
            created_at=START,
        )


def remove_defaults(apps, schema_editor):
    rule = apps.get_model("compliance", "PreTradeRule")
    codes = [item["code"] for item in DEFAULTS]
    rule.objects.filter(code__in=codes, jurisdiction="", effective_from=START).delete()


def create_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("compliance", "PreTradeRule")._meta.db_table)
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    schema_editor.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT {CONSTRAINT} EXCLUDE USING gist "
        "(code WITH =, jurisdiction WITH =, "
        "tstzrange(effective_from, effective_to, '[)') WITH &&)"
    )


def drop_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("compliance", "PreTradeRule")._meta.db_table)
    schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {CONSTRAINT}")


class Migration(migrations.Migration):
    dependencies = [("compliance", "0005_pretrade_rules")]

    operations = [
        migrations.RunPython(create_constraint, drop_constraint, elidable=False),
        migrations.RunPython(create_defaults, remove_defaults, elidable=False),
    ]
