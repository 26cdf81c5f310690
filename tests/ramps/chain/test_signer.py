"""The signer's configuration: the default path imports, a misconfigured signer stops a process
at start and shows on the chain health page."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from eth_account import Account

from gateway.common.crypto import encrypt_text
from ramps.chain.devchain import dev_private_key
from ramps.chain.signer import (
    DEFAULT_SIGNER,
    KeystoreSigner,
    signer_check_at_start,
    signer_get,
    signer_status,
)

ROOT = Path(__file__).resolve().parents[3]
HOT_KEY = dev_private_key(4)
HOT_ADDRESS = Account.from_key(HOT_KEY).address


@pytest.fixture
def keystore_file(tmp_path):
    path = tmp_path / "hot.json"
    path.write_text(json.dumps(Account.encrypt(HOT_KEY, "s3cret", kdf="pbkdf2", iterations=2)))
    return path


@pytest.fixture(autouse=True)
def _fresh_signer():
    signer_get.cache_clear()
    yield
    signer_get.cache_clear()


def test_the_default_signer_path_imports_and_opens_the_keystore(settings, keystore_file):
    settings.CHAIN_SIGNER = ""
    settings.CHAIN_SIGNER_KEYSTORE_PATH = str(keystore_file)
    settings.CHAIN_SIGNER_KEYSTORE_PASSWORD = "s3cret"
    signer = signer_get()
    assert isinstance(signer, KeystoreSigner)
    assert signer.hot_wallet_address() == HOT_ADDRESS
    assert signer_status().ok is True
    assert signer_status().path == DEFAULT_SIGNER
    assert signer_status().hot_wallet == HOT_ADDRESS


@pytest.mark.parametrize(("setting", "fragment"), [
    ({"CHAIN_SIGNER": "ramps.chain.signer.NoSuchSigner"}, "cannot be imported"),
    ({"CHAIN_SIGNER": "no_such_package.signer"}, "cannot be imported"),
    ({"CHAIN_SIGNER": "ramps.chain.signer.SignedTransaction"}, "failed to build a signer"),
    ({"CHAIN_SIGNER": "os.getcwd"}, "did not build a chain Signer"),
    ({"CHAIN_SIGNER": "", "CHAIN_SIGNER_KEYSTORE_PATH": ""}, "Set CHAIN_SIGNER_KEYSTORE_PATH"),
    ({"CHAIN_SIGNER": "", "CHAIN_SIGNER_KEYSTORE_PATH": "/nonexistent/hot.json",
      "CHAIN_SIGNER_KEYSTORE_PASSWORD": "x"}, "Cannot read the signer keystore"),
    ({"CHAIN_SIGNER": "", "CHAIN_SIGNER_KEYSTORE_PASSWORD": "wrong"}, "does not open"),
])
def test_a_misconfigured_signer_is_improperly_configured_and_shows_why(
        settings, keystore_file, setting, fragment):
    settings.CHAIN_SIGNER_KEYSTORE_PATH = str(keystore_file)
    settings.CHAIN_SIGNER_KEYSTORE_PASSWORD = "s3cret"
    for name, value in setting.items():
        setattr(settings, name, value)
    settings.CHAIN_SIGNER_CHECK_AT_START = True
    with pytest.raises(ImproperlyConfigured, match=fragment):
        signer_check_at_start()
    status = signer_status()
    assert status.ok is False
    assert fragment in status.error
    assert status.hot_wallet == ""
    assert "s3cret" not in status.error


MNEMONIC = "test test test test test test test test test test test junk"


@pytest.mark.parametrize("stored", [
    "not-a-token",                                         # no key id, not Fernet
    "v1:gAAAAABdamaged",                                   # a damaged token
    "encrypt:" + "test test test test test test test test test test test test",  # bad checksum
])
def test_a_mnemonic_that_does_not_decrypt_to_a_phrase_stops_the_signer_at_start(
        settings, keystore_file, stored):
    """Found at start, not at the first sweep: every deposit would otherwise stay unswept."""
    if stored.startswith("encrypt:"):
        stored = encrypt_text(stored.removeprefix("encrypt:"))
    settings.CHAIN_SIGNER = ""
    settings.CHAIN_SIGNER_KEYSTORE_PATH = str(keystore_file)
    settings.CHAIN_SIGNER_KEYSTORE_PASSWORD = "s3cret"
    settings.CHAIN_SIGNER_MNEMONIC_ENCRYPTED = stored
    settings.CHAIN_SIGNER_CHECK_AT_START = True
    with pytest.raises(ImproperlyConfigured, match=r"MNEMONIC|encryption key"):
        signer_check_at_start()
    assert signer_status().ok is False
    assert "test test" not in signer_status().error


def test_a_valid_encrypted_mnemonic_builds_and_derives(settings, keystore_file):
    settings.CHAIN_SIGNER = ""
    settings.CHAIN_SIGNER_KEYSTORE_PATH = str(keystore_file)
    settings.CHAIN_SIGNER_KEYSTORE_PASSWORD = "s3cret"
    settings.CHAIN_SIGNER_MNEMONIC_ENCRYPTED = encrypt_text(MNEMONIC)
    # Index 0 of the standard test mnemonic's first account (anvil's account 0).
    assert signer_get().deposit_address(derivation_index=0) == \
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_a_plug_in_signer_failing_in_its_own_way_shows_on_the_health_page(settings):
    settings.CHAIN_SIGNER = "tests.ramps.chain.test_signer.broken_signer"
    status = signer_status()
    assert status.ok is False
    assert "RuntimeError: HSM unreachable" in status.error


class _BrokenSigner:
    def hot_wallet_address(self) -> str:
        raise RuntimeError("HSM unreachable")

    def deposit_address(self, *, derivation_index: int) -> str:
        raise RuntimeError("HSM unreachable")

    def sign_transaction(self, *, transaction, derivation_index):
        raise RuntimeError("HSM unreachable")


def broken_signer() -> _BrokenSigner:
    return _BrokenSigner()


def test_the_start_check_can_be_turned_off_for_commands_that_sign_nothing(settings):
    settings.CHAIN_SIGNER = "ramps.chain.signer.NoSuchSigner"
    settings.CHAIN_SIGNER_CHECK_AT_START = False
    signer_check_at_start()  # no error
    assert signer_status().ok is False


def _start_process(**env_overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT),
           **env_overrides}
    return subprocess.run([sys.executable, "-c", "import django; django.setup(); print('up')"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)


def test_a_process_with_a_broken_signer_path_stops_at_start():
    broken = _start_process(CHAIN_SIGNER="ramps.chain.signer.KeystoreSigner.from_settings")
    assert broken.returncode != 0
    assert "ImproperlyConfigured" in broken.stderr
    assert "cannot be imported" in broken.stderr
    assert "up" not in broken.stdout
    working = _start_process(CHAIN_SIGNER="tests.signer.build_signer")
    assert working.returncode == 0, working.stderr
    assert working.stdout.strip() == "up"
