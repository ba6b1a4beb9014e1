"""Trade.desk: a copy of the book's desk, so that the desk scoping of every trade list filters
one indexed column instead of joining the books; filled from the books of existing trades.
The (counterparty, id) index pages a counterparty's trades newest first; it replaces the
(counterparty, status) one that the summed credit exposure needed (now kept running)."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill(apps, schema_editor):
    Book = apps.get_model("trading", "Book")
    Trade = apps.get_model("trading", "Trade")
    Trade.objects.update(
        desk_id=Subquery(Book.objects.filter(pk=OuterRef("book_id")).values("desk_id")[:1])
    )
    if schema_editor.connection.vendor == "postgresql":
        # The deferred foreign-key checks of the UPDATE run now: PostgreSQL refuses to ALTER
        # a table with pending trigger events, and the column becomes NOT NULL next.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_idempotency_record'),
        ('trading', '0007_counterparty_exposure'),
    ]

    operations = [
        migrations.AddField(
            model_name='trade',
            name='desk',
            field=models.ForeignKey(db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.desk', verbose_name='desk'),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='trade',
            name='desk',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.desk', verbose_name='desk'),
        ),
        migrations.RemoveIndex(
            model_name='trade',
            name='trade_cp_status_idx',
        ),
        migrations.AddIndex(
            model_name='trade',
            index=models.Index(fields=['desk', 'id'], name='trade_desk_id_idx'),
        ),
        migrations.AddIndex(
            model_name='trade',
            index=models.Index(fields=['counterparty', 'id'], name='trade_cp_id_idx'),
        ),
    ]
