"""Corridor and partner pricing settings that no quote could honour are refused when an
operator saves them (the admin runs ``full_clean``), so quoting never meets them."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from gateway.transfers.models import PartnerPricing
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor
from tests.ramps.payouts.factories import make_rail

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("field", "value"), [
    ("fee_rate", Decimal("-0.01")), ("fee_rate", Decimal("1")), ("margin_rate", Decimal("-0.5")),
    ("margin_rate", Decimal("1.5")), ("fee_fixed", Decimal("-0.50")),
    ("max_amount_in", Decimal("0.5")),
])
def test_a_corridor_with_impossible_pricing_or_limits_is_refused(field, value):
    corridor = make_corridor()
    corridor.full_clean()
    setattr(corridor, field, value)
    with pytest.raises(ValidationError) as refused:
        corridor.full_clean()
    assert field in refused.value.message_dict


def test_a_corridor_whose_rail_pays_another_currency_is_refused():
    corridor = make_corridor(rail=make_rail(currency="UGX", country="UG"))
    with pytest.raises(ValidationError, match="pays UGX, not KES"):
        corridor.full_clean()


@pytest.mark.parametrize(("field", "value"), [
    ("fee_rate", Decimal("1")), ("margin_rate", Decimal("-0.1")), ("fee_fixed", Decimal("-1")),
])
def test_partner_pricing_follows_the_same_rules(field, value):
    pricing = PartnerPricing(partner=make_partner()[0], corridor=make_corridor())
    pricing.full_clean()
    setattr(pricing, field, value)
    with pytest.raises(ValidationError) as refused:
        pricing.full_clean()
    assert field in refused.value.message_dict
