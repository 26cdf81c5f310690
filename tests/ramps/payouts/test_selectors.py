"""Payout reads the gateway calls instead of the tables."""

import datetime
from decimal import Decimal

import pytest

from ramps.payouts.models import PayoutAttempt, PayoutCallback, Rail
from ramps.payouts.selectors import (
    payout_attempt_latest_for_owner,
    payout_attempts_created_between,
    payout_attempts_for_owner_with_rail,
    payout_attempts_unknown_since,
    payout_callbacks_unprocessed,
    rail_get,
    rail_get_active,
    rails_active,
)
from ramps.payouts.services import payout_attempt_create
from tests.ramps.payouts.factories import make_rail

pytestmark = pytest.mark.django_db


def test_rail_get_and_rail_get_active():
    active = make_rail(code="mpesa-on")
    inactive = make_rail(code="mpesa-off", is_active=False)

    assert rail_get(code="mpesa-off") == inactive
    with pytest.raises(Rail.DoesNotExist):
        rail_get(code="mpesa-none")
    assert rail_get_active(code="mpesa-on") == active
    assert rail_get_active(code="mpesa-off") is None
    assert rail_get_active(code="mpesa-none") is None


def test_payout_attempt_latest_for_owner_comes_with_its_rail(django_assert_num_queries):
    rail = make_rail()
    attempt = payout_attempt_create(
        rail=rail, owner_reference="tr_owner", amount=Decimal("1500"), currency="KES",
        recipient_msisdn="+254708374149", remarks="Remittance payout")

    with django_assert_num_queries(1):
        latest = payout_attempt_latest_for_owner(owner_reference="tr_owner")
        assert latest == attempt
        assert latest.rail.code == rail.code
    assert payout_attempt_latest_for_owner(owner_reference="tr_other") is None
    with django_assert_num_queries(1):
        assert [(a, a.rail.code) for a in payout_attempts_for_owner_with_rail(
            owner_reference="tr_owner")] == [(attempt, rail.code)]
    assert list(payout_attempts_for_owner_with_rail(owner_reference="tr_other")) == []


def test_rails_active_by_code():
    second = make_rail(code="mpesa-b")
    make_rail(code="mpesa-c", is_active=False)
    first = make_rail(code="mpesa-a")

    assert list(rails_active()) == [first, second]


def test_payout_attempts_created_between_and_of_owners():
    rail = make_rail()
    mine, other = (payout_attempt_create(
        rail=rail, owner_reference=owner, amount=Decimal("1500"), currency="KES",
        recipient_msisdn="+254708374149", remarks="Remittance payout")
        for owner in ("tr_mine", "tr_other"))
    start = mine.created_at - datetime.timedelta(seconds=1)
    end = other.created_at + datetime.timedelta(seconds=1)

    assert set(payout_attempts_created_between(start=start, end=end)) == {mine, other}
    assert list(payout_attempts_created_between(
        start=start, end=end, owner_references=["tr_mine"])) == [mine]
    assert list(payout_attempts_created_between(start=end, end=end + (end - start))) == []


def test_payout_attempts_unknown_since_and_callbacks_unprocessed():
    rail = make_rail()
    unknown, _settled = (payout_attempt_create(
        rail=rail, owner_reference=owner, amount=Decimal("1500"), currency="KES",
        recipient_msisdn="+254708374149", remarks="Remittance payout")
        for owner in ("tr_unknown", "tr_settled"))
    PayoutAttempt.objects.filter(pk=unknown.pk).update(status=PayoutAttempt.Status.UNKNOWN)
    later = unknown.created_at + datetime.timedelta(seconds=1)

    assert payout_attempts_unknown_since(before=later, limit=10) == [unknown]
    assert payout_attempts_unknown_since(
        before=unknown.created_at - datetime.timedelta(seconds=1), limit=10) == []
    assert payout_attempts_unknown_since(before=later, limit=0) == []

    status = PayoutCallback.ProcessingStatus
    unmatched, failed, _done = (
        PayoutCallback.objects.create(rail=rail, reference=f"r{n}", body={},
                                      processing_status=processing_status)
        for n, processing_status in enumerate((status.UNMATCHED, status.ERROR,
                                               status.APPLIED)))
    assert payout_callbacks_unprocessed(limit=10) == [unmatched, failed]
    assert payout_callbacks_unprocessed(limit=1) == [unmatched]
