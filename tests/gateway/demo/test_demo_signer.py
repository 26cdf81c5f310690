"""The demo's signer: a real keystore its processes open at start, whose hot wallet is an anvil
account and whose deposit keys match the demo chain's xpub (so its refunds and sweeps are
really signed on anvil)."""

import stat

from eth_account import Account

from gateway.demo.signer import (
    DEMO_DEPOSIT_MNEMONIC,
    HOT_WALLET_ACCOUNT_INDEX,
    demo_signer_environment,
)
from ramps.chain.addresses import deposit_address_derive, xpub_from_mnemonic
from ramps.chain.devchain import dev_private_key
from ramps.chain.signer import KeystoreSigner, signer_check_at_start, signer_get


def test_the_demo_signer_opens_at_start_and_signs_for_its_deposit_addresses(settings, tmp_path):
    environment, hot_wallet = demo_signer_environment(var_dir=tmp_path)
    keystore = tmp_path / "demo-hot-wallet.json"
    assert environment["CHAIN_SIGNER_KEYSTORE_PATH"] == str(keystore)
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    assert environment["CHAIN_SIGNER_KEYSTORE_PASSWORD"] not in keystore.read_text()
    assert hot_wallet == Account.from_key(dev_private_key(HOT_WALLET_ACCOUNT_INDEX)).address
    settings.CHAIN_SIGNER = ""
    settings.CHAIN_SIGNER_KEYSTORE_PATH = environment["CHAIN_SIGNER_KEYSTORE_PATH"]
    settings.CHAIN_SIGNER_KEYSTORE_PASSWORD = environment["CHAIN_SIGNER_KEYSTORE_PASSWORD"]
    settings.CHAIN_SIGNER_MNEMONIC_ENCRYPTED = environment["CHAIN_SIGNER_MNEMONIC_ENCRYPTED"]
    settings.CHAIN_SIGNER_ACCOUNT = int(environment["CHAIN_SIGNER_ACCOUNT"])
    settings.CHAIN_SIGNER_CHECK_AT_START = environment["CHAIN_SIGNER_CHECK_AT_START"] == "true"
    signer_get.cache_clear()
    try:
        signer_check_at_start()
        signer = signer_get()
        assert isinstance(signer, KeystoreSigner)
        assert signer.hot_wallet_address() == hot_wallet
        xpub = xpub_from_mnemonic(DEMO_DEPOSIT_MNEMONIC)
        assert signer.deposit_address(derivation_index=3) == deposit_address_derive(
            xpub=xpub, index=3)
    finally:
        signer_get.cache_clear()
