"""Create the role groups with their permissions (idempotent: get_or_create throughout).

Permissions are normally created after `migrate` by a post_migrate signal, so the ones the
groups need are created here if they do not exist yet (the same rows the signal would make).
The map is frozen here on purpose; apps.accounts.models.ROLE_PERMISSIONS is the live one.
"""

from django.db import migrations

ROLE_PERMISSIONS = {
    "trader": ["accounts.user.view_trading_area"],
    "risk_manager": ["accounts.user.view_risk_area", "accounts.user.view_trading_area"],
    "compliance_officer": [
        "accounts.user.view_compliance_area",
        "compliance.auditentry.view_auditentry",
        "compliance.auditentry.verify_audit",
    ],
    "field_operator": ["accounts.user.view_operations_area"],
    "administrator": [
        "accounts.user.add_user",
        "accounts.user.change_user",
        "accounts.user.view_user",
        "accounts.desk.add_desk",
        "accounts.desk.change_desk",
        "accounts.desk.view_desk",
        "accounts.apitoken.view_apitoken",
        "accounts.apitoken.change_apitoken",
        "auth.group.view_group",
        "auth.group.change_group",
    ],
}

PERMISSION_NAMES = {
    "view_trading_area": "Can open the trading pages",
    "view_risk_area": "Can open the risk pages",
    "view_compliance_area": "Can open the compliance pages",
    "view_operations_area": "Can open the field operations pages",
    "verify_audit": "Can verify the audit chain",
}

VERBOSE_NAMES = {
    "user": "user",
    "desk": "desk",
    "apitoken": "API token",
    "auditentry": "audit entry",
    "group": "group",
}


def _permission(apps, dotted):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    app_label, model, codename = dotted.split(".")
    content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
    action = codename.split("_", 1)[0]
    default_name = f"Can {action} {VERBOSE_NAMES[model]}"
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename=codename,
        defaults={"name": PERMISSION_NAMES.get(codename, default_name)},
    )
    return permission


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role, permissions in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*[_permission(apps, dotted) for dotted in permissions])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_backupcodedevice_backupcode_apitoken"),
        ("compliance", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
