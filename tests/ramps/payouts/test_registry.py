"""Every rail behind one interface: the registry picks M-Pesa, MoMo or cash pickup by kind, and
each answers the same calls (recipient, limits, submit, status, callback, float)."""

from decimal import Decimal

import pytest

from ramps.payouts.agents.models import Redemption
from ramps.payouts.agents.rail import CashPickupRail
from ramps.payouts.momo.client import MomoClient
from ramps.payouts.momo.rail import MomoRail
from ramps.payouts.mpesa.client import DarajaClient
from ramps.payouts.mpesa.rail import MpesaRail
from ramps.payouts.rails import (
    PayoutLimits,
    RailCallbackError,
    RecipientNotPayableError,
    rail_client,
)
from ramps.payouts.registry import (
    CASH_PICKUP,
    UnknownRailKindError,
    payout_rail,
    payout_rail_class,
)
from tests.ramps.payouts.agents.factories import (
    make_cash_transfer,
    make_network,
    make_pickup_corridor,
)


def test_registry_maps_each_kind_to_its_rail(daraja_rail, momo_rail):
    assert isinstance(payout_rail(daraja_rail), MpesaRail)
    assert isinstance(payout_rail(momo_rail), MomoRail)
    assert isinstance(payout_rail(kind=CASH_PICKUP), CashPickupRail)
    assert isinstance(rail_client(daraja_rail), DarajaClient)
    assert isinstance(rail_client(momo_rail), MomoClient)
    with pytest.raises(UnknownRailKindError):
        payout_rail_class("carrier_pigeon")


def test_a_new_rail_is_a_class_and_a_setting(settings, daraja_rail):
    settings.PAYOUT_RAILS = {"mpesa_b2c": "ramps.payouts.momo.rail.MomoRail"}
    assert isinstance(payout_rail(daraja_rail), MomoRail)


def test_mobile_money_rail_records_an_attempt_and_reports_its_status(daraja_rail):
    rail = payout_rail(daraja_rail)
    assert rail.limits() == PayoutLimits(Decimal("10"), Decimal("150000"), "KES")
    assert rail.recipient_validate("0708 374 149") == "+254708374149"
    with pytest.raises(RecipientNotPayableError):
        rail.recipient_validate("+256772123450")
    assert rail.payout_status(owner=None, owner_reference="tr_1") is None
    recorded = rail.payout_submit(owner=None, owner_reference="tr_1", amount=Decimal("1500"),
                                  currency="KES", recipient_msisdn="+254708374149",
                                  remarks="Remittance payout")
    state = rail.payout_status(owner=None, owner_reference="tr_1")
    assert (state.status, state.reference, state.label) == ("pending", recorded.reference,
                                                            "Created")
    assert recorded.rail == "mpesa-ke"
    with pytest.raises(RailCallbackError):
        rail.callback_parse({"not": "daraja"}, {})


def test_cash_pickup_rail_issues_a_code_and_reports_it(db):
    network = make_network("duka")
    transfer, _, _ = make_cash_transfer(make_pickup_corridor(network), issue=False)
    rail = payout_rail(kind=CASH_PICKUP)
    assert rail.limits() is None
    assert rail.float_balance() is None
    assert rail.recipient_verify("+254708374149") is None
    assert rail.recipient_validate("+256772123450") == "+256772123450"  # any country: SMS
    assert rail.payout_status(owner=transfer, owner_reference=transfer.reference) is None
    recorded = rail.payout_submit(
        owner=transfer, owner_reference=transfer.reference, amount=transfer.amount_out,
        currency="KES", recipient_msisdn="+254708374149", remarks="Remittance")
    again = rail.payout_submit(
        owner=transfer, owner_reference=transfer.reference, amount=transfer.amount_out,
        currency="KES", recipient_msisdn="+254708374149", remarks="Remittance")
    redemption = Redemption.objects.get(transfer=transfer)
    assert recorded.reference == again.reference == str(redemption.public_id)
    transfer.refresh_from_db()
    state = rail.payout_status(owner=transfer, owner_reference=transfer.reference)
    assert state.status == "pending"
    assert state.label == "Issued: the recipient may collect"
    assert state.details["status"] == "issued"
    assert len(state.details["code"].replace("-", "")) == 12
    assert state.details["network"] == "Duka Agents"
    with pytest.raises(RailCallbackError):
        rail.callback_parse({}, {})
