"""Create an operator (staff account) with roles, an enrolled authenticator and recovery codes.

The password is read from the environment variable named by ``--password-env`` (default
OPERATOR_PASSWORD) or asked for, never from the command line where it would stay in the shell's
history.
"""

import getpass
import os

from django.core.management.base import BaseCommand, CommandError

from gateway.common.problems import DomainError
from gateway.console.roles import ROLES
from gateway.console.services import operator_create


class Command(BaseCommand):
    help = "Create an operator with roles, a TOTP authenticator and recovery codes."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", action="append", default=[], choices=ROLES,
                            help="A role (repeat for several)")
        parser.add_argument("--email", default="")
        parser.add_argument("--superuser", action="store_true",
                            help="All permissions (still with two factors)")
        parser.add_argument("--password-env", default="OPERATOR_PASSWORD",
                            help="Environment variable holding the password")

    def handle(self, *args, **options):
        password = os.environ.get(options["password_env"], "")
        if not password:
            if not options.get("interactive", True) or not os.isatty(0):
                raise CommandError(f"Set {options['password_env']} to the operator's password.")
            password = getpass.getpass("Password: ")
        try:
            account = operator_create(username=options["username"], password=password,
                                      roles=options["role"], email=options["email"],
                                      superuser=options["superuser"])
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        device = account.totp_device
        self.stdout.write(f"Operator {account.user.get_username()} created "
                          f"(roles: {', '.join(options['role']) or 'superuser'}).")
        self.stdout.write(f"Authenticator: add this URL to the app (or scan it as a QR code):\n"
                          f"  {device.config_url}")
        self.stdout.write("Recovery codes (each works once; keep them apart from the phone):")
        for code in account.recovery_codes:
            self.stdout.write(f"  {code}")
