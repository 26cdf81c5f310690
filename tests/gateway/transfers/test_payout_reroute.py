"""An operator's reroute of a failed payout to another rail: refused, with nothing written, when
that rail cannot pay exactly what the transfer promised (another currency, coarser amounts, out
of its limits, inactive); the float stays reserved on the rail it was."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.common.problems import DomainError
from gateway.transfers.models import Transfer
from gateway.transfers.services.payouts import transfer_payout_retry
from gateway.transfers.states import TransferState
from gateway.treasury.models import FloatReservation
from gateway.treasury.services import treasury_float_reserve
from ramps.payouts.models import PayoutAttempt, Rail
from tests.gateway.transfers.factories import make_corridor, make_transfer
from tests.gateway.transfers.test_quotes_validation import fund_rail_float
from tests.ramps.payouts.factories import make_rail

S = TransferState


@pytest.fixture
def corridor(db):
    corridor = make_corridor()
    fund_rail_float(corridor.rail.code, Decimal("100000000"))
    return corridor


def failed_transfer(corridor, amount_out: Decimal) -> Transfer:
    """A failed M-Pesa payout of ``amount_out`` KES whose float is still reserved."""
    transfer = make_transfer(corridor=corridor, state=S.PAYOUT_FAILED, amount_out=amount_out)
    treasury_float_reserve(transfer_reference=transfer.reference, rail_code=corridor.rail.code,
                           amount=amount_out, currency="KES")
    return transfer


def assert_nothing_changed(transfer: Transfer) -> None:
    transfer.refresh_from_db()
    assert transfer.state == S.PAYOUT_FAILED
    assert not PayoutAttempt.objects.filter(owner_reference=transfer.reference).exists()
    reservation = FloatReservation.objects.get(transfer_reference=transfer.reference)
    assert (reservation.rail_code, reservation.status) == (
        transfer.corridor.rail.code, FloatReservation.Status.RESERVED)


@pytest.mark.parametrize(("rail_fields", "words"), [
    ({"currency": "UGX", "country": "UG", "kind": Rail.Kind.MOMO_DISBURSEMENT},
     "pays UGX, not KES"),
    ({"amount_exponent": 0}, "pays whole units"),
])
def test_a_reroute_to_a_rail_that_cannot_pay_the_promised_amount_is_refused(
        corridor, queued, rail_fields, words):
    transfer = failed_transfer(corridor, Decimal("12700.50"))
    rail = make_rail(**rail_fields)
    fund_rail_float(rail.code, Decimal("100000000"), currency=rail.currency)
    with pytest.raises(DomainError, match=words) as refused:
        transfer_payout_retry(transfer_id=transfer.pk, operator="ops", note="reroute",
                              rail_code=rail.code)
    assert (refused.value.slug, refused.value.status) == ("rail-cannot-pay", 422)
    assert_nothing_changed(transfer)
    assert queued == []


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cents=st.integers(min_value=0, max_value=99), shillings=st.integers(10, 200_000),
       exponent=st.sampled_from([None, 0, 1, 2]))
def test_a_reroute_pays_exactly_the_promised_amount_or_is_refused(corridor, queued, cents,
                                                                  shillings, exponent):
    amount_out = Decimal(shillings) + Decimal(cents) / 100
    transfer = failed_transfer(corridor, amount_out)
    rail = make_rail(amount_exponent=exponent)
    fund_rail_float(rail.code, Decimal("1000000"))
    payable = exponent is None or amount_out == amount_out.quantize(Decimal(1).scaleb(-exponent))
    if not payable:
        with pytest.raises(DomainError) as refused:
            transfer_payout_retry(transfer_id=transfer.pk, operator="ops", note="reroute",
                                  rail_code=rail.code)
        assert refused.value.slug == "rail-cannot-pay"
        assert_nothing_changed(transfer)
        return
    transfer = transfer_payout_retry(transfer_id=transfer.pk, operator="ops", note="reroute",
                                     rail_code=rail.code)
    assert transfer.state == S.PAYOUT_PENDING
    attempt = PayoutAttempt.objects.get(owner_reference=transfer.reference)
    assert (attempt.rail_id, attempt.amount) == (rail.pk, amount_out)
    reservation = FloatReservation.objects.get(transfer_reference=transfer.reference)
    assert (reservation.rail_code, reservation.amount) == (rail.code, amount_out)
