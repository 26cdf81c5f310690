"""Reads of the chain side."""

import pytest
from django.db import transaction
from django.utils import timezone

from gateway.common.problems import NotFoundError
from ramps.chain.errors import InvalidAssetIdError
from ramps.chain.models import Chain, Deposit, OutboundTransaction
from ramps.chain.selectors import (
    chain_cursor_time,
    chain_get,
    chain_get_active,
    chains_active,
    deposit_first_live,
    deposit_get,
    deposits_confirmed_uncredited,
    deposits_flagged_uncredited,
    deposits_for_address,
    outbound_transactions_with_reference_prefix,
    refund_units_taken,
    refunds_outside_transfers,
    refunds_referring_to,
    token_get,
    token_get_by_caip19,
)
from tests.ramps.chain.factories import make_chain, make_deposit, make_token

pytestmark = pytest.mark.django_db

USDC_ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_chain_get():
    chain = make_chain(caip2="eip155:137")

    assert chain_get("eip155:137") == chain
    with pytest.raises(NotFoundError):
        chain_get("eip155:1")


def test_chains_active_leaves_out_inactive_chains():
    active = make_chain(caip2="eip155:137")
    inactive = make_chain(caip2="eip155:1")
    inactive.is_active = False
    inactive.save()

    assert list(chains_active()) == [active]


def test_token_get_by_symbol():
    token = make_token(chain=make_chain(caip2="eip155:137"))

    assert token_get(chain_caip2="eip155:137", symbol="USDC") == token
    assert token_get(chain_caip2="eip155:137", symbol="usdc") == token
    with pytest.raises(NotFoundError):
        token_get(chain_caip2="eip155:137", symbol="USDT")
    with pytest.raises(NotFoundError):
        token_get(chain_caip2="eip155:1", symbol="USDC")


def test_token_caip19_round_trips_in_any_letter_case():
    token = make_token(chain=make_chain(caip2="eip155:31337"))

    assert token.caip19 == f"eip155:31337/erc20:{USDC_ADDRESS}"
    assert token_get_by_caip19(token.caip19) == token
    assert token_get_by_caip19(f"eip155:31337/erc20:{USDC_ADDRESS.lower()}") == token
    with pytest.raises(NotFoundError):
        token_get_by_caip19(f"eip155:1/erc20:{USDC_ADDRESS}")


@pytest.mark.parametrize("malformed", [
    "USDC", "eip155:31337", f"eip155:31337/erc721:{USDC_ADDRESS}",
    "eip155:31337/erc20:0x1234", f"bip122:000000000019d6689c085ae165831e93/erc20:{USDC_ADDRESS}",
])
def test_malformed_caip19_is_a_clear_error(malformed):
    with pytest.raises(InvalidAssetIdError):
        token_get_by_caip19(malformed)


def test_confirmed_uncredited_deposits_in_chain_order():
    chain = make_chain()
    token = make_token(chain=chain)
    later = make_deposit(token=token, block_number=20)
    earlier = make_deposit(token=token, block_number=10)
    make_deposit(token=token, block_number=5, status=Deposit.Status.SEEN)
    make_deposit(token=token, block_number=6, status=Deposit.Status.REORGED)
    credited = make_deposit(token=token, block_number=7)
    Deposit.objects.filter(pk=credited.pk).update(credited_at=timezone.now())
    other_chain = make_chain(caip2="eip155:137")
    elsewhere = make_deposit(token=make_token(chain=other_chain), block_number=1)

    assert list(deposits_confirmed_uncredited(chain=chain)) == [earlier, later]
    assert set(deposits_confirmed_uncredited()) == {earlier, later, elsewhere}


def test_deposits_for_address_lists_every_status():
    token = make_token(chain=make_chain())
    first = make_deposit(token=token, block_number=3, status=Deposit.Status.REORGED)
    second = make_deposit(token=token, block_number=4, deposit_address=first.deposit_address)
    make_deposit(token=token, block_number=5)

    assert list(deposits_for_address(deposit_address=first.deposit_address)) == [first, second]


def test_chain_get_active_and_its_cursor_time():
    active = make_chain(caip2="eip155:137")
    inactive = make_chain(caip2="eip155:1", is_active=False)
    scanned_at = timezone.now().replace(microsecond=0)
    Chain.objects.filter(pk=active.pk).update(cursor_block_time=scanned_at)

    assert chain_get_active(chain_id=active.pk) == active
    assert chain_get_active(chain_id=inactive.pk) is None
    assert chain_cursor_time(chain_id=active.pk) == scanned_at
    assert chain_cursor_time(chain_id=inactive.pk) is None


def test_deposit_first_live_skips_what_a_reorg_took():
    token = make_token(chain=make_chain())
    gone = make_deposit(token=token, status=Deposit.Status.REORGED)
    assert deposit_first_live(deposit_address=gone.deposit_address) is None

    live = make_deposit(token=token, status=Deposit.Status.SEEN,
                        deposit_address=gone.deposit_address)
    assert deposit_first_live(deposit_address=gone.deposit_address) == live
    assert deposit_first_live(deposit_address=gone.deposit_address_id) == live


def test_deposit_get_locks_the_row_only_when_asked(django_assert_num_queries):
    deposit = make_deposit(token=make_token(chain=make_chain()))

    with django_assert_num_queries(1) as captured:
        assert deposit_get(deposit_id=deposit.pk) == deposit
    assert "FOR UPDATE" not in captured.captured_queries[0]["sql"]
    with transaction.atomic(), django_assert_num_queries(1) as captured:
        assert deposit_get(deposit_id=deposit.pk, lock=True) == deposit
    assert "FOR UPDATE" in captured.captured_queries[0]["sql"]
    with pytest.raises(Deposit.DoesNotExist):
        deposit_get(deposit_id=deposit.pk + 1)


def test_refunds_referring_to_finds_refunds_by_a_fragment_of_their_reference():
    token = make_token(chain=make_chain())
    deposit = make_deposit(token=token)

    def refund(reference: str, kind: str = OutboundTransaction.Kind.REFUND):
        return OutboundTransaction.objects.create(
            chain=token.chain, kind=kind, reference=reference, token=token, deposit=deposit,
            from_address=USDC_ADDRESS, to_address=USDC_ADDRESS, amount=1)

    first = refund("refund:aaaa-1111:7")
    second = refund("overpayment:aaaa-1111:8")
    refund("refund:bbbb-2222:9")
    refund("sweep:aaaa-1111", kind=OutboundTransaction.Kind.SWEEP)

    assert list(refunds_referring_to(fragments=["aaaa-1111"])) == [first, second]
    assert list(refunds_referring_to(fragments=[])) == []


def test_refund_reads_of_the_gateway():
    token = make_token(chain=make_chain())
    deposit = make_deposit(token=token, status=Deposit.Status.CONFIRMED, amount=100)
    untouched = make_deposit(token=token, status=Deposit.Status.CONFIRMED, amount=50)

    def outbound(reference: str, amount: int, status: str,
                 kind: str = OutboundTransaction.Kind.REFUND):
        return OutboundTransaction.objects.create(
            chain=token.chain, kind=kind, reference=reference, token=token, deposit=deposit,
            from_address=USDC_ADDRESS, to_address=USDC_ADDRESS, amount=amount, status=status)

    own = outbound("refund:aaaa:1", 30, OutboundTransaction.Status.CONFIRMED)
    failed = outbound("overpayment:aaaa:1", 20, OutboundTransaction.Status.FAILED)
    late = outbound("late-deposit:x:1", 7, OutboundTransaction.Status.CREATED)
    sweep = outbound("overpayment:aaaa:sweep", 5, OutboundTransaction.Status.CREATED,
                     kind=OutboundTransaction.Kind.SWEEP)

    assert refund_units_taken(deposit=deposit) == 37
    assert refund_units_taken(deposit=untouched) == 0
    assert set(outbound_transactions_with_reference_prefix(prefix="overpayment:aaaa:")) == {
        failed, sweep}
    assert list(outbound_transactions_with_reference_prefix(
        prefix="overpayment:aaaa:", kind=OutboundTransaction.Kind.REFUND)) == [failed]
    assert list(refunds_outside_transfers(
        chain=token.chain, statuses=[OutboundTransaction.Status.CREATED])) == [late]
    assert own not in refunds_outside_transfers(
        chain=token.chain, statuses=[OutboundTransaction.Status.CONFIRMED])
    assert list(deposits_confirmed_uncredited(chain=token.chain, without_refund=True)) == [
        untouched]
    assert set(deposits_confirmed_uncredited(chain=token.chain)) == {deposit, untouched}


def test_deposits_flagged_uncredited_oldest_first_up_to_the_limit():
    token = make_token(chain=make_chain())
    first, second, gone, credited, _plain = (make_deposit(token=token) for _ in range(5))
    Deposit.objects.filter(pk__in=[first.pk, second.pk, gone.pk, credited.pk]).update(
        flag=Deposit.Flag.ADDRESS_CLOSED)
    Deposit.objects.filter(pk=gone.pk).update(status=Deposit.Status.REORGED)
    Deposit.objects.filter(pk=credited.pk).update(credited_at=timezone.now())

    assert deposits_flagged_uncredited(limit=10) == [first, second]
    assert deposits_flagged_uncredited(limit=1) == [first]
