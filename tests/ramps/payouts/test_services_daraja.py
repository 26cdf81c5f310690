"""Daraja B2C payouts end to end against the loopback Daraja sandbox."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection

from ramps.payouts.models import PayoutAttempt, PayoutCallback, Rail
from ramps.payouts.services import (
    PayoutRailUnavailableError,
    payout_attempt_create,
    payout_attempt_query,
    payout_attempt_submit,
    payout_callback_record,
)

Status = PayoutAttempt.Status


def _create(rail, last_digit, amount="1500"):
    return payout_attempt_create(
        rail=rail, owner_reference=f"tr_{uuid.uuid4().hex}", amount=Decimal(amount),
        currency="KES", recipient_msisdn=f"+25470837414{last_digit}", remarks="Remittance payout",
    )


def _urls(receiver, attempt):
    return {"result_url": receiver.url(f"/daraja/result/{attempt.reference}"),
            "timeout_url": receiver.url(f"/daraja/timeout/{attempt.reference}")}


def _payments(sandbox, reference):
    return [p for p in sandbox.payments if p["reference"] == reference]


def _events(attempt):
    return list(attempt.events.values_list("from_status", "to_status", "source"))


def _submit(attempt, receiver):
    return payout_attempt_submit(attempt=attempt, **_urls(receiver, attempt))


def _confirm_urls(receiver, attempt):
    return {"confirm_result_url": receiver.url(f"/daraja/confirm/{attempt.reference}"),
            "confirm_timeout_url": receiver.url(f"/daraja/confirm-timeout/{attempt.reference}")}


def _confirm_urls_as_result(receiver, attempt):
    return {"result_url": receiver.url(f"/daraja/requery/{attempt.reference}"),
            "timeout_url": receiver.url(f"/daraja/requery-timeout/{attempt.reference}")}


def _record_held_then_confirmed(rail, attempt, callback, receiver, capture):
    """Deliver a result that needs confirmation: it is held, the status query leaves once the
    transaction commits, and the sandbox's answer (delivered next) decides."""
    with capture(execute=True):
        held = payout_callback_record(rail=rail, body=callback.body, headers={},
                                      **_confirm_urls(receiver, attempt))
    assert held.changed is False
    assert held.callback.processing_status == PayoutCallback.ProcessingStatus.UNCONFIRMED
    attempt.refresh_from_db()
    assert attempt.status == Status.SUBMITTED
    [answer] = [r for r in receiver.wait_for(f"/daraja/confirm/{attempt.reference}")
                if r.path.startswith("/daraja/confirm/")]
    confirmed = payout_callback_record(rail=rail, body=answer.body, headers={})
    held.callback.refresh_from_db()
    return held.callback, confirmed


def test_success_result_is_applied_once(daraja_rail, daraja_sandbox, callback_receiver):
    attempt = _submit(_create(daraja_rail, 0), callback_receiver)
    assert attempt.status == Status.SUBMITTED
    assert attempt.provider_reference.startswith("AG_")
    assert attempt.submitted_at is not None

    [callback] = callback_receiver.wait_for(attempt.reference)
    assert callback.path == f"/daraja/result/{attempt.reference}"
    first = payout_callback_record(rail=daraja_rail, body=callback.body, headers=callback.headers)
    [payment] = _payments(daraja_sandbox, attempt.reference)
    attempt.refresh_from_db()
    assert first.changed is True
    assert first.callback.processing_status == PayoutCallback.ProcessingStatus.APPLIED
    assert first.attempt == attempt
    assert attempt.status == Status.SUCCEEDED
    assert attempt.provider_receipt == payment["transaction_id"]
    assert attempt.provider_reference == payment["conversation_id"]
    assert attempt.result_code == "0"
    assert attempt.failure_kind == ""
    assert attempt.completed_at is not None
    assert payment["amount"] == "1500"

    updated_at = attempt.updated_at
    second = payout_callback_record(rail=daraja_rail, body=callback.body, headers=callback.headers)
    attempt.refresh_from_db()
    assert second.changed is False
    assert second.callback.processing_status == PayoutCallback.ProcessingStatus.DUPLICATE
    assert attempt.updated_at == updated_at
    assert PayoutCallback.objects.filter(attempt=attempt).count() == 2
    assert _events(attempt) == [("created", "unknown", "submit"),
                                ("unknown", "submitted", "submit"),
                                ("submitted", "succeeded", "callback")]


def test_callback_sent_twice_changes_the_attempt_once(daraja_rail, daraja_sandbox,
                                                      callback_receiver):
    attempt = _submit(_create(daraja_rail, 5), callback_receiver)
    bodies = callback_receiver.wait_for(attempt.reference, count=2)
    assert len(bodies) == 2
    results = [payout_callback_record(rail=daraja_rail, body=b.body, headers=b.headers)
               for b in bodies]
    assert [r.changed for r in results] == [True, False]
    attempt.refresh_from_db()
    assert attempt.status == Status.SUCCEEDED
    assert len(_payments(daraja_sandbox, attempt.reference)) == 1


def test_duplicate_originator_conversation_id_is_surfaced_and_pays_once(
        daraja_rail, daraja_sandbox, callback_receiver):
    attempt = _submit(_create(daraja_rail, 8), callback_receiver)
    assert attempt.status == Status.SUBMITTED
    # A claim lost by a crash: the row says created although Daraja already has the reference.
    PayoutAttempt.objects.filter(pk=attempt.pk).update(status=Status.CREATED)

    again = _submit(attempt, callback_receiver)

    assert again.status == Status.UNKNOWN
    assert again.result_code == "500.002.1001"
    assert "Duplicate" in again.result_description
    assert len(_payments(daraja_sandbox, attempt.reference)) == 1


def test_invalid_recipient_fails_final_without_payment(daraja_rail, daraja_sandbox,
                                                       callback_receiver,
                                                       django_capture_on_commit_callbacks):
    attempt = _submit(_create(daraja_rail, 2), callback_receiver)
    assert attempt.status == Status.SUBMITTED
    [callback] = callback_receiver.wait_for(attempt.reference)
    held, result = _record_held_then_confirmed(daraja_rail, attempt, callback, callback_receiver,
                                               django_capture_on_commit_callbacks)
    attempt.refresh_from_db()
    assert result.changed is True
    assert result.callback.processing_status == PayoutCallback.ProcessingStatus.APPLIED
    assert held.processing_status == PayoutCallback.ProcessingStatus.APPLIED
    assert attempt.status == Status.FAILED
    assert attempt.failure_kind == PayoutAttempt.FailureKind.FINAL
    assert attempt.result_code == "2040"
    assert attempt.result_description == (
        "The receiver is not a registered M-PESA customer. (confirmed by a status query)")
    assert attempt.provider_receipt == ""
    assert attempt.status_queries.get().answered_at is not None
    assert _payments(daraja_sandbox, attempt.reference) == []


def test_insufficient_float_needs_an_operator(daraja_rail, daraja_sandbox, callback_receiver,
                                              django_capture_on_commit_callbacks):
    attempt = _submit(_create(daraja_rail, 1), callback_receiver)
    [callback] = callback_receiver.wait_for(attempt.reference)
    _record_held_then_confirmed(daraja_rail, attempt, callback, callback_receiver,
                                django_capture_on_commit_callbacks)
    attempt.refresh_from_db()
    assert attempt.status == Status.FAILED
    assert attempt.failure_kind == PayoutAttempt.FailureKind.NEEDS_OPERATOR
    assert attempt.result_code == "1"
    assert _payments(daraja_sandbox, attempt.reference) == []


def test_provider_error_is_retryable_and_pays_nothing(daraja_rail, daraja_sandbox,
                                                      callback_receiver):
    created = _create(daraja_rail, 3)
    attempt = _submit(created, callback_receiver)
    assert attempt.status == Status.FAILED
    assert attempt.failure_kind == PayoutAttempt.FailureKind.RETRYABLE
    assert attempt.result_code == "500.003.02"
    assert _payments(daraja_sandbox, attempt.reference) == []
    # The live slot is free again: the owner may get a new attempt with a new reference.
    retry = payout_attempt_create(
        rail=daraja_rail, owner_reference=attempt.owner_reference, amount=Decimal("1500"),
        currency="KES", recipient_msisdn="+254708374143", remarks="Remittance payout")
    assert retry.pk != attempt.pk
    assert retry.reference != attempt.reference


def test_wrong_initiator_password_fails_needing_an_operator(daraja_rail, daraja_sandbox,
                                                            callback_receiver,
                                                            django_capture_on_commit_callbacks):
    daraja_rail.credentials = {**daraja_rail.credentials, "initiator_password": "wrong"}
    daraja_rail.save()
    attempt = _submit(_create(daraja_rail, 0), callback_receiver)
    assert attempt.status == Status.SUBMITTED
    [callback] = callback_receiver.wait_for(attempt.reference)
    # The status query is refused too (same wrong credential): the failure stays unconfirmed.
    held, answer = _record_held_then_confirmed(daraja_rail, attempt, callback, callback_receiver,
                                               django_capture_on_commit_callbacks)
    attempt.refresh_from_db()
    assert attempt.status == Status.SUBMITTED
    assert held.processing_status == PayoutCallback.ProcessingStatus.UNCONFIRMED
    assert answer.changed is False
    assert attempt.result_code == "0"
    # Once the operator fixes the credential, the sweep's query confirms the failure.
    daraja_rail.credentials = {**daraja_rail.credentials,
                               "initiator_password": daraja_sandbox.initiator_password}
    daraja_rail.save()
    payout_attempt_query(attempt=attempt, **_confirm_urls_as_result(callback_receiver, attempt))
    [answer] = callback_receiver.wait_for(f"/daraja/requery/{attempt.reference}")
    payout_callback_record(rail=daraja_rail, body=answer.body, headers={})
    attempt.refresh_from_db()
    assert attempt.status == Status.FAILED
    assert attempt.result_code == "2001"
    assert attempt.failure_kind == PayoutAttempt.FailureKind.NEEDS_OPERATOR
    assert _payments(daraja_sandbox, attempt.reference) == []


def test_timeout_after_payment_is_unknown_then_resolved_by_status_query(
        daraja_rail, daraja_sandbox, callback_receiver, settings):
    settings.OUTBOUND_HTTP_TIMEOUT_SECONDS = 0.2
    attempt = _submit(_create(daraja_rail, 6), callback_receiver)
    assert attempt.status == Status.UNKNOWN
    assert "ReadTimeout" in attempt.result_description
    assert len(_payments(daraja_sandbox, attempt.reference)) == 1

    # Submitting again never resends an attempt whose outcome is unknown.
    assert _submit(attempt, callback_receiver).status == Status.UNKNOWN

    settings.OUTBOUND_HTTP_TIMEOUT_SECONDS = 5
    queried = payout_attempt_query(attempt=attempt, **_urls(callback_receiver, attempt))
    assert queried.status == Status.UNKNOWN  # Daraja answers through the result URL
    [status_result] = callback_receiver.wait_for(attempt.reference)
    assert status_result.body["Result"]["OriginatorConversationID"] != attempt.reference
    recorded = payout_callback_record(rail=daraja_rail, body=status_result.body, headers={})

    attempt.refresh_from_db()
    [payment] = _payments(daraja_sandbox, attempt.reference)
    assert recorded.changed is True
    assert attempt.status == Status.SUCCEEDED
    assert attempt.provider_receipt == payment["transaction_id"]
    assert attempt.provider_reference == payment["conversation_id"]
    assert _events(attempt) == [("created", "unknown", "submit"),
                                ("unknown", "succeeded", "callback")]


def test_stuck_payment_stays_submitted_when_status_says_pending(daraja_rail, daraja_sandbox,
                                                                callback_receiver):
    attempt = _submit(_create(daraja_rail, 7), callback_receiver)
    assert attempt.status == Status.SUBMITTED
    payout_attempt_query(attempt=attempt, **_urls(callback_receiver, attempt))
    [status_result] = callback_receiver.wait_for(attempt.reference)
    recorded = payout_callback_record(rail=daraja_rail, body=status_result.body, headers={})
    attempt.refresh_from_db()
    assert recorded.changed is False
    assert recorded.callback.processing_status == PayoutCallback.ProcessingStatus.APPLIED
    assert attempt.status == Status.SUBMITTED
    assert _payments(daraja_sandbox, attempt.reference) == []


def test_status_query_for_a_reference_daraja_never_saw_needs_an_operator(
        daraja_rail, daraja_sandbox, callback_receiver):
    attempt = _create(daraja_rail, 0)
    PayoutAttempt.objects.filter(pk=attempt.pk).update(status=Status.UNKNOWN)
    payout_attempt_query(attempt=attempt, **_urls(callback_receiver, attempt))
    [status_result] = callback_receiver.wait_for(attempt.reference)
    payout_callback_record(rail=daraja_rail, body=status_result.body, headers={})
    attempt.refresh_from_db()
    assert attempt.status == Status.UNKNOWN
    assert attempt.failure_kind == PayoutAttempt.FailureKind.NEEDS_OPERATOR
    assert attempt.result_code == "404"
    assert _payments(daraja_sandbox, attempt.reference) == []


def test_only_created_attempts_are_sent(daraja_rail, daraja_sandbox, callback_receiver):
    attempt = _submit(_create(daraja_rail, 9), callback_receiver)
    again = _submit(attempt, callback_receiver)
    assert again.status == Status.SUBMITTED
    assert len(_payments(daraja_sandbox, attempt.reference)) == 1


def test_unreachable_provider_releases_the_claim(daraja_rail, callback_receiver):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    daraja_rail.base_url = f"http://127.0.0.1:{closed_port}"
    daraja_rail.save()
    attempt = _create(daraja_rail, 0)
    with pytest.raises(PayoutRailUnavailableError):
        _submit(attempt, callback_receiver)
    attempt.refresh_from_db()
    assert attempt.status == Status.CREATED
    assert attempt.submitted_at is None
    assert attempt.result_description.startswith("not sent")
    assert _events(attempt) == [("created", "unknown", "submit"),
                                ("unknown", "created", "release")]


def test_callback_for_unknown_reference_is_stored_unmatched(daraja_rail):
    body = {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok",
                       "OriginatorConversationID": str(uuid.uuid4()),
                       "ConversationID": "AG_x", "TransactionID": "SXXXXXXXXX"}}
    result = payout_callback_record(rail=daraja_rail, body=body,
                                    headers={"Authorization": "Bearer secret", "X-Trace": "1"})
    assert result.attempt is None
    assert result.changed is False
    assert result.callback.processing_status == PayoutCallback.ProcessingStatus.UNMATCHED
    assert result.callback.body == body
    assert result.callback.headers == {"X-Trace": "1"}
    assert not PayoutAttempt.objects.exclude(status=Status.CREATED).exists()


def test_malformed_callback_is_stored_as_error(daraja_rail):
    result = payout_callback_record(rail=daraja_rail, body={"hello": "world"}, headers={})
    assert result.callback.processing_status == PayoutCallback.ProcessingStatus.ERROR
    assert "Result" in result.callback.error
    assert result.attempt is None


@pytest.mark.django_db(transaction=True)
def test_two_workers_submitting_the_same_attempt_send_one_payment(daraja_sandbox,
                                                                  callback_receiver):
    rail = Rail.objects.create(
        code="mpesa-ke-race", kind=Rail.Kind.MPESA_B2C, country="KE", currency="KES",
        base_url=daraja_sandbox.base_url, credentials=daraja_sandbox.credentials(),
        min_amount=Decimal("10"), max_amount=Decimal("150000"))
    attempt = _create(rail, 0)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(_submit(PayoutAttempt.objects.get(pk=attempt.pk), callback_receiver))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(_payments(daraja_sandbox, attempt.reference)) == 1
    attempt.refresh_from_db()
    assert attempt.status == Status.SUBMITTED
    assert sorted(r.status for r in results) in (
        [Status.SUBMITTED, Status.SUBMITTED], [Status.SUBMITTED, Status.UNKNOWN])
