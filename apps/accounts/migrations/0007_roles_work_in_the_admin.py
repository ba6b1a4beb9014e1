"""Compliance officers and administrators do their work in the admin.

Applies the role map of this release (frozen here; apps.accounts.models.ROLE_PERMISSIONS is the
live one): each role group ends with exactly these permissions, so the administrator loses
auth.change_group (a role's permissions are the map, not an admin's edit). Users holding the
compliance officer or administrator role become staff, as user_save keeps them from now on.
Permissions of models that post_migrate has not yet seen are created here, as it would.
"""

from django.db import migrations

REFERENCE_DATA = (
    "commodity",
    "unit",
    "unitconversion",
    "market",
    "holidaycalendar",
    "holidaydate",
    "legalentity",
    "book",
    "venuecontract",
    "marketvolatility",
)

ROLE_PERMISSIONS = {
    "trader": ["accounts.user.view_trading_area"],
    "risk_manager": [
        "accounts.user.view_risk_area",
        "accounts.user.view_trading_area",
        "trading.curvesnapshot.add_curvesnapshot",
    ],
    "compliance_officer": [
        "accounts.user.view_compliance_area",
        "compliance.auditentry.view_auditentry",
        "compliance.auditentry.verify_audit",
        "compliance.changerequest.view_changerequest",
        "trading.counterparty.view_counterparty",
        "trading.counterparty.change_counterparty",
        "trading.masteragreement.view_masteragreement",
        "trading.masteragreement.add_masteragreement",
        "trading.masteragreement.change_masteragreement",
        "compliance.pretraderule.view_pretraderule",
        "compliance.pretraderule.add_pretraderule",
        "compliance.pretraderule.change_pretraderule",
        "compliance.pretraderule.delete_pretraderule",
        "trading.trade.view_trade",
        "trading.tradeversion.view_tradeversion",
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
        "compliance.changerequest.view_changerequest",
        *(
            f"trading.{model}.{action}_{model}"
            for model in REFERENCE_DATA
            for action in ("view", "add", "change")
        ),
        "trading.desktradingpolicy.view_desktradingpolicy",
        "trading.desktradingpolicy.add_desktradingpolicy",
        "trading.desktradingpolicy.change_desktradingpolicy",
        "trading.desktradingpolicy.delete_desktradingpolicy",
    ],
}

STAFF_ROLES = ("compliance_officer", "administrator")

CUSTOM_NAMES = {
    "view_trading_area": "Can open the trading pages",
    "view_risk_area": "Can open the risk pages",
    "view_compliance_area": "Can open the compliance pages",
    "view_operations_area": "Can open the field operations pages",
    "verify_audit": "Can verify the audit chain",
}


def _permission(apps, dotted):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    app_label, model, codename = dotted.split(".")
    content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
    verbose_name = apps.get_model(app_label, model)._meta.verbose_name
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename=codename,
        defaults={
            "name": CUSTOM_NAMES.get(codename, f"Can {codename.split('_', 1)[0]} {verbose_name}")
        },
    )
    return permission


def apply_role_map(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    User = apps.get_model("accounts", "User")
    for role, permissions in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([_permission(apps, dotted) for dotted in permissions])
    User.objects.filter(groups__name__in=STAFF_ROLES, is_staff=False).update(is_staff=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_risk_manager_uploads_curves"),
        ("compliance", "0007_change_requests"),
        ("trading", "0010_tradeversion_append_only"),
    ]

    # Not reversed: the earlier map gave the administrator auth.change_group, which is the hole.
    operations = [migrations.RunPython(apply_role_map, migrations.RunPython.noop)]
