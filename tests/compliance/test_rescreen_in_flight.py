"""A list change reaches every transfer that has not paid yet, through the refresh's hook chain
(``sanctions_list_rescreen``): a cash code not yet collected cannot be paid while its case is
open, a payout under review gets its case, a transfer still waiting for its deposit is screened
against the new list when it is funded, and a delisting leaves the operator's decision open."""

from pathlib import Path

import pytest

from compliance.cases.models import Case, CaseEvent
from compliance.models import ScreeningDecision
from compliance.sanctions.refresh import sanctions_list_rescreen
from compliance.services import sanctions_import, screening_decide_manually
from gateway.ledger.models import JournalEntry
from gateway.transfers.models import Transfer
from gateway.transfers.services.screening import transfer_screen
from gateway.transfers.states import TransferState as S
from ramps.chain.models import Deposit
from ramps.payouts.agents.models import LookupAudit
from ramps.payouts.agents.services import (
    Counter,
    RedemptionNotPayableError,
    redemption_confirm,
)
from tests.gateway.transfers.factories import make_transfer
from tests.ramps.payouts.agents.factories import (
    make_agent,
    make_cash_transfer,
    make_network,
    make_pickup_corridor,
    make_staff,
)

pytestmark = pytest.mark.django_db

SDN_CSV = (Path(__file__).resolve().parents[2] / "compliance" / "data" / "sanctions"
           / "ofac-2024-05-03" / "sdn.csv")
LISTED = "Danil Potekhin"  # POTEKHIN, Danil: SDN entry 29584


def sdn_version(folder: Path, name: str, entries: tuple[bytes, ...]):
    path = folder / name
    path.write_bytes(b"\r\n".join(line for line in SDN_CSV.read_bytes().split(b"\r\n")
                                  if line.startswith(entries)) + b"\r\n")
    return sanctions_import(source="ofac-sdn", files=[path])


@pytest.fixture
def old_list(tmp_path):
    return sdn_version(tmp_path, "old.csv", (b"27307,", b"6925,"))


@pytest.fixture
def lists_29584(tmp_path, old_list):
    """A newer version that adds entry 29584, made active; re-screened by the caller."""
    return sdn_version(tmp_path, "new.csv", (b"27307,", b"6925,", b"29584,"))


@pytest.fixture(autouse=True)
def _sms(settings):
    settings.AGENTS_SMS_NOTIFIER = "ramps.payouts.agents.notifier.MemorySmsNotifier"


def cash_world():
    network = make_network("duka")
    agent = make_agent(network, "moi-avenue")
    staff = make_staff(agent, "wanjiru")
    return agent, staff, make_pickup_corridor(network)


def pay(agent, staff, code):
    return redemption_confirm(
        counter=Counter(agent=agent, staff=staff, channel=LookupAudit.Channel.PORTAL),
        code=code, id_document_type="national_id", id_document_number="12 345 678")


def test_an_uncollected_cash_code_of_a_newly_listed_recipient_cannot_be_paid(tmp_path,
                                                                          old_list):
    agent, staff, corridor = cash_world()
    transfer, _, code = make_cash_transfer(corridor)
    Transfer.objects.filter(pk=transfer.pk).update(
        recipient={"name": LISTED, "phone_number": "+254708374149"})
    new = sdn_version(tmp_path, "new.csv", (b"27307,", b"6925,", b"29584,"))

    sanctions_list_rescreen(sanctions_list=new)

    [held] = ScreeningDecision.objects.filter(subject_reference=transfer.reference)
    assert held.outcome == "hold"
    case = Case.objects.get(subject_reference=transfer.reference)
    with pytest.raises(RedemptionNotPayableError, match="on hold"):
        pay(agent, staff, code)
    assert Transfer.objects.get(pk=transfer.pk).state == S.PAYOUT_PENDING
    assert not JournalEntry.objects.filter(
        reference=f"transfer:{transfer.public_id}:payout").exists()

    # A false positive cleared by the case: the same code pays again.
    screening_decide_manually(decision=case.decision, outcome="approve", operator="checker",
                              note="different person: date of birth differs")
    assert pay(agent, staff, code).already_paid is False
    assert Transfer.objects.get(pk=transfer.pk).state == S.COMPLETED


def test_a_rejected_case_keeps_the_cash_code_unpayable(tmp_path, old_list):
    agent, staff, corridor = cash_world()
    transfer, _, code = make_cash_transfer(corridor)
    Transfer.objects.filter(pk=transfer.pk).update(
        recipient={"name": LISTED, "phone_number": "+254708374149"})
    sanctions_list_rescreen(sanctions_list=sdn_version(
        tmp_path, "new.csv", (b"27307,", b"6925,", b"29584,")))
    case = Case.objects.get(subject_reference=transfer.reference)

    screening_decide_manually(decision=case.decision, outcome="reject", operator="checker",
                              note="confirmed match")

    with pytest.raises(RedemptionNotPayableError):
        pay(agent, staff, code)
    assert Transfer.objects.get(pk=transfer.pk).state == S.PAYOUT_PENDING


def test_a_payout_under_review_gets_a_case(lists_29584):
    [review] = [make_transfer(state=S.PAYOUT_REVIEW,
                              recipient={"name": LISTED, "phone_number": "+254708374149"})]

    sanctions_list_rescreen(sanctions_list=lists_29584)

    [held] = ScreeningDecision.objects.filter(subject_reference=review.reference)
    assert (held.outcome, [reason["entry_id"] for reason in held.reasons]) == ("hold", ["29584"])
    assert Case.objects.filter(subject_reference=review.reference).count() == 1
    assert Transfer.objects.get(pk=review.pk).state == S.PAYOUT_REVIEW


@pytest.mark.parametrize("state", [S.AWAITING_DEPOSIT, S.DEPOSIT_SEEN])
def test_a_transfer_waiting_for_its_deposit_is_held_once_funded(lists_29584, state):
    """Nothing to stop before the money arrives: screening at funding uses the active list,
    which is already the new one."""
    waiting = make_transfer(state=state,
                            recipient={"name": LISTED, "phone_number": "+254708374149"})
    sanctions_list_rescreen(sanctions_list=lists_29584)
    assert not ScreeningDecision.objects.filter(subject_reference=waiting.reference).exists()

    Transfer.objects.filter(pk=waiting.pk).update(state=S.FUNDED)
    screened = transfer_screen(transfer_id=waiting.pk)

    assert screened.state == S.ON_HOLD
    assert [reason["entry_id"] for reason in screened.compliance_decision.reasons
            if reason["rule"] == "sanctioned-name"] == ["29584"]


def test_a_delisting_leaves_the_hold_for_an_operator_with_a_note_on_its_case(tmp_path,
                                                                               lists_29584):
    """Removal from a list is not a clearance an automaton may give: the operator decides the
    case (the hit may still be a true match of an earlier listing, or a report may be due), and
    the case says the entry is gone so that the decision is quick."""
    approved = make_transfer(state=S.APPROVED,
                             recipient={"name": LISTED, "phone_number": "+254708374149"})
    sanctions_list_rescreen(sanctions_list=lists_29584)
    case = Case.objects.get(subject_reference=approved.reference)

    delisted = sdn_version(tmp_path, "delisted.csv", (b"27307,", b"6925,"))
    sanctions_list_rescreen(sanctions_list=delisted)
    sanctions_list_rescreen(sanctions_list=delisted)  # a second run adds no second note

    assert Transfer.objects.get(pk=approved.pk).state == S.ON_HOLD
    case.refresh_from_db()
    assert case.status == Case.Status.OPEN
    [note] = CaseEvent.objects.filter(case=case, kind=CaseEvent.Kind.NOTE)
    assert note.actor == "compliance:list-change"
    assert note.note == (f"ofac-sdn entry 29584 was removed from the list (version "
                         f"{delisted.version[:12]}); the hold stays until an operator decides.")


def _other_worker_connection():
    """A second database session, as another worker's would be."""
    import psycopg
    from django.db import connection

    params = connection.settings_dict
    return psycopg.connect(dbname=params["NAME"], user=params["USER"], host=params["HOST"],
                           port=params["PORT"] or 5432, password=params["PASSWORD"] or None,
                           autocommit=True)


def test_a_re_screen_another_worker_is_running_is_left_to_it(settings, lists_29584):
    """Two runs at once (the next beat during a long re-screen, a redelivered task) must not
    record two held decisions and two cases for one transfer; the claim is an advisory lock,
    so no transaction stays open through the re-screen, and it ends with the worker."""
    import hashlib

    from compliance.sanctions.refresh import sanctions_refresh

    settings.SANCTIONS_SOURCE_URLS = {}
    approved = make_transfer(state=S.APPROVED,
                             recipient={"name": LISTED, "phone_number": "+254708374149"})
    key = int.from_bytes(hashlib.sha256(
        f"sanctions-rescreen:{lists_29584.pk}".encode()).digest()[:8], "big", signed=True)
    other = _other_worker_connection()
    try:
        assert other.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]
        [busy] = sanctions_refresh()
        assert (busy.source, busy.rescreen) == ("ofac-sdn", "busy")
        assert not ScreeningDecision.objects.filter(
            subject_reference=approved.reference).exists()
    finally:
        other.close()  # the other worker dies: its claim goes with its connection

    [done] = sanctions_refresh()
    assert (done.rescreen, done.added) == ("done", 1)
    assert Case.objects.filter(subject_reference=approved.reference).count() == 1
    assert Transfer.objects.get(pk=approved.pk).state == S.ON_HOLD
    assert sanctions_refresh() == []  # nothing configured to download, nothing pending


def test_a_failed_payout_corrected_to_a_listed_name_is_not_paid_and_gets_a_case(lists_29584):
    """The sender's correction names the recipient anew after screening approved the old name:
    the new name is screened before the payout starts again."""
    from gateway.common.problems import DomainError
    from gateway.transfers.services.payouts import transfer_payout_correct
    from ramps.payouts.agents.models import Redemption

    _agent, _staff, corridor = cash_world()
    failed = make_transfer(corridor=corridor, state=S.PAYOUT_FAILED)

    with pytest.raises(DomainError) as excinfo:
        transfer_payout_correct(transfer_id=failed.pk, recipient_name=LISTED,
                                payout_method="cash_pickup", actor="sender")

    assert (excinfo.value.status, excinfo.value.slug) == (409, "under-review")
    assert LISTED not in excinfo.value.detail
    assert "29584" not in excinfo.value.detail
    failed.refresh_from_db()
    assert (failed.state, failed.recipient["name"]) == (S.PAYOUT_FAILED, "Joseph Mwangi")
    assert not Redemption.objects.filter(transfer=failed).exists()
    [held] = ScreeningDecision.objects.filter(subject_reference=failed.reference)
    assert held.outcome == "hold"
    assert [(reason["trigger"], reason["screened_name"], reason["entry_id"])
            for reason in held.reasons] == [("correction", LISTED, "29584")]
    assert Case.objects.filter(subject_reference=failed.reference).count() == 1


def test_a_failed_payout_corrected_to_an_ordinary_name_starts_again(lists_29584):
    from gateway.transfers.services.payouts import transfer_payout_correct

    _agent, _staff, corridor = cash_world()
    failed = make_transfer(corridor=corridor, state=S.PAYOUT_FAILED)

    corrected = transfer_payout_correct(transfer_id=failed.pk, recipient_name="Grace Wanjiku",
                                        payout_method="cash_pickup", actor="sender")

    assert (corrected.state, corrected.recipient["name"]) == (S.PAYOUT_PENDING, "Grace Wanjiku")
    assert not ScreeningDecision.objects.filter(subject_reference=failed.reference).exists()


def test_through_the_api_with_an_idempotency_key_the_case_outlives_the_refusal(lists_29584):
    import json

    from rest_framework.test import APIClient

    from tests.gateway.partners.factories import make_partner

    partner, key = make_partner()
    failed = make_transfer(partner=partner, state=S.PAYOUT_FAILED)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    body = json.dumps({"recipient": {"name": "Danil  Potekhin"}})

    answers = [api.patch(f"/api/v1/transfers/{failed.public_id}", data=body,
                         content_type="application/json", HTTP_IDEMPOTENCY_KEY="fix-1")
               for _ in range(2)]

    assert [answer.status_code for answer in answers] == [409, 409]
    assert answers[0].json()["type"] == "/problems/under-review"
    assert "Potekhin" not in answers[0].content.decode()
    assert Transfer.objects.get(pk=failed.pk).state == S.PAYOUT_FAILED
    assert ScreeningDecision.objects.filter(subject_reference=failed.reference).count() == 1
    assert Case.objects.filter(subject_reference=failed.reference).count() == 1


@pytest.mark.parametrize(("outcome", "state"), [("approve", S.APPROVED), ("reject", S.REJECTED)])
def test_the_operator_decides_a_list_change_hold_and_the_transfer_follows(lists_29584, outcome,
                                                                          state):
    from gateway.transfers.services.screening import transfer_hold_review

    converting = make_transfer(state=S.CONVERTING,
                               recipient={"name": LISTED, "phone_number": "+254708374149"})
    sanctions_list_rescreen(sanctions_list=lists_29584)
    case = Case.objects.get(subject_reference=converting.reference)

    decided = screening_decide_manually(decision=case.decision, outcome=outcome,
                                        operator="checker", note="reviewed")
    moved = transfer_hold_review(transfer_id=converting.pk)

    assert (moved.state, moved.compliance_decision_id, moved.holds) == (state, decided.pk, [])


CRYPTO = SDN_CSV.parents[1] / "crypto-addresses-2024-09"
LISTED_PAYER = "0x01e2919679362dFBC9ee1644Ba9C6da6D6245BB1"  # in sanctioned_addresses_ETH.json


@pytest.mark.parametrize("where", ["payer", "refund_address"])
def test_a_newly_listed_payer_or_refund_address_stops_a_transfer_in_flight(tmp_path, where):
    import json

    from compliance.normalize import address_normalize
    from tests.ramps.chain.factories import make_deposit

    addresses = json.loads((CRYPTO / "sanctioned_addresses_ETH.json").read_text())
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "sanctioned_addresses_ETH.json").write_text(json.dumps(
        [address for address in addresses
         if address_normalize(address) != address_normalize(LISTED_PAYER)]))
    sanctions_import(source="ofac-crypto", files=[folder / "sanctioned_addresses_ETH.json"])
    approved = make_transfer(state=S.APPROVED,
                             refund_address=LISTED_PAYER if where == "refund_address" else "")
    deposit = make_deposit(token=approved.corridor.token,
                           deposit_address=approved.deposit_address)
    Deposit.objects.filter(pk=deposit.pk).update(
        credited_at=deposit.created_at,
        from_address=LISTED_PAYER if where == "payer" else deposit.from_address)
    other = make_transfer(state=S.APPROVED, corridor=approved.corridor)
    new = sanctions_import(source="ofac-crypto",
                           files=[CRYPTO / "sanctioned_addresses_ETH.json"])

    sanctions_list_rescreen(sanctions_list=new)

    approved.refresh_from_db()
    assert approved.state == S.ON_HOLD
    assert [(reason["rule"], reason["trigger"], reason["address"])
            for reason in approved.compliance_decision.reasons] == [
        ("sanctioned-address", "list-change", LISTED_PAYER)]
    assert Case.objects.filter(subject_reference=approved.reference).count() == 1
    assert Transfer.objects.get(pk=other.pk).state == S.APPROVED
    sanctions_list_rescreen(sanctions_list=new)  # again: nothing new
    assert ScreeningDecision.objects.filter(subject_reference=approved.reference).count() == 1


def failing_customers_hook(*, diff):
    raise RuntimeError("customer records unreadable")


def test_a_failing_hook_does_not_leave_transfers_in_flight_unstopped(settings, lists_29584):
    from compliance.sanctions.refresh import sanctions_refresh

    settings.SANCTIONS_SOURCE_URLS = {}
    settings.SANCTIONS_RESCREEN_HOOK = (
        "tests.compliance.test_rescreen_in_flight.failing_customers_hook,"
        "gateway.transfers.services.rescreen.transfers_rescreen")
    approved = make_transfer(state=S.APPROVED,
                             recipient={"name": LISTED, "phone_number": "+254708374149"})

    [failed] = sanctions_refresh()

    assert (failed.rescreen, failed.detail) == ("failed", "customer records unreadable")
    assert Transfer.objects.get(pk=approved.pk).state == S.ON_HOLD
    lists_29584.refresh_from_db()
    assert lists_29584.rescreened_at is None  # retried by the next run
    settings.SANCTIONS_RESCREEN_HOOK = "gateway.transfers.services.rescreen.transfers_rescreen"
    [done] = sanctions_refresh()
    assert done.rescreen == "done"
    assert Case.objects.filter(subject_reference=approved.reference).count() == 1
