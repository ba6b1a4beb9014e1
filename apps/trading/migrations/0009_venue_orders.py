"""The internal venue: contracts, orders and their append-only events (issue 5).

On PostgreSQL a trigger refuses UPDATE and DELETE of order events (as for audit entries;
TRUNCATE stays possible for the test framework), and a check constraint holds an order's
quantity conserved (quantity = open + filled + cancelled, but for a rejected order). SQLite has
neither: it sums decimals as floats, so the constraint could refuse exact sums there; the
ORM-level rules and the tests hold it.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


FUNCTION = "trading_orderevent_append_only"
TRIGGER = "trading_orderevent_append_only"


CONSERVED = "order_quantity_conserved"


def create_guards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    orders = schema_editor.quote_name(apps.get_model("trading", "Order")._meta.db_table)
    schema_editor.execute(
        f"ALTER TABLE {orders} ADD CONSTRAINT {CONSERVED} CHECK (status = 'rejected' OR "
        "quantity = open_quantity + filled_quantity + cancelled_quantity)"
    )
    table = schema_editor.quote_name(apps.get_model("trading", "OrderEvent")._meta.db_table)
    schema_editor.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'order events are append-only: % of event #% refused', TG_OP, OLD.id
                USING HINT = 'Record what happened as a new event instead.';
        END
        $$;
        """,
        params=None,  # no parameters: the % in RAISE are PL/pgSQL's, not placeholders
    )
    schema_editor.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
    )


def drop_guards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("trading", "OrderEvent")._meta.db_table)
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
    orders = schema_editor.quote_name(apps.get_model("trading", "Order")._meta.db_table)
    schema_editor.execute(f"ALTER TABLE {orders} DROP CONSTRAINT IF EXISTS {CONSERVED}")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0006_risk_manager_uploads_curves'),
        ('trading', '0008_trade_desk'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Order',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('side', models.CharField(choices=[('buy', 'buy'), ('sell', 'sell')], max_length=4, verbose_name='side')),
                ('order_type', models.CharField(choices=[('limit', 'limit'), ('market', 'market')], default='limit', max_length=8, verbose_name='order type')),
                ('time_in_force', models.CharField(choices=[('gtc', 'good till cancelled'), ('ioc', 'immediate or cancel'), ('fok', 'fill or kill')], default='gtc', max_length=4, verbose_name='time in force')),
                ('price', models.DecimalField(blank=True, decimal_places=6, help_text='Empty for a market order.', max_digits=20, null=True, verbose_name='limit price')),
                ('quantity', models.DecimalField(decimal_places=6, help_text='Per delivery hour for power, per day otherwise; filled + open + cancelled (a replace changes it).', max_digits=24, verbose_name='quantity')),
                ('min_quantity', models.DecimalField(blank=True, decimal_places=6, max_digits=24, null=True, verbose_name='minimum quantity')),
                ('created_at', models.DateTimeField(verbose_name='created at')),
                ('status', models.CharField(choices=[('open', 'open'), ('partially_filled', 'partially filled'), ('filled', 'filled'), ('cancelled', 'cancelled'), ('rejected', 'rejected')], max_length=16, verbose_name='status')),
                ('open_quantity', models.DecimalField(decimal_places=6, max_digits=24, verbose_name='open quantity')),
                ('filled_quantity', models.DecimalField(decimal_places=6, max_digits=24, verbose_name='filled quantity')),
                ('cancelled_quantity', models.DecimalField(decimal_places=6, max_digits=24, verbose_name='cancelled quantity')),
                ('sequence', models.BigIntegerField(blank=True, null=True, verbose_name='time priority')),
                ('updated_at', models.DateTimeField(verbose_name='updated at')),
                ('book', models.ForeignKey(blank=True, help_text='Our side: the book a fill is booked into.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='trading.book', verbose_name='book')),
                ('counterparty', models.ForeignKey(blank=True, help_text="A broker's quote: the external counterparty; only our side is booked.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='trading.counterparty', verbose_name='broker')),
                ('desk', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.desk', verbose_name='desk')),
                ('trader', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='trader')),
            ],
            options={
                'verbose_name': 'order',
                'verbose_name_plural': 'orders',
                'ordering': ['-id'],
            },
        ),
        migrations.CreateModel(
            name='VenueContract',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('period_code', models.CharField(max_length=16, verbose_name='period')),
                ('delivery_start', models.DateField(verbose_name='delivery start')),
                ('delivery_end', models.DateField(help_text='Exclusive.', verbose_name='delivery end')),
                ('deal_type', models.CharField(choices=[('physical_fixed', 'physical fixed-price forward'), ('swap', 'fixed-for-floating swap'), ('future', 'exchange future')], default='physical_fixed', help_text='What a fill books on both sides.', max_length=16, verbose_name='deal type')),
                ('tick_size', models.DecimalField(decimal_places=6, max_digits=12, verbose_name='tick size')),
                ('lot_size', models.DecimalField(decimal_places=4, max_digits=16, verbose_name='lot size')),
                ('stp_mode', models.CharField(choices=[('cancel_resting', 'cancel the resting order'), ('cancel_incoming', 'cancel the incoming order')], default='cancel_resting', max_length=16, verbose_name='self-trade prevention')),
                ('last_trading_at', models.DateTimeField(help_text='Orders are refused from this instant (UTC).', verbose_name='last trading time')),
                ('active', models.BooleanField(default=True, verbose_name='active')),
                ('next_sequence', models.BigIntegerField(default=1, verbose_name='next time-priority sequence')),
                ('book_token', models.CharField(blank=True, default='', max_length=32, verbose_name='book token')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created at')),
                ('market', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='venue_contracts', to='trading.market', verbose_name='market')),
            ],
            options={
                'verbose_name': 'venue contract',
                'verbose_name_plural': 'venue contracts',
                'ordering': ['market__code', 'delivery_start', 'period_code'],
            },
        ),
        migrations.CreateModel(
            name='OrderEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('accepted', 'accepted'), ('fill', 'fill'), ('fill_refused', 'fill refused by booking'), ('cancel', 'cancel'), ('replace', 'replace'), ('reject', 'reject')], max_length=16, verbose_name='kind')),
                ('created_at', models.DateTimeField(verbose_name='time')),
                ('price', models.DecimalField(blank=True, decimal_places=6, max_digits=20, null=True, verbose_name='price')),
                ('quantity', models.DecimalField(blank=True, decimal_places=6, max_digits=24, null=True, verbose_name='quantity')),
                ('sequence', models.BigIntegerField(blank=True, null=True, verbose_name='time priority')),
                ('reason', models.CharField(blank=True, default='', max_length=32, verbose_name='reason')),
                ('aggressor', models.BooleanField(blank=True, null=True, verbose_name='aggressor')),
                ('detail', models.JSONField(blank=True, default=dict, verbose_name='detail')),
                ('actor', models.ForeignKey(help_text="Whose request made this happen (the aggressor's trader for a fill).", on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='requested by')),
                ('counter_order', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='trading.order', verbose_name='counter order')),
                ('order', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='events', to='trading.order', verbose_name='order')),
                ('trade', models.ForeignKey(blank=True, help_text="The trade this fill booked on this order's side.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='trading.trade', verbose_name='trade')),
                ('contract', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='trading.venuecontract', verbose_name='contract')),
            ],
            options={
                'verbose_name': 'order event',
                'verbose_name_plural': 'order events',
                'ordering': ['id'],
            },
        ),
        migrations.AddField(
            model_name='order',
            name='contract',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='trading.venuecontract', verbose_name='contract'),
        ),
        migrations.AddConstraint(
            model_name='venuecontract',
            constraint=models.UniqueConstraint(fields=('market', 'period_code'), name='venuecontract_market_period_uniq'),
        ),
        migrations.AddConstraint(
            model_name='venuecontract',
            constraint=models.CheckConstraint(condition=models.Q(('tick_size__gt', 0)), name='venuecontract_tick_size_gt_0'),
        ),
        migrations.AddConstraint(
            model_name='venuecontract',
            constraint=models.CheckConstraint(condition=models.Q(('lot_size__gt', 0)), name='venuecontract_lot_size_gt_0'),
        ),
        migrations.AddConstraint(
            model_name='venuecontract',
            constraint=models.CheckConstraint(condition=models.Q(('delivery_end__gt', models.F('delivery_start'))), name='venuecontract_period_order'),
        ),
        migrations.AddIndex(
            model_name='orderevent',
            index=models.Index(condition=models.Q(('aggressor', True), ('kind', 'fill')), fields=['contract', 'id'], name='orderevent_tape_idx'),
        ),
        migrations.AddIndex(
            model_name='order',
            index=models.Index(fields=['desk', 'id'], name='order_desk_id_idx'),
        ),
        migrations.AddIndex(
            model_name='order',
            index=models.Index(condition=models.Q(('open_quantity__gt', 0)), fields=['contract', 'side', 'price'], name='order_resting_idx'),
        ),
        migrations.AddConstraint(
            model_name='order',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('book__isnull', False), ('counterparty__isnull', True)), models.Q(('book__isnull', True), ('counterparty__isnull', False)), _connector='OR'), name='order_book_xor_broker'),
        ),
        migrations.AddConstraint(
            model_name='order',
            constraint=models.CheckConstraint(condition=models.Q(('quantity__gt', 0)), name='order_quantity_gt_0'),
        ),
        migrations.AddConstraint(
            model_name='order',
            constraint=models.CheckConstraint(condition=models.Q(('open_quantity__gte', 0), ('filled_quantity__gte', 0), ('cancelled_quantity__gte', 0)), name='order_quantities_gte_0'),
        ),
        migrations.AddConstraint(
            model_name='order',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('order_type', 'market'), ('price__isnull', True)), models.Q(('order_type', 'limit'), ('price__isnull', False)), _connector='OR'), name='order_limit_has_price'),
        ),
        migrations.RunPython(create_guards, drop_guards, elidable=False),
    ]
