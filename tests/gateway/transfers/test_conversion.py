"""Conversion and the payout's float (``services/conversion.py``): no payout the float cannot
cover, float and conversion holds released by an operator."""

from decimal import Decimal

import pytest

from compliance.models import ScreeningDecision
from compliance.services import sanctions_import
from gateway.common.problems import DomainError, InvalidTransitionError
from gateway.ledger.models import LedgerAccount
from gateway.ledger.selectors import account_balance
from gateway.ledger.services import credit, debit, ledger_entry_post
from gateway.transfers.models import Transfer
from gateway.transfers.services.conversion import transfer_release_hold
from gateway.transfers.services.driver import transfer_advance
from gateway.transfers.services.machine import transfer_transition
from gateway.transfers.states import TransferState
from ramps.liquidity.models import ConversionOrder
from ramps.payouts.models import PayoutAttempt
from tests.gateway.transfers.factories import make_corridor
from tests.gateway.transfers.flow import (
    CRYPTO_DIR,
    add_deposit,
    entries,
    new_transfer,
)

S = TransferState
K = LedgerAccount.Kind


def test_no_payout_is_sent_when_the_rail_float_cannot_cover_it(db, exchange_venue, daraja_rail,
                                                               daraja_sandbox, queued,
                                                               callbacks_to_receiver):
    sanctions_import(source="ofac-crypto", files=sorted(CRYPTO_DIR.glob("*.json")))
    corridor = make_corridor(venue=exchange_venue, rail=daraja_rail)
    ledger_entry_post(
        reference="test:float:small", description="Opening float",
        legs=[debit("assets:float:mpesa-ke", "KES", Decimal("100.00"), kind=K.ASSET, floor=True),
              credit("equity:opening-balances", "KES", Decimal("100.00"), kind=K.EQUITY)],
    )
    transfer = new_transfer(corridor)
    add_deposit(transfer)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.ON_HOLD
    assert transfer.hold_reason == "insufficient rail float"
    assert not PayoutAttempt.objects.filter(owner_reference=transfer.reference).exists()
    assert entries(transfer) == ["funding", "conversion"]
    assert account_balance(code="assets:float:mpesa-ke", currency="KES") == Decimal("100.00")


def test_a_float_hold_is_released_after_a_top_up_and_pays_once(db, exchange_venue, daraja_rail,
                                                                daraja_sandbox, queued,
                                                                callbacks_to_receiver):
    sanctions_import(source="ofac-crypto", files=sorted(CRYPTO_DIR.glob("*.json")))
    corridor = make_corridor(venue=exchange_venue, rail=daraja_rail)
    transfer = new_transfer(corridor)
    add_deposit(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state == S.ON_HOLD
    ledger_entry_post(
        reference="test:float:top-up", description="Top-up",
        legs=[debit("assets:float:mpesa-ke", "KES", Decimal("20000.00"), kind=K.ASSET,
                    floor=True),
              credit("equity:opening-balances", "KES", Decimal("20000.00"), kind=K.EQUITY)],
    )
    with pytest.raises(DomainError):
        transfer_release_hold(transfer_id=transfer.pk, operator="ops", note=" ")
    transfer_release_hold(transfer_id=transfer.pk, operator="ops", note="float topped up")
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_PENDING
    assert ConversionOrder.objects.filter(reference=transfer.reference).count() == 1
    assert entries(transfer) == ["funding", "conversion", "float-reserve"]
    assert account_balance(code="assets:float:mpesa-ke", currency="KES") == (
        Decimal("20000.00") - transfer.amount_out)
    assert account_balance(code="assets:float-reserved:mpesa-ke", currency="KES") == (
        transfer.amount_out)


def test_a_compliance_hold_cannot_be_released_as_a_treasury_hold(corridor):
    transfer = new_transfer(corridor, state=S.FUNDED)
    held = ScreeningDecision.objects.create(
        subject_reference=transfer.reference, outcome=ScreeningDecision.Outcome.HOLD,
        reasons=[{"rule": "amount-review"}], rules_version="t", list_versions={})
    transfer_transition(transfer_id=transfer.pk, to_state=S.ON_HOLD,
                        updates={"compliance_decision": held})
    with pytest.raises(InvalidTransitionError):
        transfer_release_hold(transfer_id=transfer.pk, operator="ops", note="looks fine")
    assert Transfer.objects.get(pk=transfer.pk).state == S.ON_HOLD
