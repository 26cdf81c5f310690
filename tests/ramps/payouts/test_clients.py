"""Rail clients against separate sandboxes: token caching and expiry, credentials, parsing."""

import time
import uuid
from decimal import Decimal

import pytest
import requests

from ramps.payouts.http import token_cache
from ramps.payouts.models import Rail
from ramps.payouts.mpesa.client import DarajaClient, security_credential
from ramps.payouts.rails import RailCallbackError, RailNotSentError, rail_client
from ramps.sandbox.daraja import DarajaSandbox
from ramps.sandbox.momo import MomoSandbox


@pytest.fixture
def short_token_daraja():
    sandbox = DarajaSandbox(token_lifetime=1).start()
    yield sandbox
    sandbox.stop()


def _rail(sandbox, kind=Rail.Kind.MPESA_B2C):
    # Unsaved: the clients only read these attributes.
    return Rail(code="test", kind=kind, country="KE", currency="KES", base_url=sandbox.base_url,
                credentials=sandbox.credentials(), min_amount=Decimal(1), max_amount=Decimal(10))


def test_daraja_token_is_cached_until_shortly_before_expiry(short_token_daraja):
    client = DarajaClient(_rail(short_token_daraja))
    first = client.access_token()
    assert client.access_token() == first
    assert short_token_daraja.tokens_issued == 1
    time.sleep(1.0)
    second = client.access_token()
    assert second != first
    assert short_token_daraja.tokens_issued == 2


def test_daraja_token_rejected_by_the_provider_is_replaced_once(short_token_daraja):
    short_token_daraja.control({"token_lifetime": 3600})
    client = DarajaClient(_rail(short_token_daraja))
    client.access_token()
    short_token_daraja.tokens.clear()  # the provider forgot every token
    response = client._post("/mpesa/transactionstatus/v1/query", {"CommandID": "x"})
    assert response.status_code == 400  # past authentication, refused on the body
    assert short_token_daraja.tokens_issued == 2


def test_wrong_consumer_secret_means_not_sent(short_token_daraja):
    rail = _rail(short_token_daraja)
    rail.credentials = {**rail.credentials, "consumer_secret": "wrong"}
    with pytest.raises(RailNotSentError, match="HTTP 400"):
        DarajaClient(rail).access_token()


def test_security_credential_decrypts_to_the_initiator_password(short_token_daraja):
    credentials = short_token_daraja.credentials()
    encrypted = security_credential(credentials["initiator_password"],
                                    credentials["certificate_pem"])
    assert short_token_daraja._credential_valid(credentials["initiator_name"], encrypted)
    assert not short_token_daraja._credential_valid(credentials["initiator_name"], "bm90IGl0")


def test_momo_token_is_cached_and_refreshed_after_a_401():
    sandbox = MomoSandbox(token_lifetime=3600).start()
    try:
        client = rail_client(_rail(sandbox, Rail.Kind.MOMO_DISBURSEMENT))
        assert client.account_holder_active("256772123450") is True
        assert client.account_holder_active("256772123450") is True
        assert sandbox.tokens_issued == 1
        sandbox.tokens.clear()
        assert client.account_holder_active("256772123450") is True
        assert sandbox.tokens_issued == 2
    finally:
        sandbox.stop()


def test_token_cache_is_per_account():
    token_cache.clear()
    calls = []

    def fetch():
        calls.append(1)
        return f"token-{len(calls)}", 3600

    assert token_cache.get(("http://a", "one"), fetch) == "token-1"
    assert token_cache.get(("http://a", "two"), fetch) == "token-2"
    assert token_cache.get(("http://a", "one"), fetch) == "token-1"
    assert len(calls) == 2


def test_token_fetch_failure_is_not_sent():
    def fetch():
        raise requests.ConnectionError("refused")

    with pytest.raises(RailNotSentError):
        token_cache.get(("http://b", "x"), fetch)


def test_daraja_parses_a_single_result_parameter_object(short_token_daraja):
    client = DarajaClient(_rail(short_token_daraja))
    reference = str(uuid.uuid4())
    result = client.parse_callback({"Result": {
        "ResultType": 0, "ResultCode": 0, "ResultDesc": "ok",
        "OriginatorConversationID": reference, "ConversationID": "AG_1", "TransactionID": "S1",
        "ResultParameters": {"ResultParameter": {"Key": "TransactionReceipt", "Value": "S2"}},
    }}, {})
    assert (result.status, result.reference, result.provider_receipt) == ("succeeded", reference,
                                                                          "S2")


@pytest.mark.parametrize("body", [None, [], {"Result": "x"}, {"Result": {"ResultCode": 0}}])
def test_daraja_refuses_malformed_callbacks(short_token_daraja, body):
    with pytest.raises(RailCallbackError):
        DarajaClient(_rail(short_token_daraja)).parse_callback(body, {})
