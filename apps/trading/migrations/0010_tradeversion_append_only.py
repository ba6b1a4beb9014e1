"""On PostgreSQL, a trigger refuses UPDATE and DELETE of trade versions, as 0009 did for order
events: an amendment or a cancellation is a new version, never a change to an old one.

Row-level only: TRUNCATE stays possible for the test framework. SQLite has no trigger here;
the ORM-level rule (the services only ever insert versions, a read-only admin) holds there.
"""

from django.db import migrations

FUNCTION = "trading_tradeversion_append_only"
TRIGGER = "trading_tradeversion_append_only"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("trading", "TradeVersion")._meta.db_table)
    schema_editor.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'trade versions are append-only: % of version #% refused',
                TG_OP, OLD.id
                USING HINT = 'Amend or cancel the trade: that writes a new version.';
        END
        $$;
        """,
        params=None,  # no parameters: the % in RAISE are PL/pgSQL's, not placeholders
    )
    schema_editor.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
    )


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("trading", "TradeVersion")._meta.db_table)
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [
        ("trading", "0009_venue_orders"),
    ]

    operations = [
        migrations.RunPython(create_trigger, drop_trigger, elidable=False),
    ]
