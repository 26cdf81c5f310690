"""Case writes. Every function locks the case, checks its state, and writes a ``CaseEvent``.

Maker-checker: the operator who proposes an outcome cannot confirm it; a second operator confirms,
and only then is the superseding decision recorded (``screening_decide_manually``). The gateway
watches superseded held decisions to resume (approve) or refund (reject) the transfer.
"""

import csv
import hashlib
import io
import json
import logging

from django.db import transaction
from django.utils import timezone

from compliance.cases.models import Case, CaseAttachment, CaseEvent
from compliance.cases.selectors import case_sar_report
from compliance.models import ScreeningDecision
from compliance.services import screening_decide_manually
from gateway.common.problems import ConflictError, DomainError, NotFoundError

logger = logging.getLogger(__name__)


def case_open(*, subject_reference: str, reasons: list, decision_id: int) -> Case:
    """Open the case of a held decision; opening it again returns the same case."""
    decision = ScreeningDecision.objects.filter(pk=decision_id).first()
    if decision is None:
        raise NotFoundError(f"Decision {decision_id} does not exist.")
    if decision.outcome != ScreeningDecision.Outcome.HOLD:
        raise DomainError("Only a held decision opens a case.", slug="decision-not-held",
                          status=409)
    if decision.subject_reference != subject_reference:
        raise DomainError("The decision belongs to another transfer.",
                          slug="case-subject-mismatch")
    with transaction.atomic():
        case, created = Case.objects.get_or_create(
            decision=decision, defaults={"subject_reference": subject_reference,
                                         "reasons": reasons})
        if created:
            CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.OPENED, actor="system",
                                     data={"decision": str(decision.public_id)})
    if created:
        logger.info("Case %s opened for transfer %s", case.public_id, subject_reference)
    return case


def _locked(case: Case) -> Case:
    return Case.objects.select_for_update().get(pk=case.pk)


def _require_open(case: Case) -> None:
    if case.status == Case.Status.CLOSED:
        raise ConflictError("The case is closed.", slug="case-closed")


def case_assign(*, case: Case, assignee, actor) -> Case:
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        case.assignee = assignee
        if case.status == Case.Status.OPEN:
            case.status = Case.Status.IN_REVIEW
        case.save(update_fields=["assignee", "status", "updated_at"])
        CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.ASSIGNED,
                                 actor=actor.get_username(),
                                 data={"assignee": assignee.get_username()})
    return case


def case_note_add(*, case: Case, author, text: str) -> CaseEvent:
    if not text.strip():
        raise DomainError("A note cannot be empty.", slug="note-required")
    with transaction.atomic():
        case = _locked(case)
        return CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.NOTE,
                                        actor=author.get_username(), note=text.strip())


def case_attachment_add(*, case: Case, uploaded_by, file, description: str = "") -> CaseAttachment:
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    with transaction.atomic():
        case = _locked(case)
        attachment = CaseAttachment.objects.create(
            case=case, file=file, description=description, sha256=digest.hexdigest(),
            uploaded_by=uploaded_by.get_username())
        CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.ATTACHMENT,
                                 actor=uploaded_by.get_username(), note=description,
                                 data={"file": attachment.file.name,
                                       "sha256": attachment.sha256})
    return attachment


def case_propose(*, case: Case, operator, outcome: str, label: str, note: str) -> Case:
    """The maker: proposes approve or reject with an outcome label and a reason."""
    if outcome not in Case.Outcome.values:
        raise DomainError("Propose approve or reject.", slug="invalid-outcome")
    if label not in Case.Label.values:
        raise DomainError("Label the case false positive or risk confirmed.",
                          slug="invalid-label")
    if not note.strip():
        raise DomainError("A reason is required.", slug="reason-required")
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        if case.status == Case.Status.PENDING_CONFIRMATION:
            raise ConflictError("An outcome is already proposed; the checker confirms or returns "
                                "it first.", slug="case-already-proposed")
        case.status = Case.Status.PENDING_CONFIRMATION
        case.proposed_outcome, case.proposed_label, case.proposed_by = outcome, label, operator
        case.save(update_fields=["status", "proposed_outcome", "proposed_label", "proposed_by",
                                 "updated_at"])
        CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.PROPOSED,
                                 actor=operator.get_username(), note=note.strip(),
                                 data={"outcome": outcome, "label": label})
    return case


def case_return_proposal(*, case: Case, operator, note: str) -> Case:
    """The checker disagrees: the case goes back to review, nothing is decided."""
    if not note.strip():
        raise DomainError("A reason is required.", slug="reason-required")
    with transaction.atomic():
        case = _locked(case)
        if case.status != Case.Status.PENDING_CONFIRMATION:
            raise ConflictError("Nothing is proposed on this case.", slug="case-not-proposed")
        if case.proposed_by_id == operator.pk:
            raise DomainError("The proposer cannot check their own proposal.",
                              slug="maker-checker", status=403)
        CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.PROPOSAL_RETURNED,
                                 actor=operator.get_username(), note=note.strip(),
                                 data={"outcome": case.proposed_outcome})
        case.status = Case.Status.IN_REVIEW
        case.proposed_outcome, case.proposed_label, case.proposed_by = "", "", None
        case.save(update_fields=["status", "proposed_outcome", "proposed_label", "proposed_by",
                                 "updated_at"])
    return case


def case_confirm(*, case: Case, operator, note: str) -> Case:
    """The checker: confirms the proposed outcome and records the superseding decision.

    Four eyes on both outcomes: a rejection refunds the sender and an approval pays out, and each
    is final, so neither may rest on one operator.
    """
    if not note.strip():
        raise DomainError("A reason is required.", slug="reason-required")
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        if case.status != Case.Status.PENDING_CONFIRMATION:
            raise ConflictError("Nothing is proposed on this case.", slug="case-not-proposed")
        if case.proposed_by_id == operator.pk:
            raise DomainError("The operator who proposed an outcome cannot confirm it.",
                              slug="maker-checker", status=403)
        proposer = case.proposed_by.get_username()
        decision = screening_decide_manually(
            decision=case.decision, outcome=case.proposed_outcome,
            operator=operator.get_username(),
            note=f"{note.strip()} (proposed by {proposer}, confirmed by "
                 f"{operator.get_username()}; case {case.public_id}; {case.proposed_label})")
        case.status = Case.Status.CLOSED
        case.outcome_label = case.proposed_label
        case.confirmed_by = operator
        case.resolution = decision
        case.closed_at = timezone.now()
        case.save(update_fields=["status", "outcome_label", "confirmed_by", "resolution",
                                 "closed_at", "updated_at"])
        CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.CONFIRMED,
                                 actor=operator.get_username(), note=note.strip(),
                                 data={"outcome": case.proposed_outcome,
                                       "label": case.outcome_label,
                                       "decision": str(decision.public_id)})
    logger.info("Case %s closed: %s confirmed by %s", case.public_id, case.proposed_outcome,
                operator.get_username())
    return case


SAR_CSV_COLUMNS = ["case_id", "subject_reference", "status", "outcome", "label", "held_decision",
                   "resolution_decision", "opened_at", "closed_at", "section", "at", "actor",
                   "kind", "detail"]


def case_sar_export(*, case: Case, export_format: str, actor) -> tuple[bytes, str, str]:
    """A suspicious-activity report of the case: (content, content type, file name).

    The export itself is an audited action.
    """
    if export_format not in ("csv", "json"):
        raise DomainError("Export as csv or json.", slug="invalid-export-format")
    report = case_sar_report(case=case)
    CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.EXPORTED,
                             actor=actor.get_username(), data={"format": export_format})
    name = f"sar-{case.public_id}.{export_format}"
    if export_format == "json":
        return (json.dumps(report, indent=2, sort_keys=True).encode(), "application/json", name)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SAR_CSV_COLUMNS)
    writer.writeheader()
    head = {"case_id": report["case_id"], "subject_reference": report["subject_reference"],
            "status": report["status"], "outcome": report["outcome"],
            "label": report["outcome_label"], "held_decision": report["held_decision"]["id"],
            "resolution_decision": (report["resolution_decision"] or {}).get("id", ""),
            "opened_at": report["opened_at"], "closed_at": report["closed_at"] or ""}
    for reason in report["reasons"]:
        writer.writerow({**head, "section": "reason", "kind": reason.get("rule", ""),
                         "detail": json.dumps(reason, sort_keys=True)})
    for event in report["events"]:
        writer.writerow({**head, "section": "event", "at": event["at"], "actor": event["actor"],
                         "kind": event["kind"],
                         "detail": json.dumps({"note": event["note"], **event["data"]},
                                              sort_keys=True)})
    for attachment in report["attachments"]:
        writer.writerow({**head, "section": "attachment", "at": attachment["at"],
                         "actor": attachment["uploaded_by"], "kind": "attachment",
                         "detail": json.dumps(attachment, sort_keys=True)})
    return buffer.getvalue().encode(), "text/csv", name
