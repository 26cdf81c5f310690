"""Compliance reads the gateway calls instead of the tables."""

import pytest
from django.db.models import Exists, OuterRef

from compliance.cases.selectors import case_for_decision
from compliance.cases.services import case_open
from compliance.models import ScreeningDecision
from compliance.selectors import (
    screening_decision_latest,
    screening_decision_superseding,
    screening_decisions_for,
    screening_decisions_superseding,
)

pytestmark = pytest.mark.django_db


def _decide(subject: str, outcome: str) -> ScreeningDecision:
    return ScreeningDecision.objects.create(
        subject_reference=subject, outcome=outcome, reasons=[], rules_version="t",
        list_versions={})


def test_screening_decision_latest_is_the_newest_about_the_subject():
    assert screening_decision_latest(subject_reference="tr_a") is None
    _decide("tr_a", ScreeningDecision.Outcome.APPROVE)
    held = _decide("tr_a", ScreeningDecision.Outcome.HOLD)
    _decide("tr_b", ScreeningDecision.Outcome.APPROVE)

    assert screening_decision_latest(subject_reference="tr_a") == held


def test_screening_decisions_for_lists_the_subject_s_decisions_oldest_first():
    assert screening_decisions_for(subject_reference="tr_a") == []
    first = _decide("tr_a", ScreeningDecision.Outcome.HOLD)
    _decide("tr_b", ScreeningDecision.Outcome.APPROVE)
    second = _decide("tr_a", ScreeningDecision.Outcome.APPROVE)

    assert screening_decisions_for(subject_reference="tr_a") == [first, second]


def test_screening_decision_superseding_and_case_for_decision():
    held = _decide("tr_a", ScreeningDecision.Outcome.HOLD)
    assert screening_decision_superseding(decision=held) is None
    assert case_for_decision(decision_id=held.pk) is None

    verdict = ScreeningDecision.objects.create(
        subject_reference="tr_a", outcome=ScreeningDecision.Outcome.APPROVE, reasons=[],
        rules_version="t", list_versions={}, supersedes=held)
    case = case_open(subject_reference="tr_a", reasons=[], decision_id=held.pk)

    assert screening_decision_superseding(decision=held) == verdict
    assert screening_decision_superseding(decision=verdict) is None
    assert case_for_decision(decision_id=held.pk) == case
    assert case_for_decision(decision_id=verdict.pk) is None
    assert list(screening_decisions_superseding(decision=held)) == [verdict]
    replaced = ScreeningDecision.objects.filter(
        Exists(screening_decisions_superseding(decision=OuterRef("pk"))))
    assert list(replaced) == [held]
