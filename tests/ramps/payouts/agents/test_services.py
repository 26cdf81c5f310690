import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from gateway.common.problems import InvalidTransitionError
from gateway.ledger.models import JournalEntry
from gateway.ledger.selectors import account_balance, trial_balance
from gateway.transfers.models import Transfer
from gateway.transfers.states import TransferState
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from ramps.payouts.agents.models import Agent, LookupAudit, LookupThrottle, Redemption
from ramps.payouts.agents.notifier import MemorySmsNotifier
from ramps.payouts.agents.selectors import agent_float_balance, agent_is_open
from ramps.payouts.agents.services import (
    AgentLimitError,
    AgentNotAllowedError,
    CodeNotFoundError,
    Counter,
    InsufficientAgentFloatError,
    InvalidIdDocumentError,
    LockedOutError,
    RedemptionNotPayableError,
    agent_network_settle,
    redemption_code_current,
    redemption_code_hash,
    redemption_code_normalize,
    redemption_confirm,
    redemption_hold,
    redemption_issue,
    redemption_lookup,
    redemption_reissue,
    redemption_uncollected_handle,
    redemptions_uncollected,
)
from tests.ramps.payouts.agents.factories import (
    make_agent,
    make_cash_transfer,
    make_network,
    make_pickup_corridor,
    make_staff,
)

S = TransferState
PORTAL = LookupAudit.Channel.PORTAL


@pytest.fixture(autouse=True)
def _clear_sms():
    MemorySmsNotifier.sent.clear()


@pytest.fixture
def world(db):
    network = make_network("duka")
    agent = make_agent(network, "moi-avenue")
    staff = make_staff(agent, "wanjiru")
    corridor = make_pickup_corridor(network)
    return network, agent, staff, corridor


def counter(staff, agent=None):
    return Counter(agent=agent or staff.agent, staff=staff, channel=PORTAL)


def confirm(staff, code, agent=None):
    return redemption_confirm(counter=counter(staff, agent), code=code,
                              id_document_type="national_id", id_document_number="12 345 678")


def payout_entries(transfer):
    return JournalEntry.objects.filter(reference=f"transfer:{transfer.public_id}:payout")


# --- codes ----------------------------------------------------------------------------------------


def test_code_is_twelve_crockford_chars_and_only_its_hmac_is_stored(
        world, django_capture_on_commit_callbacks):
    *_, corridor = world
    with django_capture_on_commit_callbacks(execute=True):
        _transfer, redemption, code = make_cash_transfer(corridor)
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", code)
    plain = code.replace("-", "")
    assert redemption.code_hash == redemption_code_hash(plain)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM agents_redemption")
        row = " ".join(str(value) for value in cursor.fetchone())
    assert plain not in row
    assert code not in row
    assert MemorySmsNotifier.sent == [(
        "+254708374149",
        f"You can collect 12700.00 KES at any Duka Agents agent. Code: {code}, valid until "
        f"{redemption.expires_at:%Y-%m-%d %H:%M} UTC. Bring your ID.")]


def test_code_normalisation_forgives_case_separators_and_read_alikes():
    assert redemption_code_normalize("abcd-efgh-jkmn") == "ABCDEFGHJKMN"
    assert redemption_code_normalize(" 0O1I L234 5678 ") == "001112345678"
    assert redemption_code_normalize("0O1I-L234-5678-9") is None  # 13 characters
    assert redemption_code_normalize("ABCD-EFGH-JKMU") is None  # U is not in the alphabet
    assert redemption_code_normalize("x" * 500) is None
    assert redemption_code_normalize(None) is None


def test_issue_is_idempotent_and_only_at_payout_pending(world, django_capture_on_commit_callbacks):
    *_, corridor = world
    with django_capture_on_commit_callbacks(execute=True):
        transfer, redemption, _code = make_cash_transfer(corridor)
        again = redemption_issue(transfer=transfer)
    assert again.pk == redemption.pk
    assert again.code_hash == redemption.code_hash
    assert len(MemorySmsNotifier.sent) == 1
    funded, _, _ = make_cash_transfer(corridor, issue=False)
    Transfer.objects.filter(pk=funded.pk).update(state=S.FUNDED)
    funded.refresh_from_db()
    with pytest.raises(InvalidTransitionError):
        redemption_issue(transfer=funded)
    assert not Redemption.objects.filter(transfer=funded).exists()


def test_lookup_shows_amount_currency_and_name_and_is_audited(world):
    _, agent, staff, corridor = world
    _transfer, redemption, code = make_cash_transfer(corridor)
    result = redemption_lookup(counter=counter(staff), code=code.lower())
    assert (result.redemption.amount, result.redemption.currency, result.recipient_name) == (
        Decimal("12700.00"), "KES", "Joseph Mwangi")
    audit = LookupAudit.objects.get()
    assert (audit.agent, audit.staff, audit.outcome, audit.redemption) == (
        agent, staff, LookupAudit.Outcome.FOUND, redemption)


def test_expired_code_is_refused_with_its_reason_and_costs_no_attempt(world):
    _, _agent, staff, corridor = world
    transfer, redemption, code = make_cash_transfer(corridor)
    Redemption.objects.filter(pk=redemption.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(RedemptionNotPayableError, match=r"This code expired on .* Ask the sender"):
        redemption_lookup(counter=counter(staff), code=code)
    with pytest.raises(RedemptionNotPayableError, match="expired"):
        confirm(staff, code)
    assert LookupThrottle.objects.filter(failures__gt=0).count() == 0
    assert not payout_entries(transfer).exists()
    assert Transfer.objects.get(pk=transfer.pk).state == S.PAYOUT_PENDING


def test_reissue_replaces_the_code_and_the_old_one_stops_working(
        world, django_capture_on_commit_callbacks):
    _, _agent, staff, corridor = world
    _transfer, redemption, old_code = make_cash_transfer(corridor)
    with django_capture_on_commit_callbacks(execute=True):
        reissued = redemption_reissue(redemption_id=redemption.pk, actor="test")
    new_code = redemption_code_current(redemption=reissued)
    assert new_code != old_code
    assert reissued.issue_number == 2
    assert new_code in MemorySmsNotifier.sent[-1][1]
    with pytest.raises(CodeNotFoundError):
        redemption_lookup(counter=counter(staff), code=old_code)
    assert redemption_lookup(counter=counter(staff), code=new_code).redemption.pk == redemption.pk


# --- lockout --------------------------------------------------------------------------------------


def test_wrong_codes_lock_the_staff_account_then_even_a_right_code_is_refused(world):
    _, agent, staff, corridor = world
    transfer, _, code = make_cash_transfer(corridor)
    messages = []
    for _ in range(5):
        with pytest.raises(CodeNotFoundError) as caught:
            redemption_lookup(counter=counter(staff), code="ZZZZ-ZZZZ-ZZZZ")
        messages.append(caught.value.extra["attempts_left"])
    assert messages == [4, 3, 2, 1, 0]
    with pytest.raises(LockedOutError, match="locked until"):
        redemption_lookup(counter=counter(staff), code=code)
    with pytest.raises(LockedOutError):
        confirm(staff, code)
    outcomes = list(LookupAudit.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["not_found"] * 5 + ["locked", "locked"]
    assert not payout_entries(transfer).exists()
    # another staff member of the same agent is not locked by a colleague's mistakes
    colleague = make_staff(agent, "otieno")
    assert redemption_lookup(counter=counter(colleague), code=code).redemption.transfer == transfer


def test_failures_across_staff_lock_the_agent(world, settings):
    settings.AGENTS_LOOKUP_FAILURES_PER_AGENT = 3
    _, agent, _staff, _corridor = world
    others = [make_staff(agent, f"staff{i}") for i in range(3)]
    for member in others:
        with pytest.raises(CodeNotFoundError):
            redemption_lookup(counter=counter(member), code="not a code")
    fresh = make_staff(agent, "fresh")
    with pytest.raises(LockedOutError):
        redemption_lookup(counter=counter(fresh), code="ZZZZ-ZZZZ-ZZZZ")
    throttle = LookupThrottle.objects.get(scope="agent", subject=str(agent.pk))
    assert throttle.locked_until > timezone.now()


def test_lockout_ends_after_its_time(world, settings):
    settings.AGENTS_LOOKUP_FAILURES_PER_STAFF = 1
    _, _agent, staff, corridor = world
    _, _, code = make_cash_transfer(corridor)
    with pytest.raises(CodeNotFoundError):
        redemption_lookup(counter=counter(staff), code="ZZZZ-ZZZZ-ZZZZ")
    LookupThrottle.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    assert redemption_lookup(counter=counter(staff), code=code).redemption


# --- payout ---------------------------------------------------------------------------------------


def test_confirm_pays_once_moves_ledger_and_completes_the_transfer(world):
    _network, agent, staff, corridor = world
    transfer, redemption, code = make_cash_transfer(corridor)
    result = confirm(staff, code)
    assert result.already_paid is False
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.PAID
    assert (redemption.paid_by_agent, redemption.paid_by_staff) == (agent, staff)
    assert redemption.id_document == {"type": "national_id", "number": "12345678"}
    assert redemption.commission_amount == Decimal("177.00")  # 50 + 1% of 12700
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_document FROM agents_redemption WHERE id = %s",
                       [redemption.pk])
        assert "12345678" not in cursor.fetchone()[0]
    transfer.refresh_from_db()
    assert transfer.state == S.COMPLETED
    assert transfer.events.last().actor == "agent:duka/moi-avenue:wanjiru"
    assert agent_float_balance(agent=agent) == Decimal("37300.00")
    assert account_balance(code="liabilities:payouts:KES", currency="KES") == Decimal("0")
    assert account_balance(code="liabilities:agent-commission:duka",
                           currency="KES") == Decimal("-177.00")
    assert account_balance(code="expenses:agent-commission", currency="KES") == Decimal("177.00")
    assert all(total == 0 for total in trial_balance().values())
    assert payout_entries(transfer).count() == 1


def test_retry_after_a_lost_answer_returns_the_same_receipt(world):
    _, agent, staff, corridor = world
    transfer, _redemption, code = make_cash_transfer(corridor)
    first = confirm(staff, code)
    retry = confirm(staff, code)
    assert retry.already_paid is True
    assert retry.redemption.pk == first.redemption.pk
    assert payout_entries(transfer).count() == 1
    assert agent_float_balance(agent=agent) == Decimal("37300.00")


def test_another_agent_of_the_network_cannot_pay_a_paid_code(world):
    network, _agent, staff, corridor = world
    _transfer, _, code = make_cash_transfer(corridor)
    confirm(staff, code)
    other = make_agent(network, "kenyatta")
    with pytest.raises(RedemptionNotPayableError, match="already paid out"):
        confirm(make_staff(other, "kamau"), code)
    assert agent_float_balance(agent=other) == Decimal("50000.00")


def test_other_network_cannot_see_or_pay_the_code_and_it_counts_as_a_wrong_code(world):
    _, _agent, _staff, corridor = world
    transfer, _redemption, code = make_cash_transfer(corridor)
    rival = make_agent(make_network("rival"), "kiosk")
    rival_staff = make_staff(rival, "mallam")
    with pytest.raises(CodeNotFoundError) as caught:
        redemption_lookup(counter=counter(rival_staff), code=code)
    assert caught.value.extra == {"attempts_left": 4}
    with pytest.raises(CodeNotFoundError):
        confirm(rival_staff, code)
    audits = LookupAudit.objects.filter(agent=rival)
    assert set(audits.values_list("outcome", "redemption")) == {("other_network", None)}
    assert Transfer.objects.get(pk=transfer.pk).state == S.PAYOUT_PENDING
    assert not payout_entries(transfer).exists()
    assert agent_float_balance(agent=rival) == Decimal("50000.00")


@pytest.mark.parametrize(("setup", "error", "message"), [
    ("float", InsufficientAgentFloatError, r"cannot cover 12700.00 KES"),
    ("held", RedemptionNotPayableError, r"on hold"),
    ("refunded", RedemptionNotPayableError, r"being refunded"),
    ("per_payout", AgentLimitError, r"limit of 10000.00 per payout"),
    ("per_day", AgentLimitError, r"daily limit"),
    ("suspended", AgentNotAllowedError, r"suspended"),
    ("teller", AgentNotAllowedError, r"allowed to pay out"),
    ("currency", AgentNotAllowedError, r"pays UGX"),
    ("closed", AgentNotAllowedError, r"opening hours"),
])
def test_refused_payouts_write_nothing(world, setup, error, message):
    network, agent, staff, corridor = world
    transfer, redemption, code = make_cash_transfer(corridor)
    if setup == "float":
        agent = make_agent(network, "empty", float_amount="12000.00")
        staff = make_staff(agent, "poor")
    elif setup == "held":
        redemption_hold(redemption_id=redemption.pk, operator="ops", hold=True)
    elif setup == "refunded":
        Transfer.objects.filter(pk=transfer.pk).update(state=S.REFUND_PENDING)
    elif setup == "per_payout":
        Agent.objects.filter(pk=agent.pk).update(limit_per_payout=Decimal("10000"))
    elif setup == "per_day":
        Agent.objects.filter(pk=agent.pk).update(limit_per_day=Decimal("20000"))
        _, _, first = make_cash_transfer(corridor, amount_out="8000.00")
        confirm(staff, first)
    elif setup == "suspended":
        Agent.objects.filter(pk=agent.pk).update(status=Agent.Status.SUSPENDED)
    elif setup == "teller":
        staff = make_staff(agent, "teller", can_pay_out=False)
    elif setup == "currency":
        Agent.objects.filter(pk=agent.pk).update(currency="UGX")
    elif setup == "closed":
        Agent.objects.filter(pk=agent.pk).update(opening_hours={"sun": [["00:00", "00:01"]]})
    staff.agent.refresh_from_db()
    entries_before = JournalEntry.objects.count()
    float_before = agent_float_balance(agent=staff.agent)
    with pytest.raises(error, match=message):
        confirm(staff, code, agent=staff.agent)
    assert JournalEntry.objects.count() == entries_before
    assert agent_float_balance(agent=staff.agent) == float_before
    redemption.refresh_from_db()
    assert redemption.status != Redemption.Status.PAID
    assert redemption.id_document is None
    assert Transfer.objects.get(pk=transfer.pk).events.count() == 1


def test_invalid_id_document_is_refused_before_any_lookup(world):
    _, _agent, staff, corridor = world
    _, redemption, code = make_cash_transfer(corridor)
    for kind, number in [("library_card", "12345678"), ("national_id", "12"),
                         ("national_id", "<script>")]:
        with pytest.raises(InvalidIdDocumentError):
            redemption_confirm(counter=counter(staff), code=code, id_document_type=kind,
                               id_document_number=number)
    assert not LookupAudit.objects.exists()
    assert Redemption.objects.get(pk=redemption.pk).status == Redemption.Status.ISSUED


def test_opening_hours_follow_the_agents_time_zone(world):
    _, agent, _, _ = world
    agent.opening_hours = {"mon": [["08:00", "18:00"]]}
    monday_0700_utc = datetime(2026, 11, 16, 7, 0, tzinfo=UTC)  # 10:00 EAT
    assert agent_is_open(agent=agent, now=monday_0700_utc)
    assert not agent_is_open(agent=agent, now=monday_0700_utc + timedelta(hours=8))  # 18:00
    assert not agent_is_open(agent=agent, now=monday_0700_utc + timedelta(days=1))


# --- concurrency ----------------------------------------------------------------------------------


def run_together(*calls):
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(call):
        barrier.wait()
        try:
            result = call()
            outcomes.append("replayed" if result.already_paid else "paid")
        except RedemptionNotPayableError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


@pytest.mark.django_db(transaction=True)
def test_two_staff_and_a_double_click_at_once_pay_exactly_once():
    network = make_network("duka")
    agent = make_agent(network, "moi-avenue")
    first, second = make_staff(agent, "wanjiru"), make_staff(agent, "otieno")
    transfer, _, code = make_cash_transfer(make_pickup_corridor(network))
    outcomes = run_together(lambda: confirm(first, code), lambda: confirm(first, code),
                            lambda: confirm(second, code))
    assert outcomes == ["paid", "replayed", "replayed"]
    assert payout_entries(transfer).count() == 1
    assert agent_float_balance(agent=agent) == Decimal("37300.00")
    assert Transfer.objects.get(pk=transfer.pk).events.filter(to_state=S.COMPLETED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_agents_racing_for_one_code_pay_once():
    network = make_network("duka")
    agents = [make_agent(network, "a"), make_agent(network, "b")]
    staff = [make_staff(agent, f"staff-{agent.code}") for agent in agents]
    transfer, _, code = make_cash_transfer(make_pickup_corridor(network))
    outcomes = run_together(*(lambda s=s: confirm(s, code) for s in staff))
    assert outcomes == ["paid", "refused"]
    floats = sorted(agent_float_balance(agent=agent) for agent in agents)
    assert floats == [Decimal("37300.00"), Decimal("50000.00")]
    assert payout_entries(transfer).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_payouts_cannot_both_spend_the_last_float():
    network = make_network("duka")
    agent = make_agent(network, "moi-avenue", float_amount="20000.00")
    staff = [make_staff(agent, "wanjiru"), make_staff(agent, "otieno")]
    corridor = make_pickup_corridor(network)
    codes = [make_cash_transfer(corridor)[2], make_cash_transfer(corridor)[2]]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def pay(member, code):
        barrier.wait()
        try:
            confirm(member, code)
            outcomes.append("paid")
        except InsufficientAgentFloatError:
            outcomes.append("short")
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=pair) for pair in zip(staff, codes, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["paid", "short"]
    assert agent_float_balance(agent=agent) == Decimal("7300.00")


# --- uncollected cash, settlement -----------------------------------------------------------------


def test_uncollected_cash_is_refunded_when_the_corridor_says_so(db):
    network = make_network("duka")
    agent = make_agent(network, "moi-avenue")
    staff = make_staff(agent, "wanjiru")
    corridor = make_pickup_corridor(network, uncollected_action="refund")
    transfer, redemption, code = make_cash_transfer(corridor)
    assert redemptions_uncollected() == []
    Redemption.objects.filter(pk=redemption.pk).update(expires_at=timezone.now())
    assert redemptions_uncollected() == [redemption.pk]
    redemption_uncollected_handle(redemption_id=redemption.pk)
    redemption_uncollected_handle(redemption_id=redemption.pk)  # a duplicate task: no effect
    transfer.refresh_from_db()
    # This transfer has no credited deposit on a chain to send back: it is not pretended
    # refunded but waits at payout_failed, whose refund action (or deadline) an operator sees.
    # The on-chain refund itself: tests/gateway/transfers/test_ways_out.py.
    assert transfer.state == S.PAYOUT_FAILED
    assert list(transfer.events.values_list("to_state", flat=True)) == [
        S.PAYOUT_PENDING, S.PAYOUT_FAILED]
    assert Redemption.objects.get(pk=redemption.pk).status == Redemption.Status.CANCELLED
    with pytest.raises(RedemptionNotPayableError, match="being refunded to the sender"):
        confirm(staff, code)
    assert redemptions_uncollected() == []


def test_uncollected_cash_notifies_the_sender_once_and_a_reissue_reopens_it(world):
    _network, _agent, staff, corridor = world
    transfer, redemption, _code = make_cash_transfer(corridor)
    WebhookEndpoint.objects.create(partner=transfer.partner, url="https://example.test/hook",
                                   secret="whsec_" + "A" * 32)
    Redemption.objects.filter(pk=redemption.pk).update(expires_at=timezone.now())
    redemption_uncollected_handle(redemption_id=redemption.pk)
    redemption_uncollected_handle(redemption_id=redemption.pk)
    delivery = WebhookDelivery.objects.get(event_type="transfer.cash_pickup_expired")
    assert delivery.payload["data"]["id"] == str(transfer.public_id)
    assert Transfer.objects.get(pk=transfer.pk).state == S.PAYOUT_PENDING
    reissued = redemption_reissue(redemption_id=redemption.pk, actor="partner")
    assert reissued.expires_at > timezone.now()
    assert reissued.uncollected_handled_at is None
    assert confirm(staff, redemption_code_current(redemption=reissued)).already_paid is False


def test_commission_settlement_pays_no_more_than_is_owed(world):
    network, _agent, staff, corridor = world
    _, _, code = make_cash_transfer(corridor)
    confirm(staff, code)
    agent_network_settle(network=network, currency="KES", amount="177.00", reference="2026-11")
    assert account_balance(code="liabilities:agent-commission:duka", currency="KES") == 0
    with pytest.raises(Exception, match="owed less than"):
        agent_network_settle(network=network, currency="KES", amount="1.00", reference="x")


# --- facts ----------------------------------------------------------------------------------------


def test_each_fact_of_a_code_is_recorded_once_in_order(world):
    from ramps.payouts.agents.models import RedemptionEvent

    _, _, staff, corridor = world
    _, redemption, _ = make_cash_transfer(corridor)
    redemption_hold(redemption_id=redemption.pk, operator="amina", hold=True)
    redemption_hold(redemption_id=redemption.pk, operator="amina", hold=False)
    redemption = redemption_reissue(redemption_id=redemption.pk, actor="partner:acme")
    confirm(staff, redemption_code_current(redemption=redemption))
    confirm(staff, redemption_code_current(redemption=redemption))  # a retry: no new fact
    facts = list(RedemptionEvent.objects.filter(redemption=redemption)
                 .values_list("kind", "issue_number", "actor"))
    assert facts == [("issued", 1, "agents"), ("held", 1, "operator:amina"),
                     ("released", 1, "operator:amina"), ("reissued", 2, "partner:acme"),
                     ("redeemed", 2, "agent:duka/moi-avenue:wanjiru")]


def test_a_refused_payout_records_no_fact(world):
    from ramps.payouts.agents.models import RedemptionEvent

    _, _, staff, corridor = world
    _, redemption, code = make_cash_transfer(corridor, amount_out="60000.00")
    with pytest.raises(InsufficientAgentFloatError):
        confirm(staff, code)
    assert list(RedemptionEvent.objects.filter(redemption=redemption)
                .values_list("kind", flat=True)) == ["issued"]

