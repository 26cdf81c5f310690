"""Treasury's movements in the admin: money put on a rail's float or taken back, and fiat moved
between the bank and a venue. Each checks its own permission, asks a reason, needs a second
operator (maker-checker), books one ledger entry through its service and is audited; a refused
one books nothing."""

from decimal import Decimal

import pytest

from gateway.console.models import AuditEvent, PendingApproval
from gateway.ledger.selectors import account_balance, unbalanced_entries
from gateway.treasury.models import FloatPolicy
from gateway.treasury.services import treasury_float_available
from tests.ramps.liquidity.factories import make_venue

pytestmark = pytest.mark.django_db

POLICIES = "/admin/treasury/floatpolicy/"


@pytest.fixture
def policy():
    return FloatPolicy.objects.create(
        rail_code="mpesa-ke", currency="KES", refill_threshold=Decimal("100000"),
        refill_target=Decimal("500000"), venue=make_venue(name="luno-ke"))


def run(client, action: str, pk: int, **fields):
    offered = f'value="{action}"' in client.get(POLICIES).content.decode()
    response = client.post(POLICIES, {"action": action, "_selected_action": [pk],
                                      "confirm": "yes", "reason": "bank statement 12/02",
                                      **fields})
    return offered, response


@pytest.fixture
def treasurers(operator_client):
    return (operator_client("kofi", roles=["treasury"]),
            operator_client("ama", roles=["treasury"]))


def both(treasurers, action, pk, **fields):
    """Proposed by one treasurer, confirmed by another."""
    maker, checker = treasurers
    run(maker, action, pk, **fields)
    return run(checker, action, pk, **fields)


def test_a_float_top_up_needs_a_second_treasurer_then_books_once(treasurers, policy):
    maker, checker = treasurers
    offered, _ = run(maker, "adjust_rail_float", policy.pk, amount="250000.00", direction="in",
                     reference="BANK-1")
    assert offered
    assert treasury_float_available(rail_code="mpesa-ke", currency="KES") == 0  # proposed only
    assert PendingApproval.objects.get().params == {
        "amount": "250000.00", "direction": "in", "reference": "BANK-1"}
    run(checker, "adjust_rail_float", policy.pk, amount="250000.00", direction="in",
        reference="BANK-1")
    assert treasury_float_available(rail_code="mpesa-ke", currency="KES") == Decimal("250000")
    assert account_balance(code="assets:bank:KES", currency="KES") == Decimal("-250000")
    confirmed = AuditEvent.objects.filter(action="treasury.adjust_rail_float").order_by("id").last()
    assert confirmed.detail.startswith("free float 0")
    assert "-> 250000.00 KES (float-adjust:mpesa-ke:BANK-1)" in confirmed.detail
    # The same reference again (a double submission) books nothing more.
    both(treasurers, "adjust_rail_float", policy.pk, amount="250000.00", direction="in",
         reference="BANK-1")
    assert treasury_float_available(rail_code="mpesa-ke", currency="KES") == Decimal("250000")
    assert list(unbalanced_entries()) == []


def test_taking_back_more_than_the_free_float_is_refused(treasurers, policy):
    both(treasurers, "adjust_rail_float", policy.pk, amount="1000.00", direction="in",
         reference="BANK-2")
    both(treasurers, "adjust_rail_float", policy.pk, amount="1000.01", direction="out",
         reference="BANK-3")
    assert treasury_float_available(rail_code="mpesa-ke", currency="KES") == Decimal("1000")
    both(treasurers, "adjust_rail_float", policy.pk, amount="400.00", direction="out",
         reference="BANK-4")
    assert treasury_float_available(rail_code="mpesa-ke", currency="KES") == Decimal("600")


@pytest.mark.parametrize("fields", [
    {"amount": "-5", "direction": "in", "reference": "B"},
    {"amount": "abc", "direction": "in", "reference": "B"},
    {"amount": "1.001", "direction": "in", "reference": "B"},
    {"amount": "5", "direction": "sideways", "reference": "B"},
    {"amount": "5", "direction": "in", "reference": "two words"},
    {"amount": "5", "direction": "in", "reference": ""},
])
def test_bad_input_books_nothing_and_says_why(treasurers, policy, fields):
    _, response = both(treasurers, "adjust_rail_float", policy.pk, **fields)
    assert response.status_code in (200, 302)
    assert treasury_float_available(rail_code="mpesa-ke", currency="KES") == 0
    assert account_balance(code="assets:bank:KES", currency="KES") == 0


def test_a_venue_transfer_moves_fiat_between_the_bank_and_the_venue(treasurers, policy):
    both(treasurers, "record_venue_transfer", policy.pk, amount="90000.00",
         direction="to_venue", reference="WIRE-1")
    assert account_balance(code="assets:venue:luno-ke", currency="KES") == Decimal("90000")
    both(treasurers, "record_venue_transfer", policy.pk, amount="90000.01",
         direction="from_venue", reference="WIRE-2")  # more than the venue holds: refused
    assert account_balance(code="assets:venue:luno-ke", currency="KES") == Decimal("90000")
    both(treasurers, "record_venue_transfer", policy.pk, amount="30000.00",
         direction="from_venue", reference="WIRE-3")
    assert account_balance(code="assets:venue:luno-ke", currency="KES") == Decimal("60000")
    assert account_balance(code="assets:bank:KES", currency="KES") == Decimal("-60000")
    assert list(unbalanced_entries()) == []


@pytest.mark.parametrize("role", ["support", "compliance"])
def test_roles_without_the_permission_are_not_offered_the_movements(operator_client, policy,
                                                                     role):
    client = operator_client("eve", roles=[role])
    for action in ("adjust_rail_float", "record_venue_transfer"):
        offered, _ = run(client, action, policy.pk, amount="5", direction="in", reference="B")
        assert not offered
    assert treasury_float_available(rail_code="mpesa-ke", currency="KES") == 0
    assert not PendingApproval.objects.exists()
