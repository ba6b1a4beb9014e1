"""On PostgreSQL, a trigger refuses UPDATE and DELETE on audit entries.

Row-level only: TRUNCATE stays possible, because the test framework empties tables with it
between transactional tests (and only the table owner can truncate). SQLite has no trigger
here; the ORM-level rule (no update or delete paths in our code, a read-only admin) holds there.
"""

from django.db import migrations

FUNCTION = "compliance_audit_append_only"
TRIGGER = "compliance_auditentry_append_only"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("compliance", "AuditEntry")._meta.db_table)
    schema_editor.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit entries are append-only: % of entry #% refused', TG_OP, OLD.seq
                USING HINT = 'Record a correction as a new audit entry instead.';
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
    table = schema_editor.quote_name(apps.get_model("compliance", "AuditEntry")._meta.db_table)
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger, elidable=False)]
