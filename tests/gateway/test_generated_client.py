"""A client generated from the served OpenAPI schema drives transfers on a live server.

``openapi-python-client`` (the real generator from PyPI) writes a client package from
``/api/schema/`` into a temporary directory at test time; the test imports it and makes a sender's
day with it against the gateway served by pytest-django's ``live_server``: a quote, a transfer, a
correction after a failed payout, a cancel, and problems parsed as the schema's ``Problem``.

The failed payout is set in the database (as the rail's failure would leave it); the rest goes
through the HTTP API only.
"""

import importlib
import json
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from gateway.transfers.models import Transfer, TransferEvent
from gateway.transfers.states import TransferState
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor
from tests.gateway.transfers.test_api import fund_rail_float

PACKAGE = "offramp_gateway_client"


@pytest.fixture(scope="module")
def generated_client(tmp_path_factory):
    """The client package generated from the schema as served, importable for this module."""
    directory = tmp_path_factory.mktemp("generated-client")
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        schema = Client().get("/api/schema/?format=json").content
    (directory / "schema.json").write_bytes(schema)
    (directory / "config.yaml").write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    generator = Path(sys.executable).with_name("openapi-python-client")
    result = subprocess.run(
        [str(generator), "generate", "--path", "schema.json", "--config", "config.yaml",
         "--meta", "none", "--output-path", PACKAGE],
        cwd=directory, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(directory))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def module(name: str):
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_a_generated_client_quotes_creates_follows_corrects_and_cancels(
        generated_client, live_server, transactional_db, exchange_venue, settings):
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    corridor = make_corridor(venue=exchange_venue)
    fund_rail_float(corridor.rail.code, Decimal("1000000.00"))
    _partner, key = make_partner()
    api = module("client").AuthenticatedClient(
        base_url=live_server.url, token=key, prefix="Api-Key", raise_on_unexpected_status=True)
    models = module("models")
    quote_create = module("api.quotes.quote_create")
    transfer_create = module("api.transfers.transfer_create")
    transfer_retrieve = module("api.transfers.transfer_retrieve")
    transfer_correct = module("api.transfers.transfer_correct")
    transfer_cancel = module("api.transfers.transfer_cancel")
    transfer_list = module("api.transfers.transfer_list")

    def quote():
        answer = quote_create.sync_detailed(client=api, body=models.QuoteRequestRequest(
            amount_in_asset="USDC:anvil", amount_in="100.00", amount_out_currency="KES"))
        assert answer.status_code == 201, answer.content
        assert answer.headers["RateLimit-Limit"] == "1000000"
        return answer.parsed

    def create(quote_id: str, external_id: str):
        answer = transfer_create.sync_detailed(
            client=api, idempotency_key=str(uuid.uuid4()),
            body=models.TransferRequestRequest(
                quote_id=quote_id, external_id=external_id,
                sender=models.PartyRequest(name="Amina Odhiambo", country="GB"),
                recipient=models.RecipientRequest(name="Joseph Mwangi",
                                                  phone_number="+254708374149")))
        assert answer.status_code == 201, answer.content
        return answer.parsed

    first_quote = quote()
    assert isinstance(first_quote, models.QuoteResponse)
    assert first_quote.amount_in == "100.000000"
    assert first_quote.amount_out_currency == "KES"
    assert Decimal(first_quote.amount_out) > 0

    created = create(str(first_quote.id), "INV-1")
    assert isinstance(created, models.TransferResponse)
    assert created.status == "pending_sender"
    assert str(created.quote_id) == str(first_quote.id)
    assert created.deposit.address.startswith("0x")
    assert created.deposit.amount == "100.000000"

    shown = transfer_retrieve.sync(str(created.id), client=api)
    assert isinstance(shown, models.TransferResponse)
    assert (shown.id, shown.status, shown.amount_out) == (created.id, "pending_sender",
                                                          created.amount_out)

    # The payout failed: the rail refused the number (set here as the rail would leave it).
    transfer = Transfer.objects.get(public_id=created.id)
    Transfer.objects.filter(pk=transfer.pk).update(state=TransferState.PAYOUT_FAILED,
                                                   state_changed_at=timezone.now())
    TransferEvent.objects.create(transfer=transfer, from_state=transfer.state,
                                 to_state=TransferState.PAYOUT_FAILED, reason="test: rail failed")
    failed = transfer_retrieve.sync(str(created.id), client=api)
    assert failed.status == "pending_transaction_info_update"
    assert failed.required_info_updates == ["recipient.phone_number", "recipient.name"]

    refused = transfer_correct.sync_detailed(
        str(created.id), client=api,
        body=models.PatchedTransferCorrectionRequest(
            recipient=models.RecipientCorrectionRequest(phone_number="+256772123456")))
    assert refused.status_code == 422
    assert isinstance(refused.parsed, models.Problem)
    assert refused.parsed.type_ == "/problems/invalid-recipient"

    corrected = transfer_correct.sync_detailed(
        str(created.id), client=api, idempotency_key="fix-1",
        body=models.PatchedTransferCorrectionRequest(
            recipient=models.RecipientCorrectionRequest(phone_number="0708374149",
                                                        name="Joseph Mwangi")))
    assert corrected.status_code == 200, corrected.content
    assert corrected.parsed.status == "pending_external"
    assert corrected.parsed.amount_out == created.amount_out
    transfer.refresh_from_db()
    assert transfer.state == TransferState.PAYOUT_PENDING
    assert transfer.recipient["phone_number"] == "+254708374149"

    # Too late to cancel a transfer being paid out; a fresh, unfunded one cancels.
    late = transfer_cancel.sync_detailed(str(created.id), client=api)
    assert late.status_code == 409
    assert late.parsed.type_ == "/problems/transfer-not-cancellable"
    second = create(str(quote().id), "INV-2")
    cancelled = transfer_cancel.sync(str(second.id), client=api)
    assert isinstance(cancelled, models.TransferResponse)
    assert cancelled.status == "expired"
    assert cancelled.state == "cancelled"

    page = transfer_list.sync(client=api)
    assert [(str(t.id), t.external_id, t.status) for t in page.results] == [
        (str(second.id), "INV-2", "expired"), (str(created.id), "INV-1", "pending_external")]
    assert json.loads(json.dumps(page.to_dict()))["next_cursor"] is None
