"""The MoMo sandbox's wire protocol, spoken with plain HTTP."""

import uuid

import pytest
import requests

from ramps.sandbox.momo import MomoSandbox


@pytest.fixture(scope="module")
def sandbox():
    server = MomoSandbox(callback_delay=0.05).start()
    yield server
    server.stop()


def _headers(sandbox, **extra):
    credentials = sandbox.credentials()
    token = requests.post(f"{sandbox.base_url}/disbursement/token/",
                          auth=(credentials["api_user"], credentials["api_key"]),
                          headers={"Ocp-Apim-Subscription-Key": credentials["subscription_key"]},
                          timeout=5).json()
    return {"Authorization": f"Bearer {token['access_token']}",
            "Ocp-Apim-Subscription-Key": credentials["subscription_key"],
            "X-Target-Environment": "sandbox", **extra}


def _transfer(sandbox, reference, msisdn="46733123450"):
    body = {"amount": "100", "currency": "EUR", "externalId": "ext-1",
            "payee": {"partyIdType": "MSISDN", "partyId": msisdn},
            "payerMessage": "hello", "payeeNote": "thanks"}
    return requests.post(f"{sandbox.base_url}/disbursement/v1_0/transfer", json=body,
                         headers=_headers(sandbox, **{"X-Reference-Id": reference}), timeout=5)


def test_token(sandbox):
    credentials = sandbox.credentials()
    response = requests.post(f"{sandbox.base_url}/disbursement/token/",
                             auth=(credentials["api_user"], credentials["api_key"]),
                             headers={"Ocp-Apim-Subscription-Key": credentials["subscription_key"]},
                             timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "access_token"
    assert body["expires_in"] == 3600


def test_subscription_key_is_required(sandbox):
    response = requests.post(f"{sandbox.base_url}/disbursement/token/",
                             auth=("a", "b"), timeout=5)
    assert response.status_code == 401


def test_transfer_202_then_409_then_status(sandbox):
    reference = str(uuid.uuid4())
    response = _transfer(sandbox, reference)
    assert response.status_code == 202
    assert response.content == b""
    again = _transfer(sandbox, reference)
    assert again.status_code == 409
    assert again.json() == {"code": "RESOURCE_ALREADY_EXIST",
                            "message": "Duplicated reference id. Creation of resource failed."}
    status = requests.get(f"{sandbox.base_url}/disbursement/v1_0/transfer/{reference}",
                          headers=_headers(sandbox), timeout=5).json()
    assert status["status"] == "SUCCESSFUL"
    assert status["amount"] == "100"
    assert status["currency"] == "EUR"
    assert status["externalId"] == "ext-1"
    assert status["payee"] == {"partyIdType": "MSISDN", "partyId": "46733123450"}
    assert status["financialTransactionId"]
    assert [p["reference"] for p in sandbox.payments].count(reference) == 1


def test_unknown_reference_is_404(sandbox):
    response = requests.get(f"{sandbox.base_url}/disbursement/v1_0/transfer/{uuid.uuid4()}",
                            headers=_headers(sandbox), timeout=5)
    assert response.status_code == 404
    assert response.json()["code"] == "RESOURCE_NOT_FOUND"


def test_reference_must_be_a_uuid4(sandbox):
    assert _transfer(sandbox, "order-1").status_code == 400


def test_wrong_target_environment(sandbox):
    headers = _headers(sandbox, **{"X-Target-Environment": "mtnuganda"})
    response = requests.get(f"{sandbox.base_url}/disbursement/v1_0/account/balance",
                            headers=headers, timeout=5)
    assert response.status_code == 403


def test_account_holder_and_balance(sandbox):
    active = requests.get(
        f"{sandbox.base_url}/disbursement/v1_0/accountholder/msisdn/46733123450/active",
        headers=_headers(sandbox), timeout=5)
    assert active.json() == {"result": True}
    balance = requests.get(f"{sandbox.base_url}/disbursement/v1_0/account/balance",
                           headers=_headers(sandbox), timeout=5).json()
    assert balance["currency"] == "EUR"
    assert "availableBalance" in balance


def test_stuck_pending(sandbox):
    reference = str(uuid.uuid4())
    assert _transfer(sandbox, reference, msisdn="46733123457").status_code == 202
    status = requests.get(f"{sandbox.base_url}/disbursement/v1_0/transfer/{reference}",
                          headers=_headers(sandbox), timeout=5).json()
    assert status["status"] == "PENDING"
    assert reference not in [p["reference"] for p in sandbox.payments]
