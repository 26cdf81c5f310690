"""screening_run and screening_decide_manually against lists loaded from the real OFAC files."""

import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from compliance.models import ScreeningDecision
from compliance.services import (
    RULES_VERSION,
    ScreeningSubject,
    sanctions_import,
    screening_decide_manually,
    screening_run,
)
from gateway.common.problems import DomainError

DATA = Path(__file__).resolve().parents[2] / "compliance" / "data" / "sanctions"
CRYPTO_DIR = DATA / "crypto-addresses-2024-09"
SDN_CSV = DATA / "ofac-2024-05-03" / "sdn.csv"

# A crypto-list ETH address (published in mixed case) that the SDN extract below does not hold.
ETH_ADDRESS = "0x01e2919679362dFBC9ee1644Ba9C6da6D6245BB1"
# POTEKHIN, Danil (SDN entry 29584): an ETH address in his remarks and on the crypto list.
POTEKHIN_ETH = "0x7F367cC41522cE07553e823bf3be79A889DEbe1B"
CLEAN_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

Outcome = ScreeningDecision.Outcome
pytestmark = pytest.mark.django_db
# Three listed entries: every word is as rare as one in rarity.MIN_ENTRIES (13.3 bits), and
# both words of POTEKHIN, Danil match: 2 x 13.29 bits.
EVIDENCE = 26.6
RAREST = 13.3  # the rarer of the two words


@pytest.fixture
def lists(tmp_path):
    """The crypto address folder and three real SDN entries, both active."""
    wanted = (b"29584,", b"27307,", b"6925,")
    sdn = tmp_path / "sdn.csv"
    sdn.write_bytes(b"\r\n".join(line for line in SDN_CSV.read_bytes().split(b"\r\n")
                                 if line.startswith(wanted)) + b"\r\n")
    return {
        "ofac-crypto": sanctions_import(source="ofac-crypto",
                                        files=sorted(CRYPTO_DIR.glob("*.json"))),
        "ofac-sdn": sanctions_import(source="ofac-sdn", files=[sdn]),
    }


def subject(*, names=("Amina Odhiambo", "Joseph Mwangi"), addresses=(CLEAN_ADDRESS,),
            amount_in="100.00", review="5000.00", reference=None) -> ScreeningSubject:
    return ScreeningSubject(
        reference=reference or str(uuid.uuid4()), party_names=list(names),
        addresses=list(addresses), amount_in=Decimal(amount_in),
        review_amount_in=None if review is None else Decimal(review),
    )


def versions(lists) -> dict[str, str]:
    return {source: loaded.version for source, loaded in lists.items()}


# --- outcomes -------------------------------------------------------------------------------


def test_clean_transfer_is_approved_with_rule_and_list_versions(lists):
    screened = subject()
    decision = screening_run(subject=screened)
    decision.refresh_from_db()
    assert decision.outcome == Outcome.APPROVE
    assert decision.reasons == []
    assert decision.subject_reference == screened.reference
    assert decision.rules_version == RULES_VERSION == "2026.12-1"
    assert decision.list_versions == versions(lists)
    assert decision.decided_by == "system"
    assert decision.supersedes is None


@pytest.mark.parametrize("written", [
    ETH_ADDRESS,
    ETH_ADDRESS.lower(),
    "0x" + ETH_ADDRESS[2:].upper(),
    f"  {ETH_ADDRESS.lower()}\n",
])
def test_sanctioned_evm_address_in_any_case_is_rejected_naming_list_version_and_entry(lists,
                                                                                       written):
    decision = screening_run(subject=subject(addresses=[CLEAN_ADDRESS, written]))
    assert decision.outcome == Outcome.REJECT
    assert decision.reasons == [{
        "rule": "sanctioned-address", "list": "ofac-crypto",
        "list_version": lists["ofac-crypto"].version, "entry_id": "", "ticker": "ETH",
        "address": ETH_ADDRESS,
    }]
    assert decision.list_versions == versions(lists)


def test_address_on_both_lists_gives_one_reason_per_list_with_the_sdn_entry(lists):
    decision = screening_run(subject=subject(addresses=[POTEKHIN_ETH.lower()]))
    assert decision.outcome == Outcome.REJECT
    assert sorted(decision.reasons, key=lambda r: r["list"]) == [
        {"rule": "sanctioned-address", "list": "ofac-crypto",
         "list_version": lists["ofac-crypto"].version, "entry_id": "", "ticker": "ETH",
         "address": POTEKHIN_ETH},
        {"rule": "sanctioned-address", "list": "ofac-sdn",
         "list_version": lists["ofac-sdn"].version, "entry_id": "29584", "ticker": "ETH",
         "address": POTEKHIN_ETH},
    ]


def test_address_case_matters_for_non_evm_addresses(lists):
    assert screening_run(subject=subject(
        addresses=["123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX"])).outcome == Outcome.REJECT
    assert screening_run(subject=subject(
        addresses=["123wbudmsjv4gctdvez6qq6z8nxskrj4kx"])).outcome == Outcome.APPROVE


@pytest.mark.parametrize("written", [
    "Danil Potekhin",
    "POTEKHIN, Danil",
    "danil  POTÉKHIN",
    "Potékhin-Danil",
    "\uff24\uff41\uff4e\uff49\uff4c Potekhin",  # full-width letters fold to ASCII (NFKD)
])
def test_listed_name_modulo_accents_case_and_order_is_held(lists, written):
    decision = screening_run(subject=subject(names=["Amina Odhiambo", written]))
    assert decision.outcome == Outcome.HOLD
    # Token pairs are listed in the order the screened name writes them.
    assert sorted(decision.reasons[0]["fields"]["name"]) == [
        "danil~danil 1.00", "potekhin~potekhin 1.00"]
    decision.reasons[0]["fields"]["name"] = sorted(decision.reasons[0]["fields"]["name"])
    assert decision.reasons == [{
        "rule": "sanctioned-name", "screened_name": written, "list": "ofac-sdn",
        "list_version": lists["ofac-sdn"].version, "entry_id": "29584",
        "matched_name": "POTEKHIN, Danil", "entry_type": "individual", "score": 1.0,
        "name_score": 1.0,
        "fields": {"name": ["danil~danil 1.00", "potekhin~potekhin 1.00"],
                   "date_of_birth": "absent", "country": "absent", "gender": "absent"},
        "rarity": {"evidence_bits": EVIDENCE, "rarest_word_bits": RAREST,
                   "query_within_listed": True, "listed_left_out": [],
                   "common_names_cap": False},
        "adjustments": {}, "thresholds": {"review": 0.85, "block": 0.95}, "decision": "block",
    }]


@pytest.mark.parametrize(("written", "score"), [
    ("Danil Potekhina", 0.965),  # a typo: one letter more (one slip: 1 - 0.5/9)
    ("Danil Ivan Potekhin", 0.9559),  # a middle name the list does not have
    ("D. Potekhin", 0.9423),  # an initial
])
def test_near_spellings_of_a_listed_name_are_held_with_their_score(lists, written, score):
    decision = screening_run(subject=subject(names=[written]))
    assert decision.outcome == Outcome.HOLD
    [reason] = decision.reasons
    assert (reason["rule"], reason["entry_id"], reason["score"]) == (
        "sanctioned-name", "29584", score)


def test_alias_from_the_remarks_is_held_and_the_sender_is_screened_too(lists):
    decision = screening_run(subject=subject(names=["Kireev Valerievich Sergey", "Joseph"]))
    assert decision.outcome == Outcome.HOLD
    assert [(r["entry_id"], r["matched_name"]) for r in decision.reasons] == [
        ("29584", "SERGEY, Kireev Valerievich")]


@pytest.mark.parametrize("written", ["Danil", "Potekhin", "Daniel Petrov", "", "  "])
def test_partial_or_empty_names_do_not_match(lists, written):
    decision = screening_run(subject=subject(names=[written, "Joseph Mwangi"]))
    assert decision.outcome == Outcome.APPROVE
    assert decision.reasons == []


@pytest.mark.parametrize(("amount_in", "review", "outcome"), [
    ("5000.00", "5000.00", Outcome.HOLD),
    ("5000.01", "5000.00", Outcome.HOLD),
    ("4999.99", "5000.00", Outcome.APPROVE),
    ("10000.00", None, Outcome.APPROVE),
])
def test_amount_at_or_above_the_review_threshold_is_held(lists, amount_in, review, outcome):
    decision = screening_run(subject=subject(amount_in=amount_in, review=review))
    assert decision.outcome == outcome
    expected = [{"rule": "amount-review", "amount_in": amount_in, "threshold": review}]
    assert decision.reasons == (expected if outcome == Outcome.HOLD else [])


def test_reject_wins_over_hold_and_every_fired_rule_is_kept(lists):
    decision = screening_run(subject=subject(names=["Danil Potekhin"], addresses=[ETH_ADDRESS],
                                             amount_in="5000.00"))
    assert decision.outcome == Outcome.REJECT
    assert [r["rule"] for r in decision.reasons] == [
        "sanctioned-address", "sanctioned-name", "amount-review"]


def test_decision_keeps_the_versions_it_was_made_with_after_a_list_update(lists, tmp_path):
    before = screening_run(subject=subject(addresses=[ETH_ADDRESS]))
    only_xbt = tmp_path / "sanctioned_addresses_XBT.json"
    only_xbt.write_bytes((CRYPTO_DIR / "sanctioned_addresses_XBT.json").read_bytes())
    newer = sanctions_import(source="ofac-crypto", files=[only_xbt])
    after = screening_run(subject=subject(addresses=[ETH_ADDRESS]))
    before.refresh_from_db()
    assert before.outcome == Outcome.REJECT
    assert before.list_versions["ofac-crypto"] == lists["ofac-crypto"].version
    assert before.reasons[0]["list_version"] == lists["ofac-crypto"].version
    assert after.outcome == Outcome.APPROVE
    assert after.list_versions == {"ofac-crypto": newer.version,
                                   "ofac-sdn": lists["ofac-sdn"].version}


# --- manual decisions -----------------------------------------------------------------------


@pytest.fixture
def held(lists):
    return screening_run(subject=subject(names=["Danil Potekhin"]))


@pytest.mark.parametrize("outcome", [Outcome.APPROVE, Outcome.REJECT])
def test_operator_decides_a_held_case_with_a_superseding_decision(held, outcome):
    decision = screening_decide_manually(decision=held, outcome=outcome, operator="ops@example",
                                         note="Different date of birth on the ID document.")
    decision.refresh_from_db()
    assert decision.pk != held.pk
    assert decision.outcome == outcome
    assert decision.supersedes == held
    assert decision.decided_by == "ops@example"
    assert decision.subject_reference == held.subject_reference
    assert decision.rules_version == held.rules_version == RULES_VERSION
    assert decision.list_versions == held.list_versions
    assert decision.reasons == [*held.reasons, {
        "rule": "operator", "note": "Different date of birth on the ID document.",
        "operator": "ops@example"}]
    held.refresh_from_db()
    assert held.outcome == Outcome.HOLD


@pytest.mark.parametrize("decided", [Outcome.APPROVE, Outcome.REJECT])
def test_only_held_decisions_can_be_decided_manually(lists, decided):
    names = ["Amina Odhiambo"] if decided == Outcome.APPROVE else ["x"]
    addresses = [CLEAN_ADDRESS] if decided == Outcome.APPROVE else [ETH_ADDRESS]
    decision = screening_run(subject=subject(names=names, addresses=addresses))
    assert decision.outcome == decided
    with pytest.raises(DomainError) as excinfo:
        screening_decide_manually(decision=decision, outcome=Outcome.APPROVE, operator="ops",
                                  note="looks fine")
    assert (excinfo.value.slug, excinfo.value.status) == ("decision-not-held", 409)
    assert ScreeningDecision.objects.count() == 1


@pytest.mark.parametrize(("outcome", "note", "slug"), [
    (Outcome.APPROVE, "", "reason-required"),
    (Outcome.REJECT, " \n\t", "reason-required"),
    (Outcome.HOLD, "still unsure", "invalid-outcome"),
    ("escalate", "still unsure", "invalid-outcome"),
])
def test_manual_decision_needs_a_note_and_approve_or_reject(held, outcome, note, slug):
    with pytest.raises(DomainError) as excinfo:
        screening_decide_manually(decision=held, outcome=outcome, operator="ops", note=note)
    assert (excinfo.value.slug, excinfo.value.status) == (slug, 422)
    assert list(ScreeningDecision.objects.values_list("pk", flat=True)) == [held.pk]


def test_a_held_decision_is_decided_once(held):
    screening_decide_manually(decision=held, outcome=Outcome.APPROVE, operator="ops-a",
                              note="ID checked")
    with pytest.raises(DomainError):
        screening_decide_manually(decision=held, outcome=Outcome.REJECT, operator="ops-b",
                                  note="second opinion")
    assert ScreeningDecision.objects.filter(supersedes=held).count() == 1


@pytest.mark.django_db
def test_with_no_list_loaded_nothing_is_cleared():
    from compliance.models import SanctionsList
    from compliance.services import ScreeningSubject, screening_run

    SanctionsList.objects.update(is_active=False)
    decision = screening_run(subject=ScreeningSubject(
        reference="t-none", party_names=["Jane Doe"], addresses=[], amount_in=Decimal("10"),
        review_amount_in=None))
    assert decision.outcome == "hold"
    assert decision.reasons == [{"rule": "lists-missing", "detail": "no active sanctions list"}]
    assert decision.list_versions == {}
