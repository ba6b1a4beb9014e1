"""Risk managers upload forward curves (the marks P&L and VaR use)."""

from django.db import migrations


def grant(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="trading", model="curvesnapshot")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="add_curvesnapshot",
        defaults={"name": "Can add curve snapshot"},
    )
    group, _ = Group.objects.get_or_create(name="risk_manager")
    group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name="risk_manager").first()
    permission = Permission.objects.filter(
        content_type__app_label="trading", codename="add_curvesnapshot"
    ).first()
    if group is not None and permission is not None:
        group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_idempotency_record"),
        ("trading", "0002_market_data"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
