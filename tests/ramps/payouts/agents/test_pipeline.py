"""A cash-pickup transfer through the whole gateway: deposit, screening, conversion on the
sandbox venue, a code instead of a mobile-money payout, and the agent's confirmation."""

import secrets
from decimal import Decimal
from pathlib import Path

from django.utils import timezone

from compliance.services import sanctions_import
from gateway.ledger.models import JournalEntry
from gateway.ledger.selectors import account_balance, unbalanced_entries
from gateway.transfers import tasks as transfer_tasks
from gateway.transfers.models import Corridor
from gateway.transfers.services.driver import transfer_advance
from gateway.transfers.states import TransferState as S
from gateway.webhooks import tasks as webhook_tasks
from ramps.chain.models import Deposit
from ramps.payouts.agents.models import Redemption
from ramps.payouts.agents.services import (
    Counter,
    redemption_code_current,
    redemption_confirm,
)
from ramps.payouts.models import PayoutAttempt
from tests.gateway.transfers.factories import make_corridor, make_transfer
from tests.ramps.payouts.agents.factories import make_agent, make_network, make_staff

CRYPTO_DIR = (Path(__file__).resolve().parents[4]
              / "compliance/data/sanctions/crypto-addresses-2024-09")


def _cash_transfer_paid(exchange_venue, monkeypatch):
    """A cash-pickup corridor with one agent (and its cashier), and a transfer whose exact
    deposit is final on the chain, not yet driven: (agent, staff, transfer, deposit)."""
    from ramps.payouts.agents.models import CashPickupCorridor

    monkeypatch.setattr(transfer_tasks.transfer_advance, "delay", lambda pk: None)
    monkeypatch.setattr(webhook_tasks.webhook_deliver, "delay", lambda pk: None)
    sanctions_import(source="ofac-crypto", files=sorted(CRYPTO_DIR.glob("*.json")))
    network = make_network("kiosk")
    agent = make_agent(network, "nairobi-1", float_amount="50000.00")
    staff = make_staff(agent, "cashier")
    corridor = make_corridor(venue=exchange_venue, rail=None,
                             payout_method=Corridor.PayoutMethod.CASH_PICKUP)
    CashPickupCorridor.objects.create(corridor=corridor, network=network)
    transfer = make_transfer(corridor=corridor)
    deposit = Deposit.objects.create(
        chain=corridor.token.chain, token=corridor.token, deposit_address=transfer.deposit_address,
        tx_hash="0x" + secrets.token_hex(32), log_index=0, block_number=10,
        block_hash="0x" + secrets.token_hex(32),
        from_address="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        amount=transfer.amount_in_base_units, status=Deposit.Status.CONFIRMED,
        confirmed_at=timezone.now())
    return agent, staff, transfer, deposit


def test_a_cash_pickup_transfer_gets_a_code_and_completes_at_the_counter(db, exchange_venue,
                                                                         monkeypatch):
    agent, staff, transfer, _ = _cash_transfer_paid(exchange_venue, monkeypatch)

    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_PENDING
    assert not PayoutAttempt.objects.filter(owner_reference=transfer.reference).exists()
    redemption = Redemption.objects.get(transfer=transfer)
    assert transfer_advance(transfer_id=transfer.pk).state == S.PAYOUT_PENDING  # waits

    result = redemption_confirm(
        counter=Counter(agent=agent, staff=staff, channel="portal"),
        code=redemption_code_current(redemption=redemption),
        id_document_type="national_id", id_document_number="12345678")
    transfer.refresh_from_db()
    assert transfer.state == S.COMPLETED
    assert result.redemption.status == Redemption.Status.PAID
    references = list(JournalEntry.objects.filter(owner_reference=transfer.reference)
                      .order_by("id").values_list("reference", flat=True))
    assert references == [f"transfer:{transfer.public_id}:funding",
                          f"transfer:{transfer.public_id}:conversion",
                          f"transfer:{transfer.public_id}:payout"]
    assert unbalanced_entries() == []
    assert transfer.amount_out > Decimal(0)


def test_cash_waits_while_the_credited_deposit_is_off_the_chain(db, exchange_venue,
                                                                monkeypatch):
    """A deep reorg takes the block of the deposit behind an issued code: the transfer cannot
    go back on hold, so the counter refuses the code (and pays nothing) until the payment is
    final on the chain again; then the same code pays."""
    import pytest

    from ramps.payouts.agents.services import RedemptionNotPayableError, redemption_lookup

    agent, staff, transfer, deposit = _cash_transfer_paid(exchange_venue, monkeypatch)
    counter = Counter(agent=agent, staff=staff, channel="portal")
    assert transfer_advance(transfer_id=transfer.pk).state == S.PAYOUT_PENDING
    deposit.refresh_from_db()
    assert deposit.credited_at is not None
    code = redemption_code_current(redemption=Redemption.objects.get(transfer=transfer))
    float_before = account_balance(code=agent.float_account, currency="KES")

    for status in (Deposit.Status.REORGED, Deposit.Status.SEEN):  # gone, then mined again
        Deposit.objects.filter(pk=deposit.pk).update(status=status)
        with pytest.raises(RedemptionNotPayableError, match="being checked again"):
            redemption_lookup(counter=counter, code=code)
        with pytest.raises(RedemptionNotPayableError, match="being checked again"):
            redemption_confirm(counter=counter, code=code, id_document_type="national_id",
                               id_document_number="12345678")
        transfer.refresh_from_db()
        assert transfer.state == S.PAYOUT_PENDING
        assert Redemption.objects.get(transfer=transfer).status == Redemption.Status.ISSUED
        assert not JournalEntry.objects.filter(
            reference=f"transfer:{transfer.public_id}:payout").exists()
    assert account_balance(code=agent.float_account, currency="KES") == float_before

    Deposit.objects.filter(pk=deposit.pk).update(status=Deposit.Status.CONFIRMED)
    redemption_confirm(counter=counter, code=code, id_document_type="national_id",
                       id_document_number="12345678")
    transfer.refresh_from_db()
    assert transfer.state == S.COMPLETED
