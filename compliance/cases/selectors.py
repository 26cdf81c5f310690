"""Case reads: the queue and the suspicious-activity report."""

from compliance.cases.models import Case


def case_queue():
    """Cases still to be worked, oldest first (the proposed ones before the rest)."""
    return Case.objects.exclude(status=Case.Status.CLOSED).order_by("created_at", "pk")


def _decision(decision) -> dict:
    return {"id": str(decision.public_id), "outcome": decision.outcome,
            "decided_by": decision.decided_by, "rules_version": decision.rules_version,
            "list_versions": decision.list_versions, "at": decision.created_at.isoformat()}


def case_sar_report(*, case: Case) -> dict:
    case = Case.objects.select_related("decision", "resolution").get(pk=case.pk)
    return {
        "report": "suspicious-activity", "case_id": str(case.public_id),
        "subject_reference": case.subject_reference, "status": case.status,
        "outcome": case.proposed_outcome if case.status == Case.Status.CLOSED else "",
        "outcome_label": case.outcome_label,
        "opened_at": case.created_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "reasons": case.reasons,
        "held_decision": _decision(case.decision),
        "resolution_decision": _decision(case.resolution) if case.resolution else None,
        "events": [{"at": e.created_at.isoformat(), "kind": e.kind, "actor": e.actor,
                    "note": e.note, "data": e.data} for e in case.events.all()],
        "attachments": [{"at": a.created_at.isoformat(), "file": a.file.name,
                         "sha256": a.sha256, "description": a.description,
                         "uploaded_by": a.uploaded_by} for a in case.attachments.all()],
    }


def cases_for_subject(*, subject_reference: str):
    """Every case opened on a decision about the subject (a transfer's reference)."""
    return Case.objects.filter(decision__subject_reference=subject_reference)


def cases_open_for_subjects(*, subject_references: list[str]) -> dict[str, tuple[int, str]]:
    """subject reference -> (case id, status) of the cases not yet closed or decided (open,
    in review, or waiting for a second operator's confirmation) about those subjects."""
    return {reference: (pk, status) for reference, pk, status in Case.objects.filter(
        status__in=[Case.Status.OPEN, Case.Status.IN_REVIEW, Case.Status.PENDING_CONFIRMATION],
        subject_reference__in=subject_references).values_list(
        "subject_reference", "pk", "status")}


def case_for_decision(*, decision_id: int) -> Case | None:
    """The case opened on that screening decision, if any."""
    return Case.objects.filter(decision_id=decision_id).first()
