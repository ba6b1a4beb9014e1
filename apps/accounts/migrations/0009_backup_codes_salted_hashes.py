"""Backup codes are stored as salted password hashes (BackupCodeHasher) instead of an HMAC keyed
with the SECRET_KEY.

The codes already issued cannot be rehashed (only their HMAC is known), and keeping the HMAC
check for them would keep the weaker form alive for as long as a code stays unused. They are
deleted: their users sign in with their authenticator app, are told they have no backup codes
left (the MFA page and the sign-in step say so) and make new ones.
"""

from django.db import migrations, models


def delete_keyed_hash_codes(apps, schema_editor):
    BackupCode = apps.get_model("accounts", "BackupCode")
    # A salted hash is "<algorithm>$<iterations>$<salt>$<hash>"; an HMAC is 64 hex digits.
    BackupCode.objects.exclude(code_hash__contains="$").delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_firm_risk_manager_role")]

    operations = [
        migrations.AlterField(
            model_name="backupcode",
            name="code_hash",
            field=models.CharField(max_length=128, verbose_name="code hash"),
        ),
        migrations.RunPython(delete_keyed_hash_codes, migrations.RunPython.noop),
    ]
