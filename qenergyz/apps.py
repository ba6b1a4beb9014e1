from django.contrib.admin.apps import AdminConfig


class QenergyzAdminConfig(AdminConfig):
    # A dotted path: the site class imports admin forms, which need the app registry ready.
    default_site = "qenergyz.admin_site.QenergyzAdminSite"
