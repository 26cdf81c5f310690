"""Every sandbox scenario through a real Celery worker process, on both rails, and workers killed
(SIGKILL) between the committed claim and the call, and between the call and the callback.

Payments are counted in the sandbox itself (``/_sandbox/payments``): whatever the worker, the
network and the callbacks did, one attempt reference is paid at most once, and an owner at most
once.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.utils import timezone

from ramps.payouts.models import PayoutAttempt, PayoutCallback, Rail, RailFloatReport
from ramps.payouts.services import (
    PayoutRetryDeadlineError,
    payout_attempt_create,
    rail_callback_secret,
    rail_float_reported,
)
from tests.payouts_e2e.conftest import wait_until

pytestmark = pytest.mark.e2e

Status = PayoutAttempt.Status
Kind = PayoutAttempt.FailureKind
SEND = "ramps.payouts.tasks.payout_attempt_send"
RESOLVE = "ramps.payouts.tasks.payouts_resolve"


@dataclass
class Setup:
    rail: Rail
    sandbox: Any
    prefix: str
    currency: str
    amount: Decimal
    base_url: str

    def create(self, digit: int, owner: str | None = None) -> PayoutAttempt:
        return payout_attempt_create(
            rail=self.rail, owner_reference=owner or f"tr_{uuid.uuid4().hex}",
            amount=self.amount, currency=self.currency,
            recipient_msisdn=f"{self.prefix}{digit}", remarks="Remittance payout")

    @property
    def result_url(self) -> str:
        return f"{self.base_url}/callbacks/payouts/{{rail_code}}/{{secret}}/result"

    @property
    def timeout_url(self) -> str:
        return f"{self.base_url}/callbacks/payouts/{{rail_code}}/{{secret}}/timeout"

    def urls(self) -> tuple[str, str]:
        names = {"rail_code": self.rail.code, "secret": rail_callback_secret(rail=self.rail)}
        return (self.result_url.format(**names), self.timeout_url.format(**names))

    def payments(self, reference: str) -> list[dict]:
        """Payments as the sandbox reports them over HTTP."""
        body = requests.get(self.sandbox.base_url + "/_sandbox/payments", timeout=5).json()
        return [p for p in body["payments"] if p["reference"] == reference]


@pytest.fixture(params=["daraja", "momo"])
def setup(request, live_server, settings) -> Setup:
    # The callback endpoint sends its confirmation queries with the live server's URLs.
    settings.PUBLIC_BASE_URL = live_server.url
    if request.param == "daraja":
        rail = request.getfixturevalue("daraja_rail")
        sandbox = request.getfixturevalue("daraja_sandbox")
        return Setup(rail, sandbox, "+25470837414", "KES", Decimal("1500"), live_server.url)
    rail = request.getfixturevalue("momo_rail")
    sandbox = request.getfixturevalue("momo_sandbox")
    return Setup(rail, sandbox, "+25677212345", "UGX", Decimal("25000"), live_server.url)


def _status(attempt: PayoutAttempt, *statuses: str) -> PayoutAttempt | None:
    attempt.refresh_from_db()
    return attempt if attempt.status in statuses else None


def _send(workers, worker, setup: Setup, attempt: PayoutAttempt) -> None:
    workers.send(worker, SEND, attempt.pk, *setup.urls())


def _resolve(workers, worker, setup: Setup) -> None:
    workers.send(worker, RESOLVE, setup.result_url, setup.timeout_url, 0)


def _wait(attempt: PayoutAttempt, *statuses: str, timeout: float = 15) -> PayoutAttempt:
    return wait_until(lambda: _status(attempt, *statuses), timeout=timeout,
                      what=f"{attempt.reference} to reach {statuses}")


def _callbacks(attempt: PayoutAttempt) -> list[str]:
    return list(PayoutCallback.objects.filter(attempt=attempt).order_by("pk")
                .values_list("processing_status", flat=True))


# -- scenarios ---------------------------------------------------------------------------------


def test_success_paid_once_and_float_reported(workers, worker, setup):
    attempt = setup.create(0)
    _send(workers, worker, setup, attempt)
    _wait(attempt, Status.SUCCEEDED)
    [payment] = setup.payments(attempt.reference)
    assert attempt.provider_receipt == payment["transaction_id"]
    assert Decimal(payment["amount"]) == setup.amount
    assert _callbacks(attempt)[0] == PayoutCallback.ProcessingStatus.APPLIED
    report = rail_float_reported(rail=setup.rail)
    assert report is not None
    if setup.rail.kind == Rail.Kind.MPESA_B2C:
        # Daraja's result carried the utility account's balance after this payment.
        assert report.source == RailFloatReport.Source.RESULT
        assert report.reference == attempt.reference
        assert report.amount == setup.sandbox.utility_float
    else:
        assert report.source == RailFloatReport.Source.BALANCE
        assert report.amount == setup.sandbox.balance
        assert report.currency == "EUR"


def test_insufficient_float_needs_an_operator(workers, worker, setup):
    attempt = setup.create(1)
    _send(workers, worker, setup, attempt)
    _wait(attempt, Status.FAILED)
    assert attempt.failure_kind == Kind.NEEDS_OPERATOR
    assert attempt.result_code in ("1", "NOT_ENOUGH_FUNDS")
    assert setup.payments(attempt.reference) == []


def test_invalid_recipient_is_final(workers, worker, setup):
    attempt = setup.create(2)
    _send(workers, worker, setup, attempt)
    _wait(attempt, Status.FAILED)
    assert attempt.failure_kind == Kind.FINAL
    # MoMo's account-holder check refuses it before any transfer; Daraja says so in the result.
    assert attempt.result_code in ("2040", "ACCOUNT_HOLDER_INACTIVE")
    assert setup.payments(attempt.reference) == []


def test_provider_500_retries_with_backoff_within_the_deadline(workers, worker, setup):
    Rail.objects.filter(pk=setup.rail.pk).update(retry_backoff_seconds=1,
                                                 retry_deadline_seconds=60)
    setup.rail.refresh_from_db()
    owner = f"tr_{uuid.uuid4().hex}"
    first = setup.create(3, owner)
    _send(workers, worker, setup, first)
    _wait(first, Status.FAILED)
    assert first.failure_kind == Kind.RETRYABLE
    assert first.result_code in ("500.003.02", "INTERNAL_PROCESSING_ERROR")

    retry = setup.create(3, owner)
    assert retry.pk != first.pk
    assert 0.9 < (retry.not_before - retry.created_at).total_seconds() <= 1.1
    # Sent before its time, and the final one sent again: nothing leaves.
    _send(workers, worker, setup, retry)
    _send(workers, worker, setup, first)
    wait_until(lambda: _tasks_done(worker) >= 3, what="the early sends")
    retry.refresh_from_db()
    assert (retry.status, retry.submitted_at) == (Status.CREATED, None)
    time.sleep(max(0.0, (retry.not_before - timezone.now()).total_seconds()) + 0.05)
    _resolve(workers, worker, setup)
    _wait(retry, Status.FAILED)
    assert retry.failure_kind == Kind.RETRYABLE
    # Two retryable failures: the next wait doubles.
    third = setup.create(3, owner)
    assert 1.9 < (third.not_before - third.created_at).total_seconds() <= 2.1

    PayoutAttempt.objects.filter(pk=third.pk).update(status=Status.FAILED,
                                                     failure_kind=Kind.RETRYABLE)
    Rail.objects.filter(pk=setup.rail.pk).update(retry_deadline_seconds=0)
    setup.rail.refresh_from_db()
    with pytest.raises(PayoutRetryDeadlineError):
        setup.create(3, owner)
    references = set(PayoutAttempt.objects.filter(owner_reference=owner)
                     .values_list("reference", flat=True))
    assert len(references) == 3
    assert [p for p in setup.sandbox.payments if p["reference"] in references] == []


def _tasks_done(worker) -> int:
    return worker.tasks_done()


def test_no_callback_resolved_by_status_query(workers, worker, setup):
    attempt = setup.create(4)
    _send(workers, worker, setup, attempt)
    _wait(attempt, Status.SUBMITTED)
    _resolve(workers, worker, setup)
    _wait(attempt, Status.SUCCEEDED)
    assert len(setup.payments(attempt.reference)) == 1


def test_callback_sent_twice_applied_once(workers, worker, setup):
    attempt = setup.create(5)
    _send(workers, worker, setup, attempt)
    _wait(attempt, Status.SUCCEEDED)
    # A result that arrives before the worker recorded Daraja's ConversationID is held and
    # confirmed by a status query (whose answer is one more callback): wait until none is held.
    wait_until(lambda: len(_callbacks(attempt)) >= 2
               and PayoutCallback.ProcessingStatus.UNCONFIRMED not in _callbacks(attempt),
               what="the second callback")
    statuses = _callbacks(attempt)
    assert set(statuses) <= {PayoutCallback.ProcessingStatus.APPLIED,
                             PayoutCallback.ProcessingStatus.DUPLICATE}
    assert PayoutCallback.ProcessingStatus.DUPLICATE in statuses
    assert list(attempt.events.values_list("to_status", flat=True)).count(Status.SUCCEEDED) == 1
    assert len(setup.payments(attempt.reference)) == 1


def test_timeout_after_payment_resolved_by_query_not_by_resending(workers, worker, setup):
    attempt = setup.create(6)
    _send(workers, worker, setup, attempt)
    wait_until(lambda: setup.payments(attempt.reference), what="the payment")
    _wait(attempt, Status.UNKNOWN)
    wait_until(lambda: _tasks_done(worker) >= 1, what="the send task to end")
    _send(workers, worker, setup, attempt)  # a redelivered send changes nothing
    _resolve(workers, worker, setup)
    _wait(attempt, Status.SUCCEEDED)
    assert len(setup.payments(attempt.reference)) == 1


def test_callback_delayed_past_the_status_query(workers, worker, setup):
    setup.sandbox.late_callback_seconds = 1.5
    try:
        attempt = setup.create(8)
        _send(workers, worker, setup, attempt)
        _wait(attempt, Status.SUBMITTED)
        _resolve(workers, worker, setup)
        _wait(attempt, Status.SUCCEEDED)
        wait_until(lambda: PayoutCallback.objects.filter(
            attempt=attempt, processing_status=PayoutCallback.ProcessingStatus.DUPLICATE,
            body__has_any_keys=["Result", "externalId"]).exists()
            and _late_callback_seen(setup, attempt), timeout=10, what="the late callback")
    finally:
        setup.sandbox.late_callback_seconds = 3.0
    attempt.refresh_from_db()
    assert attempt.status == Status.SUCCEEDED
    assert len(setup.payments(attempt.reference)) == 1


def _late_callback_seen(setup: Setup, attempt: PayoutAttempt) -> bool:
    return any(attempt.reference in str(c["body"]) and "status query" not in str(c["body"])
               for c in setup.sandbox.callbacks)


def test_stuck_pending_stays_submitted_and_unpaid(workers, worker, setup):
    attempt = setup.create(7)
    _send(workers, worker, setup, attempt)
    _wait(attempt, Status.SUBMITTED)
    _resolve(workers, worker, setup)
    wait_until(lambda: _tasks_done(worker) >= 2, what="the sweep")
    if setup.rail.kind == Rail.Kind.MPESA_B2C:
        wait_until(lambda: PayoutCallback.objects.filter(attempt=attempt).exists(),
                   what="the status answer")
    attempt.refresh_from_db()
    assert attempt.status == Status.SUBMITTED
    assert setup.payments(attempt.reference) == []


# -- crashes -----------------------------------------------------------------------------------


def test_killed_between_commit_and_call(workers, worker, setup):
    doomed = workers.start(pause="before_call")
    attempt = setup.create(0)
    _send(workers, doomed, setup, attempt)
    wait_until(doomed.marker.exists, what="the worker to reach the call")
    doomed.kill()
    attempt.refresh_from_db()
    assert attempt.status == Status.UNKNOWN
    assert setup.payments(attempt.reference) == []

    _send(workers, worker, setup, attempt)  # the message redelivered: no second send
    _resolve(workers, worker, setup)
    if setup.rail.kind == Rail.Kind.MOMO_DISBURSEMENT:
        # MoMo has no transfer with the reference: sent again under the same one, paid once.
        _wait(attempt, Status.SUCCEEDED)
        assert len(setup.payments(attempt.reference)) == 1
    else:
        # Daraja does not know it either, but is never asked twice: an operator decides.
        wait_until(lambda: PayoutAttempt.objects.get(pk=attempt.pk).failure_kind
                   == Kind.NEEDS_OPERATOR, what="the status answer")
        attempt.refresh_from_db()
        assert attempt.status == Status.UNKNOWN
        assert setup.payments(attempt.reference) == []
        assert [p for p in setup.sandbox.payments if p["reference"] == attempt.reference] == []


@pytest.mark.parametrize("digit", [0, 4], ids=["callback", "no-callback"])
def test_killed_between_call_and_callback(workers, worker, setup, digit):
    doomed = workers.start(pause="after_call")
    attempt = setup.create(digit)
    _send(workers, doomed, setup, attempt)
    wait_until(doomed.marker.exists, what="the worker to get the answer")
    doomed.kill()
    assert len(setup.payments(attempt.reference)) == 1
    _send(workers, worker, setup, attempt)
    _resolve(workers, worker, setup)
    _wait(attempt, Status.SUCCEEDED)
    assert len(setup.payments(attempt.reference)) == 1
    assert attempt.events.filter(to_status=Status.SUCCEEDED).count() == 1
