"""Redemption codes, lookups with lockout, exactly-once cash payout, agent float and commission.

A code is derived from a random nonce with a server key (HMAC) and stored only as another HMAC,
so the database alone neither holds nor reveals it; the gateway can still show the current code
to the sender. Payout at the counter is one transaction: the redemption row is locked, the fact
is recorded (``RedemptionEvent``) and handed to the payouts' owner (``owner.py``), which
completes the transfer and books the payout liability to the agent's float (floor zero) and the
commission owed to the network. Nothing here imports the transfer state machine or the ledger.
"""

import base64
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from gateway.common.money import money_round
from gateway.common.movements import movement_amount, movement_reference
from gateway.common.problems import DomainError, InvalidTransitionError
from ramps.payouts.agents.models import (
    Agent,
    AgentNetwork,
    AgentStaff,
    CashPickupCorridor,
    LookupAudit,
    LookupThrottle,
    Redemption,
    RedemptionEvent,
)
from ramps.payouts.agents.notifier import sms_send
from ramps.payouts.agents.owner import (
    BLOCKER_EXPIRED,
    BLOCKER_FUNDING,
    BLOCKER_ON_HOLD,
    BLOCKER_REFUNDING,
    FloatShortError,
    Movement,
    cash_pickup_owner,
)
from ramps.payouts.agents.selectors import (
    agent_float_balance,
    agent_is_open,
    agent_paid_today_total,
)

logger = logging.getLogger(__name__)
Outcome = LookupAudit.Outcome
Fact = RedemptionEvent.Kind
# Kinds of the ledger accounts cash pickup touches (the owner's ledger names them so).
ASSET, LIABILITY, EXPENSE = "asset", "liability", "expense"

# Crockford base32: no I, L, O, U, so a code read aloud or copied by hand survives.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12  # 60 bits
_CROCKFORD_FROM_RFC4648 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", CODE_ALPHABET)
_READ_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_CODE_SEPARATORS = re.compile(r"[\s\-]")

ID_DOCUMENT_TYPES = {
    "national_id": "National ID card",
    "passport": "Passport",
    "driving_licence": "Driving licence",
    "refugee_id": "Refugee ID",
}

DEFAULT_PICKUP_WINDOW_SECONDS = 7 * 24 * 3600


# --- errors ---------------------------------------------------------------------------------------


class CodeNotFoundError(DomainError):
    slug = "unknown-redemption-code"
    title = "No payable code matches"
    status = 404


class LockedOutError(DomainError):
    slug = "lookups-locked-out"
    title = "Too many wrong codes: lookups are locked"
    status = 429


class RedemptionNotPayableError(DomainError):
    slug = "redemption-not-payable"
    title = "This code cannot be paid out"
    status = 409


class AgentNotAllowedError(DomainError):
    slug = "agent-not-allowed"
    title = "This agent or staff member may not do this"
    status = 403


class AgentLimitError(DomainError):
    slug = "agent-limit-exceeded"
    title = "The payout exceeds the agent's limits"
    status = 409


class InsufficientAgentFloatError(DomainError):
    slug = "insufficient-agent-float"
    title = "The agent's float cannot cover this payout"
    status = 409


class InvalidIdDocumentError(DomainError):
    slug = "invalid-id-document"
    title = "The ID document is missing or invalid"
    status = 422


# --- codes ----------------------------------------------------------------------------------------


def _code_secret() -> str:
    """Server key of the codes; a key of its own when configured, else derived from the Django
    secret (``salted_hmac`` separates the uses)."""
    return getattr(settings, "AGENTS_REDEMPTION_CODE_KEY", "") or settings.SECRET_KEY


# The HMAC salts below name the app's former module (gateway.agents) and must stay as they are:
# another salt would turn every code already issued into a different one.


def redemption_code_derive(*, transfer_public_id: str, nonce: str) -> str:
    digest = salted_hmac("gateway.agents.redemption-code", f"{transfer_public_id}:{nonce}",
                         secret=_code_secret(), algorithm="sha256").digest()
    return base64.b32encode(digest).decode()[:CODE_LENGTH].translate(_CROCKFORD_FROM_RFC4648)


def redemption_code_normalize(code: str) -> str | None:
    """Upper case, separators dropped, read-alikes mapped; ``None`` if it cannot be a code."""
    if not isinstance(code, str) or len(code) > 40:
        return None
    cleaned = _CODE_SEPARATORS.sub("", code).upper().translate(_READ_ALIKES)
    if len(cleaned) != CODE_LENGTH or any(char not in CODE_ALPHABET for char in cleaned):
        return None
    return cleaned


def redemption_code_hash(normalized_code: str) -> str:
    return salted_hmac("gateway.agents.redemption-lookup", normalized_code,
                       secret=_code_secret(), algorithm="sha256").hexdigest()


def redemption_code_display(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def redemption_code_current(*, redemption: Redemption) -> str:
    """The code the recipient holds now (for the sender's API), checked against the stored hash."""
    code = redemption_code_derive(transfer_public_id=str(redemption.transfer.public_id),
                                  nonce=redemption.code_nonce)
    if not constant_time_compare(redemption_code_hash(code), redemption.code_hash):
        raise DomainError("The code key changed since this code was issued; reissue it.",
                          slug="redemption-code-key-changed", status=409)
    return redemption_code_display(code)


def _new_code(transfer: Any) -> tuple[str, str, str]:
    nonce = secrets.token_hex(16)
    code = redemption_code_derive(transfer_public_id=str(transfer.public_id), nonce=nonce)
    return nonce, code, redemption_code_hash(code)


def _pickup_rule(transfer: Any) -> CashPickupCorridor:
    rule = CashPickupCorridor.objects.select_related("network").filter(
        corridor_id=transfer.corridor_id).first()
    if rule is None:
        raise DomainError(f"Corridor {transfer.corridor_id} has no cash-pickup network.",
                          slug="no-cash-pickup-network", status=409)
    return rule


def _notify_recipient(*, transfer: Any, redemption: Redemption, code: str) -> None:
    """Queue the SMS for after commit: a rolled-back issue sends nothing."""
    phone = (transfer.recipient or {}).get("phone_number", "")
    if not phone:
        logger.warning("transfer %s has no recipient phone for its code", transfer.public_id)
        return
    amount = money_round(redemption.amount, redemption.currency)
    message = (f"You can collect {amount} {redemption.currency} at any "
               f"{redemption.network.name} agent. Code: {redemption_code_display(code)}, "
               f"valid until {redemption.expires_at:%Y-%m-%d %H:%M} UTC. Bring your ID.")
    transaction.on_commit(lambda: sms_send(phone_number=phone, message=message), robust=True)


def _record(redemption: Redemption, kind: str, *, actor: str, detail: str = "") -> None:
    RedemptionEvent.objects.create(redemption=redemption, kind=kind, actor=actor[:120],
                                   detail=detail[:300], issue_number=redemption.issue_number)


def redemption_issue(*, transfer: Any) -> Redemption:
    """Issue the code of a cash-pickup transfer whose payout liability is booked.

    Meant to run inside the caller's transaction while the transfer waits for its cash payout
    (its owner names no blocker); calling it again for the same transfer returns the existing
    redemption and sends nothing.
    """
    blocker = cash_pickup_owner().payout_blocker(owner=transfer)
    if blocker:
        raise InvalidTransitionError(
            f"Transfer {transfer.public_id} cannot be paid out now ({blocker}); codes are "
            "issued while it waits for its payout.")
    existing = Redemption.objects.filter(transfer=transfer).first()
    if existing is not None:
        return existing
    rule = _pickup_rule(transfer)
    nonce, code, code_hash = _new_code(transfer)
    now = timezone.now()
    try:
        with transaction.atomic():
            redemption = Redemption.objects.create(
                transfer=transfer, network=rule.network, code_hash=code_hash, code_nonce=nonce,
                issued_at=now, expires_at=now + timedelta(seconds=rule.pickup_window_seconds),
                amount=transfer.amount_out, currency=transfer.currency_out,
            )
            _record(redemption, Fact.ISSUED, actor="agents",
                    detail=f"valid until {redemption.expires_at.isoformat()}")
    except IntegrityError:
        return Redemption.objects.get(transfer=transfer)
    _notify_recipient(transfer=transfer, redemption=redemption, code=code)
    logger.info("redemption code issued for transfer %s", transfer.public_id)
    return redemption


def redemption_reissue(*, redemption_id: int, actor: str) -> Redemption:
    """Replace the code (the old one stops working at once) and restart the pickup window."""
    with transaction.atomic():
        redemption = (Redemption.objects.select_for_update()
                      .select_related("transfer", "network").get(pk=redemption_id))
        transfer = redemption.transfer
        blocker = cash_pickup_owner().payout_blocker(owner=transfer)
        if redemption.status != Redemption.Status.ISSUED or blocker:
            raise RedemptionNotPayableError(
                f"The code of transfer {transfer.public_id} cannot be reissued: it is "
                f"{redemption.status} and the transfer {blocker or 'waits for its payout'}.")
        rule = _pickup_rule(transfer)
        nonce, code, code_hash = _new_code(transfer)
        now = timezone.now()
        redemption.code_nonce, redemption.code_hash = nonce, code_hash
        redemption.issue_number += 1
        redemption.issued_at = now
        redemption.expires_at = now + timedelta(seconds=rule.pickup_window_seconds)
        redemption.uncollected_action, redemption.uncollected_handled_at = "", None
        redemption.save(update_fields=["code_nonce", "code_hash", "issue_number", "issued_at",
                                       "expires_at", "uncollected_action",
                                       "uncollected_handled_at", "updated_at"])
        _record(redemption, Fact.REISSUED, actor=actor,
                detail=f"valid until {redemption.expires_at.isoformat()}")
        _notify_recipient(transfer=transfer, redemption=redemption, code=code)
    logger.info("redemption code of transfer %s reissued by %s (issue %s)", transfer.public_id,
                actor, redemption.issue_number)
    return redemption


def redemption_hold(*, redemption_id: int, operator: str, hold: bool) -> Redemption:
    """An operator stops (or allows again) the payout of one code."""
    with transaction.atomic():
        redemption = Redemption.objects.select_for_update().get(pk=redemption_id)
        source = Redemption.Status.ISSUED if hold else Redemption.Status.HELD
        if redemption.status != source:
            raise RedemptionNotPayableError(f"The redemption is {redemption.status}.")
        redemption.status = Redemption.Status.HELD if hold else Redemption.Status.ISSUED
        redemption.save(update_fields=["status", "updated_at"])
        _record(redemption, Fact.HELD if hold else Fact.RELEASED, actor=f"operator:{operator}")
    logger.info("redemption %s %s by %s", redemption.public_id,
                "held" if hold else "released", operator)
    return redemption


# --- lookups, throttles, audit --------------------------------------------------------------------


@dataclass(frozen=True)
class Counter:
    """Who is at the counter: the agent, and the staff account or network API key acting."""

    agent: Agent
    channel: str
    staff: AgentStaff | None = None
    api_key_prefix: str = ""
    operator_reference: str = ""
    client_ip: str | None = None


def _throttle_limits(counter: Counter) -> list[tuple[str, str, int]]:
    limits = [(LookupThrottle.Scope.AGENT, str(counter.agent.pk),
               getattr(settings, "AGENTS_LOOKUP_FAILURES_PER_AGENT", 20))]
    if counter.staff is not None:
        limits.append((LookupThrottle.Scope.STAFF, str(counter.staff.pk),
                       getattr(settings, "AGENTS_LOOKUP_FAILURES_PER_STAFF", 5)))
    if counter.api_key_prefix:
        limits.append((LookupThrottle.Scope.API_KEY, counter.api_key_prefix,
                       getattr(settings, "AGENTS_LOOKUP_FAILURES_PER_API_KEY", 20)))
    return limits


def _throttles_lock(counter: Counter, now: datetime) -> list[tuple[LookupThrottle, int]]:
    """Lock the counter's throttle rows (created on first use), always in one order."""
    limits = _throttle_limits(counter)
    for scope, subject, _ in limits:
        LookupThrottle.objects.get_or_create(scope=scope, subject=subject,
                                             defaults={"window_started_at": now})
    rows = {(row.scope, row.subject): row for row in LookupThrottle.objects.select_for_update()
            .filter(scope__in=[s for s, _, _ in limits], subject__in=[x for _, x, _ in limits])
            .order_by("scope", "subject")}
    return [(rows[(scope, subject)], limit) for scope, subject, limit in limits]


def _throttles_fail(throttles: list[tuple[LookupThrottle, int]], now: datetime) -> int:
    """Count one failure on each row; lock rows that reach their limit. Returns attempts left."""
    window = timedelta(seconds=getattr(settings, "AGENTS_LOOKUP_FAILURE_WINDOW_SECONDS", 900))
    lockout = timedelta(seconds=getattr(settings, "AGENTS_LOOKUP_LOCKOUT_SECONDS", 1800))
    left = []
    for row, limit in throttles:
        if now - row.window_started_at > window:
            row.failures, row.window_started_at = 0, now
        row.failures += 1
        if row.failures >= limit:
            row.locked_until = now + lockout
            row.failures, row.window_started_at = 0, now
            left.append(0)
        else:
            left.append(limit - row.failures)
        row.save(update_fields=["failures", "window_started_at", "locked_until", "updated_at"])
    return min(left)


def throttle_unlock(*, throttle_id: int, operator: str) -> None:
    with transaction.atomic():
        row = LookupThrottle.objects.select_for_update().get(pk=throttle_id)
        row.failures, row.locked_until = 0, None
        row.save(update_fields=["failures", "locked_until", "updated_at"])
    logger.info("lookup lockout of %s:%s lifted by %s", row.scope, row.subject, operator)


def _not_payable_reason(redemption: Redemption, now: datetime) -> str:
    """Why this code cannot be paid now, in words for the counter; empty when it can."""
    if redemption.status == Redemption.Status.PAID:
        return f"This code was already paid out on {redemption.paid_at:%Y-%m-%d %H:%M} UTC."
    blocker = cash_pickup_owner().payout_blocker(owner=redemption.transfer)
    if redemption.status == Redemption.Status.HELD or blocker == BLOCKER_ON_HOLD:
        return "This transfer is on hold. The recipient should contact the sender."
    if blocker == BLOCKER_REFUNDING:
        return "This transfer was cancelled and is being refunded to the sender."
    if redemption.status == Redemption.Status.CANCELLED:
        return "This code was not collected in time and was cancelled."
    if blocker == BLOCKER_EXPIRED:
        return "This transfer expired."
    if blocker == BLOCKER_FUNDING:
        return ("The sender's payment for this transfer is being checked again. "
                "Ask the recipient to come back later.")
    if blocker:
        return "This transfer is not ready for payout."
    if redemption.expires_at <= now:
        return ("This code expired on "
                f"{redemption.expires_at:%Y-%m-%d %H:%M} UTC. Ask the sender to reissue it.")
    return ""


def _lookup(*, counter: Counter, code: str, action: str) -> Redemption:
    """Find a payable code for this counter, counting failures and writing the audit row.

    The audit row and the failure count commit even when the lookup fails: the error is raised
    after the transaction. A code paid by this very agent passes a confirmation (to replay its
    receipt); every other unpayable code is refused with its reason.
    """
    agent = counter.agent
    now = timezone.now()
    error: DomainError | None = None
    redemption = None
    with transaction.atomic():
        throttles = _throttles_lock(counter, now)
        locked = [row for row, _ in throttles if row.locked_until and row.locked_until > now]
        if agent.status != Agent.Status.ACTIVE or not agent.network.is_active:
            outcome, detail = Outcome.LOCKED, "agent suspended"
            error = AgentNotAllowedError(f"Agent {agent.code} is suspended.")
        elif locked:
            until = max(row.locked_until for row in locked)
            outcome, detail = Outcome.LOCKED, f"locked until {until.isoformat()}"
            error = LockedOutError(
                f"Too many wrong codes. Lookups are locked until {until:%H:%M} UTC.",
                extra={"locked_until": until.isoformat()})
        else:
            normalized = redemption_code_normalize(code)
            if normalized is not None:
                redemption = (Redemption.objects.select_related("transfer", "network")
                              .filter(code_hash=redemption_code_hash(normalized)).first())
            if normalized is None:
                outcome, detail = Outcome.INVALID_FORMAT, ""
            elif redemption is None:
                outcome, detail = Outcome.NOT_FOUND, ""
            elif redemption.network_id != agent.network_id:
                outcome, detail = Outcome.OTHER_NETWORK, f"network {redemption.network_id}"
            else:
                reason = _not_payable_reason(redemption, now)
                replay = (action == "confirm" and redemption.status == Redemption.Status.PAID
                          and redemption.paid_by_agent_id == agent.pk)
                outcome = Outcome.NOT_PAYABLE if reason and not replay else Outcome.FOUND
                detail = reason[:200]
                if outcome == Outcome.NOT_PAYABLE:
                    error = RedemptionNotPayableError(reason)
            if outcome in (Outcome.INVALID_FORMAT, Outcome.NOT_FOUND, Outcome.OTHER_NETWORK):
                left = _throttles_fail(throttles, now)
                error = CodeNotFoundError(
                    "No payable code matches. Check the code with the recipient. "
                    + (f"{left} attempt{'s' if left != 1 else ''} left before lookups are "
                       "locked." if left else "Lookups are now locked."),
                    extra={"attempts_left": left})
                redemption = None
        LookupAudit.objects.create(
            agent=agent, staff=counter.staff, api_key_prefix=counter.api_key_prefix,
            channel=counter.channel, action=action, outcome=outcome, detail=detail,
            redemption=redemption if outcome != Outcome.OTHER_NETWORK else None,
            client_ip=counter.client_ip,
        )
    if error is not None:
        logger.info("%s refused at agent %s: %s", action, agent.pk, outcome)
        raise error
    return redemption


def _counter_check(counter: Counter) -> None:
    """Portal staff see codes only if they may pay them out (a recipient's name is personal
    data); a network's point-of-sale answers for its own cashiers."""
    staff = counter.staff
    if counter.channel == LookupAudit.Channel.PORTAL and (
        staff is None or not staff.can_pay_out or not staff.is_active
        or staff.agent_id != counter.agent.pk
    ):
        raise AgentNotAllowedError("Only staff allowed to pay out can look up and pay codes.")


@dataclass(frozen=True)
class LookupResult:
    redemption: Redemption
    recipient_name: str


def redemption_lookup(*, counter: Counter, code: str) -> LookupResult:
    """What the counter may see of a payable code: amount, currency, recipient's name."""
    _counter_check(counter)
    redemption = _lookup(counter=counter, code=code, action="lookup")
    return LookupResult(redemption=redemption,
                        recipient_name=(redemption.transfer.recipient or {}).get("name", ""))


# --- payout ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfirmResult:
    redemption: Redemption
    already_paid: bool


def _id_document_clean(document_type: str, document_number: str) -> dict[str, str]:
    number = re.sub(r"\s+", "", document_number or "").upper()
    if document_type not in ID_DOCUMENT_TYPES:
        raise InvalidIdDocumentError(
            f"Choose the ID document type: {', '.join(ID_DOCUMENT_TYPES)}.")
    if not re.fullmatch(r"[A-Z0-9\-/]{4,30}", number):
        raise InvalidIdDocumentError(
            "Enter the ID document number as printed: 4 to 30 letters, digits, - or /.")
    return {"type": document_type, "number": number}


def agent_commission(*, agent: Agent, amount: Decimal) -> Decimal:
    return money_round(agent.commission_fixed + amount * agent.commission_rate, agent.currency)


def redemption_confirm(*, counter: Counter, code: str, id_document_type: str,
                       id_document_number: str) -> ConfirmResult:
    """Pay a code out at the counter, exactly once.

    Two staff at once, a double click or a retry after a lost answer all lock the same
    redemption row: the first pays; the others find it paid and, at the same agent, get the same
    receipt back with ``already_paid``. Nothing is written when any check fails.
    """
    document = _id_document_clean(id_document_type, id_document_number)
    agent, staff = counter.agent, counter.staff
    _counter_check(counter)
    found = _lookup(counter=counter, code=code, action="confirm")
    now = timezone.now()
    try:
        with transaction.atomic():
            redemption = (Redemption.objects.select_for_update()
                          .select_related("transfer", "network").get(pk=found.pk))
            if redemption.status == Redemption.Status.PAID:
                if redemption.paid_by_agent_id != agent.pk:
                    raise RedemptionNotPayableError(_not_payable_reason(redemption, now))
                return ConfirmResult(redemption=redemption, already_paid=True)
            reason = _not_payable_reason(redemption, now)
            if reason:
                raise RedemptionNotPayableError(reason)
            _payout_check_agent(agent=agent, redemption=redemption, now=now)
            amount, fiat = redemption.amount, redemption.currency
            commission = agent_commission(agent=agent, amount=amount)
            movements = [
                Movement.debit(f"liabilities:payouts:{fiat}", fiat, amount, kind=LIABILITY),
                Movement.credit(agent.float_account, fiat, amount, kind=ASSET, floor=True)]
            if commission > 0:
                movements += [
                    Movement.debit("expenses:agent-commission", fiat, commission, kind=EXPENSE),
                    Movement.credit(f"liabilities:agent-commission:{agent.network.code}", fiat,
                                    commission, kind=LIABILITY)]
            actor = (f"agent:{agent.network.code}/{agent.code}:"
                     + (staff.user.get_username() if staff else
                        counter.operator_reference or counter.api_key_prefix))[:120]
            cash_pickup_owner().redeemed(
                redemption=redemption, agent=agent, actor=actor, movements=movements,
                data={"redemption": str(redemption.public_id), "agent": str(agent),
                      "commission": str(commission)})
            redemption.status = Redemption.Status.PAID
            redemption.paid_at = now
            redemption.paid_by_agent, redemption.paid_by_staff = agent, staff
            redemption.paid_by_operator = counter.operator_reference[:120]
            redemption.id_document = document
            redemption.commission_amount = commission
            redemption.save(update_fields=["status", "paid_at", "paid_by_agent", "paid_by_staff",
                                           "paid_by_operator", "id_document",
                                           "commission_amount", "updated_at"])
            _record(redemption, Fact.REDEEMED, actor=actor,
                    detail=f"{money_round(amount, fiat)} {fiat} at {agent}, commission "
                           f"{commission}")
    except FloatShortError as exc:
        raise InsufficientAgentFloatError(
            f"The float of {agent.name} "
            f"({money_round(agent_float_balance(agent=agent), agent.currency)} {agent.currency}) "
            f"cannot cover {money_round(found.amount, found.currency)} {found.currency}. "
            "Top up the float first.") from exc
    logger.info("transfer %s paid in cash at agent %s", redemption.transfer.public_id, agent.pk)
    return ConfirmResult(redemption=redemption, already_paid=False)


def _payout_check_agent(*, agent: Agent, redemption: Redemption, now: datetime) -> None:
    if agent.currency != redemption.currency:
        raise AgentNotAllowedError(
            f"This agent pays {agent.currency}; the transfer is in {redemption.currency}.")
    if not agent_is_open(agent=agent, now=now):
        raise AgentNotAllowedError("The agent is outside its opening hours.")
    amount = money_round(redemption.amount, agent.currency)
    if amount > agent.limit_per_payout:
        raise AgentLimitError(
            f"{amount} {agent.currency} is above this agent's limit of "
            f"{money_round(agent.limit_per_payout, agent.currency)} per payout.")
    if agent_paid_today_total(agent=agent, now=now) + amount > agent.limit_per_day:
        raise AgentLimitError(f"This payout would exceed the agent's daily limit of "
                              f"{money_round(agent.limit_per_day, agent.currency)} "
                              f"{agent.currency}.")


# --- float and settlement -------------------------------------------------------------------------


def agent_float_top_up(*, agent: Agent, amount: str | Decimal, reference: str,
                       source_account: str = "") -> str:
    """Cash (or e-value) placed with the agent: the gateway's bank pays, the float grows.
    ``reference`` is the business reference of the transfer to the network (idempotent).
    Returns the ledger entry's reference."""
    value = movement_amount(amount, agent.currency)
    reference = movement_reference(reference, of="the transfer of cash")
    source = source_account or f"assets:bank:{agent.currency}"
    return cash_pickup_owner().book(
        reference=f"agent-float:{agent.network.code}:{agent.code}:top-up:{reference}",
        description=f"Float top-up of agent {agent}",
        movements=[Movement.debit(agent.float_account, agent.currency, value, kind=ASSET,
                                  floor=True),
                   Movement.credit(source, agent.currency, value, kind=ASSET)],
    )


def agent_commission_owed(*, network: AgentNetwork, currency: str) -> Decimal:
    """Commission the gateway owes ``network`` in ``currency`` (credit balance, positive)."""
    balance = cash_pickup_owner().balance(account=f"liabilities:agent-commission:{network.code}",
                                          currency=currency)
    return money_round(Decimal(0) - balance, currency)  # never "-0"


def agent_network_settle(*, network: AgentNetwork, currency: str, amount: str | Decimal,
                         reference: str, source_account: str = "") -> str:
    """Pay the network the commission it earned (its liability account cannot go below zero
    in the gateway's favour: settling more than is owed is refused). Returns the ledger
    entry's reference."""
    value = movement_amount(amount, currency)
    reference = movement_reference(reference, of="the transfer of cash")
    if agent_commission_owed(network=network, currency=currency) < value:
        raise DomainError(f"{network.name} is owed less than {value} {currency}.",
                          slug="settlement-exceeds-commission", status=409)
    return cash_pickup_owner().book(
        reference=f"agent-network:{network.code}:settlement:{reference}",
        description=f"Commission settlement with {network.name}",
        movements=[Movement.debit(f"liabilities:agent-commission:{network.code}", currency,
                                  value, kind=LIABILITY),
                   Movement.credit(source_account or f"assets:bank:{currency}", currency, value,
                                   kind=ASSET)],
    )


# --- uncollected cash -----------------------------------------------------------------------------


def redemptions_uncollected(*, now: datetime | None = None) -> list[int]:
    return list(Redemption.objects.filter(
        status=Redemption.Status.ISSUED, expires_at__lte=now or timezone.now(),
        uncollected_handled_at__isnull=True,
    ).order_by("expires_at").values_list("pk", flat=True)[:500])


def redemption_uncollected_handle(*, redemption_id: int) -> Redemption:
    """After the pickup window: refund the sender or tell them, per the corridor's rule.

    Refund: the code is cancelled and the owner fails the payout and refunds the sender (the
    transfer goes ``payout_failed`` -> ``refund_pending``). Notify: the owner tells the sender,
    the code stays expired until they reissue it. Runs once per expiry.
    """
    with transaction.atomic():
        redemption = (Redemption.objects.select_for_update()
                      .select_related("transfer").get(pk=redemption_id))
        now = timezone.now()
        transfer = redemption.transfer
        if (redemption.status != Redemption.Status.ISSUED or redemption.expires_at > now
                or redemption.uncollected_handled_at is not None):
            return redemption
        rule = _pickup_rule(transfer)
        action = rule.uncollected_action
        if action == CashPickupCorridor.UncollectedAction.REFUND:
            redemption.status = Redemption.Status.CANCELLED
        _record(redemption, Fact.UNCOLLECTED, actor="agents", detail=f"corridor rule: {action}")
        # The owner reacts in this transaction: a refund fails the payout and refunds the
        # sender; a notice tells the sender, who may have the code reissued.
        cash_pickup_owner().uncollected(redemption=redemption, action=action)
        redemption.uncollected_action, redemption.uncollected_handled_at = action, now
        redemption.save(update_fields=["status", "uncollected_action", "uncollected_handled_at",
                                       "updated_at"])
    logger.info("uncollected cash of transfer %s: %s", transfer.public_id, action)
    return redemption
