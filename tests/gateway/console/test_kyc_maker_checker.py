"""KYC in the admin needs two operators wherever it widens what a customer may do: accepting a
customer, changing a tier's limits, moving a customer to another tier. One operator proposes,
a second with the same permission confirms with the same values; the proposer cannot confirm;
roles without the permission are not offered the action. Rejecting stays a one-operator
decision."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance.kyc.models import Customer, CustomerEvent, KycTier
from gateway.common.problems import DomainError
from gateway.console.models import AuditEvent, PendingApproval
from tests.gateway.partners.factories import make_partner

pytestmark = pytest.mark.django_db
REASON = "documents checked against the register"
CUSTOMERS = "/admin/kyc/customer/"
TIERS = "/admin/kyc/kyctier/"


@pytest.fixture
def tiers():
    basic = KycTier.objects.create(code="basic", name="Basic", level=1,
                                   natural_person_fields=["first_name", "last_name"],
                                   limit_per_transfer_usd=Decimal("500"),
                                   limit_per_day_usd=Decimal("800"),
                                   limit_per_30_days_usd=Decimal("2000"))
    full = KycTier.objects.create(code="full", name="Full", level=2,
                                  natural_person_fields=["first_name", "last_name"],
                                  limit_per_transfer_usd=Decimal("5000"))
    return basic, full


@pytest.fixture
def customer(tiers):
    return Customer.objects.create(
        partner=make_partner()[0], external_id="c-1", role="sender", kind="natural_person",
        tier=tiers[0], status=Customer.Status.PROCESSING,
        fields={"first_name": "Amina", "last_name": "Odhiambo"})


def act(client, url: str, action: str, pk: int, **extra):
    listing = client.get(url)
    offered = f'value="{action}"' in listing.content.decode()
    response = client.post(url, {"action": action, "_selected_action": [pk], "confirm": "yes",
                                 "reason": REASON, **extra})
    messages = [str(message) for message in response.wsgi_request._messages]
    return offered, messages


def status_of(customer) -> str:
    return Customer.objects.get(pk=customer.pk).status


@pytest.mark.parametrize(("role", "allowed"), [
    ("compliance", True), ("admin", True), ("support", False), ("treasury", False)])
def test_accepting_a_customer_takes_two_operators(operator_client, customer, role, allowed):
    maker = operator_client("maker", roles=[role])
    checker = operator_client("checker", roles=[role])
    offered, messages = act(maker, CUSTOMERS, "accept_customers", customer.pk)
    assert offered is allowed
    assert status_of(customer) == Customer.Status.PROCESSING  # nothing runs on one word
    if not allowed:
        assert not PendingApproval.objects.exists()
        return
    assert "a second operator must run the same action" in messages[0]
    _, messages = act(maker, CUSTOMERS, "accept_customers", customer.pk)
    assert "cannot confirm it" in messages[0]
    assert status_of(customer) == Customer.Status.PROCESSING
    _, messages = act(checker, CUSTOMERS, "accept_customers", customer.pk)
    assert "proposed by maker, confirmed" in messages[0]
    assert status_of(customer) == Customer.Status.ACCEPTED
    assert Customer.objects.get(pk=customer.pk).reviewed_by == "checker"
    approval = PendingApproval.objects.get()
    assert (approval.maker.username, approval.checker.username, approval.status) == (
        "maker", "checker", "confirmed")
    assert [event.outcome for event in AuditEvent.objects.filter(
        action="kyc.accept_customers").order_by("id")] == ["done", "failed", "done"]


def test_rejecting_stays_a_single_operator_decision(operator_client, customer):
    client = operator_client("officer", roles=["compliance"])
    act(client, CUSTOMERS, "reject_customers", customer.pk)
    assert status_of(customer) == Customer.Status.REJECTED
    assert not PendingApproval.objects.exists()


LIMITS = {"limit_per_transfer_usd": "1,000", "limit_per_day_usd": "1500.50",
          "limit_per_30_days_usd": "none"}


@pytest.mark.parametrize(("role", "allowed"), [
    ("compliance", True), ("admin", True), ("support", False), ("treasury", False)])
def test_tier_limits_change_only_when_a_second_operator_confirms_the_same_values(
        operator_client, tiers, role, allowed):
    basic, _ = tiers
    maker = operator_client("maker", roles=[role])
    checker = operator_client("checker", roles=[role])
    offered, _ = act(maker, TIERS, "change_limits", basic.pk, **LIMITS)
    assert offered is allowed

    def limits():
        tier = KycTier.objects.get(pk=basic.pk)
        return (tier.limit_per_transfer_usd, tier.limit_per_day_usd,
                tier.limit_per_30_days_usd)

    assert limits() == (Decimal("500"), Decimal("800"), Decimal("2000"))
    if not allowed:
        return
    # the checker typed other values: refused, nothing changes
    _, messages = act(checker, TIERS, "change_limits", basic.pk,
                      **{**LIMITS, "limit_per_day_usd": "9999"})
    assert "confirm the same choice" in messages[0]
    assert limits() == (Decimal("500"), Decimal("800"), Decimal("2000"))
    _, messages = act(checker, TIERS, "change_limits", basic.pk, **LIMITS)
    assert limits() == (Decimal("1000.00"), Decimal("1500.50"), None)
    event = AuditEvent.objects.filter(action="kyc.change_limits", outcome="done").first()
    assert (event.before["limit_per_day_usd"], event.after["limit_per_day_usd"]) == (
        "800.000000000000000000", "1500.500000000000000000")


@pytest.mark.parametrize("bad", ["-1", "12.345", "lots", "1e400"])
def test_a_bad_limit_changes_nothing_even_when_confirmed(operator_client, tiers, bad):
    basic, _ = tiers
    values = {**LIMITS, "limit_per_transfer_usd": bad}
    act(operator_client("maker", roles=["compliance"]), TIERS, "change_limits", basic.pk,
        **values)
    _, messages = act(operator_client("checker", roles=["compliance"]), TIERS,
                      "change_limits", basic.pk, **values)
    assert "limit_per_transfer_usd" in messages[0]
    assert KycTier.objects.get(pk=basic.pk).limit_per_transfer_usd == Decimal("500")
    # Refused when run: the proposal is closed (a corrected one can be made), nothing ran.
    assert PendingApproval.objects.get().status == "failed"


def test_tier_limits_are_read_only_on_the_tier_page(operator_client, tiers):
    client = operator_client("boss", roles=["admin"])
    page = client.get(f"{TIERS}{tiers[0].pk}/change/").content.decode()
    assert 'name="limit_per_transfer_usd"' not in page


def test_moving_a_customer_to_another_tier_takes_two_operators(operator_client, customer,
                                                              tiers):
    Customer.objects.filter(pk=customer.pk).update(status=Customer.Status.ACCEPTED)
    maker = operator_client("maker", roles=["compliance"])
    checker = operator_client("checker", roles=["compliance"])
    offered, _ = act(maker, CUSTOMERS, "move_to_tier", customer.pk, tier_code="full")
    assert offered
    assert Customer.objects.get(pk=customer.pk).tier.code == "basic"
    act(checker, CUSTOMERS, "move_to_tier", customer.pk, tier_code="full")
    moved = Customer.objects.get(pk=customer.pk)
    # a new tier is reviewed again (itself two operators) before it applies
    assert (moved.tier.code, moved.status) == ("full", Customer.Status.PROCESSING)
    event = CustomerEvent.objects.filter(customer=customer).last()
    assert (event.actor, event.changed_fields, event.note) == (
        "checker", ["tier"], "tier basic -> full")
    offered, _ = act(operator_client("desk", roles=["support"]), CUSTOMERS, "move_to_tier",
                     customer.pk, tier_code="basic")
    assert not offered


@given(text=st.one_of(st.decimals(allow_nan=True, allow_infinity=True).map(str),
                      st.text(max_size=20)))
def test_a_typed_limit_is_an_exact_usd_amount_or_a_clear_refusal(text):
    from compliance.kyc.services import _limit_parse

    try:
        value = _limit_parse("limit_per_day_usd", text)
    except DomainError as exc:
        refused = exc.slug
    else:
        refused = ""
    if refused:
        assert refused == "invalid-limit"
    elif value is not None:
        assert value == Decimal(text.strip().replace(",", ""))
        assert value.as_tuple().exponent == -2
        assert Decimal(0) <= value < Decimal("1e15")
