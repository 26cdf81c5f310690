"""Validation and idempotency of payout_attempt_create."""

import uuid
from decimal import Decimal

import pytest

from ramps.payouts.models import PayoutAttempt
from ramps.payouts.services import (
    PayoutConflictError,
    PayoutValidationError,
    payout_attempt_create,
)


def _create(rail, **overrides):
    arguments = {"rail": rail, "owner_reference": f"tr_{uuid.uuid4().hex}",
                 "amount": Decimal("1500"), "currency": "KES",
                 "recipient_msisdn": "+254708374149", "remarks": "Remittance payout"}
    arguments.update(overrides)
    return payout_attempt_create(**arguments)


def test_creates_an_attempt_with_a_fresh_uuid_reference(daraja_rail):
    attempt = _create(daraja_rail, recipient_msisdn="0708 374 149", amount=Decimal("1500.567"))
    assert attempt.status == PayoutAttempt.Status.CREATED
    assert uuid.UUID(attempt.reference).version == 4
    assert attempt.recipient_msisdn == "+254708374149"
    assert attempt.amount == Decimal("1500.56")  # rounded down to KES cents
    assert attempt.currency == "KES"
    assert attempt.submitted_at is None


@pytest.mark.parametrize(("msisdn", "message"), [
    ("not a number", "not a phone number"),
    ("+2547083741", "not a valid phone number"),
    ("+256772123450", "a number of UG"),
    ("+254202222222", "not a mobile number"),
])
def test_phone_numbers_are_checked_against_the_rail_country(daraja_rail, msisdn, message):
    with pytest.raises(PayoutValidationError, match=message):
        _create(daraja_rail, recipient_msisdn=msisdn)
    assert not PayoutAttempt.objects.exists()


@pytest.mark.parametrize(("amount", "message"), [
    (Decimal("9.99"), "below the minimum of 10"),
    (Decimal("150000.01"), "above the maximum of 150000"),
    (Decimal("0.001"), "not a payable amount"),
])
def test_amount_limits(daraja_rail, amount, message):
    with pytest.raises(PayoutValidationError, match=message):
        _create(daraja_rail, amount=amount)
    assert not PayoutAttempt.objects.exists()


def test_limits_apply_to_the_rounded_amount(daraja_rail):
    assert _create(daraja_rail, amount=Decimal("150000.009")).amount == Decimal("150000.00")


def test_currency_must_be_the_rails(daraja_rail):
    with pytest.raises(PayoutValidationError, match="pays KES, not UGX"):
        _create(daraja_rail, currency="UGX")


def test_inactive_rail_is_refused(daraja_rail):
    daraja_rail.is_active = False
    daraja_rail.save()
    with pytest.raises(PayoutValidationError, match="not active"):
        _create(daraja_rail)


def test_remarks_length(daraja_rail):
    with pytest.raises(PayoutValidationError, match="Remarks"):
        _create(daraja_rail, remarks="x")
    with pytest.raises(PayoutValidationError, match="Remarks"):
        _create(daraja_rail, remarks="x" * 101)


def test_floats_are_refused(daraja_rail):
    with pytest.raises(PayoutValidationError, match="Decimal"):
        _create(daraja_rail, amount=1500.0)


def test_same_owner_gets_its_live_attempt_back(daraja_rail):
    first = _create(daraja_rail, owner_reference="tr_same")
    second = _create(daraja_rail, owner_reference="tr_same")
    assert second.pk == first.pk
    assert PayoutAttempt.objects.filter(owner_reference="tr_same").count() == 1


def test_same_owner_with_other_details_is_a_conflict(daraja_rail):
    _create(daraja_rail, owner_reference="tr_other")
    with pytest.raises(PayoutConflictError):
        _create(daraja_rail, owner_reference="tr_other", amount=Decimal("2000"))
    assert PayoutAttempt.objects.filter(owner_reference="tr_other").count() == 1


def test_a_failed_attempt_frees_the_owner_for_a_new_one(daraja_rail):
    first = _create(daraja_rail, owner_reference="tr_retry")
    PayoutAttempt.objects.filter(pk=first.pk).update(status=PayoutAttempt.Status.FAILED)
    second = _create(daraja_rail, owner_reference="tr_retry")
    assert second.pk != first.pk
    assert second.reference != first.reference
