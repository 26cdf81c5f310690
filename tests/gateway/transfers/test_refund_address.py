"""A transfer's optional refund address: checksummed, on the deposit's chain, none of the
gateway's own addresses; refused before anything is written."""

import pytest
from django.core.exceptions import ValidationError
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from gateway.transfers.models import Quote, Transfer
from gateway.transfers.services.creation import transfer_create
from ramps.chain.errors import InvalidRefundAddressError
from ramps.chain.models import DepositAddress
from ramps.chain.validators import checksum_address_problem, checksum_address_validator
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_quote
from tests.ramps.chain.factories import TOKEN_ADDRESS

pytestmark = pytest.mark.django_db

PAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
SENDER = {"name": "Amina Odhiambo"}
RECIPIENT = {"name": "Joseph Mwangi", "phone_number": "+254708374149"}


def _create(refund_address: str):
    partner, _ = make_partner()
    corridor = make_corridor(chain=None)
    quote = make_quote(partner=partner, corridor=corridor)
    return quote, lambda: transfer_create(partner=partner, quote_id=str(quote.public_id),
                                          sender=SENDER, recipient=RECIPIENT,
                                          refund_address=refund_address)


def test_a_checksummed_refund_address_is_kept_on_the_transfer():
    _, create = _create(PAYER)
    transfer = create()
    transfer.refresh_from_db()
    assert transfer.refund_address == PAYER


def test_without_a_refund_address_the_transfer_keeps_it_empty():
    _, create = _create("")
    assert create().refund_address == ""


@pytest.mark.parametrize(("address", "fragment"), [
    (PAYER.lower(), "EIP-55 checksummed form (0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
    ("0x70997970c51812dc3A010C7d01b50e0d17dc79C8", "EIP-55"),
    ("0x70997970C51812dc3A010C7d01b50e0d17dc79", "not an EVM address"),
    ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "not an EVM address"),
    ("0x" + "0" * 40, "zero address"),
    (TOKEN_ADDRESS, "token contract"),
])
def test_a_bad_refund_address_is_refused_and_nothing_is_written(address, fragment):
    quote, create = _create(address)
    addresses_before = DepositAddress.objects.count()
    with pytest.raises(InvalidRefundAddressError) as caught:
        create()
    assert fragment in caught.value.detail
    assert caught.value.slug == "invalid-refund-address"
    assert caught.value.status == 422
    assert Transfer.objects.count() == 0
    assert DepositAddress.objects.count() == addresses_before
    assert Quote.objects.get(pk=quote.pk).used_at is None


def test_a_deposit_address_or_the_treasury_of_the_chain_is_refused():
    _, create_first = _create("")
    first = create_first()
    partner = first.partner
    chain = first.corridor.token.chain
    quote = make_quote(partner=partner, corridor=first.corridor)
    with pytest.raises(InvalidRefundAddressError, match="deposit addresses"):
        transfer_create(partner=partner, quote_id=str(quote.public_id), sender=SENDER,
                        recipient=RECIPIENT, refund_address=first.deposit_address.address)
    chain.treasury_address = PAYER
    chain.save()
    with pytest.raises(InvalidRefundAddressError, match="treasury"):
        transfer_create(partner=partner, quote_id=str(quote.public_id), sender=SENDER,
                        recipient=RECIPIENT, refund_address=PAYER)
    assert Transfer.objects.count() == 1


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(min_size=20, max_size=20))
def test_only_the_checksummed_form_of_any_address_is_accepted(raw):
    address = "0x" + raw.hex()
    checksummed = Web3.to_checksum_address(address)
    if int(address, 16) == 0:
        assert "zero address" in checksum_address_problem(checksummed)
        return
    assert checksum_address_problem(checksummed) == ""
    checksum_address_validator(checksummed)
    letters = [i for i, c in enumerate(checksummed[2:]) if c.isalpha()]
    if letters:
        # Flipping the case of any one letter breaks the checksum.
        i = letters[keccak(raw)[0] % len(letters)] + 2
        flipped = checksummed[:i] + checksummed[i].swapcase() + checksummed[i + 1:]
        assert "EIP-55" in checksum_address_problem(flipped)
        with pytest.raises(ValidationError):
            checksum_address_validator(flipped)


def test_the_partner_default_is_validated_like_the_transfer_address():
    partner, _ = make_partner()
    partner.refund_address = PAYER.lower()
    with pytest.raises(ValidationError):
        partner.full_clean()
    partner.refund_address = PAYER
    partner.full_clean()
