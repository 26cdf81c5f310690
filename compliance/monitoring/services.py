"""Transaction monitoring: evaluate a transfer against the current rules, and revise rules.

The gateway calls ``monitoring_evaluate`` at transfer creation and again at deposit confirmation
(when the paying address is known). Each enabled rule that applies to the corridor and fires adds
its score and its reasons; the total maps to approve / review / reject through
``MONITORING_REVIEW_SCORE`` (default 50) and ``MONITORING_REJECT_SCORE`` (default 100).
Evaluating the same transfer at the same stage again returns the stored result.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from compliance.monitoring.models import MonitoredTransfer, MonitoringEvaluation, MonitoringRule
from compliance.monitoring.rules import EVALUATORS, Facts, rule_applies, rule_params_clean
from gateway.common.money import money_round
from gateway.common.problems import DomainError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonitoringSubject:
    """What the gateway hands over: plain facts, no gateway models.

    ``sender_reference``/``recipient_reference`` are KYC customer ids (``Customer.public_id``)
    when the partner registered them, otherwise any stable identifier such as a blind index
    (``compliance.kyc.blind_index.blind_index``) of the phone number. ``amount_usd`` is the USD
    equivalent the gateway priced the transfer at.
    """

    transfer_reference: str
    partner_id: int
    corridor_code: str
    amount: Decimal
    currency: str
    amount_usd: Decimal
    sender_reference: str
    recipient_reference: str
    created_at: datetime
    stage: str = MonitoringEvaluation.Stage.CREATED
    paying_address: str = ""
    device_id: str = ""


@dataclass(frozen=True)
class MonitoringResult:
    outcome: str
    score: int
    reasons: list[dict] = field(default_factory=list)
    rule_versions: dict[str, int] = field(default_factory=dict)
    evaluation_id: int | None = None


def _result(evaluation: MonitoringEvaluation) -> MonitoringResult:
    return MonitoringResult(outcome=evaluation.outcome, score=evaluation.score,
                            reasons=evaluation.reasons, rule_versions=evaluation.rule_versions,
                            evaluation_id=evaluation.pk)


def monitoring_outcome(score: int) -> str:
    if score >= getattr(settings, "MONITORING_REJECT_SCORE", 100):
        return MonitoringEvaluation.Outcome.REJECT
    if score >= getattr(settings, "MONITORING_REVIEW_SCORE", 50):
        return MonitoringEvaluation.Outcome.REVIEW
    return MonitoringEvaluation.Outcome.APPROVE


def _address_normalize(address: str) -> str:
    address = address.strip()
    return address.lower() if address.lower().startswith("0x") else address


def monitoring_evaluate(*, subject: MonitoringSubject) -> MonitoringResult:
    if subject.stage not in MonitoringEvaluation.Stage.values:
        raise DomainError(f"Unknown monitoring stage {subject.stage!r}.",
                          slug="monitoring-stage-unknown")
    if subject.amount_usd < 0 or subject.amount < 0:
        raise DomainError("Amounts cannot be negative.", slug="monitoring-amount-invalid")
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # One evaluation at a time per sender and per recipient, so two transfers created
            # together each see the other in their velocity windows (the later one waits).
            with connection.cursor() as cursor:
                for key in sorted({f"s:{subject.sender_reference}",
                                   f"r:{subject.recipient_reference}"}):
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                                   [f"monitoring:{key}"])
        row = _monitored_transfer_record(subject=subject)
        existing = MonitoringEvaluation.objects.filter(transfer=row, stage=subject.stage).first()
        if existing is not None:
            return _result(existing)
        facts = Facts(row=row)
        score, reasons, versions = 0, [], {}
        for rule in MonitoringRule.objects.filter(is_current=True).order_by("code"):
            if not rule_applies(rule, subject.corridor_code):
                continue
            versions[rule.code] = rule.version
            fired = EVALUATORS[rule.kind](facts, rule.params)
            if fired:
                score += rule.score
                reasons.extend({"rule": rule.code, "version": rule.version, "kind": rule.kind,
                                "score": rule.score, **detail} for detail in fired)
        evaluation = MonitoringEvaluation.objects.create(
            transfer=row, stage=subject.stage, score=score, outcome=monitoring_outcome(score),
            reasons=reasons, rule_versions=versions)
    logger.info("Monitoring %s at %s: %s (score %s)", subject.transfer_reference, subject.stage,
                evaluation.outcome, score)
    return _result(evaluation)


def _monitored_transfer_record(*, subject: MonitoringSubject) -> MonitoredTransfer:
    values = {
        "partner_id": subject.partner_id, "corridor_code": subject.corridor_code,
        "amount": subject.amount, "currency": subject.currency,
        "amount_usd": money_round(subject.amount_usd, "USD"),
        "sender_reference": subject.sender_reference,
        "recipient_reference": subject.recipient_reference,
        "device_id": subject.device_id, "occurred_at": subject.created_at,
    }
    if subject.paying_address:
        values["paying_address"] = _address_normalize(subject.paying_address)
    try:
        with transaction.atomic():
            row, created = MonitoredTransfer.objects.select_for_update().get_or_create(
                reference=subject.transfer_reference, defaults=values)
    except IntegrityError:
        row, created = MonitoredTransfer.objects.select_for_update().get(
            reference=subject.transfer_reference), False
    if not created and subject.paying_address and row.paying_address != values["paying_address"]:
        row.paying_address = values["paying_address"]
        row.save(update_fields=["paying_address", "updated_at"])
    return row


def monitoring_rule_save(*, code: str, kind: str, params: dict, score: int,
                         corridor_codes: list[str], is_enabled: bool = True,
                         description: str = "", author: str = "") -> MonitoringRule:
    """Write the next version of rule ``code`` and make it current (the first one if new)."""
    try:
        params = rule_params_clean(kind=kind, params=params)
    except ValueError as exc:
        raise DomainError(str(exc), slug="monitoring-rule-invalid") from None
    if not isinstance(corridor_codes, list) or not all(
            isinstance(code_, str) and code_ for code_ in corridor_codes):
        raise DomainError("corridor_codes must be a list of corridor codes.",
                          slug="monitoring-rule-invalid")
    if kind == MonitoringRule.Kind.CORRIDOR_RISK and not corridor_codes:
        raise DomainError("A corridor-risk rule names the corridors it scores.",
                          slug="monitoring-rule-invalid")
    with transaction.atomic():
        current = MonitoringRule.objects.select_for_update().filter(
            code=code, is_current=True).first()
        version = 1
        if current is not None:
            if current.kind != kind:
                raise DomainError("A rule's kind cannot change; use a new code.",
                                  slug="monitoring-rule-invalid")
            version = current.version + 1
            current.is_current = False
            current.save(update_fields=["is_current", "updated_at"])
        try:
            rule = MonitoringRule.objects.create(
                code=code, version=version, kind=kind, params=params, score=score,
                corridor_codes=corridor_codes, is_enabled=is_enabled, description=description,
                author=author)
        except IntegrityError:
            raise DomainError(f"Rule {code} was changed at the same time; reload it.",
                              slug="monitoring-rule-conflict", status=409) from None
    logger.info("Monitoring rule %s v%s saved by %s", code, version, author)
    return rule
