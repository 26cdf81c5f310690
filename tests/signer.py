"""The chain signer of the test run (``CHAIN_SIGNER`` in tests/settings.py).

The hot wallet is anvil's dev account 2 (funded with ether on every anvil the tests start);
deposit-address keys come from account 1 of the dev mnemonic, as the tests' xpub does.
"""

from eth_account import Account

from gateway.common.crypto import encrypt_text
from ramps.chain.devchain import ANVIL_MNEMONIC, dev_private_key
from ramps.chain.signer import KeystoreSigner

HOT_WALLET_INDEX = 2
DEPOSIT_ACCOUNT = 1


def build_signer() -> KeystoreSigner:
    # pbkdf2 with two iterations: opening the keystore costs nothing in tests (never in use).
    keystore = Account.encrypt(dev_private_key(HOT_WALLET_INDEX), "pw", kdf="pbkdf2",
                               iterations=2)
    return KeystoreSigner(keystore=keystore, password="pw",
                          mnemonic_encrypted=encrypt_text(ANVIL_MNEMONIC),
                          account=DEPOSIT_ACCOUNT)
