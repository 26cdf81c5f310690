"""A sender's correction that names a listed person (``services/screening.py``,
``transfer_correction_screen``): held for a case; once two operators clear that name on the
case, the same correction sent again starts the payout instead of opening another case."""

import pytest
from django.contrib.auth import get_user_model

from compliance.cases.models import Case
from compliance.cases.services import case_confirm, case_propose
from compliance.models import ScreeningDecision
from gateway.common.problems import DomainError
from gateway.transfers.services.payouts import transfer_payout_correct
from gateway.transfers.states import TransferState as S
from tests.compliance.test_rescreen_in_flight import (  # noqa: F401 (fixtures)
    LISTED,
    _sms,
    cash_world,
    lists_29584,
    old_list,
)
from tests.gateway.transfers.factories import make_transfer

pytestmark = pytest.mark.django_db


def correct(transfer, name):
    return transfer_payout_correct(transfer_id=transfer.pk, recipient_name=name,
                                   payout_method="cash_pickup", actor="sender")


def decide(transfer, outcome: str) -> None:
    users = get_user_model().objects
    maker, checker = users.create_user("maker"), users.create_user("checker")
    [case] = Case.objects.filter(subject_reference=transfer.reference, status=Case.Status.OPEN)
    case = case_propose(case=case, operator=maker, outcome=outcome, note="checked the ID",
                        label=Case.Label.FALSE_POSITIVE if outcome == "approve"
                        else Case.Label.RISK_CONFIRMED)
    case_confirm(case=case, operator=checker, note="agreed")


def held_and_refused(transfer, name) -> None:
    with pytest.raises(DomainError) as refused:
        correct(transfer, name)
    assert (refused.value.status, refused.value.slug) == (409, "under-review")
    transfer.refresh_from_db()
    assert (transfer.state, transfer.recipient["name"]) == (S.PAYOUT_FAILED, "Joseph Mwangi")


def test_a_name_an_operator_cleared_on_the_case_is_paid_when_the_sender_sends_it_again(
        lists_29584):  # noqa: F811 (the imported fixture)
    _agent, _staff, corridor = cash_world()
    failed = make_transfer(corridor=corridor, state=S.PAYOUT_FAILED)
    held_and_refused(failed, LISTED)
    held_and_refused(failed, LISTED)  # while the case is open: the same case, no other
    assert Case.objects.filter(subject_reference=failed.reference).count() == 1

    decide(failed, "approve")
    corrected = correct(failed, f"  {LISTED} ")

    assert (corrected.state, corrected.recipient["name"]) == (S.PAYOUT_PENDING, LISTED)
    assert list(ScreeningDecision.objects.filter(subject_reference=failed.reference).order_by(
        "pk").values_list("outcome", "decided_by")) == [("hold", "system"),
                                                        ("approve", "checker")]
    assert Case.objects.filter(subject_reference=failed.reference).count() == 1


def test_a_name_rejected_on_the_case_stays_refused(lists_29584):  # noqa: F811
    _agent, _staff, corridor = cash_world()
    failed = make_transfer(corridor=corridor, state=S.PAYOUT_FAILED)
    held_and_refused(failed, LISTED)

    decide(failed, "reject")

    held_and_refused(failed, LISTED)
    held_and_refused(failed, "Grace Wanjiku")
    assert Case.objects.filter(subject_reference=failed.reference).count() == 1


def test_clearing_one_name_does_not_clear_another_listed_name(lists_29584):  # noqa: F811
    _agent, _staff, corridor = cash_world()
    failed = make_transfer(corridor=corridor, state=S.PAYOUT_FAILED)
    held_and_refused(failed, LISTED)
    decide(failed, "approve")

    held_and_refused(failed, "Potekhin Danil")  # the same entry, written another way: a new case

    assert Case.objects.filter(subject_reference=failed.reference,
                               status=Case.Status.OPEN).count() == 1
