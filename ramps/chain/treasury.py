"""The chains' treasury addresses as the node sees them (for the treasury's reconciliation)."""

from dataclasses import dataclass

from ramps.chain.client import RPC_ERRORS, ChainClient
from ramps.chain.models import Chain


@dataclass(frozen=True)
class TreasuryBalance:
    """One token balance of a chain's treasury address, in the token's integer base units."""

    chain_caip2: str
    symbol: str
    decimals: int
    units: int


@dataclass(frozen=True)
class TreasuryBalances:
    balances: list[TreasuryBalance]
    errors: list[str]
    """One line per chain whose node could not be read (the error's type, no URL)."""


def treasury_balances_read() -> TreasuryBalances:
    """Every configured token's balance at the treasury address of every chain that has one.
    A chain whose node fails is reported in ``errors`` and left out whole (never half read)."""
    balances: list[TreasuryBalance] = []
    errors: list[str] = []
    for chain in Chain.objects.exclude(treasury_address="").prefetch_related("tokens"):
        client = ChainClient.for_chain(chain)
        try:
            read = [TreasuryBalance(chain_caip2=chain.caip2, symbol=token.symbol,
                                    decimals=token.decimals,
                                    units=client.erc20_balance(token.contract_address,
                                                               chain.treasury_address))
                    for token in chain.tokens.all()]
        except RPC_ERRORS as exc:
            errors.append(f"chain {chain.caip2}: {type(exc).__name__}")
            continue
        balances.extend(read)
    return TreasuryBalances(balances=balances, errors=errors)
