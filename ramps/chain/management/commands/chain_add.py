"""Configure an EVM chain from the command line, checked against its node."""

from django.core.management.base import BaseCommand, CommandError

from gateway.common.problems import DomainError
from ramps.chain.config import chain_add
from ramps.chain.models import Chain


class Command(BaseCommand):
    help = "Add an EVM chain; the node's chain id must match the CAIP-2 id."

    def add_arguments(self, parser):
        parser.add_argument("caip2", help='CAIP-2 id, e.g. "eip155:137".')
        parser.add_argument("--name", required=True)
        parser.add_argument("--rpc-url", required=True)
        parser.add_argument("--confirmations", type=int, default=12)
        parser.add_argument("--finality", choices=Chain.Finality.values,
                            default=Chain.Finality.DEPTH)
        parser.add_argument("--poll-interval", type=int, default=5, help="seconds")
        parser.add_argument("--max-log-range", type=int, default=1000)
        parser.add_argument("--xpub", default="", help="account-level extended PUBLIC key")
        parser.add_argument("--treasury", default="", help="address sweeps go to")
        parser.add_argument("--start-block", type=int, default=None)

    def handle(self, *args, **options):
        try:
            chain = chain_add(
                caip2=options["caip2"], name=options["name"], rpc_url=options["rpc_url"],
                confirmations=options["confirmations"], finality=options["finality"],
                poll_interval_seconds=options["poll_interval"],
                max_log_range=options["max_log_range"], xpub=options["xpub"],
                treasury_address=options["treasury"], start_block=options["start_block"],
            )
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(f"added {chain.caip2} ({chain.name}), scanning from block "
                          f"{chain.start_block}, finality {chain.finality}")
