"""Transfers in flight are screened again when a sanctions list adds a name: the ones that can
still be stopped are held with a case, the others get a case, nothing is paid, and a second run
for the same change adds nothing."""

from pathlib import Path

import pytest

from compliance.cases.models import Case
from compliance.models import ScreeningDecision
from compliance.sanctions.config import rescreen_hooks
from compliance.sanctions.refresh import sanctions_list_rescreen
from compliance.services import sanctions_import, sanctions_list_diff
from gateway.transfers.models import Corridor, Transfer
from gateway.transfers.services.rescreen import transfers_rescreen
from gateway.transfers.states import TransferState as S
from ramps.payouts.models import PayoutAttempt
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_transfer

pytestmark = pytest.mark.django_db

SDN_CSV = (Path(__file__).resolve().parents[3] / "compliance" / "data" / "sanctions"
           / "ofac-2024-05-03" / "sdn.csv")
LISTED = "Danil Potekhin"  # POTEKHIN, Danil: SDN entry 29584, added by the new version


def sdn_subset(folder: Path, name: str, entries: tuple[bytes, ...]) -> Path:
    """A list file of some real SDN entries (by ent_num)."""
    path = folder / name
    path.write_bytes(b"\r\n".join(line for line in SDN_CSV.read_bytes().split(b"\r\n")
                                  if line.startswith(entries)) + b"\r\n")
    return path


@pytest.fixture
def list_change(tmp_path):
    """The active SDN version gains entry 29584; (old, new) versions."""
    old = sanctions_import(source="ofac-sdn",
                           files=[sdn_subset(tmp_path, "old.csv", (b"27307,", b"6925,"))])
    new = sanctions_import(source="ofac-sdn", files=[sdn_subset(
        tmp_path, "new.csv", (b"27307,", b"6925,", b"29584,"))])
    return old, new


def transfers(states: list[str], recipient: str = LISTED) -> list[Transfer]:
    corridor = Corridor.objects.first() or make_corridor()
    partner = make_partner()[0]
    return [make_transfer(partner=partner, corridor=corridor, state=state,
                          recipient={"name": recipient, "phone_number": "+254708374149"})
            for state in states]


def held_reasons(transfer: Transfer) -> list[tuple]:
    return [(reason["rule"], reason.get("trigger"), reason["entry_id"], reason["screened_name"])
            for decision in ScreeningDecision.objects.filter(
                subject_reference=transfer.reference, outcome=ScreeningDecision.Outcome.HOLD)
            for reason in decision.reasons if reason["rule"] == "sanctioned-name"]


def test_a_newly_listed_recipient_stops_every_transfer_not_yet_paid(list_change):
    old, new = list_change
    approved, converting, on_hold, payout_pending, completed = transfers(
        [S.APPROVED, S.CONVERTING, S.ON_HOLD, S.PAYOUT_PENDING, S.COMPLETED])
    [clean] = transfers([S.APPROVED], recipient="Joseph Mwangi")

    outcome = transfers_rescreen(diff=sanctions_list_diff(old=old, new=new))

    assert (sorted(outcome.held), outcome.recorded_only, outcome.skipped) == (
        sorted([approved.reference, converting.reference, on_hold.reference]),
        [payout_pending.reference], [])
    states = {transfer.reference: Transfer.objects.get(pk=transfer.pk).state
              for transfer in (approved, converting, on_hold, payout_pending, completed, clean)}
    assert states == {approved.reference: S.ON_HOLD, converting.reference: S.ON_HOLD,
                      on_hold.reference: S.ON_HOLD, payout_pending.reference: S.PAYOUT_PENDING,
                      completed.reference: S.COMPLETED, clean.reference: S.APPROVED}
    for transfer in (approved, converting, on_hold, payout_pending):
        assert held_reasons(transfer) == [
            ("sanctioned-name", "list-change", "29584", LISTED)], transfer.state
        assert Case.objects.filter(subject_reference=transfer.reference).count() == 1
    for transfer in (completed, clean):
        assert not ScreeningDecision.objects.filter(subject_reference=transfer.reference).exists()
        assert not Case.objects.filter(subject_reference=transfer.reference).exists()
    # Held through the state machine: the decision is the transfer's, with a history row.
    held = Transfer.objects.select_related("compliance_decision").get(pk=approved.pk)
    assert (held.compliance_decision.outcome, held.holds, held.hold_reason) == (
        "hold", ["compliance"], "sanctioned-name")
    assert held.events.order_by("-pk").values_list("from_state", "to_state", "actor").first() == (
        S.APPROVED, S.ON_HOLD, "compliance:list-change")
    assert held.compliance_decision.list_versions["ofac-sdn"] == new.version
    assert not PayoutAttempt.objects.exists()


def test_a_second_run_for_the_same_change_adds_nothing(list_change):
    old, new = list_change
    approved, payout_pending = transfers([S.APPROVED, S.PAYOUT_PENDING])
    diff = sanctions_list_diff(old=old, new=new)
    transfers_rescreen(diff=diff)
    decisions, cases = ScreeningDecision.objects.count(), Case.objects.count()

    again = transfers_rescreen(diff=diff)

    # The held transfer's decision already used the new version; the other has its decision.
    assert (again.held, again.recorded_only, again.skipped) == (
        [], [], [payout_pending.reference])
    assert (ScreeningDecision.objects.count(), Case.objects.count()) == (decisions, cases)
    assert Transfer.objects.get(pk=approved.pk).state == S.ON_HOLD


def test_a_funded_transfer_is_screened_in_full_and_held(list_change):
    old, new = list_change
    [funded] = transfers([S.FUNDED])

    outcome = transfers_rescreen(diff=sanctions_list_diff(old=old, new=new))

    funded.refresh_from_db()
    assert (outcome.screened, funded.state) == ([funded.reference], S.ON_HOLD)
    decision = funded.compliance_decision
    assert [(reason["rule"], reason["entry_id"]) for reason in decision.reasons
            if reason["rule"] == "sanctioned-name"] == [("sanctioned-name", "29584")]
    assert Case.objects.filter(subject_reference=funded.reference).count() == 1


def test_a_transfer_held_for_float_gets_the_compliance_hold_on_top(list_change):
    old, new = list_change
    [held] = transfers([S.ON_HOLD])
    Transfer.objects.filter(pk=held.pk).update(holds=["float"],
                                               hold_reason="insufficient rail float")

    transfers_rescreen(diff=sanctions_list_diff(old=old, new=new))

    held.refresh_from_db()
    assert (held.state, held.holds, held.compliance_decision.outcome) == (
        S.ON_HOLD, ["float", "compliance"], "hold")
    assert Case.objects.filter(subject_reference=held.reference).count() == 1


def test_a_change_that_lists_nobody_in_flight_touches_nothing(list_change):
    old, new = list_change
    [approved] = transfers([S.APPROVED], recipient="Maria Garcia")

    outcome = transfers_rescreen(diff=sanctions_list_diff(old=old, new=new))

    assert (outcome.held, outcome.recorded_only, outcome.screened) == ([], [], [])
    assert Transfer.objects.get(pk=approved.pk).state == S.APPROVED
    assert not ScreeningDecision.objects.exists()


def test_the_default_hook_chain_rescreens_customers_and_transfers(list_change):
    # the project's settings, as they are without SANCTIONS_RESCREEN_HOOK in the environment
    assert rescreen_hooks() == ["compliance.cases.rescreen.customers_rescreen",
                                "gateway.transfers.services.rescreen.transfers_rescreen",
                                "gateway.recipients.rescreen.recipients_rescreen"]
    _, new = list_change
    [approved] = transfers([S.APPROVED])

    sanctions_list_rescreen(sanctions_list=new)

    assert Transfer.objects.get(pk=approved.pk).state == S.ON_HOLD


def test_without_the_setting_compliance_rescreens_only_its_customers(settings):
    del settings.SANCTIONS_RESCREEN_HOOK
    assert rescreen_hooks() == ["compliance.cases.rescreen.customers_rescreen"]


@pytest.mark.parametrize(("configured", "hooks"), [
    ("", []), (" a.b , c.d ,", ["a.b", "c.d"]), (["a.b"], ["a.b"]),
    # a deployment still naming the customers' hook where it used to live
    ("compliance.sanctions.rescreen.customers_rescreen,a.b",
     ["compliance.cases.rescreen.customers_rescreen", "a.b"]),
])
def test_the_hook_setting_is_a_comma_separated_chain(settings, configured, hooks):
    settings.SANCTIONS_RESCREEN_HOOK = configured
    assert rescreen_hooks() == hooks
