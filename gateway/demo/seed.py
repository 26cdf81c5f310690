"""Demo data: one chain, one token, a venue, a rail, a corridor, a partner with a key."""

import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from compliance.services import sanctions_import
from gateway.ledger.models import LedgerAccount
from gateway.ledger.services import credit, debit, ledger_entry_post
from gateway.partners.models import Partner
from gateway.partners.services import partner_api_key_create
from gateway.transfers.models import Corridor
from gateway.treasury.models import FloatPolicy
from gateway.webhooks.models import WebhookEndpoint
from ramps.chain.addresses import xpub_from_mnemonic
from ramps.chain.models import Chain, Token
from ramps.liquidity.models import Venue
from ramps.payouts.models import Rail

K = LedgerAccount.Kind
SANCTIONS_DIR = Path(__file__).resolve().parents[2] / "compliance" / "data" / "sanctions"
RAIL_FLOAT_KES = Decimal("5000000.00")


@dataclass
class DemoSeed:
    api_key: str
    webhook_secret: str
    admin_username: str
    admin_password: str
    corridor_code: str


def demo_seed(*, chain_id: int, rpc_url: str, token_address: str, token_decimals: int,
              sandboxes: dict, webhook_url: str, confirmations: int = 3) -> DemoSeed:
    exchange, daraja = sandboxes["exchange"], sandboxes["daraja"]
    sanctions_import(source="ofac-crypto",
                     files=sorted((SANCTIONS_DIR / "crypto-addresses-2024-09").glob("*.json")))
    # Names too (14,965 SDN entries with their aliases), so parties are screened for real.
    sanctions_import(source="ofac-sdn", files=[SANCTIONS_DIR / "ofac-2024-05-03" / "sdn.csv"])
    with transaction.atomic():
        # The deposit-address key: only its extended PUBLIC key reaches the gateway.
        mnemonic_for_signer_only = " ".join(["abandon"] * 11 + ["about"])
        chain = Chain.objects.create(
            caip2=f"eip155:{chain_id}", name="anvil", chain_id=chain_id, rpc_url=rpc_url,
            confirmations=confirmations, max_log_range=500,
            xpub=xpub_from_mnemonic(mnemonic_for_signer_only), start_block=0,
        )
        token = Token.objects.create(chain=chain, symbol="USDC", contract_address=token_address,
                                     decimals=token_decimals)
        credentials = exchange["credentials"]
        venue = Venue.objects.create(
            name="sandbox-luno", exchange_id=credentials["exchange_id"],
            api_base_url=credentials["api_base_url"], api_key=credentials["api_key"],
            api_secret=credentials["api_secret"], taker_fee_rate=Decimal("0.001"),
        )
        rail = Rail.objects.create(
            code="mpesa-ke", kind=Rail.Kind.MPESA_B2C, country="KE", currency="KES",
            base_url=daraja["base_url"], credentials=daraja["credentials"],
            min_amount=Decimal("10"), max_amount=Decimal("250000"), amount_exponent=0,
            # A payout Daraja keeps pending goes before an operator after a minute here (half
            # an hour by default), and a provider that stays busy fails the payout for a
            # correction, retry or refund after a minute of retries (six hours by default), so
            # that a short demo session shows those ways out too.
            unsettled_review_seconds=60, retry_backoff_seconds=15, retry_deadline_seconds=60,
        )
        corridor = Corridor.objects.create(
            code="usdc-anvil-kes-mpesa", token=token, currency_out="KES", rail=rail, venue=venue,
            venue_symbol="USDC/KES", fee_fixed=Decimal("0.50"), fee_rate=Decimal("0.005"),
            margin_rate=Decimal("0.004"), min_amount_in=Decimal("1"),
            max_amount_in=Decimal("10000"), review_amount_in=Decimal("5000"),
        )
        # The rail's float policy: where the admin's "adjust the rail's float" action lives (a
        # transfer the float cannot cover is held until the float is topped up), and what the
        # refill task proposes from.
        FloatPolicy.objects.create(
            rail_code=rail.code, currency="KES", refill_threshold=RAIL_FLOAT_KES / 5,
            refill_target=RAIL_FLOAT_KES, venue=venue, venue_symbol="USDC/KES")
        partner = Partner.objects.create(name="Demo Remit Ltd")
        _, api_key = partner_api_key_create(partner=partner, name="demo")
        endpoint = WebhookEndpoint.objects.create(partner=partner, url=webhook_url)
        # Pre-funded local float on the rail and the venue's balances, as opening entries.
        ledger_entry_post(
            reference="seed:float:mpesa-ke", description="Opening float on M-Pesa",
            legs=[debit("assets:float:mpesa-ke", "KES", RAIL_FLOAT_KES, kind=K.ASSET, floor=True),
                  credit("equity:opening-balances", "KES", RAIL_FLOAT_KES, kind=K.EQUITY)],
        )
        ledger_entry_post(
            reference="seed:venue:sandbox-luno", description="Opening venue balance",
            legs=[debit(f"assets:venue:{venue.name}", "USDC", Decimal("1000000"), kind=K.ASSET),
                  credit("equity:opening-balances", "USDC", Decimal("1000000"), kind=K.EQUITY)],
        )
        admin_password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        user_model.objects.filter(username="admin").delete()
        user_model.objects.create_superuser("admin", "admin@example.invalid", admin_password)
    return DemoSeed(api_key=api_key, webhook_secret=endpoint.secret, admin_username="admin",
                    admin_password=admin_password, corridor_code=corridor.code)
