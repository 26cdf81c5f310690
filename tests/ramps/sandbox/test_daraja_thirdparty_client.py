"""A third-party Daraja client (the ``daraja-sdk-py`` package) against the Daraja sandbox: the
sandbox accepts what independent client code sends, and answers in a shape that code
understands.

The library takes its host from the module constant ``daraja.environment.SANDBOX_BASE_URL``,
which the tests point at the loopback sandbox; nothing else in the library is replaced. Its own
security-credential helper base64-encodes the initiator password before encrypting it, which is
not what Daraja decrypts, so the credential comes from the gateway's helper and is handed to the
library as ``security_credential``, as its configuration allows."""

import json
import uuid

import pytest

daraja = pytest.importorskip("daraja")
from daraja import environment  # noqa: E402
from daraja.exceptions import MpesaAPIError  # noqa: E402
from daraja.models import MpesaConfig  # noqa: E402

from ramps.payouts.mpesa.client import security_credential  # noqa: E402
from ramps.sandbox.daraja import DarajaSandbox  # noqa: E402


@pytest.fixture(scope="module")
def sandbox():
    server = DarajaSandbox(callback_delay=0.05).start()
    yield server
    server.stop()


@pytest.fixture
def mpesa(sandbox, monkeypatch):
    monkeypatch.setattr(environment, "SANDBOX_BASE_URL", sandbox.base_url)
    credentials = sandbox.credentials()
    config = MpesaConfig(
        consumer_key=credentials["consumer_key"],
        consumer_secret=credentials["consumer_secret"],
        environment="sandbox",
        initiator_name=credentials["initiator_name"],
        security_credential=security_credential(
            credentials["initiator_password"], credentials["certificate_pem"]
        ),
        timeout=5,
        # No retries and no client-side response cache: every call reaches the sandbox once,
        # so what the sandbox answers is what the test sees.
        max_retries=0,
        enable_idempotency=False,
    )
    with daraja.Mpesa(config) as client:
        yield client


def _payment(sandbox, callback_receiver, reference, msisdn):
    return {
        "OriginatorConversationID": reference,
        "CommandID": "BusinessPayment",
        "Amount": 150,
        "PartyA": int(sandbox.shortcode),
        "PartyB": int(msisdn),
        "Remarks": "Remittance payout",
        "QueueTimeOutURL": callback_receiver.url(f"/daraja/timeout/{reference}"),
        "ResultURL": callback_receiver.url(f"/daraja/result/{reference}"),
        "Occassion": "order-17",
    }


def _paid(sandbox, reference):
    return [p for p in sandbox.payments if p["reference"] == reference]


def _parameters(result):
    return {p["Key"]: p["Value"] for p in result["ResultParameters"]["ResultParameter"]}


def test_access_token(mpesa, sandbox):
    token = mpesa.get_access_token()
    assert token in sandbox.tokens
    # The sandbox sends expires_in as a string, as Daraja does; the library parsed it.
    assert mpesa.get_access_token() == token


def test_b2c_pays_once_and_result_reaches_result_url(mpesa, sandbox, callback_receiver):
    reference = f"thirdparty-{uuid.uuid4()}"
    response = mpesa.b2c(_payment(sandbox, callback_receiver, reference, "254712345670"))
    assert response.ResponseCode == "0"
    assert response.OriginatorConversationID == reference
    assert response.ConversationID.startswith("AG_")
    [payment] = _paid(sandbox, reference)
    assert payment["msisdn"] == "254712345670"
    assert payment["amount"] == "150"
    [callback] = callback_receiver.wait_for(f"/daraja/result/{reference}")
    result = callback.body["Result"]
    assert result["ResultCode"] == 0
    assert result["OriginatorConversationID"] == reference
    assert result["ConversationID"] == response.ConversationID
    assert _parameters(result)["TransactionAmount"] == 150
    assert _parameters(result)["TransactionReceipt"] == payment["transaction_id"]


def test_duplicate_originator_conversation_id_is_refused(mpesa, sandbox, callback_receiver):
    reference = f"thirdparty-{uuid.uuid4()}"
    request = _payment(sandbox, callback_receiver, reference, "254712345680")
    mpesa.b2c(dict(request))
    with pytest.raises(MpesaAPIError) as refused:
        mpesa.b2c(dict(request))
    assert refused.value.status_code == 500
    assert json.loads(refused.value.raw_response)["errorCode"] == "500.002.1001"
    assert len(_paid(sandbox, reference)) == 1
    assert len(callback_receiver.wait_for(f"/daraja/result/{reference}")) == 1


def test_invalid_recipient_fails_in_the_result(mpesa, sandbox, callback_receiver):
    reference = f"thirdparty-{uuid.uuid4()}"
    response = mpesa.b2c(_payment(sandbox, callback_receiver, reference, "254712345672"))
    assert response.ResponseCode == "0"
    [callback] = callback_receiver.wait_for(f"/daraja/result/{reference}")
    assert callback.body["Result"]["ResultCode"] == 2040
    assert _paid(sandbox, reference) == []


def test_transaction_status_by_originator_conversation_id(mpesa, sandbox, callback_receiver):
    reference = f"thirdparty-{uuid.uuid4()}"
    mpesa.b2c(_payment(sandbox, callback_receiver, reference, "254712345690"))
    response = mpesa.transaction_status(
        {
            "CommandID": "TransactionStatusQuery",
            "OriginalConversationID": reference,
            "PartyA": int(sandbox.shortcode),
            "IdentifierType": 4,
            "ResultURL": callback_receiver.url(f"/daraja/status/{reference}"),
            "QueueTimeOutURL": callback_receiver.url(f"/daraja/status-timeout/{reference}"),
            "Remarks": "Status check",
        }
    )
    assert response.ResponseCode == "0"
    [callback] = callback_receiver.wait_for(f"/daraja/status/{reference}")
    result = callback.body["Result"]
    assert result["ResultCode"] == 0
    parameters = _parameters(result)
    assert parameters["OriginatorConversationID"] == reference
    assert parameters["TransactionStatus"] == "Completed"
    assert parameters["ReceiptNo"] == _paid(sandbox, reference)[0]["transaction_id"]
    assert len(_paid(sandbox, reference)) == 1
