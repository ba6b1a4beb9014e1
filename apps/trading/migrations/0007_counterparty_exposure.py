"""The running credit exposure per counterparty and currency, filled from the existing trades
(the same sum services.exposures_computed makes: booked trades' current versions)."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, F, Q, Sum
from django.utils import timezone


def fill(apps, schema_editor):
    TradeVersion = apps.get_model("trading", "TradeVersion")
    CounterpartyExposure = apps.get_model("trading", "CounterpartyExposure")
    rows = (
        TradeVersion.objects.filter(trade__status="booked", version=F("trade__current_version"))
        .values("counterparty_id", "currency")
        .annotate(
            amount=Sum("notional"),
            trades=Count("pk"),
            unknown=Count("pk", filter=Q(notional__isnull=True)),
        )
    )
    now = timezone.now()
    CounterpartyExposure.objects.bulk_create(
        [
            CounterpartyExposure(
                counterparty_id=row["counterparty_id"],
                currency=row["currency"],
                amount=row["amount"] if row["amount"] is not None else 0,
                trades=row["trades"],
                unknown=row["unknown"],
                updated_at=now,
            )
            for row in rows
        ]
    )


class Migration(migrations.Migration):

    dependencies = [
        ('trading', '0006_schedule_pnl_close'),
    ]

    operations = [
        migrations.CreateModel(
            name='CounterpartyExposure',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('currency', models.CharField(max_length=3, validators=[django.core.validators.RegexValidator('^[A-Z]{3}\\Z', 'Enter a three-letter ISO 4217 currency code, e.g. EUR.')], verbose_name='currency')),
                ('amount', models.DecimalField(decimal_places=2, help_text='The sum of the known notionals.', max_digits=22, verbose_name='exposure')),
                ('trades', models.PositiveIntegerField(verbose_name='booked trades')),
                ('unknown', models.PositiveIntegerField(help_text='While above zero, the exposure is unknown and the credit check blocks.', verbose_name='trades without a notional')),
                ('updated_at', models.DateTimeField(verbose_name='updated at')),
                ('counterparty', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='exposures', to='trading.counterparty', verbose_name='counterparty')),
            ],
            options={
                'verbose_name': 'counterparty exposure',
                'verbose_name_plural': 'counterparty exposures',
                'ordering': ['counterparty', 'currency'],
                'constraints': [models.UniqueConstraint(fields=('counterparty', 'currency'), name='counterpartyexposure_uniq')],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
