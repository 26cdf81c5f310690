"""The admin app's configuration, pointing Django's admin at the console's site."""

from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    """Django's admin, served by the console's site (two factors, dashboard at the home)."""

    default_site = "gateway.console.site.ConsoleAdminSite"
