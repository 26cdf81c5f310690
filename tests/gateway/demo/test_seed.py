"""The demo's data (``gateway/demo/seed.py``) gives an operator every way out the demo's
traffic needs: transfers held for float are released by topping up the rail's float, an action
of the rail's float policy in the admin."""

from decimal import Decimal

import pytest

from gateway.demo.seed import RAIL_FLOAT_KES, demo_seed
from gateway.treasury.models import FloatPolicy
from gateway.treasury.services import treasury_float_available, treasury_rail_float_adjust

pytestmark = pytest.mark.django_db


def test_the_demo_rail_has_a_float_policy_an_operator_can_top_up():
    sandboxes = {"exchange": {"credentials": {"exchange_id": "luno", "api_key": "key",
                                              "api_base_url": "http://127.0.0.1:9",
                                              "api_secret": "secret"}},
                 "daraja": {"base_url": "http://127.0.0.1:9", "credentials": {}}}
    demo_seed(chain_id=31337, rpc_url="http://127.0.0.1:9", token_address="0x" + "5" * 40,
              token_decimals=6, sandboxes=sandboxes, webhook_url="http://127.0.0.1:9/hook")

    policy = FloatPolicy.objects.get(rail_code="mpesa-ke")
    assert (policy.currency, policy.venue.name, policy.venue_symbol) == (
        "KES", "sandbox-luno", "USDC/KES")
    assert policy.refill_threshold < RAIL_FLOAT_KES == policy.refill_target
    treasury_rail_float_adjust(policy=policy, amount="1000.00", reference="top-up-1",
                               direction="in")
    assert treasury_float_available(rail_code="mpesa-ke", currency="KES") == (
        RAIL_FLOAT_KES + Decimal("1000.00"))
