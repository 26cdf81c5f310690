"""Payout writes: create an attempt, send it once, record callbacks, resolve by asking.

No double payout rests on three rules kept here:

* an attempt's reference is stored (committed) before anything is sent, and every request to the
  provider for that attempt carries the same reference, which the provider de-duplicates;
* an attempt is sent only from ``created``, after claiming it under a row lock: the claim moves
  it to ``unknown`` in a committed transaction before the call, so a crash or a second worker
  can never send it again; only the provider's answer moves it on;
* an outcome that is not known is resolved by asking the provider, never by sending again (the
  one exception: MoMo says it never received the reference, and the resend reuses it).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import logging
import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import JSONField, Value
from django.utils import timezone

from gateway.common.crypto import decrypt_text, encrypt_text
from gateway.common.limits import json_loads_bounded, json_storable
from gateway.common.money import money_round_down
from gateway.common.problems import ConflictError, DomainError
from ramps.payouts.models import (
    PayoutAttempt,
    PayoutAttemptEvent,
    PayoutCallback,
    PayoutStatusQuery,
    Rail,
    RailFloatReport,
)
from ramps.payouts.rails import (
    QueryOutcome,
    RailCallbackError,
    RailError,
    RailNotSentError,
    RecipientNotPayableError,
    SubmitOutcome,
    rail_client,
    rail_recipient_validate,
)

logger = logging.getLogger(__name__)

Status = PayoutAttempt.Status
Processing = PayoutCallback.ProcessingStatus

# Header names never stored with a callback (credentials or session data).
_UNSAFE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})
# An unparsable callback body is kept as text up to this size (all of it in raw_body).
_UNPARSED_KEEP_BYTES = 64 * 1024
# Random bytes of a callback URL secret, and how long the one it replaces stays accepted.
CALLBACK_SECRET_BYTES = 32
CALLBACK_SECRET_GRACE_SECONDS = 24 * 3600


class PayoutValidationError(DomainError):
    slug = "payout-invalid"
    title = "The payout cannot be made as requested"
    status = 422


class PayoutRailUnavailableError(DomainError):
    """The provider could not be reached; nothing was sent. Trying later is safe."""

    slug = "payout-rail-unavailable"
    title = "The payout provider is unavailable"
    status = 503


class PayoutRetryDeadlineError(DomainError):
    """A retryable failure came too late: the rail's retry deadline has passed, so the payout
    fails for an operator (or the sender) instead of being tried again."""

    slug = "payout-retry-deadline"
    title = "The payout cannot be retried any more"
    status = 409


class PayoutConflictError(ConflictError):
    slug = "payout-conflict"
    title = "Another payout is live for this transfer"


@dataclass(frozen=True)
class CallbackRecordResult:
    callback: PayoutCallback
    attempt: PayoutAttempt | None
    changed: bool
    # The body was not usable JSON (stored as received for an operator).
    malformed: bool = False


# -- create ------------------------------------------------------------------------------------


def _recipient_e164(rail: Rail, recipient_msisdn: str) -> str:
    try:
        return rail_recipient_validate(rail, recipient_msisdn)
    except RecipientNotPayableError as exc:
        raise PayoutValidationError(exc.detail, extra=exc.extra) from None


def payout_attempt_create(*, rail: Rail, owner_reference: str, amount: Decimal, currency: str,
                          recipient_msisdn: str, remarks: str,
                          instructed: bool = False) -> PayoutAttempt:
    """Validate and store a new attempt (status ``created``) with a fresh reference.

    ``instructed``: a new instruction from the sender or an operator (a corrected recipient, a
    retry or a reroute after a definitive failure) starts afresh, outside the automatic retry
    backoff and deadline of earlier attempts.

    Call it inside the caller's transaction so the attempt commits with the state change that
    asked for it. If ``owner_reference`` already has a live attempt, that attempt is returned
    (the same payout asked for twice), unless it pays something else, which is a conflict.
    """
    if not rail.is_active:
        raise PayoutValidationError(f"Rail {rail.code} is not active.")
    if currency != rail.currency:
        raise PayoutValidationError(f"Rail {rail.code} pays {rail.currency}, not {currency}.")
    if not isinstance(amount, Decimal):
        raise PayoutValidationError("The amount must be a Decimal.")
    msisdn = _recipient_e164(rail, recipient_msisdn)
    try:
        rounded = money_round_down(amount, currency, exponent=rail.amount_exponent)
    except ValueError as exc:
        raise PayoutValidationError(f"Rail {rail.code} is misconfigured: {exc}") from exc
    if rounded <= 0:
        raise PayoutValidationError(f"{amount} {currency} is not a payable amount.")
    if rounded < rail.min_amount:
        raise PayoutValidationError(
            f"{rounded} {currency} is below the minimum of {rail.min_amount} for {rail.code}.")
    if rounded > rail.max_amount:
        raise PayoutValidationError(
            f"{rounded} {currency} is above the maximum of {rail.max_amount} for {rail.code}.")
    remarks = " ".join(remarks.split())
    if not 2 <= len(remarks) <= 100:
        raise PayoutValidationError("Remarks must be 2 to 100 characters.")
    not_before = (None if instructed
                  else _retry_not_before(rail=rail, owner_reference=owner_reference))
    try:
        with transaction.atomic():
            return PayoutAttempt.objects.create(
                rail=rail, reference=str(uuid.uuid4()), owner_reference=owner_reference,
                amount=rounded, currency=currency, recipient_msisdn=msisdn, remarks=remarks,
                not_before=not_before,
            )
    except IntegrityError:
        existing = (PayoutAttempt.objects
                    .filter(owner_reference=owner_reference, status__in=PayoutAttempt.LIVE_STATUSES)
                    .first())
        if existing is None:
            raise
    if (existing.rail_id, existing.amount, existing.currency, existing.recipient_msisdn) != (
            rail.pk, rounded, currency, msisdn):
        raise PayoutConflictError(
            f"{owner_reference} already has live payout {existing.reference} "
            f"({existing.status}) with other details.")
    return existing


def _retry_not_before(*, rail: Rail, owner_reference: str) -> datetime.datetime | None:
    """When a new attempt may be sent, given the owner's earlier retryable failures.

    The wait doubles with each retryable failure (``retry_backoff_seconds``, then twice that...),
    so a busy provider is not hammered; past ``retry_deadline_seconds`` from the first attempt no
    retry starts at all, so money is not left in limbo for ever.
    """
    earlier = list(PayoutAttempt.objects.filter(owner_reference=owner_reference)
                   .order_by("created_at", "pk").values_list("created_at", "status",
                                                             "failure_kind"))
    retryable = [row for row in earlier
                 if row[1] == Status.FAILED and row[2] == PayoutAttempt.FailureKind.RETRYABLE]
    if not retryable:
        return None
    now = timezone.now()
    first_created = earlier[0][0]
    if (now - first_created).total_seconds() > rail.retry_deadline_seconds:
        raise PayoutRetryDeadlineError(
            f"{owner_reference}: {len(retryable)} retryable failure(s) since "
            f"{first_created.isoformat()}; the {rail.code} retry deadline of "
            f"{rail.retry_deadline_seconds}s has passed.")
    delay = rail.retry_backoff_seconds * 2 ** min(len(retryable) - 1, 16)
    return min(now + datetime.timedelta(seconds=delay),
               first_created + datetime.timedelta(seconds=rail.retry_deadline_seconds))


# -- submit ------------------------------------------------------------------------------------


def _locked(attempt_id: int) -> PayoutAttempt:
    return PayoutAttempt.objects.select_for_update().select_related("rail").get(pk=attempt_id)


def _save(attempt: PayoutAttempt, *fields: str) -> None:
    attempt.save(update_fields=[*fields, "updated_at"])


def _record_transition(attempt: PayoutAttempt, from_status: str, source: str) -> None:
    if attempt.status != from_status:
        PayoutAttemptEvent.objects.create(
            attempt=attempt, from_status=from_status, to_status=attempt.status, source=source,
            detail=" ".join(filter(None, [attempt.result_code, attempt.result_description])),
        )


def _apply_submit_outcome(attempt: PayoutAttempt, outcome: SubmitOutcome) -> None:
    """Record the synchronous answer on a claimed attempt; the row is locked."""
    if outcome.provider_reference and not attempt.provider_reference:
        attempt.provider_reference = outcome.provider_reference[:64]
        _save(attempt, "provider_reference")
    if attempt.status != Status.UNKNOWN:
        # A callback got here first and settled it; its verdict stands.
        return
    from_status = attempt.status
    attempt.result_code = outcome.result_code[:64]
    attempt.result_description = outcome.result_description
    fields = ["result_code", "result_description"]
    if outcome.status == "accepted":
        attempt.status = Status.SUBMITTED
        fields.append("status")
    elif outcome.status == "rejected":
        attempt.status = Status.FAILED
        attempt.failure_kind = outcome.failure_kind
        attempt.completed_at = timezone.now()
        attempt.raw_result = outcome.raw
        fields += ["status", "failure_kind", "completed_at", "raw_result"]
    _save(attempt, *fields)
    _record_transition(attempt, from_status, "submit")


def _send(attempt: PayoutAttempt, *, result_url: str, timeout_url: str) -> PayoutAttempt:
    """Send a claimed attempt (status ``unknown``, committed) and record the answer."""
    try:
        outcome = rail_client(attempt.rail).submit(attempt, result_url=result_url,
                                                   timeout_url=timeout_url)
    except RailNotSentError as exc:
        return _release_claim(attempt, exc)
    with transaction.atomic():
        locked = _locked(attempt.pk)
        _apply_submit_outcome(locked, outcome)
    logger.info("Payout %s sent: %s -> %s", locked.reference, outcome.status, locked.status)
    return locked


def _release_claim(attempt: PayoutAttempt, exc: RailNotSentError) -> PayoutAttempt:
    """Nothing left: hand the attempt back to ``created`` so that a later try may send it."""
    logger.warning("Payout %s not sent: %s", attempt.reference, exc)
    with transaction.atomic():
        locked = _locked(attempt.pk)
        if locked.status == Status.UNKNOWN and locked.submitted_at == attempt.submitted_at:
            locked.status = Status.CREATED
            locked.submitted_at = None
            locked.result_description = f"not sent: {exc}"
            _save(locked, "status", "submitted_at", "result_description")
            _record_transition(locked, Status.UNKNOWN, "release")
    raise PayoutRailUnavailableError(f"Payout {attempt.reference} was not sent: {exc}") from exc


def _waiting(attempt: PayoutAttempt) -> bool:
    return attempt.not_before is not None and attempt.not_before > timezone.now()


def payout_attempt_submit(*, attempt: PayoutAttempt, result_url: str,
                          timeout_url: str) -> PayoutAttempt:
    """Send the attempt to its provider, once.

    Only an attempt in ``created`` whose backoff (``not_before``) has passed is sent; any other
    is returned as it is. Where the provider offers an account-holder check (MoMo), the
    recipient is checked first, and an inactive one fails the attempt (final) without sending.
    Must not run inside a transaction: the claim has to be committed before the request leaves.
    Raises ``PayoutRailUnavailableError`` (attempt back in ``created``) when the provider could
    not be reached at all.
    """
    current = PayoutAttempt.objects.select_related("rail").get(pk=attempt.pk)
    if current.status != Status.CREATED or _waiting(current):
        return current
    client = rail_client(current.rail)
    try:
        active = client.recipient_active(current.recipient_msisdn)
    except RailError as exc:
        raise PayoutRailUnavailableError(
            f"Recipient of {current.reference} could not be checked: {exc}") from exc
    with transaction.atomic(durable=True):
        locked = _locked(attempt.pk)
        if locked.status != Status.CREATED:
            return locked
        if active is False:
            # Refused before anything is sent: the recipient has to be corrected, not retried.
            locked.status = Status.FAILED
            locked.failure_kind = PayoutAttempt.FailureKind.FINAL
            locked.result_code = "ACCOUNT_HOLDER_INACTIVE"
            locked.result_description = "The provider reports no active account for the recipient."
            locked.completed_at = timezone.now()
            _save(locked, "status", "failure_kind", "result_code", "result_description",
                  "completed_at")
            _record_transition(locked, Status.CREATED, "recipient_check")
            return locked
        locked.status = Status.UNKNOWN
        locked.submitted_at = timezone.now()
        _save(locked, "status", "submitted_at")
        _record_transition(locked, Status.CREATED, "submit")
    return _send(locked, result_url=result_url, timeout_url=timeout_url)


# -- results (callbacks and queries) -----------------------------------------------------------


def _apply_result(attempt: PayoutAttempt, result: QueryOutcome, *, source: str) -> bool:
    """Move a locked attempt by a provider's verdict. Returns whether its status changed."""
    from_status = attempt.status
    changed = _apply_verdict(attempt, result)
    _record_transition(attempt, from_status, source)
    if changed and result.float_balance is not None:
        RailFloatReport.objects.create(
            rail=attempt.rail, amount=result.float_balance, currency=attempt.rail.currency,
            source=RailFloatReport.Source.RESULT, reference=attempt.reference,
            raw={"result_code": result.result_code})
    return changed


def _apply_verdict(attempt: PayoutAttempt, result: QueryOutcome) -> bool:
    if attempt.is_final:
        return False
    now = timezone.now()
    if result.status in ("succeeded", "failed"):
        attempt.status = Status.SUCCEEDED if result.status == "succeeded" else Status.FAILED
        attempt.failure_kind = result.failure_kind if result.status == "failed" else ""
        if result.provider_reference:
            attempt.provider_reference = result.provider_reference[:64]
        if result.provider_receipt:
            attempt.provider_receipt = result.provider_receipt[:64]
        attempt.result_code = result.result_code[:64]
        attempt.result_description = result.result_description
        attempt.completed_at = now
        attempt.raw_result = result.raw
        attempt.submitted_at = attempt.submitted_at or now
        _save(attempt, "status", "failure_kind", "provider_reference", "provider_receipt",
              "result_code", "result_description", "completed_at", "raw_result", "submitted_at")
        return True
    if result.status == "pending" and attempt.status == Status.UNKNOWN:
        # The provider holds the request: no longer unknown, its result is awaited.
        attempt.status = Status.SUBMITTED
        if result.provider_reference and not attempt.provider_reference:
            attempt.provider_reference = result.provider_reference[:64]
        _save(attempt, "status", "provider_reference")
        return True
    if result.status == "not_found" and attempt.status == Status.UNKNOWN:
        # The provider cannot say (Daraja's status query failed or knows nothing). Sending again
        # could pay twice, so the attempt stays unknown for an operator to settle.
        attempt.failure_kind = PayoutAttempt.FailureKind.NEEDS_OPERATOR
        attempt.result_code = result.result_code[:64]
        attempt.result_description = result.result_description
        _save(attempt, "failure_kind", "result_code", "result_description")
    return False


def _conflicts(attempt: PayoutAttempt, result: QueryOutcome) -> bool:
    """A verdict that contradicts the attempt's final state: money may have moved unexpectedly."""
    if not attempt.is_final or result.status not in ("succeeded", "failed"):
        return False
    return (result.status == "succeeded") != (attempt.status == Status.SUCCEEDED)


def _safe_headers(headers: dict[str, Any]) -> dict[str, str]:
    return {json_storable(str(key)): json_storable(str(value))
            for key, value in (headers or {}).items()
            if str(key).lower() not in _UNSAFE_HEADERS}


def _parse_raw_body(raw_body: bytes) -> tuple[Any, str]:
    """(parsed body, error); an unparsable body is kept as text for the operator."""
    try:
        return json_loads_bounded(raw_body, parse_float=Decimal), ""
    except ValueError as exc:  # JSONTooDeepError, invalid JSON or UTF-8
        text = raw_body[:_UNPARSED_KEEP_BYTES].decode("utf-8", "replace")
        return {"unparsed": text}, f"body is not usable JSON: {exc}"[:500]


def _needs_confirmation(attempt: PayoutAttempt, result: QueryOutcome) -> bool:
    """Whether a payment's own result (not a status answer) must be confirmed by a status query
    before it is acted on: every failure (it may lead to a new payment), and a success that does
    not carry the provider's id of the request it claims to settle."""
    if attempt.is_final:
        return False  # changes nothing either way; recorded as duplicate or conflict
    if result.status == "failed":
        return True
    if result.status == "succeeded":
        return (not attempt.provider_reference
                or result.provider_reference != attempt.provider_reference)
    return False


def _status_query_answered(attempt: PayoutAttempt, nonce: str) -> PayoutStatusQuery | None:
    """The status query of ``attempt`` that carried ``nonce``, marked answered; None if this
    gateway sent no such query (a forged or misdirected answer)."""
    if not nonce:
        return None
    query = PayoutStatusQuery.objects.filter(attempt=attempt, nonce=nonce).first()
    if query is not None and query.answered_at is None:
        query.answered_at = timezone.now()
        query.save(update_fields=["answered_at", "updated_at"])
    return query


def _held(attempt: PayoutAttempt) -> list[tuple[PayoutCallback, QueryOutcome]]:
    """Callbacks of ``attempt`` held for confirmation, with what each claimed."""
    client = rail_client(attempt.rail)
    held = []
    for callback in (PayoutCallback.objects.filter(attempt=attempt,
                                                   processing_status=Processing.UNCONFIRMED)
                     .order_by("created_at", "pk")):
        try:
            held.append((callback, client.parse_callback(callback.body, callback.headers)))
        except RailCallbackError:
            continue
    return held


def _confirmed_failure(result: QueryOutcome,
                       held: list[tuple[PayoutCallback, QueryOutcome]]) -> QueryOutcome:
    """A failure the status query confirmed, described by the held result that reported it.

    The status query says only that nothing was paid; the payment's own result says why, and so
    whether trying again can help. Retryable only if every held failure says so.
    """
    claims = [claim for _, claim in held if claim.status == "failed"]
    if not claims:
        return result
    decisive = next((claim for claim in claims
                     if claim.failure_kind != PayoutAttempt.FailureKind.RETRYABLE), claims[-1])
    return dataclasses.replace(
        result, failure_kind=decisive.failure_kind, result_code=decisive.result_code,
        result_description=f"{decisive.result_description} (confirmed by a status query)",
        provider_reference=result.provider_reference or decisive.provider_reference)


def _confirmed_success(result: QueryOutcome,
                       held: list[tuple[PayoutCallback, QueryOutcome]]) -> QueryOutcome:
    """A success the status query confirmed, with what only the payment's own result reports
    (the account balance after it), taken from a held result that claimed success."""
    claims = [claim for _, claim in held if claim.status == "succeeded"]
    if not claims:
        return result
    return dataclasses.replace(
        result, float_balance=result.float_balance if result.float_balance is not None
        else claims[-1].float_balance,
        provider_receipt=result.provider_receipt or claims[-1].provider_receipt)


def _held_settle(held: list[tuple[PayoutCallback, QueryOutcome]], verdict: QueryOutcome) -> None:
    """Mark held callbacks once the provider's answer settled their attempt."""
    for callback, claim in held:
        if claim.status == verdict.status:
            callback.processing_status = Processing.APPLIED
            callback.error = ""
        else:
            callback.processing_status = Processing.ERROR
            callback.error = (f"claimed {claim.status}; the provider's status query says "
                              f"{verdict.status}")
            logger.error("Payout callback %s claimed %s for %s; the provider says %s",
                         callback.pk, claim.status, callback.reference, verdict.status)
        callback.save(update_fields=["processing_status", "error", "updated_at"])


def _confirm_by_query(attempt_id: int, result_url: str, timeout_url: str) -> None:
    attempt = PayoutAttempt.objects.select_related("rail").get(pk=attempt_id)
    try:
        payout_attempt_query(attempt=attempt, result_url=result_url, timeout_url=timeout_url)
    except PayoutRailUnavailableError as exc:
        # The attempt stays unresolved; the sweep asks again.
        logger.warning("Payout %s: confirmation query not sent: %s", attempt.reference,
                       exc.detail)


def payout_callback_record(*, rail: Rail, headers: dict[str, Any], body: Any = None,
                           raw_body: bytes | None = None, confirm_result_url: str = "",
                           confirm_timeout_url: str = "") -> CallbackRecordResult:
    """Store a provider callback as received, then apply it to its attempt at most once.

    Give ``raw_body`` (the request body as received; parsed here) or an already parsed ``body``.
    The callback is saved first, so nothing is lost if processing fails: a body that is not JSON,
    or holds NUL characters, is kept (the exact bytes in ``raw_body``). A callback whose reference
    matches no attempt of this rail is kept as ``unmatched`` and changes nothing.

    No verdict that could lead to a new payment is taken from a callback body alone. MoMo: the
    verdict applied is the provider's answer to a status request made here. Daraja: a failure,
    or a success without the ConversationID Daraja gave when it accepted the payment, is held
    (``unconfirmed``) and a status query is sent once the caller's transaction commits (to
    ``confirm_result_url``; without it the sweep's next query confirms); the answer, accepted
    only with the nonce of a query this gateway sent, decides.
    """
    parse_error = ""
    if body is None:
        body, parse_error = _parse_raw_body(raw_body or b"")
    body = json_storable(body)
    # A top-level JSON null is kept as JSON null (Django would write SQL NULL for None).
    callback = PayoutCallback.objects.create(
        rail=rail, body=body if body is not None else Value(None, JSONField()),
        raw_body=raw_body, headers=_safe_headers(headers))
    if parse_error:
        callback.processing_status = Processing.ERROR
        callback.error = parse_error
        callback.save(update_fields=["processing_status", "error", "updated_at"])
        return CallbackRecordResult(callback, None, False, malformed=True)
    client = rail_client(rail)
    try:
        result = client.parse_callback(body, headers)
    except (RailCallbackError, TypeError, AttributeError, ValueError, ArithmeticError) as exc:
        # A body of the wrong shape is the sender's fault, whatever the parser tripped on: kept
        # for the operator, never a 500 that the provider would retry.
        callback.processing_status = Processing.ERROR
        callback.error = str(exc)[:500] or type(exc).__name__
        callback.save(update_fields=["processing_status", "error", "updated_at"])
        return CallbackRecordResult(callback, None, False)
    callback.reference = result.reference[:64]
    attempt = PayoutAttempt.objects.filter(rail=rail, reference=result.reference).first()
    if attempt is None:
        callback.processing_status = Processing.UNMATCHED
        callback.save(update_fields=["reference", "processing_status", "updated_at"])
        logger.warning("Payout callback %s for unknown reference %s on %s", callback.pk,
                       result.reference, rail.code)
        return CallbackRecordResult(callback, None, False)
    callback.attempt = attempt
    held: list[tuple[PayoutCallback, QueryOutcome]] = []
    if client.synchronous_query:
        if not attempt.is_final:
            try:
                result = client.query(attempt, result_url="", timeout_url="")
            except RailError as exc:
                callback.error = f"could not confirm with the provider: {exc}"
                callback.save(update_fields=["reference", "attempt", "error", "updated_at"])
                return CallbackRecordResult(callback, attempt, False)
    elif result.is_status_answer:
        if _status_query_answered(attempt, result.query_nonce) is None:
            callback.processing_status = Processing.ERROR
            callback.error = "answer to a status query this gateway did not send"
            callback.save(update_fields=["reference", "attempt", "processing_status", "error",
                                         "updated_at"])
            logger.warning("Payout callback %s: status answer for %s without a known query "
                           "nonce; ignored", callback.pk, attempt.reference)
            return CallbackRecordResult(callback, attempt, False)
        held = _held(attempt)
        if result.status == "failed":
            result = _confirmed_failure(result, held)
        elif result.status == "succeeded":
            result = _confirmed_success(result, held)
    elif _needs_confirmation(attempt, result):
        callback.processing_status = Processing.UNCONFIRMED
        callback.save(update_fields=["reference", "attempt", "processing_status", "updated_at"])
        logger.info("Payout %s: callback %s reports %s; held until a status query confirms it",
                    attempt.reference, callback.pk, result.status)
        if confirm_result_url:
            transaction.on_commit(
                functools.partial(_confirm_by_query, attempt.pk, confirm_result_url,
                                  confirm_timeout_url), robust=True)
        return CallbackRecordResult(callback, attempt, False)
    with transaction.atomic():
        attempt = _locked(attempt.pk)
        was_final = attempt.is_final
        if _conflicts(attempt, result):
            callback.processing_status = Processing.ERROR
            callback.error = (f"provider reports {result.status} for an attempt already "
                              f"{attempt.status}")
            logger.error("Payout %s: callback %s says %s but the attempt is %s",
                         attempt.reference, callback.pk, result.status, attempt.status)
            changed = False
        else:
            changed = _apply_result(attempt, result, source="callback")
            callback.processing_status = Processing.DUPLICATE if was_final else Processing.APPLIED
        callback.save(update_fields=["reference", "attempt", "processing_status", "error",
                                     "updated_at"])
        if held and result.status in ("succeeded", "failed"):
            _held_settle(held, result)
    return CallbackRecordResult(callback, attempt, changed)


def payout_attempt_query(*, attempt: PayoutAttempt, result_url: str,
                         timeout_url: str) -> PayoutAttempt:
    """Ask the provider about a non-final attempt and apply its answer.

    MoMo answers at once. Daraja's answer arrives later at ``result_url`` and is applied by
    ``payout_callback_record``; the attempt is returned unchanged meanwhile. The query's nonce is
    stored before the query leaves (commit first: call this outside a transaction), so that the
    answer can be told from a forgery. If MoMo has never received an attempt whose outcome is
    unknown, it is sent again under the same reference (MoMo refuses a second transfer with it,
    so at most one can exist).
    """
    attempt = PayoutAttempt.objects.select_related("rail").get(pk=attempt.pk)
    if attempt.is_final:
        return attempt
    client = rail_client(attempt.rail)
    nonce = ""
    if not client.synchronous_query:
        nonce = secrets.token_hex(16)
        PayoutStatusQuery.objects.create(attempt=attempt, nonce=nonce)
    try:
        outcome = client.query(attempt, result_url=result_url, timeout_url=timeout_url,
                               nonce=nonce)
    except RailError as exc:
        raise PayoutRailUnavailableError(
            f"Status of {attempt.reference} unavailable: {exc}") from exc
    if outcome is None:
        return attempt
    if outcome.status == "not_found":
        if attempt.status == Status.UNKNOWN and client.synchronous_query:
            logger.info("Payout %s unknown to the provider; sending again under the same "
                        "reference", attempt.reference)
            return _send(attempt, result_url=result_url, timeout_url=timeout_url)
        return attempt
    with transaction.atomic():
        locked = _locked(attempt.pk)
        _apply_result(locked, outcome, source="query")
    return locked


# -- callback secrets ---------------------------------------------------------------------------


def rail_callback_secret_rotate(*, rail: Rail, grace_seconds: int = CALLBACK_SECRET_GRACE_SECONDS,
                                only_if_missing: bool = False) -> Rail:
    """Give the rail a new random callback secret (stored encrypted).

    The one it replaces stays accepted for ``grace_seconds``, so results of requests already sent
    with the old URL still arrive; after that it answers 404 and the sweep's status queries (sent
    with the new URL) settle what is left. With ``only_if_missing`` a rail that has a secret is
    left as it is (first use).
    """
    if grace_seconds < 0:
        raise PayoutValidationError("The grace period cannot be negative.")
    with transaction.atomic():
        locked = Rail.objects.select_for_update().get(pk=rail.pk)
        if only_if_missing and locked.callback_secret:
            return locked
        now = timezone.now()
        fields = ["callback_secret", "callback_secret_rotated_at", "updated_at"]
        if locked.callback_secret:
            locked.callback_secret_previous = locked.callback_secret
            locked.callback_secret_previous_until = now + datetime.timedelta(seconds=grace_seconds)
            fields += ["callback_secret_previous", "callback_secret_previous_until"]
        locked.callback_secret = encrypt_text(secrets.token_urlsafe(CALLBACK_SECRET_BYTES))
        locked.callback_secret_rotated_at = now
        locked.save(update_fields=fields)
    logger.info("Callback secret of rail %s %s", locked.code,
                "set" if "callback_secret_previous" not in fields else
                f"rotated; the previous one is accepted until "
                f"{locked.callback_secret_previous_until.isoformat()}")
    rail.callback_secret = locked.callback_secret
    return locked


def rail_callback_secret(*, rail: Rail) -> str:
    """The rail's current callback secret in clear, for a callback URL; made on first use."""
    stored = Rail.objects.filter(pk=rail.pk).values_list("callback_secret", flat=True).first()
    if not stored:
        stored = rail_callback_secret_rotate(rail=rail, only_if_missing=True).callback_secret
    return decrypt_text(stored)



# -- float ---------------------------------------------------------------------------------------


def rail_float_reported(*, rail: Rail) -> RailFloatReport | None:
    """The provider's latest word on the rail's available float, for reconciliation against the
    ledger's float accounts.

    A provider with a balance request (MoMo) is asked now and the answer recorded; one that
    reports the balance only with results (Daraja) gives the latest recorded one, or None
    before any. Raises ``PayoutRailUnavailableError`` when the balance request fails.
    """
    try:
        report = rail_client(rail).balance()
    except RailError as exc:
        raise PayoutRailUnavailableError(f"Balance of {rail.code} unavailable: {exc}") from exc
    if report is None:
        return RailFloatReport.objects.filter(rail=rail).order_by("-created_at", "-pk").first()
    if report.currency != rail.currency:
        logger.warning("Rail %s reports its balance in %s, not %s", rail.code, report.currency,
                       rail.currency)
    return RailFloatReport.objects.create(rail=rail, amount=report.amount,
                                          currency=report.currency,
                                          source=RailFloatReport.Source.BALANCE, raw=report.raw)


def payout_attempt_settle_manually(*, attempt: PayoutAttempt, paid: bool, operator: str,
                                   note: str, provider_receipt: str = "") -> PayoutAttempt:
    """An operator's verdict on an attempt the provider never settled (pending or unknown past
    every query), after checking with the provider by other means (its portal, a statement).

    Recorded as the attempt's final status with the operator as its source; refused for an
    attempt that is already final (its verdict came from the provider) and without a note.
    """
    if not note.strip():
        raise PayoutValidationError("A note saying how the provider confirmed it is required.")
    with transaction.atomic():
        locked = _locked(attempt.pk)
        if locked.is_final or locked.status == Status.CREATED:
            raise PayoutValidationError(
                f"Payout {locked.reference} is {locked.status}: only a sent payout whose outcome "
                "the provider never gave can be settled by hand.")
        result = QueryOutcome(
            status="succeeded" if paid else "failed", reference=locked.reference,
            provider_receipt=provider_receipt.strip()[:64],
            result_code="operator", result_description=" ".join(note.split())[:200],
            failure_kind="" if paid else PayoutAttempt.FailureKind.FINAL,
            raw={"operator": operator, "note": note[:500]})
        _apply_result(locked, result, source=f"operator:{operator}")
        return locked
