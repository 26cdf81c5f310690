"""A third-party MoMo client (the ``mtnmomo-py`` package) against the MoMo sandbox: the sandbox
accepts what independent client code sends, and answers in a shape that code understands."""

import uuid

import pytest

mtnmomo = pytest.importorskip("mtnmomo")
from mtnmomo.config import MoMoConfig, ProductCredentials  # noqa: E402
from mtnmomo.errors import MoMoConflictError  # noqa: E402

from ramps.sandbox.momo import MomoSandbox  # noqa: E402


@pytest.fixture(scope="module")
def sandbox():
    server = MomoSandbox(callback_delay=0.05).start()
    yield server
    server.stop()


@pytest.fixture
def client(sandbox):
    credentials = sandbox.credentials()
    config = MoMoConfig(
        disbursement=ProductCredentials(subscription_key=credentials["subscription_key"],
                                        api_user=credentials["api_user"],
                                        api_key=credentials["api_key"]),
        target_environment=credentials["target_environment"],
        base_url=sandbox.base_url, timeout=5.0,
    )
    with mtnmomo.MoMoClient(config) as momo:
        yield momo


def _payload(msisdn):
    return {"amount": "150", "currency": "EUR", "externalId": "order-17",
            "payee": {"partyIdType": "MSISDN", "partyId": msisdn},
            "payerMessage": "Payout", "payeeNote": "Payout"}


def test_transfer_and_status(client, sandbox):
    reference = str(uuid.uuid4())
    returned = client.disbursement.transfer(_payload("46733123450"), reference_id=reference)
    assert returned == reference
    status = client.disbursement.get_transfer_status(reference)
    assert status.status == "SUCCESSFUL"
    assert status.amount == "150"
    assert status.external_id == "order-17"
    assert status.payee.party_id == "46733123450"
    assert [p["reference"] for p in sandbox.payments].count(reference) == 1


def test_same_reference_is_a_conflict(client, sandbox):
    reference = str(uuid.uuid4())
    client.disbursement.transfer(_payload("46733123458"), reference_id=reference)
    with pytest.raises(MoMoConflictError):
        client.disbursement.transfer(_payload("46733123458"), reference_id=reference)
    assert [p["reference"] for p in sandbox.payments].count(reference) == 1


def test_failed_transfer_reason(client, sandbox):
    reference = str(uuid.uuid4())
    client.disbursement.transfer(_payload("46733123452"), reference_id=reference)
    status = client.disbursement.get_transfer_status(reference)
    assert status.status == "FAILED"
    assert status.reason.code == "PAYEE_NOT_FOUND"
    assert reference not in [p["reference"] for p in sandbox.payments]


def test_account_holder_and_balance(client):
    assert client.disbursement.validate_account_holder_status("msisdn", "46733123450") is True
    assert client.disbursement.validate_account_holder_status("msisdn", "46733123452") is False
    balance = client.disbursement.get_account_balance()
    assert balance.currency == "EUR"
