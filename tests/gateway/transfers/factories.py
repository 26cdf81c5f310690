"""Test data for gateway.transfers: corridors, quotes and transfers in any state (set directly,
with one history row, no ledger entries)."""

import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from gateway.partners.models import Partner
from gateway.transfers.models import Corridor, Quote, Transfer, TransferEvent
from gateway.transfers.states import TransferState
from ramps.chain.addresses import deposit_address_allocate
from ramps.chain.models import Chain
from ramps.liquidity.models import Venue
from ramps.payouts.models import Rail
from tests.gateway.partners.factories import make_partner
from tests.ramps.chain.factories import TOKEN_ADDRESS, make_chain, make_token
from tests.ramps.liquidity.factories import make_venue
from tests.ramps.payouts.factories import make_rail


def make_corridor(*, chain: Chain | None = None, venue: Venue | None = None,
                  rail: Rail | None = None, token_address: str = TOKEN_ADDRESS,
                  **overrides) -> Corridor:
    """USDC on a new token of ``chain`` (a new chain by default) to KES over M-Pesa."""
    token = make_token(chain=chain or make_chain(), contract_address=token_address)
    defaults = {"code": f"usdc-kes-{uuid.uuid4().hex[:6]}", "token": token, "currency_out": "KES",
                "rail": rail or make_rail(), "venue": venue or make_venue(),
                "venue_symbol": "USDC/KES",
                "fee_fixed": Decimal("0.50"), "fee_rate": Decimal("0.005"),
                "margin_rate": Decimal("0.004"), "min_amount_in": Decimal("1"),
                "max_amount_in": Decimal("10000"), "review_amount_in": Decimal("5000")}
    return Corridor.objects.create(**{**defaults, **overrides})


def make_quote(*, partner: Partner, corridor: Corridor, **overrides) -> Quote:
    defaults = {"sell_asset": "USDC", "amount_in": Decimal("100.000000"),
                "amount_fee": Decimal("1.000000"), "amount_out": Decimal("12700.00"),
                "currency_out": "KES", "rate": Decimal("128.282828282828"),
                "venue_rate": Decimal("128.8"), "fee_details": {},
                "expires_at": timezone.now() + timedelta(minutes=5)}
    return Quote.objects.create(partner=partner, corridor=corridor, **{**defaults, **overrides})


def make_transfer(*, partner: Partner | None = None, corridor: Corridor | None = None,
                  state: str = TransferState.AWAITING_DEPOSIT, **overrides) -> Transfer:
    """100 USDC for 12,700 KES, its quote used, a deposit address allocated, put in ``state``."""
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
