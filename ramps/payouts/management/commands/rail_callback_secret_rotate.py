"""python manage.py rail_callback_secret_rotate RAIL_CODE [--grace-seconds N]

Gives a rail a new callback URL secret. The previous one stays accepted for the grace period so
that results of requests already sent still arrive. The secret is never printed: the gateway puts
it into the callback URLs it sends to the provider.
"""

from django.core.management.base import BaseCommand, CommandError

from ramps.payouts.models import Rail
from ramps.payouts.services import (
    CALLBACK_SECRET_GRACE_SECONDS,
    PayoutValidationError,
    rail_callback_secret_rotate,
)


class Command(BaseCommand):
    help = "Rotate a payout rail's callback URL secret (the old one stays valid for a while)."

    def add_arguments(self, parser):
        parser.add_argument("rail_code", help="Code of the rail, e.g. mpesa-ke.")
        parser.add_argument(
            "--grace-seconds", type=int, default=CALLBACK_SECRET_GRACE_SECONDS,
            help="How long the previous secret is still accepted "
                 f"(default {CALLBACK_SECRET_GRACE_SECONDS}).")

    def handle(self, *args, **options):
        rail = Rail.objects.filter(code=options["rail_code"]).first()
        if rail is None:
            known = ", ".join(Rail.objects.order_by("code").values_list("code", flat=True))
            raise CommandError(f"No rail {options['rail_code']!r}. Known rails: {known or 'none'}.")
        try:
            rotated = rail_callback_secret_rotate(rail=rail,
                                                  grace_seconds=options["grace_seconds"])
        except PayoutValidationError as exc:
            raise CommandError(exc.detail) from exc
        until = ""
        if rotated.callback_secret_previous_until:
            until = ("; the previous one is accepted until "
                     f"{rotated.callback_secret_previous_until:%Y-%m-%d %H:%M:%S} UTC")
        self.stdout.write(f"Callback secret of {rotated.code} rotated{until}.")
