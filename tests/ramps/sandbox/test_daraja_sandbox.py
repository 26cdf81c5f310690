"""The Daraja sandbox's wire protocol, spoken with plain HTTP."""

import base64
import uuid

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding

from ramps.sandbox.daraja import DarajaSandbox


@pytest.fixture(scope="module")
def sandbox():
    server = DarajaSandbox(callback_delay=0.05).start()
    yield server
    server.stop()


def _token(sandbox):
    credentials = sandbox.credentials()
    response = requests.get(f"{sandbox.base_url}/oauth/v1/generate",
                            params={"grant_type": "client_credentials"},
                            auth=(credentials["consumer_key"], credentials["consumer_secret"]),
                            timeout=5)
    assert response.status_code == 200
    return response.json()


def _credential(sandbox, password=None):
    credentials = sandbox.credentials()
    pem = requests.get(f"{sandbox.base_url}/_sandbox/certificate.pem", timeout=5).text
    assert pem == credentials["certificate_pem"]
    key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    secret = (password or credentials["initiator_password"]).encode()
    return base64.b64encode(key.encrypt(secret, padding.PKCS1v15())).decode()


def _b2c_body(sandbox, **overrides):
    credentials = sandbox.credentials()
    body = {"OriginatorConversationID": str(uuid.uuid4()),
            "InitiatorName": credentials["initiator_name"],
            "SecurityCredential": _credential(sandbox), "CommandID": "BusinessPayment",
            "Amount": 100, "PartyA": credentials["shortcode"], "PartyB": "254708374149",
            "Remarks": "Test payment", "QueueTimeOutURL": "http://127.0.0.1:9/timeout",
            "ResultURL": "http://127.0.0.1:9/result", "Occassion": ""}
    body.update(overrides)
    return body


def _post(sandbox, path, body, token=None):
    token = token or _token(sandbox)["access_token"]
    return requests.post(sandbox.base_url + path, json=body,
                         headers={"Authorization": f"Bearer {token}"}, timeout=5)


def test_token_expires_in_is_a_string(sandbox):
    body = _token(sandbox)
    assert body["expires_in"] == "3599"
    assert isinstance(body["access_token"], str)


def test_token_needs_the_right_basic_credentials(sandbox):
    response = requests.get(f"{sandbox.base_url}/oauth/v1/generate",
                            params={"grant_type": "client_credentials"},
                            auth=("nobody", "nothing"), timeout=5)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "400.008.01"


def test_b2c_is_accepted_on_v3_and_v1(sandbox):
    for path in ("/mpesa/b2c/v3/paymentrequest", "/mpesa/b2c/v1/paymentrequest"):
        body = _b2c_body(sandbox)
        response = _post(sandbox, path, body)
        assert response.status_code == 200
        answer = response.json()
        assert answer["ResponseCode"] == "0"
        assert answer["OriginatorConversationID"] == body["OriginatorConversationID"]
        assert answer["ConversationID"].startswith("AG_")
        assert answer["ResponseDescription"] == "Accept the service request successfully."


def test_invalid_token_is_refused(sandbox):
    response = _post(sandbox, "/mpesa/b2c/v3/paymentrequest", _b2c_body(sandbox), token="bad")
    assert response.status_code == 404
    assert response.json()["errorCode"] == "404.001.03"
    assert "requestId" in response.json()


@pytest.mark.parametrize(("field", "value"), [
    ("CommandID", "StealMoney"), ("Amount", -5), ("Amount", "1.005"), ("PartyA", "999999"),
    ("PartyB", "0708374149"), ("Remarks", "x"), ("ResultURL", "not-a-url"),
    ("OriginatorConversationID", ""),
])
def test_bad_fields_are_refused_and_pay_nothing(sandbox, field, value):
    before = len(sandbox.payments)
    response = _post(sandbox, "/mpesa/b2c/v3/paymentrequest", _b2c_body(sandbox, **{field: value}))
    assert response.status_code == 400
    assert response.json()["errorCode"] == "400.002.02"
    assert response.json()["errorMessage"] == f"Bad Request - Invalid {field}"
    assert len(sandbox.payments) == before


def test_duplicate_originator_conversation_id(sandbox):
    body = _b2c_body(sandbox)
    assert _post(sandbox, "/mpesa/b2c/v3/paymentrequest", body).status_code == 200
    response = _post(sandbox, "/mpesa/b2c/v3/paymentrequest", body)
    assert response.status_code == 500
    assert response.json()["errorCode"] == "500.002.1001"
    paid = requests.get(f"{sandbox.base_url}/_sandbox/payments", timeout=5).json()["payments"]
    assert [p["reference"] for p in paid].count(body["OriginatorConversationID"]) == 1


def test_control_forces_a_scenario(sandbox):
    response = requests.post(f"{sandbox.base_url}/_sandbox/control",
                             json={"scenario": "provider_error"}, timeout=5)
    assert response.json()["scenario"] == "provider_error"
    try:
        answer = _post(sandbox, "/mpesa/b2c/v3/paymentrequest", _b2c_body(sandbox))
        assert answer.status_code == 500
        assert answer.json()["errorCode"] == "500.003.02"
    finally:
        requests.post(f"{sandbox.base_url}/_sandbox/control", json={"scenario": None}, timeout=5)
    bad = requests.post(f"{sandbox.base_url}/_sandbox/control", json={"scenario": "nope"},
                        timeout=5)
    assert bad.status_code == 400


def test_transaction_status_query_is_acknowledged(sandbox):
    credentials = sandbox.credentials()
    body = {"Initiator": credentials["initiator_name"], "SecurityCredential": _credential(sandbox),
            "CommandID": "TransactionStatusQuery", "TransactionID": "SXXXXXXXXX",
            "PartyA": credentials["shortcode"], "IdentifierType": "4",
            "ResultURL": "http://127.0.0.1:9/r", "QueueTimeOutURL": "http://127.0.0.1:9/t",
            "Remarks": "check", "Occasion": ""}
    response = _post(sandbox, "/mpesa/transactionstatus/v1/query", body)
    assert response.status_code == 200
    assert response.json()["ResponseCode"] == "0"


def test_default_construction_needs_no_arguments():
    server = DarajaSandbox()
    assert server.base_url == "http://127.0.0.1:0"
    assert set(server.credentials()) == {"consumer_key", "consumer_secret", "shortcode",
                                         "initiator_name", "initiator_password",
                                         "certificate_pem", "command_id"}
