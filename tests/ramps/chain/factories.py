"""Test data for ramps.chain: chains, tokens and deposit rows, without a chain node."""

from itertools import count

from ramps.chain.addresses import xpub_from_mnemonic
from ramps.chain.models import Chain, Deposit, DepositAddress, Token

TEST_MNEMONIC = " ".join(["abandon"] * 11 + ["about"])
TOKEN_ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

_sequence = count(1)


ANVIL_CAIP2 = "eip155:31337"


def make_chain(*, caip2: str = ANVIL_CAIP2, **overrides) -> Chain:
    """A chain whose deposit addresses derive from the test mnemonic; its chain id is the
    CAIP-2 reference and its name "anvil" (the local node's) or "Chain <caip2>" unless given."""
    defaults = {"name": "anvil" if caip2 == ANVIL_CAIP2 else f"Chain {caip2}",
                "chain_id": int(caip2.split(":")[1]),
                "rpc_url": "http://127.0.0.1:1", "confirmations": 3, "max_log_range": 500,
                "xpub": xpub_from_mnemonic(TEST_MNEMONIC), "start_block": 0}
    return Chain.objects.create(caip2=caip2, **{**defaults, **overrides})


def make_token(*, chain: Chain, symbol: str = "USDC", contract_address: str = TOKEN_ADDRESS,
               decimals: int = 6) -> Token:
    return Token.objects.create(chain=chain, symbol=symbol, contract_address=contract_address,
                                decimals=decimals)


def make_deposit(*, token: Token, status: str = Deposit.Status.CONFIRMED,
                 amount: int = 25_000_000, block_number: int | None = None,
                 deposit_address: DepositAddress | None = None) -> Deposit:
    """A deposit row (``amount`` in the token's base units) as the watcher would record it."""
    number = next(_sequence)
    if deposit_address is None:
        deposit_address = DepositAddress.objects.create(
            chain=token.chain, derivation_index=1000 + number,
            address="0x" + f"{number:040x}",
        )
    return Deposit.objects.create(
        chain=token.chain, token=token, deposit_address=deposit_address,
        tx_hash="0x" + f"{number:064x}", log_index=0,
        block_number=block_number if block_number is not None else number,
        block_hash="0x" + f"{number + 10**6:064x}",
        from_address="0x70997970C51812dc3A010C7d01b50e0d17dc79C8", amount=amount, status=status,
    )
