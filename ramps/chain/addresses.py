"""Deposit addresses: HD derivation from the chain's xpub, allocation, closing.

Addresses are derived at m/44'/60'/<account>'/0/<index> from an account-level extended PUBLIC
key: the gateway can hand out and watch addresses but never spend from them (the signer,
``ramps.chain.signer``, holds the keys). An index is handed out at most once per chain.
"""

import logging
from functools import lru_cache

from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins, Bip44Levels
from bip_utils.base58.base58_ex import Base58ChecksumError
from bip_utils.bip.bip32.bip32_ex import Bip32KeyError
from bip_utils.bip.bip44_base.bip44_base_ex import Bip44DepthError
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.common.problems import ConflictError
from ramps.chain.errors import InvalidXpubError
from ramps.chain.models import Chain, DepositAddress
from ramps.chain.validators import to_checksum_address

logger = logging.getLogger(__name__)


def xpub_from_mnemonic(mnemonic: str, account: int = 0) -> str:
    """Account-level extended public key (m/44'/60'/<account>') of a BIP-39 mnemonic.

    For the demo seed and the tests. In production the xpub is exported from wherever the
    mnemonic is kept; the gateway stores only the public half and can derive addresses but
    never spend from them.
    """
    seed = Bip39SeedGenerator(mnemonic).Generate()
    node = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(account)
    return node.PublicKey().ToExtended()


@lru_cache(maxsize=64)
def _account_node(xpub: str) -> Bip44:
    if not xpub:
        raise InvalidXpubError("The chain has no xpub configured.")
    try:
        node = Bip44.FromExtendedKey(xpub, Bip44Coins.ETHEREUM)
    except Bip44DepthError as exc:
        raise InvalidXpubError(
            "The xpub must be at the account level m/44'/60'/<account>' (depth 3)."
        ) from exc
    except (Base58ChecksumError, Bip32KeyError, ValueError, TypeError) as exc:
        raise InvalidXpubError(f"Not an extended public key: {exc}") from exc
    if not node.IsPublicOnly():
        # The watcher must never hold a private key (design invariant 8).
        raise InvalidXpubError("An extended PRIVATE key was given; store only the xpub.")
    if node.Level() != Bip44Levels.ACCOUNT:
        raise InvalidXpubError(
            "The xpub must be at the account level m/44'/60'/<account>' (depth 3)."
        )
    return node


def deposit_address_derive(*, xpub: str, index: int) -> str:
    """Checksummed address at <xpub>/0/<index>, i.e. m/44'/60'/<account>'/0/<index>.

    The external chain (0) and the index are non-hardened, which is what lets them be derived
    from public data alone; the holder of the mnemonic finds the same addresses at the standard
    wallet path.
    """
    if index < 0 or index >= 2**31:
        raise ValueError("A non-hardened derivation index is in [0, 2**31).")
    node = _account_node(xpub).Change(Bip44Changes.CHAIN_EXT).AddressIndex(index)
    return to_checksum_address(node.PublicKey().ToAddress())


def deposit_address_allocate(*, chain: Chain) -> DepositAddress:
    """Derive and record the chain's next deposit address; an index is never handed out twice.

    The chain row is locked for the whole step, so concurrent callers take consecutive
    indexes; the unique constraints on (chain, index) and (chain, address) back that up.
    """
    with transaction.atomic():
        # FOR NO KEY UPDATE: only a counter changes, so rows that merely reference the chain
        # (deposits, addresses, inserted concurrently) do not conflict with this lock.
        locked = Chain.objects.select_for_update(no_key=True).get(pk=chain.pk)
        index = locked.next_address_index
        address = deposit_address_derive(xpub=locked.xpub, index=index)
        try:
            with transaction.atomic():
                deposit_address = DepositAddress.objects.create(
                    chain=locked, address=address, derivation_index=index
                )
        except IntegrityError as exc:
            raise ConflictError(
                f"Deposit address index {index} of {locked.caip2} is already recorded; "
                "next_address_index is behind the recorded addresses.",
                slug="deposit-address-index-taken",
            ) from exc
        locked.next_address_index = index + 1
        locked.save(update_fields=["next_address_index", "updated_at"])
    chain.next_address_index = locked.next_address_index
    logger.info("allocated deposit address index %s on %s", index, locked.caip2)
    return deposit_address


def deposit_address_close(*, deposit_address: DepositAddress) -> None:
    """Record that the address's owner accepts no more deposits (idempotent).

    Deposits in blocks the watcher had not scanned yet are still recorded, flagged
    ``address_closed`` (the owner decided without them): the gateway refunds them.
    """
    # The cursor is read without the chain's lock (callers hold transfer and deposit locks; a
    # scan takes the chain's first, then deposits'). A range a scan commits at this very moment
    # is recorded unflagged; the gateway still refunds what its transfer can no longer credit.
    cursor = Chain.objects.values_list("cursor_block", flat=True).get(pk=deposit_address.chain_id)
    DepositAddress.objects.filter(pk=deposit_address.pk, closed_at__isnull=True).update(
        closed_at=timezone.now(), closed_after_block=cursor, updated_at=timezone.now()
    )
    deposit_address.refresh_from_db(fields=["closed_at", "closed_after_block"])

