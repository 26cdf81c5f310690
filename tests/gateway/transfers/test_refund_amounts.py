"""Refund amounts over random deposits and expected amounts (hypothesis): the overpayment
refunds return exactly the surplus, a rejection returns exactly the rest, no deposit is ever
refunded beyond what it paid, and a second pass records nothing more."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from gateway.common.money import from_base_units
from gateway.ledger.selectors import unbalanced_entries
from gateway.transfers.services.deposits import transfer_deposit_progress
from gateway.transfers.services.machine import transfer_transition
from gateway.transfers.services.refunds import (
    transfer_overpayment_refund_start,
    transfer_refund_start,
)
from gateway.transfers.states import TransferState as S
from ramps.chain.models import Deposit, OutboundTransaction
from ramps.chain.signer import signer_get
from tests.gateway.transfers.factories import make_corridor, make_transfer
from tests.gateway.transfers.test_refunds import add_deposit

pytestmark = pytest.mark.django_db
REFUND_TO = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"


def test_refunds_add_up_to_what_was_paid_over_random_deposits(settings):
    settings.CHAIN_SIGNER = "tests.signer.build_signer"
    signer_get.cache_clear()
    corridor = make_corridor()

    @hypothesis_settings(max_examples=25, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])
    @given(amounts=st.lists(st.integers(min_value=1, max_value=10**12), min_size=1, max_size=5),
           share=st.fractions(min_value=Decimal("0.01"), max_value=1))
    def check(amounts, share):
        total = sum(amounts)
        expected = max(1, int(total * share))
        transfer = make_transfer(corridor=corridor, amount_in=from_base_units(expected, 6),
                                 amount_in_base_units=expected, refund_address=REFUND_TO)
        deposits = [add_deposit(transfer, amount=amount) for amount in amounts]

        transfer = transfer_deposit_progress(transfer_id=transfer.pk)

        assert transfer.state == S.FUNDED
        assert transfer.amount_received_base_units == total
        overpayments = list(OutboundTransaction.objects.filter(
            reference__startswith=f"overpayment:{transfer.public_id}:"))
        assert sum(o.amount for o in overpayments) == total - expected
        assert all(o.to_address == REFUND_TO for o in overpayments)
        assert transfer_overpayment_refund_start(transfer_id=transfer.pk) == overpayments

        transfer_transition(transfer_id=transfer.pk, to_state=S.REJECTED, reason="test")
        assert transfer_refund_start(transfer_id=transfer.pk).state == S.REFUND_PENDING
        refunds = OutboundTransaction.objects.filter(deposit__in=deposits)
        assert sum(r.amount for r in refunds) == total
        for deposit in deposits:
            taken = sum(r.amount for r in refunds if r.deposit_id == deposit.pk)
            assert 0 <= taken <= deposit.amount
        assert Deposit.objects.filter(pk__in=[d.pk for d in deposits],
                                      credited_at__isnull=True).count() == 0
        assert transfer_refund_start(transfer_id=transfer.pk).state == S.REFUND_PENDING
        assert OutboundTransaction.objects.filter(deposit__in=deposits).count() == len(refunds)

    check()
    assert unbalanced_entries() == []
