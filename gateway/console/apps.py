from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConsoleConfig(AppConfig):
    name = "gateway.console"
    label = "console"
    verbose_name = "Operator console"

    def ready(self) -> None:
        from gateway.console import signals  # noqa: F401 - connects the sign-in audit
        from gateway.console.roles import roles_sync_after_migrate

        post_migrate.connect(roles_sync_after_migrate, sender=self,
                             dispatch_uid="console-roles-sync")
