"""Configure a token on a chain with the decimals its contract reports."""

from django.core.management.base import BaseCommand, CommandError

from gateway.common.problems import DomainError
from ramps.chain.config import token_add
from ramps.chain.selectors import chain_get


class Command(BaseCommand):
    help = "Add an ERC-20 token to a configured chain; decimals are read from the contract."

    def add_arguments(self, parser):
        parser.add_argument("caip2", help="the chain, e.g. eip155:137")
        parser.add_argument("contract_address")
        parser.add_argument("--symbol", default="", help="defaults to the contract's symbol()")
        parser.add_argument("--expect-decimals", type=int, default=None,
                            help="refuse the token if the contract reports other decimals")
        parser.add_argument("--not-accepted", action="store_true",
                            help="watch it (to flag deposits of it) without accepting it")

    def handle(self, *args, **options):
        try:
            token = token_add(
                chain=chain_get(options["caip2"]), contract_address=options["contract_address"],
                symbol=options["symbol"], expected_decimals=options["expect_decimals"],
                is_accepted=not options["not_accepted"],
            )
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(f"added {token.symbol} {token.contract_address} on "
                          f"{token.chain.caip2} with {token.decimals} decimals")
