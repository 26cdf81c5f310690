"""Test data for ramps.payouts.agents (cash pickup): networks, agents with float, staff
with an authenticator, pickup corridors and cash transfers with their code issued."""

import uuid
from decimal import Decimal

from django.contrib.auth import get_user_model
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from gateway.ledger.models import LedgerAccount
from gateway.ledger.services import credit, debit, ledger_entry_post
from gateway.transfers.states import TransferState
from ramps.payouts.agents.models import Agent, AgentNetwork, AgentStaff, CashPickupCorridor
from ramps.payouts.agents.services import (
    agent_float_top_up,
    redemption_code_current,
    redemption_issue,
)
from tests.gateway.transfers.factories import make_corridor, make_transfer
from tests.ramps.chain.factories import make_chain

PASSWORD = "counter-pass-2718"


def make_network(code: str) -> AgentNetwork:
    return AgentNetwork.objects.create(code=code, name=f"{code.title()} Agents")


def make_agent(network: AgentNetwork, code: str, *, float_amount: str = "50000.00",
               **overrides) -> Agent:
    defaults = {"name": f"{code.title()} Shop", "location": "Moi Avenue 12, Nairobi",
                "country": "KE", "currency": "KES", "timezone": "Africa/Nairobi",
                "limit_per_payout": Decimal("100000"), "limit_per_day": Decimal("500000"),
                "commission_fixed": Decimal("50.00"), "commission_rate": Decimal("0.01")}
    agent = Agent.objects.create(network=network, code=code, **{**defaults, **overrides})
    if Decimal(float_amount) > 0:
        agent_float_top_up(agent=agent, amount=float_amount, reference="opening")
    return agent


def make_staff(agent: Agent, username: str, *, can_pay_out: bool = True,
               with_totp: bool = True) -> AgentStaff:
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    if with_totp:
        TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return AgentStaff.objects.create(user=user, agent=agent, can_pay_out=can_pay_out)


def totp_now(user) -> str:
    device = TOTPDevice.objects.get(user=user)
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def make_pickup_corridor(network: AgentNetwork, *, chain_number: int = 0, **rule):
    chain = make_chain(caip2=f"eip155:{31337 + chain_number}", name=f"anvil{chain_number}",
                       chain_id=31337 + chain_number)
    corridor = make_corridor(chain=chain)
    CashPickupCorridor.objects.create(corridor=corridor, network=network, **rule)
    return corridor


def make_cash_transfer(corridor, *, amount_out: str = "12700.00", partner=None,
                       issue: bool = True):
    """A transfer at payout_pending whose conversion booked the payout liability, with its
    code issued as the lead's pipeline will. Returns (transfer, redemption, code)."""
    amount = Decimal(amount_out)
    transfer = make_transfer(corridor=corridor, state=TransferState.PAYOUT_PENDING,
                             amount_out=amount, **({"partner": partner} if partner else {}))
    ledger_entry_post(
        reference=f"transfer:{transfer.public_id}:conversion", description="conversion",
        owner_reference=transfer.reference,
        legs=[debit("assets:venue:test", "KES", amount, kind=LedgerAccount.Kind.ASSET),
              credit("liabilities:payouts:KES", "KES", amount, kind=LedgerAccount.Kind.LIABILITY)])
    if not issue:
        return transfer, None, None
    redemption = redemption_issue(transfer=transfer)
    return transfer, redemption, redemption_code_current(redemption=redemption)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"
