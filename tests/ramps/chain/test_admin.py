"""The operators' admin pages of the chain side."""

import pytest
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Coins
from django.urls import reverse
from django.utils import timezone

from ramps.chain.devchain import ANVIL_MNEMONIC
from ramps.chain.models import Chain
from tests.ramps.chain.factories import make_chain, make_deposit, make_token

pytestmark = pytest.mark.django_db


def test_chain_list_shows_head_cursor_lag_and_error(admin_client):
    chain = make_chain()
    Chain.objects.filter(pk=chain.pk).update(
        head_block=120, cursor_block=100, last_error="ConnectionError: <rpc> refused",
        last_polled_at=timezone.now(),
    )

    response = admin_client.get(reverse("admin:chain_chain_changelist"))

    assert response.status_code == 200
    row = next(row for row in response.context["cl"].result_list if row.pk == chain.pk)
    assert row.lag_blocks == 20
    assert row._lag == 20
    body = response.content.decode()
    assert "ConnectionError: &lt;rpc&gt; refused" in body
    assert "Lag (blocks)" in body


def test_deposits_are_listed_read_only(admin_client):
    deposit = make_deposit(token=make_token(chain=make_chain()), amount=25_000_000)

    listing = admin_client.get(reverse("admin:chain_deposit_changelist"))
    change = admin_client.get(reverse("admin:chain_deposit_change", args=[deposit.pk]))
    add = admin_client.get(reverse("admin:chain_deposit_add"))

    assert listing.status_code == 200
    assert "25.000000 USDC" in listing.content.decode()
    assert change.status_code == 200
    assert not change.context["has_change_permission"]
    assert add.status_code == 403


def test_chain_form_refuses_a_private_key(admin_client):
    xprv = (Bip44.FromSeed(Bip39SeedGenerator(ANVIL_MNEMONIC).Generate(), Bip44Coins.ETHEREUM)
            .Purpose().Coin().Account(0).PrivateKey().ToExtended())
    data = {"caip2": "eip155:137", "name": "Polygon", "chain_id": 137,
            "rpc_url": "http://127.0.0.1:1", "confirmations": 64, "max_log_range": 1000,
            "xpub": xprv, "start_block": 0, "is_active": "on",
            "tokens-TOTAL_FORMS": 0, "tokens-INITIAL_FORMS": 0}

    response = admin_client.post(reverse("admin:chain_chain_add"), data)

    assert response.status_code == 200
    assert "PRIVATE" in str(response.context["adminform"].form.errors["xpub"])
    assert not Chain.objects.filter(caip2="eip155:137").exists()


def test_chain_health_page_shows_the_signer_and_its_hot_wallet(admin_client, settings):
    from ramps.chain.signer import signer_get
    from tests.signer import build_signer

    signer_get.cache_clear()
    settings.CHAIN_SIGNER = "tests.signer.build_signer"
    response = admin_client.get(reverse("admin:chain_chain_changelist"))
    assert response.context["signer_status"].ok is True
    assert (f"Signer tests.signer.build_signer: hot wallet "
            f"{build_signer().hot_wallet_address()}.") in response.content.decode()

    signer_get.cache_clear()
    settings.CHAIN_SIGNER = "ramps.chain.signer.KeystoreSigner.from_settings"
    response = admin_client.get(reverse("admin:chain_chain_changelist"))
    signer_get.cache_clear()
    assert response.status_code == 200
    assert response.context["signer_status"].ok is False
    body = response.content.decode()
    assert "Signer ramps.chain.signer.KeystoreSigner.from_settings is not usable" in body
    assert "cannot be imported" in body
    assert "Refunds and sweeps cannot be sent." in body


def test_exchange_addresses_are_editable_and_must_be_checksummed(admin_client):
    from ramps.chain.models import ExchangeAddress

    url = reverse("admin:chain_exchangeaddress_add")
    address = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
    refused = admin_client.post(url, {"address": address.lower(), "label": "Omnibus"})
    assert refused.status_code == 200
    assert "EIP-55" in refused.content.decode()
    assert ExchangeAddress.objects.count() == 0
    added = admin_client.post(url, {"address": address, "label": "Omnibus"})
    assert added.status_code == 302
    assert list(ExchangeAddress.objects.values_list("address", "label", "chain")) == [
        (address, "Omnibus", None)]
