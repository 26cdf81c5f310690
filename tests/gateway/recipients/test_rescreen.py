"""Saved recipients are screened again when a sanctions list adds a name: a case for each one
newly listed, nothing for the others, and nothing new when the hook runs again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.cases.models import Case
from compliance.models import ScreeningDecision
from compliance.services import sanctions_list_diff
from gateway.recipients.models import Recipient
from gateway.recipients.rescreen import recipients_rescreen
from gateway.transfers.models import Corridor
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor
from tests.gateway.transfers.test_rescreen import list_change  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def saved(name: str, country: str = "") -> Recipient:
    details = {"name": name, "phone_number": "+254708374149"}
    if country:
        details["country"] = country
    corridor = Corridor.objects.first() or make_corridor()
    return Recipient.objects.create(partner=make_partner()[0], corridor=corridor,
                                    details=details,
                                    verification=Recipient.Verification.VERIFIED,
                                    verified_at=timezone.now() - timedelta(days=1))


def test_a_newly_listed_saved_recipient_gets_a_case_and_the_others_nothing(list_change):  # noqa: F811
    old, new = list_change
    listed = saved("Danil Potekhin", country="RU")
    diff = sanctions_list_diff(old=old, new=new)

    cases = recipients_rescreen(diff=diff)

    reference = f"recipient:{listed.public_id}"
    assert [case.subject_reference for case in cases] == [reference]
    [decision] = ScreeningDecision.objects.filter(subject_reference=reference)
    assert (decision.outcome, decision.list_versions["ofac-sdn"]) == ("hold", new.version)
    # The saved country goes to screening; this entry lists none, so it is absent evidence.
    assert [(reason["rule"], reason["trigger"], reason["entry_id"], reason["fields"]["country"])
            for reason in decision.reasons] == [
        ("sanctioned-name", "list-change", "29584", "absent")]
    assert recipients_rescreen(diff=diff) == []  # the same change again: nothing new
    assert (ScreeningDecision.objects.count(), Case.objects.count()) == (1, 1)


def test_ordinary_saved_recipients_are_left_alone(list_change):  # noqa: F811
    old, new = list_change
    saved("Joseph Mwangi")
    saved("Maria Garcia", country="MX")

    assert recipients_rescreen(diff=sanctions_list_diff(old=old, new=new)) == []
    assert not ScreeningDecision.objects.exists()
