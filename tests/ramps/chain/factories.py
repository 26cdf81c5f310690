"""Plain-ORM factories for tests that need deposit rows without a chain node."""

from itertools import count

from ramps.chain.models import Chain, Deposit, DepositAddress, Token

_sequence = count(1)


def chain_create(*, caip2: str = "eip155:31337", rpc_url: str = "http://127.0.0.1:1") -> Chain:
    return Chain.objects.create(caip2=caip2, name=f"Chain {caip2}",
                                chain_id=int(caip2.split(":")[1]), rpc_url=rpc_url,
                                confirmations=2)


def token_create(*, chain: Chain, symbol: str = "USDC",
                 contract_address: str = "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                 decimals: int = 6) -> Token:
    return Token.objects.create(chain=chain, symbol=symbol, contract_address=contract_address,
                                decimals=decimals)


def deposit_create(*, token: Token, status: str = Deposit.Status.CONFIRMED,
                   amount: int = 25_000_000, block_number: int | None = None,
                   deposit_address: DepositAddress | None = None) -> Deposit:
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
