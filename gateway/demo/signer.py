"""The demo's chain signer: a real encrypted keystore for an anvil dev account, so that the
demo's refunds are signed and sent on its anvil like anywhere else."""

import json
import secrets
from pathlib import Path

from eth_account import Account

from gateway.common.crypto import encrypt_text
from ramps.chain.devchain import dev_private_key

HOT_WALLET_ACCOUNT_INDEX = 3  # anvil dev account that plays the gateway's hot wallet
# The demo's deposit addresses come from this mnemonic (account 0); only its xpub is on the
# chain row, the signer alone holds it (encrypted with the field keys).
DEMO_DEPOSIT_MNEMONIC = " ".join(["abandon"] * 11 + ["about"])


def demo_signer_environment(*, var_dir: Path) -> tuple[dict[str, str], str]:
    """Write the hot wallet's keystore under ``var_dir`` (a fresh password each run) and return
    the environment that makes every process build the default signer from it, with the hot
    wallet's address."""
    password = secrets.token_urlsafe(24)
    key = dev_private_key(HOT_WALLET_ACCOUNT_INDEX)
    path = var_dir / "demo-hot-wallet.json"
    path.write_text(json.dumps(Account.encrypt(key, password, kdf="pbkdf2",
                                               iterations=10_000)))
    path.chmod(0o600)
    environment = {
        "CHAIN_SIGNER": "",
        "CHAIN_SIGNER_KEYSTORE_PATH": str(path),
        "CHAIN_SIGNER_KEYSTORE_PASSWORD": password,
        "CHAIN_SIGNER_MNEMONIC_ENCRYPTED": encrypt_text(DEMO_DEPOSIT_MNEMONIC),
        "CHAIN_SIGNER_ACCOUNT": "0",
        "CHAIN_SIGNER_CHECK_AT_START": "true",
    }
    return environment, Account.from_key(key).address
