"""Where a refund may go: the refund address check and the refund destination rule.

A refund goes to the first address the sender gave (the transfer's ``refund_address``, then
its partner's default); without one, to the address that paid, unless that address is a
contract (``eth_getCode`` answers code) or a known exchange wallet (``ExchangeAddress`` rows
and the ``CHAIN_EXCHANGE_ADDRESSES`` setting). Tokens sent back to an exchange's omnibus
wallet are credited to nobody, and a contract may not be able to move them again: such a
refund is stored without a destination and waits for an operator.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from ramps.chain.client import RPC_ERRORS, ChainClient
from ramps.chain.errors import ChainConfigError, InvalidRefundAddressError
from ramps.chain.models import Chain, DepositAddress, ExchangeAddress, Token
from ramps.chain.validators import checksum_address_problem, is_address, to_checksum_address


@dataclass(frozen=True)
class RefundDestination:
    """The chosen address, or "" with the reason an operator must choose it."""

    address: str
    review_reason: str = ""
    source: str = ""
    """Which rule chose it: ``transfer``, ``partner``, ``payer``, or ``operator``."""


def exchange_address_label(*, chain: Chain, address: str) -> str:
    """The label of ``address`` when it is a known exchange wallet on ``chain``, else ""."""
    configured = {to_checksum_address(value) if is_address(value) else value
                  for value in getattr(settings, "CHAIN_EXCHANGE_ADDRESSES", [])}
    if address in configured:
        return "an exchange wallet listed in CHAIN_EXCHANGE_ADDRESSES"
    row = ExchangeAddress.objects.filter(Q(chain=chain) | Q(chain__isnull=True),
                                         address__iexact=address).first()
    return row.label if row is not None else ""


def refund_destination_choose(*, chain: Chain, given: list[tuple[str, str]],
                              paying_address: str) -> RefundDestination:
    """Apply the rule: the first non-empty ``(source, address)`` of ``given``, else the payer
    when it is a plain account. Raises ``ChainConfigError`` when the node cannot say whether the
    payer is a contract (the caller tries again later; nothing is stored)."""
    for source, address in given:
        if address:
            return RefundDestination(address=address, source=source)
    payer = to_checksum_address(paying_address)
    label = exchange_address_label(chain=chain, address=payer)
    if label:
        return RefundDestination(
            address="", source="operator",
            review_reason=f"the paying address {payer} is {label}; no refund address was given")
    client = ChainClient.for_chain(chain)
    try:
        code = client.code(payer)
    except RPC_ERRORS as exc:
        raise ChainConfigError(
            f"Could not read the code at {payer} on {chain.caip2}: "
            + client.error_text(exc)) from exc
    if code:
        return RefundDestination(
            address="", source="operator",
            review_reason=f"the paying address {payer} is a contract; no refund address "
                          "was given")
    return RefundDestination(address=payer, source="payer")


def refund_address_validate(*, chain: Chain, address: str) -> str:
    """A refund address given for a deposit on ``chain``: checksummed, and none of the
    gateway's own addresses on that chain (a deposit address, the treasury, a token contract),
    where a refund would come back as a deposit or be lost."""
    problem = checksum_address_problem(address)
    if problem:
        raise InvalidRefundAddressError(problem)
    address = address.strip()
    if chain.treasury_address and address == chain.treasury_address:
        raise InvalidRefundAddressError(
            f"refund_address {address} is the gateway's treasury on {chain.caip2}.")
    if Token.objects.filter(chain=chain, contract_address__iexact=address).exists():
        raise InvalidRefundAddressError(
            f"refund_address {address} is a token contract on {chain.caip2}: tokens sent "
            "there are lost.")
    if DepositAddress.objects.filter(chain=chain, address=address).exists():
        raise InvalidRefundAddressError(
            f"refund_address {address} is one of the gateway's deposit addresses on "
            f"{chain.caip2}.")
    return address
