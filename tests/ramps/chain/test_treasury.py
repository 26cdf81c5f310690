"""The chains' treasury balances as the node reports them (read by the treasury's
reconciliation)."""

import pytest

from ramps.chain.devchain import free_port, token_mint
from ramps.chain.models import Chain
from ramps.chain.treasury import TreasuryBalance, treasury_balances_read

pytestmark = pytest.mark.django_db


def test_every_token_of_every_treasury_is_read_and_a_dead_node_is_reported(
        anvil, stable_token, chain_factory):
    treasury = anvil.w3.eth.accounts[7]
    token_mint(anvil.w3, stable_token, treasury, 4_250_000)
    chain = chain_factory(tokens=(stable_token,))
    Chain.objects.filter(pk=chain.pk).update(treasury_address=treasury)
    dead = chain_factory(tokens=(stable_token,), caip2="eip155:999",
                         rpc_url=f"http://127.0.0.1:{free_port()}/v3/secret")
    Chain.objects.filter(pk=dead.pk).update(treasury_address=treasury)
    chain_factory(caip2="eip155:998")  # no treasury address: not read

    read = treasury_balances_read()

    # A fresh token per test: the treasury holds exactly what was minted to it.
    assert read.balances == [TreasuryBalance(chain_caip2=chain.caip2, symbol="USDC",
                                             decimals=6, units=4_250_000)]
    assert read.errors == ["chain eip155:999: ConnectionError"]
