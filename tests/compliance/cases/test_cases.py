"""Cases: opening, maker-checker, superseding decisions, audit trail, SAR export."""

import csv
import hashlib
import io
import json
import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from compliance.cases.models import Case, CaseEvent
from compliance.cases.services import (
    case_assign,
    case_attachment_add,
    case_confirm,
    case_note_add,
    case_open,
    case_propose,
    case_return_proposal,
)
from compliance.models import ScreeningDecision
from gateway.common.problems import DomainError
from tests.fixtures.console import client_signed_in
from tests.gateway.console.factories import make_operator

pytestmark = pytest.mark.django_db

REASONS = [{"rule": "amount-review", "amount_in": "6000", "threshold": "5000"}]


def held(reference="t-1"):
    return ScreeningDecision.objects.create(subject_reference=reference, outcome="hold",
                                            reasons=REASONS, rules_version="r1")


def user(name):
    return get_user_model().objects.create_superuser(name, f"{name}@example.org", "pw")


def test_open_is_idempotent_and_refuses_non_held():
    decision = held()
    case = case_open(subject_reference="t-1", reasons=REASONS, decision_id=decision.pk)
    assert case_open(subject_reference="t-1", reasons=REASONS, decision_id=decision.pk) == case
    assert list(case.events.values_list("kind", flat=True)) == ["opened"]
    approved = ScreeningDecision.objects.create(subject_reference="t-2", outcome="approve",
                                                rules_version="r1")
    with pytest.raises(DomainError, match="Only a held decision"):
        case_open(subject_reference="t-2", reasons=[], decision_id=approved.pk)
    with pytest.raises(DomainError, match="another transfer"):
        case_open(subject_reference="t-9", reasons=[], decision_id=decision.pk)
    assert Case.objects.count() == 1


def test_maker_cannot_confirm_and_checker_confirms_with_superseding_decision():
    decision = held()
    maker, checker = user("maker"), user("checker")
    case = case_open(subject_reference="t-1", reasons=REASONS, decision_id=decision.pk)
    case_assign(case=case, assignee=maker, actor=maker)
    case_note_add(case=case, author=maker, text="Payslip matches the amount.")
    case_propose(case=case, operator=maker, outcome="approve", label="false_positive",
                 note="Salary remittance")
    with pytest.raises(DomainError, match="cannot confirm") as caught:
        case_confirm(case=case, operator=maker, note="ok")
    assert caught.value.status == 403
    assert not ScreeningDecision.objects.filter(supersedes=decision).exists()
    case = case_confirm(case=case, operator=checker, note="Agreed")
    superseding = ScreeningDecision.objects.get(supersedes=decision)
    assert (superseding.outcome, superseding.decided_by) == ("approve", "checker")
    assert "proposed by maker, confirmed by checker" in superseding.reasons[-1]["note"]
    assert (case.status, case.outcome_label, case.resolution) == ("closed", "false_positive",
                                                                  superseding)
    assert list(case.events.values_list("kind", "actor")) == [
        ("opened", "system"), ("assigned", "maker"), ("note", "maker"), ("proposed", "maker"),
        ("confirmed", "checker")]
    with pytest.raises(DomainError, match="closed"):
        case_propose(case=case, operator=maker, outcome="reject", label="risk_confirmed",
                     note="x")


def test_returned_proposal_and_rejection():
    decision = held()
    maker, checker = user("maker"), user("checker")
    case = case_open(subject_reference="t-1", reasons=REASONS, decision_id=decision.pk)
    with pytest.raises(DomainError, match="reason"):
        case_propose(case=case, operator=maker, outcome="reject", label="risk_confirmed",
                     note=" ")
    case_propose(case=case, operator=maker, outcome="approve", label="false_positive", note="a")
    with pytest.raises(DomainError, match="already proposed"):
        case_propose(case=case, operator=checker, outcome="reject", label="risk_confirmed",
                     note="b")
    case = case_return_proposal(case=case, operator=checker, note="Need the source of funds")
    assert (case.status, case.proposed_by) == ("in_review", None)
    case_propose(case=case, operator=checker, outcome="reject", label="risk_confirmed",
                 note="Mule pattern")
    case_confirm(case=case, operator=maker, note="Confirmed")
    assert ScreeningDecision.objects.get(supersedes=decision).outcome == "reject"


@pytest.mark.django_db(transaction=True)
def test_two_checkers_at_once_make_one_decision():
    decision = held()
    maker, first, second = user("maker"), user("c1"), user("c2")
    case = case_open(subject_reference="t-1", reasons=REASONS, decision_id=decision.pk)
    case_propose(case=case, operator=maker, outcome="approve", label="false_positive", note="a")
    outcomes, barrier = [], threading.Barrier(2)

    def confirm(checker):
        try:
            barrier.wait()
            case_confirm(case=case, operator=checker, note="ok")
            outcomes.append("confirmed")
        except DomainError as exc:
            outcomes.append(exc.slug)
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm, args=(c,)) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["case-closed", "confirmed"]
    assert ScreeningDecision.objects.filter(supersedes=decision).count() == 1
    assert CaseEvent.objects.filter(kind="confirmed").count() == 1


def test_admin_enforces_maker_checker_and_exports_sar(client, fast_password_hashing):
    decision = held()
    maker_account = make_operator("maker", roles=["compliance"])
    checker_account = make_operator("checker", roles=["compliance"])
    maker = maker_account.user
    case = case_open(subject_reference="t-1", reasons=REASONS, decision_id=decision.pk)
    case_attachment_add(case=case, uploaded_by=maker,
                        file=SimpleUploadedFile("payslip.txt", b"salary"), description="payslip")
    client_signed_in(maker_account, client)  # password and second factor (tests/fixtures)
    url = f"/admin/cases/case/{case.pk}/act/"
    response = client.post(url, {"action": "propose_approve", "label": "false_positive",
                                 "note": "Salary"})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert 'value="confirm"' not in page
    assert 'value="note"' in page
    response = client.post(url, {"action": "confirm", "note": "self"})
    assert response.status_code == 200
    assert "not one of the available choices" in response.content.decode()
    assert Case.objects.get().status == "pending_confirmation"

    client_signed_in(checker_account, client)
    assert client.post(url, {"action": "confirm", "note": "Agreed"}).status_code == 302
    assert ScreeningDecision.objects.get(supersedes=decision).outcome == "approve"

    report = json.loads(client.get(f"/admin/cases/case/{case.pk}/sar.json").content)
    assert report["outcome"] == "approve"
    assert report["outcome_label"] == "false_positive"
    assert [e["kind"] for e in report["events"]] == ["opened", "attachment", "proposed",
                                                     "confirmed"]
    assert report["attachments"][0]["sha256"] == hashlib.sha256(b"salary").hexdigest()
    response = client.get(f"/admin/cases/case/{case.pk}/sar.csv")
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["section"], r["kind"]) for r in rows] == [
        ("reason", "amount-review"), ("event", "opened"), ("event", "attachment"),
        ("event", "proposed"), ("event", "confirmed"), ("event", "exported"),
        ("attachment", "attachment")]
    assert {r["outcome"] for r in rows} == {"approve"}
    assert client.get(f"/admin/cases/case/{case.pk}/sar.xml").status_code == 302
    assert list(CaseEvent.objects.filter(kind="exported").values_list("actor", flat=True)) == [
        "checker", "checker"]
