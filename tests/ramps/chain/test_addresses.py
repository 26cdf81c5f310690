"""Deposit address derivation and allocation."""

import threading

import pytest
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Coins
from django.db import connection
from web3 import Web3

from gateway.common.problems import ConflictError
from ramps.chain.addresses import (
    deposit_address_allocate,
    deposit_address_derive,
    xpub_from_mnemonic,
)
from ramps.chain.devchain import ANVIL_MNEMONIC
from ramps.chain.errors import InvalidXpubError
from ramps.chain.models import Chain, DepositAddress


def test_derivation_matches_the_wallet_path_that_anvil_uses(anvil):
    # Anvil derives its dev accounts at m/44'/60'/0'/0/i of the same mnemonic.
    xpub = xpub_from_mnemonic(ANVIL_MNEMONIC, account=0)

    derived = [deposit_address_derive(xpub=xpub, index=index) for index in range(5)]

    assert derived == anvil.w3.eth.accounts[:5]
    assert derived[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_derivation_is_deterministic_and_checksummed(deposit_xpub):
    first = [deposit_address_derive(xpub=deposit_xpub, index=index) for index in range(20)]
    again = [deposit_address_derive(xpub=deposit_xpub, index=index) for index in range(20)]

    assert first == again
    assert len(set(first)) == 20
    assert all(Web3.is_checksum_address(address) for address in first)
    assert first[0] != deposit_address_derive(
        xpub=xpub_from_mnemonic(ANVIL_MNEMONIC, account=0), index=0
    )


def test_xpub_is_public_only():
    assert xpub_from_mnemonic(ANVIL_MNEMONIC).startswith("xpub")


def test_private_extended_key_is_refused():
    seed = Bip39SeedGenerator(ANVIL_MNEMONIC).Generate()
    xprv = (Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)
            .PrivateKey().ToExtended())

    with pytest.raises(InvalidXpubError, match="PRIVATE"):
        deposit_address_derive(xpub=xprv, index=0)


def test_xpub_at_the_wrong_depth_is_refused():
    seed = Bip39SeedGenerator(ANVIL_MNEMONIC).Generate()
    coin_level = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin()

    with pytest.raises(InvalidXpubError, match="account level"):
        deposit_address_derive(xpub=coin_level.PublicKey().ToExtended(), index=0)


def test_garbage_xpub_is_refused():
    with pytest.raises(InvalidXpubError):
        deposit_address_derive(xpub="xpub-not-a-key", index=0)


def test_index_must_be_non_hardened(deposit_xpub):
    with pytest.raises(ValueError, match="non-hardened"):
        deposit_address_derive(xpub=deposit_xpub, index=2**31)


@pytest.mark.django_db
def test_allocate_takes_consecutive_indexes(chain_factory, deposit_xpub):
    chain = chain_factory()

    first = deposit_address_allocate(chain=chain)
    second = deposit_address_allocate(chain=chain)

    assert (first.derivation_index, second.derivation_index) == (0, 1)
    assert first.address == deposit_address_derive(xpub=deposit_xpub, index=0)
    assert second.address == deposit_address_derive(xpub=deposit_xpub, index=1)
    assert chain.next_address_index == 2
    chain.refresh_from_db()
    assert chain.next_address_index == 2


@pytest.mark.django_db
def test_allocate_with_invalid_xpub_changes_nothing(chain_factory):
    chain = chain_factory()
    Chain.objects.filter(pk=chain.pk).update(xpub="")

    with pytest.raises(InvalidXpubError):
        deposit_address_allocate(chain=chain)

    chain.refresh_from_db()
    assert chain.next_address_index == 0
    assert DepositAddress.objects.count() == 0


@pytest.mark.django_db
def test_allocate_never_reuses_a_recorded_index(chain_factory, deposit_xpub):
    chain = chain_factory()
    DepositAddress.objects.create(chain=chain, derivation_index=0,
                                  address=deposit_address_derive(xpub=deposit_xpub, index=0))

    with pytest.raises(ConflictError, match="already recorded") as raised:
        deposit_address_allocate(chain=chain)

    assert raised.value.slug == "deposit-address-index-taken"
    chain.refresh_from_db()
    assert chain.next_address_index == 0
    assert DepositAddress.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_allocations_get_distinct_indexes(chain_factory):
    chain = chain_factory()
    threads_count, per_thread = 6, 5
    allocated: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads_count)

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                deposit_address = deposit_address_allocate(chain=Chain.objects.get(pk=chain.pk))
                allocated.append((deposit_address.derivation_index, deposit_address.address))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    total = threads_count * per_thread
    assert errors == []
    assert sorted(index for index, _ in allocated) == list(range(total))
    assert len({address for _, address in allocated}) == total
    chain.refresh_from_db()
    assert chain.next_address_index == total
    assert DepositAddress.objects.filter(chain=chain).count() == total
