"""Test data builders: plain functions with sensible defaults, overridable by keyword."""

import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from gateway.partners.models import Partner
from gateway.partners.services import partner_api_key_create
from gateway.transfers.models import Corridor, Quote, Transfer, TransferEvent
from gateway.transfers.states import TransferState
from ramps.chain.addresses import deposit_address_allocate, xpub_from_mnemonic
from ramps.chain.models import Chain, Token
from ramps.liquidity.models import Venue
from ramps.payouts.models import Rail

TEST_MNEMONIC = " ".join(["abandon"] * 11 + ["about"])
TOKEN_ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def make_chain(**overrides) -> Chain:
    defaults = {"caip2": "eip155:31337", "name": "anvil", "chain_id": 31337,
                "rpc_url": "http://127.0.0.1:1", "confirmations": 3, "max_log_range": 500,
                "xpub": xpub_from_mnemonic(TEST_MNEMONIC), "start_block": 0}
    return Chain.objects.create(**{**defaults, **overrides})


def make_corridor(*, chain: Chain | None = None, venue: Venue | None = None,
                  rail: Rail | None = None, token_address: str = TOKEN_ADDRESS,
                  **overrides) -> Corridor:
    chain = chain or make_chain()
    token = Token.objects.create(chain=chain, symbol="USDC", contract_address=token_address,
                                 decimals=6)
    venue = venue or Venue.objects.create(name=f"venue-{uuid.uuid4().hex[:6]}",
                                          exchange_id="luno", api_base_url="http://127.0.0.1:1",
                                          api_key="k", api_secret="s")
    rail = rail or Rail.objects.create(
        code=f"mpesa-{uuid.uuid4().hex[:6]}", kind=Rail.Kind.MPESA_B2C, country="KE",
        currency="KES", base_url="http://127.0.0.1:1", credentials={},
        min_amount=Decimal("10"), max_amount=Decimal("250000"),
    )
    defaults = {"code": f"usdc-kes-{uuid.uuid4().hex[:6]}", "token": token, "currency_out": "KES",
                "rail": rail, "venue": venue, "venue_symbol": "USDC/KES",
                "fee_fixed": Decimal("0.50"), "fee_rate": Decimal("0.005"),
                "margin_rate": Decimal("0.004"), "min_amount_in": Decimal("1"),
                "max_amount_in": Decimal("10000"), "review_amount_in": Decimal("5000")}
    return Corridor.objects.create(**{**defaults, **overrides})


def make_partner(name: str | None = None) -> tuple[Partner, str]:
    partner = Partner.objects.create(name=name or f"partner-{uuid.uuid4().hex[:8]}")
    _, key = partner_api_key_create(partner=partner, name="test")
    return partner, key


def make_quote(*, partner: Partner, corridor: Corridor, **overrides) -> Quote:
    defaults = {"sell_asset": "USDC", "amount_in": Decimal("100.000000"),
                "amount_fee": Decimal("1.000000"), "amount_out": Decimal("12700.00"),
                "currency_out": "KES", "rate": Decimal("128.282828282828"),
                "venue_rate": Decimal("128.8"), "fee_details": {},
                "expires_at": timezone.now() + timedelta(minutes=5)}
    return Quote.objects.create(partner=partner, corridor=corridor, **{**defaults, **overrides})


def make_transfer(*, partner: Partner | None = None, corridor: Corridor | None = None,
                  state: str = TransferState.AWAITING_DEPOSIT, **overrides) -> Transfer:
    partner = partner or make_partner()[0]
    corridor = corridor or make_corridor()
    quote = make_quote(partner=partner, corridor=corridor, used_at=timezone.now())
    now = timezone.now()
    defaults = {"partner": partner, "quote": quote, "corridor": corridor, "state": state,
                "state_changed_at": now, "amount_in": quote.amount_in,
                "amount_in_base_units": 100_000_000, "amount_fee": quote.amount_fee,
                "amount_out": quote.amount_out, "currency_out": "KES", "rate": quote.rate,
                "deposit_address": deposit_address_allocate(chain=corridor.token.chain),
                "deposit_expires_at": now + timedelta(hours=1),
                "sender": {"name": "Amina Odhiambo"},
                "recipient": {"name": "Joseph Mwangi", "phone_number": "+254708374149"}}
    transfer = Transfer.objects.create(**{**defaults, **overrides})
    TransferEvent.objects.create(transfer=transfer, from_state="", to_state=state,
                                 reason="test setup")
    return transfer
