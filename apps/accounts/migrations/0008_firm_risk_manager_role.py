"""The firm risk manager role: its group holds risk.view_firm_risk, the firm-wide risk view.

Held with the risk manager role (which gives the desks' work); without it, a risk manager sees
the desks assigned to them only. The permission is created here if post_migrate has not yet
created it (as 0007 does for permissions of models it has not seen).
"""

from django.db import migrations

ROLE = "firm_risk_manager"


def grant(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="risk", model="riskrun")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="view_firm_risk",
        defaults={"name": "Can see the firm-wide risk view"},
    )
    group, _ = Group.objects.get_or_create(name=ROLE)
    group.permissions.set([permission])


def revoke(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=ROLE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_roles_work_in_the_admin"),
        ("risk", "0006_firm_risk_permission"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
