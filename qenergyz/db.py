"""Database helpers shared by the apps. A leaf module: it imports nothing from the apps."""

from collections.abc import Sequence

from django.db import connection, models


def insert_rows(objects: Sequence[models.Model], *, with_ids: bool = False) -> None:
    """INSERT rows of one model in one statement.

    On PostgreSQL by COPY: psycopg adapts the values in C, several times faster than
    bulk_create's per-field preparation, which dominated a batch of 1,000. Elsewhere by
    bulk_create. An auto-generated primary key is left to the database, unless `with_ids`: the
    objects then get their ids first, drawn from the table's sequence in one query (as
    bulk_create sets them), so that other rows can refer to them.
    """
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects)
        return
    from psycopg.types.json import Jsonb

    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    fields = [f for f in meta.concrete_fields if f is not meta.auto_field]
    with connection.cursor() as cursor:
        if with_ids:
            assert meta.auto_field is not None, f"{meta.label} has no auto primary key"
            # Table and column names come from the model's meta, never from input.
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.auto_field.column, len(objects)],
            )
            for obj, (new_id,) in zip(objects, sorted(cursor.fetchall()), strict=True):
                obj.pk = new_id
                obj._state.adding, obj._state.db = False, connection.alias
            fields.insert(0, meta.auto_field)
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        is_json = [isinstance(f, models.JSONField) for f in fields]
        names = [f.attname for f in fields]
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                copy.write_row(
                    [
                        Jsonb(getattr(obj, name)) if json else getattr(obj, name)
                        for name, json in zip(names, is_json, strict=True)
                    ]
                )
