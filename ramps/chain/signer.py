"""Signing of outbound transactions (sweeps, refunds, gas top-ups), apart from the watcher.

The watcher derives deposit addresses from an xpub and never holds a private key (invariant
8). Only the signer can spend: it holds the hot wallet's key, which pays refunds and gas
top-ups, and derives a deposit address's private key from the HD mnemonic just for the time
of one signature. Services depend on the ``Signer`` protocol only; ``settings.CHAIN_SIGNER``
names the implementation by dotted path (a class, or any callable returning a signer), so
production can plug in an external signer (an HSM, a KMS, a signing service) without a
change here.

``KeystoreSigner`` is the default: the hot wallet is an encrypted Ethereum keystore file
(``eth_account.Account.encrypt``), the mnemonic is stored encrypted with the project's field
keys (``gateway.common.crypto.encrypt_text``), and neither is ever logged or shown in a repr.
"""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from bip_utils import Bip39MnemonicValidator, Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from eth_account import Account
from web3 import Web3

from gateway.common.crypto import decrypt_text

# A module-level factory: ``import_string`` splits a dotted path at its last dot, so it can
# name a module attribute but not a class's method.
DEFAULT_SIGNER = "ramps.chain.signer.keystore_signer_from_settings"


@dataclass(frozen=True)
class SignedTransaction:
    """What a signer hands back: the raw bytes to broadcast and their hash (0x hex)."""

    raw_transaction: str
    tx_hash: str


@runtime_checkable
class Signer(Protocol):
    """Anything that can sign for the hot wallet and for deposit addresses."""

    def hot_wallet_address(self) -> str:
        """Checksummed address that pays refunds and gas top-ups."""

    def deposit_address(self, *, derivation_index: int) -> str:
        """Checksummed deposit address at ``derivation_index``, as the signer derives it."""

    def sign_transaction(self, *, transaction: dict[str, Any],
                         derivation_index: int | None) -> SignedTransaction:
        """Sign ``transaction`` with the hot wallet (``None``) or a deposit address's key."""


def _mnemonic_check(mnemonic_encrypted: str) -> None:
    """A mnemonic that does not decrypt or is not a BIP-39 phrase is a configuration error
    when the signer is built (at start), not a failure at the first sweep."""
    try:
        Bip39MnemonicValidator().Validate(decrypt_text(mnemonic_encrypted))
    except ImproperlyConfigured:
        raise
    except Exception as exc:  # a wrong key, a damaged token, a phrase with a bad checksum
        raise ImproperlyConfigured(
            "CHAIN_SIGNER_MNEMONIC_ENCRYPTED does not decrypt to a valid BIP-39 mnemonic "
            f"({type(exc).__name__}): sweeps could not be signed."
        ) from exc


class KeystoreSigner:
    """Signs with an encrypted keystore (hot wallet) and an encrypted HD mnemonic (deposits)."""

    def __init__(self, *, keystore: dict[str, Any] | str, password: str,
                 mnemonic_encrypted: str = "", account: int = 0) -> None:
        if isinstance(keystore, str):
            keystore = json.loads(keystore)
        try:
            self._hot_key = bytes(Account.decrypt(keystore, password))
        except (ValueError, KeyError, TypeError) as exc:
            raise ImproperlyConfigured(
                "The signer's keystore does not open with its password."
            ) from exc
        self._hot_address = Account.from_key(self._hot_key).address
        if mnemonic_encrypted:
            _mnemonic_check(mnemonic_encrypted)
        self._mnemonic_encrypted = mnemonic_encrypted
        self._account = account

    @classmethod
    def from_settings(cls) -> "KeystoreSigner":
        path = getattr(settings, "CHAIN_SIGNER_KEYSTORE_PATH", "")
        password = getattr(settings, "CHAIN_SIGNER_KEYSTORE_PASSWORD", "")
        if not path or not password:
            raise ImproperlyConfigured(
                "Set CHAIN_SIGNER_KEYSTORE_PATH and CHAIN_SIGNER_KEYSTORE_PASSWORD to send "
                "sweeps and refunds, or CHAIN_SIGNER to an external signer."
            )
        try:
            keystore = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ImproperlyConfigured(f"Cannot read the signer keystore {path}: {exc}") from exc
        return cls(keystore=keystore, password=password,
                   mnemonic_encrypted=getattr(settings, "CHAIN_SIGNER_MNEMONIC_ENCRYPTED", ""),
                   account=int(getattr(settings, "CHAIN_SIGNER_ACCOUNT", 0)))

    def __repr__(self) -> str:
        return f"<KeystoreSigner hot wallet {self._hot_address}>"

    def hot_wallet_address(self) -> str:
        return self._hot_address

    def _deposit_key(self, derivation_index: int) -> bytes:
        if not self._mnemonic_encrypted:
            raise ImproperlyConfigured(
                "The signer has no mnemonic (CHAIN_SIGNER_MNEMONIC_ENCRYPTED): cannot sweep."
            )
        seed = Bip39SeedGenerator(decrypt_text(self._mnemonic_encrypted)).Generate()
        node = (Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin()
                .Account(self._account).Change(Bip44Changes.CHAIN_EXT)
                .AddressIndex(derivation_index))
        return node.PrivateKey().Raw().ToBytes()

    def deposit_address(self, *, derivation_index: int) -> str:
        return Account.from_key(self._deposit_key(derivation_index)).address

    def sign_transaction(self, *, transaction: dict[str, Any],
                         derivation_index: int | None) -> SignedTransaction:
        key = self._hot_key if derivation_index is None else self._deposit_key(derivation_index)
        account = Account.from_key(key)
        if Web3.to_checksum_address(transaction["from"]) != account.address:
            raise ValueError(
                f"Asked to sign for {transaction['from']} with the key of {account.address}."
            )
        unsigned = {name: value for name, value in transaction.items() if name != "from"}
        signed = account.sign_transaction(unsigned)
        return SignedTransaction(raw_transaction=signed.raw_transaction.to_0x_hex(),
                                 tx_hash=signed.hash.to_0x_hex())


def keystore_signer_from_settings() -> KeystoreSigner:
    """The default ``CHAIN_SIGNER``: the keystore and mnemonic named in settings."""
    return KeystoreSigner.from_settings()


@cache
def signer_get() -> Signer:
    """The configured signer (``settings.CHAIN_SIGNER``), built once per process.

    Any way it cannot be built (a dotted path that does not import, a factory that fails or
    returns something else, a keystore that does not open) is ``ImproperlyConfigured``.
    """
    path = getattr(settings, "CHAIN_SIGNER", "") or DEFAULT_SIGNER
    try:
        factory = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"CHAIN_SIGNER {path!r} cannot be imported: {exc}") from exc
    try:
        signer = factory()
    except ImproperlyConfigured:
        raise
    except Exception as exc:  # any failure of a plug-in factory is a configuration error
        raise ImproperlyConfigured(
            f"CHAIN_SIGNER {path!r} failed to build a signer: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(signer, Signer):
        raise ImproperlyConfigured(f"CHAIN_SIGNER {path!r} did not build a chain Signer.")
    return signer


@dataclass(frozen=True)
class SignerStatus:
    """What operators see on the chain health page."""

    ok: bool
    path: str
    hot_wallet: str = ""
    error: str = ""


def signer_status() -> SignerStatus:
    """Whether the configured signer builds, and its hot wallet; never raises."""
    path = getattr(settings, "CHAIN_SIGNER", "") or DEFAULT_SIGNER
    try:
        signer = signer_get()
        return SignerStatus(ok=True, path=path, hot_wallet=signer.hot_wallet_address())
    except ImproperlyConfigured as exc:
        return SignerStatus(ok=False, path=path, error=str(exc))
    except Exception as exc:  # a plug-in signer failing in its own way: shown, not a 500
        return SignerStatus(ok=False, path=path,
                            error=f"the signer failed: {type(exc).__name__}: {exc}"[:500])


def signer_check_at_start() -> None:
    """Build the signer when the process starts (``CHAIN_SIGNER_CHECK_AT_START``), so that a
    misconfigured one stops it with ``ImproperlyConfigured`` as a missing secret does, rather
    than leaving every refund stuck with only a worker log line saying why."""
    if getattr(settings, "CHAIN_SIGNER_CHECK_AT_START", False):
        signer_get()
