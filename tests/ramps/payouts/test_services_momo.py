"""MTN MoMo Disbursement payouts end to end against the loopback MoMo sandbox."""

import uuid
from decimal import Decimal

import pytest

from ramps.payouts.models import PayoutAttempt, PayoutCallback
from ramps.payouts.rails import rail_client
from ramps.payouts.services import (
    payout_attempt_create,
    payout_attempt_query,
    payout_attempt_submit,
    payout_callback_record,
)

Status = PayoutAttempt.Status


def _create(rail, last_digit, amount="25000"):
    return payout_attempt_create(
        rail=rail, owner_reference=f"tr_{uuid.uuid4().hex}", amount=Decimal(amount),
        currency="UGX", recipient_msisdn=f"+25677212345{last_digit}", remarks="Family support",
    )


def _urls(receiver, attempt):
    return {"result_url": receiver.url(f"/momo/callback/{attempt.reference}"),
            "timeout_url": ""}


def _submit(attempt, receiver):
    return payout_attempt_submit(attempt=attempt, **_urls(receiver, attempt))


def _payments(sandbox, reference):
    return [p for p in sandbox.payments if p["reference"] == reference]


def test_accepted_transfer_and_its_callback(momo_rail, momo_sandbox, callback_receiver):
    attempt = _submit(_create(momo_rail, 0), callback_receiver)
    assert attempt.status == Status.SUBMITTED
    assert attempt.result_code == "202"

    [callback] = callback_receiver.wait_for(attempt.reference)
    assert callback.method == "PUT"
    assert callback.body["status"] == "SUCCESSFUL"
    assert callback.body["externalId"] == attempt.reference
    assert callback.body["amount"] == "25000"
    recorded = payout_callback_record(rail=momo_rail, body=callback.body, headers=callback.headers)

    [payment] = _payments(momo_sandbox, attempt.reference)
    attempt.refresh_from_db()
    assert recorded.changed is True
    assert attempt.status == Status.SUCCEEDED
    assert attempt.provider_reference == payment["transaction_id"]
    assert payment["amount"] == "25000"
    assert payment["currency"] == "UGX"
    assert payment["msisdn"] == attempt.recipient_msisdn.lstrip("+")

    again = payout_callback_record(rail=momo_rail, body=callback.body, headers={})
    assert again.changed is False
    assert again.callback.processing_status == PayoutCallback.ProcessingStatus.DUPLICATE


def test_same_reference_twice_gets_409_and_pays_once(momo_rail, momo_sandbox, callback_receiver):
    attempt = _submit(_create(momo_rail, 8), callback_receiver)
    outcome = rail_client(momo_rail).submit(attempt, **_urls(callback_receiver, attempt))
    assert outcome.status == "unknown"
    assert outcome.result_code == "RESOURCE_ALREADY_EXIST"
    assert outcome.result_description == "Duplicated reference id. Creation of resource failed."
    assert len(_payments(momo_sandbox, attempt.reference)) == 1


def test_status_request(momo_rail, momo_sandbox, callback_receiver):
    attempt = _submit(_create(momo_rail, 9), callback_receiver)
    outcome = rail_client(momo_rail).query(attempt)
    [payment] = _payments(momo_sandbox, attempt.reference)
    assert outcome.status == "succeeded"
    assert outcome.reference == attempt.reference
    assert outcome.provider_reference == payment["transaction_id"]
    assert outcome.raw["payee"] == {"partyIdType": "MSISDN",
                                    "partyId": attempt.recipient_msisdn.lstrip("+")}

    resolved = payout_attempt_query(attempt=attempt, **_urls(callback_receiver, attempt))
    assert resolved.status == Status.SUCCEEDED


def test_callback_is_confirmed_with_the_provider_before_it_counts(momo_rail, momo_sandbox,
                                                                  callback_receiver):
    attempt = _submit(_create(momo_rail, 7), callback_receiver)  # stuck pending at MoMo
    forged = {"amount": "25000", "currency": "UGX", "externalId": attempt.reference,
              "financialTransactionId": "123", "status": "SUCCESSFUL",
              "payee": {"partyIdType": "MSISDN", "partyId": "256772123457"}}
    recorded = payout_callback_record(rail=momo_rail, body=forged, headers={})
    attempt.refresh_from_db()
    assert recorded.changed is False
    assert attempt.status == Status.SUBMITTED
    assert recorded.callback.body == forged


def test_inactive_account_holder_fails_final_before_anything_is_sent(
        momo_rail, momo_sandbox, callback_receiver):
    attempt = _submit(_create(momo_rail, 2), callback_receiver)
    assert attempt.status == Status.FAILED
    assert attempt.failure_kind == PayoutAttempt.FailureKind.FINAL
    assert attempt.result_code == "ACCOUNT_HOLDER_INACTIVE"
    assert attempt.submitted_at is None
    assert momo_sandbox.transfers.get(attempt.reference) is None
    assert _payments(momo_sandbox, attempt.reference) == []
    assert list(attempt.events.values_list("from_status", "to_status", "source")) == [
        ("created", "failed", "recipient_check")]
    # A second submit of the failed attempt sends nothing either.
    assert _submit(attempt, callback_receiver).status == Status.FAILED
    assert momo_sandbox.transfers.get(attempt.reference) is None


def test_account_holder_check_unavailable_sends_nothing(momo_rail, momo_sandbox,
                                                        callback_receiver, monkeypatch):
    from ramps.payouts.momo.client import MomoClient
    from ramps.payouts.rails import RailError
    from ramps.payouts.services import PayoutRailUnavailableError

    def broken(self, msisdn):
        raise RailError("MoMo account holder check answered HTTP 503")

    monkeypatch.setattr(MomoClient, "account_holder_active", broken)
    attempt = _create(momo_rail, 0)
    with pytest.raises(PayoutRailUnavailableError):
        _submit(attempt, callback_receiver)
    attempt.refresh_from_db()
    assert attempt.status == Status.CREATED
    assert momo_sandbox.transfers.get(attempt.reference) is None


def test_invalid_recipient_reported_by_the_transfer_fails_final(
        momo_rail, momo_sandbox, callback_receiver, monkeypatch):
    # The holder check can pass and the transfer still fail (the account closed in between).
    from ramps.payouts.momo.client import MomoClient

    monkeypatch.setattr(MomoClient, "account_holder_active", lambda self, msisdn: True)
    attempt = _submit(_create(momo_rail, 2), callback_receiver)
    [callback] = callback_receiver.wait_for(attempt.reference)
    assert callback.body["status"] == "FAILED"
    payout_callback_record(rail=momo_rail, body=callback.body, headers={})
    attempt.refresh_from_db()
    assert attempt.status == Status.FAILED
    assert attempt.failure_kind == PayoutAttempt.FailureKind.FINAL
    assert attempt.result_code == "PAYEE_NOT_FOUND"
    assert _payments(momo_sandbox, attempt.reference) == []


def test_insufficient_float_needs_an_operator(momo_rail, momo_sandbox, callback_receiver):
    attempt = _submit(_create(momo_rail, 1), callback_receiver)
    [callback] = callback_receiver.wait_for(attempt.reference)
    payout_callback_record(rail=momo_rail, body=callback.body, headers={})
    attempt.refresh_from_db()
    assert attempt.status == Status.FAILED
    assert attempt.failure_kind == PayoutAttempt.FailureKind.NEEDS_OPERATOR
    assert attempt.result_code == "NOT_ENOUGH_FUNDS"


def test_provider_error_is_retryable(momo_rail, momo_sandbox, callback_receiver):
    attempt = _submit(_create(momo_rail, 3), callback_receiver)
    assert attempt.status == Status.FAILED
    assert attempt.failure_kind == PayoutAttempt.FailureKind.RETRYABLE
    assert attempt.result_code == "INTERNAL_PROCESSING_ERROR"
    assert _payments(momo_sandbox, attempt.reference) == []
    assert momo_sandbox.transfers.get(attempt.reference) is None


def test_timeout_after_payment_resolved_by_status_without_second_payment(
        momo_rail, momo_sandbox, callback_receiver, settings):
    settings.OUTBOUND_HTTP_TIMEOUT_SECONDS = 0.2
    attempt = _submit(_create(momo_rail, 6), callback_receiver)
    assert attempt.status == Status.UNKNOWN
    settings.OUTBOUND_HTTP_TIMEOUT_SECONDS = 5
    assert _submit(attempt, callback_receiver).status == Status.UNKNOWN
    resolved = payout_attempt_query(attempt=attempt, **_urls(callback_receiver, attempt))
    [payment] = _payments(momo_sandbox, attempt.reference)
    assert resolved.status == Status.SUCCEEDED
    assert resolved.provider_reference == payment["transaction_id"]


def test_unknown_attempt_never_received_is_resent_with_the_same_reference(
        momo_rail, momo_sandbox, callback_receiver):
    attempt = _create(momo_rail, 0)
    # As after a crash between the claim and the request: unknown, and MoMo has nothing.
    PayoutAttempt.objects.filter(pk=attempt.pk).update(status=Status.UNKNOWN)
    resent = payout_attempt_query(attempt=attempt, **_urls(callback_receiver, attempt))
    assert resent.status == Status.SUBMITTED
    assert resent.reference == attempt.reference
    assert len(_payments(momo_sandbox, attempt.reference)) == 1

    again = payout_attempt_query(attempt=resent, **_urls(callback_receiver, attempt))
    assert again.status == Status.SUCCEEDED
    assert len(_payments(momo_sandbox, attempt.reference)) == 1


def test_stuck_pending_stays_submitted(momo_rail, momo_sandbox, callback_receiver):
    attempt = _submit(_create(momo_rail, 7), callback_receiver)
    queried = payout_attempt_query(attempt=attempt, **_urls(callback_receiver, attempt))
    assert queried.status == Status.SUBMITTED
    assert callback_receiver.matching(attempt.reference) == []


def test_account_holder_check(momo_rail):
    client = rail_client(momo_rail)
    assert client.account_holder_active("+256772123450") is True
    assert client.account_holder_active("+256772123452") is False
