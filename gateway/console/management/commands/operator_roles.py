"""Create or update the operator roles (groups) and their permissions. Idempotent; migrate runs
it too."""

from django.core.management.base import BaseCommand

from gateway.console.roles import roles_sync


class Command(BaseCommand):
    help = "Create or update the support, compliance, treasury and admin roles."

    def handle(self, *args, **options):
        for role, count in roles_sync().items():
            self.stdout.write(f"{role}: {count} permissions")
