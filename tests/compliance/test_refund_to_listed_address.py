"""A refund never goes back to an address on a sanctions list, nor returns funds that came from
one: such funds are blocked property to report, not to send back. The refund waits for an
operator with the reason, as a refund to an exchange wallet does."""

from pathlib import Path

import pytest

from compliance.services import sanctions_import
from gateway.transfers.services.refunds import FundsBlockedError, transfer_refund_destination
from ramps.chain.models import Deposit
from tests.gateway.transfers.factories import make_transfer
from tests.ramps.chain.factories import make_chain

pytestmark = pytest.mark.django_db

CRYPTO = (Path(__file__).resolve().parents[2] / "compliance" / "data" / "sanctions"
          / "crypto-addresses-2024-09")
LISTED = "0x01e2919679362dFBC9ee1644Ba9C6da6D6245BB1"  # on sanctioned_addresses_ETH.json
CLEAN = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.fixture(autouse=True)
def _crypto_list():
    sanctions_import(source="ofac-crypto", files=sorted(CRYPTO.glob("*.json")))


def deposit_from(address: str, transfer=None) -> Deposit:
    chain = transfer.corridor.token.chain if transfer is not None else make_chain()
    return Deposit(chain=chain, from_address=address, amount=1)


def test_a_refund_to_a_listed_address_waits_for_an_operator():
    transfer = make_transfer(refund_address=LISTED)

    destination = transfer_refund_destination(transfer=transfer,
                                              deposit=deposit_from(CLEAN, transfer))

    assert (destination.address, destination.source) == ("", "operator")
    assert destination.review_reason.startswith(
        f"{LISTED} is on the sanctions list ofac-crypto (entry -, ETH) and the refund would "
        "go to it: the funds are blocked")


@pytest.mark.parametrize("payer", [LISTED, LISTED.lower()])
def test_funds_from_a_listed_address_are_not_sent_back_anywhere(payer):
    transfer = make_transfer(refund_address=CLEAN)

    with pytest.raises(FundsBlockedError) as excinfo:
        transfer_refund_destination(transfer=transfer, deposit=deposit_from(payer, transfer))

    assert excinfo.value.detail.startswith(f"{payer} is on the sanctions list ofac-crypto")
    assert "the funds came from it" in excinfo.value.detail


def test_a_late_deposit_from_a_listed_address_is_not_sent_back():
    with pytest.raises(FundsBlockedError):
        transfer_refund_destination(transfer=None, deposit=deposit_from(LISTED))


def test_a_refund_between_clean_addresses_goes_where_the_rule_says():
    transfer = make_transfer(refund_address=CLEAN)
    destination = transfer_refund_destination(transfer=transfer,
                                              deposit=deposit_from(CLEAN, transfer))
    assert (destination.address, destination.source) == (CLEAN, "transfer")


def test_a_transfer_whose_refund_address_is_listed_is_rejected_at_screening():
    from gateway.transfers.services.screening import transfer_screen

    funded = make_transfer(state="funded", refund_address=LISTED)

    screened = transfer_screen(transfer_id=funded.pk)

    assert screened.state == "rejected"
    assert [(reason["rule"], reason["address"]) for reason in
            screened.compliance_decision.reasons if reason["rule"] == "sanctioned-address"] == [
        ("sanctioned-address", LISTED)]
