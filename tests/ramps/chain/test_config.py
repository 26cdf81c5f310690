"""Chains and tokens are configured only as the real node and contract describe them (anvil)."""

import pytest
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Coins

from gateway.common.problems import ConflictError
from ramps.chain.config import chain_add, token_add, token_decimals_check
from ramps.chain.devchain import ANVIL_MNEMONIC, free_port, token_deploy
from ramps.chain.errors import ChainConfigError, InvalidXpubError
from ramps.chain.models import Chain, Token

pytestmark = pytest.mark.django_db


def test_a_chain_is_added_when_its_node_serves_that_chain_id(anvil, deposit_xpub):
    head = anvil.w3.eth.block_number

    chain = chain_add(caip2=anvil.caip2, name="Anvil", rpc_url=anvil.rpc_url, confirmations=2,
                      xpub=deposit_xpub, treasury_address=anvil.w3.eth.accounts[3].lower())

    assert (chain.chain_id, chain.confirmations) == (anvil.chain_id, 2)
    assert chain.start_block == head + 1
    assert chain.treasury_address == anvil.w3.eth.accounts[3]  # stored checksummed
    with pytest.raises(ConflictError):
        chain_add(caip2=anvil.caip2, name="Again", rpc_url=anvil.rpc_url)


@pytest.mark.parametrize(("caip2", "message"), [
    ("eip155:1", "serves chain id"),
    ("bip122:000000000019d6689c085ae165831e93", "not an EVM CAIP-2 id"),
    ("eip155:01", "not an EVM CAIP-2 id"),
])
def test_a_chain_whose_node_or_id_does_not_match_is_refused(anvil, caip2, message):
    with pytest.raises(ChainConfigError, match=message):
        chain_add(caip2=caip2, name="Wrong", rpc_url=anvil.rpc_url)
    assert not Chain.objects.exists()


def test_a_dead_node_a_private_key_and_a_mistyped_treasury_are_refused(anvil):
    with pytest.raises(ChainConfigError, match="did not answer") as dead:
        chain_add(caip2=anvil.caip2, name="Dead",
                  rpc_url=f"http://127.0.0.1:{free_port()}/v3/secret-key")
    assert "secret-key" not in str(dead.value.detail)
    xprv = (Bip44.FromSeed(Bip39SeedGenerator(ANVIL_MNEMONIC).Generate(), Bip44Coins.ETHEREUM)
            .Purpose().Coin().Account(0).PrivateKey().ToExtended())
    with pytest.raises(InvalidXpubError, match="PRIVATE"):
        chain_add(caip2=anvil.caip2, name="Keys", rpc_url=anvil.rpc_url, xpub=xprv)
    account = anvil.w3.eth.accounts[3]
    mistyped = account[:2] + account[2:].swapcase()
    with pytest.raises(ChainConfigError, match="EIP-55"):
        chain_add(caip2=anvil.caip2, name="Typo", rpc_url=anvil.rpc_url,
                  treasury_address=mistyped)
    assert not Chain.objects.exists()


def test_a_token_takes_the_decimals_and_symbol_its_contract_reports(anvil, chain_factory):
    chain = chain_factory()
    address = token_deploy(anvil.w3, deployer=anvil.w3.eth.accounts[0], name="Euro Coin",
                           symbol="EURC", decimals=18)

    token = token_add(chain=chain, contract_address=address.lower())

    assert (token.symbol, token.decimals, token.contract_address) == ("EURC", 18, address)
    assert token_decimals_check(token=token) == 18
    Token.objects.filter(pk=token.pk).update(decimals=6)
    token.refresh_from_db()
    with pytest.raises(ChainConfigError, match="stored decimals 6"):
        token_decimals_check(token=token)


def test_a_token_whose_decimals_differ_or_without_code_is_refused(anvil, chain_factory):
    chain = chain_factory()
    address = token_deploy(anvil.w3, deployer=anvil.w3.eth.accounts[0], name="T", symbol="T6",
                           decimals=6)

    with pytest.raises(ChainConfigError, match="reports 6 decimals, not 18"):
        token_add(chain=chain, contract_address=address, expected_decimals=18)
    with pytest.raises(ChainConfigError, match="No contract"):
        token_add(chain=chain, contract_address=anvil.w3.eth.accounts[4])
    assert not Token.objects.exists()
