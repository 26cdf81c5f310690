"""Provider callbacks are untrusted input: the URL secret, confirmation by status query, and
bodies that are not what a provider would send (NUL characters, not JSON, too deep)."""

import datetime
import json
import secrets
import time
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.services import sanctions_import
from gateway.ledger.models import LedgerAccount
from gateway.ledger.services import credit, debit, ledger_entry_post
from gateway.transfers import tasks as transfer_tasks
from gateway.transfers.models import Transfer
from gateway.transfers.services.driver import transfer_advance
from gateway.transfers.services.payouts import payout_callback_urls
from gateway.transfers.states import TransferState
from gateway.webhooks import tasks as webhook_tasks
from ramps.chain.models import Deposit
from ramps.payouts.models import PayoutAttempt, PayoutCallback, Rail
from ramps.payouts.selectors import rail_callback_secrets_status, rail_for_callback
from ramps.payouts.services import (
    PayoutValidationError,
    payout_attempt_create,
    payout_attempt_query,
    payout_attempt_submit,
    payout_callback_record,
    rail_callback_secret,
    rail_callback_secret_rotate,
)
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_transfer

Status = PayoutAttempt.Status
Processing = PayoutCallback.ProcessingStatus
S = TransferState
CRYPTO_DIR = (Path(__file__).resolve().parents[3] / "compliance" / "data" / "sanctions"
              / "crypto-addresses-2024-09")
PAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _result_body(reference, *, code=0, conversation_id="AG_forged", receipt="SFORGED001"):
    return {"Result": {"ResultType": 0, "ResultCode": code, "ResultDesc": "forged",
                       "OriginatorConversationID": reference, "ConversationID": conversation_id,
                       "TransactionID": receipt}}


def _result_path(rail_code="mpesa-ke"):
    return urlsplit(payout_callback_urls(rail_code=rail_code)[0]).path


def _post(client, path, body, **extra):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", **extra)


# --- the URL secret ---------------------------------------------------------------------------


def test_a_callback_without_the_right_secret_gets_404_and_stores_nothing(daraja_rail, client):
    body = _result_body(str(uuid.uuid4()))
    good = _result_path()
    wrong = good.replace(rail_callback_secret(rail=daraja_rail), secrets.token_urlsafe(32))
    for path in (wrong, "/callbacks/payouts/mpesa-ke/result",
                 "/callbacks/payouts/mpesa-ke//result", good.replace("mpesa-ke", "mpesa-tz")):
        response = _post(client, path, body)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["type"] == "/problems/not-found"
    assert PayoutCallback.objects.count() == 0

    response = _post(client, good, body)
    assert response.status_code == 200
    assert PayoutCallback.objects.get().processing_status == Processing.UNMATCHED


@pytest.mark.parametrize("method", ["get", "head", "options", "put", "patch", "delete"])
def test_any_method_without_the_right_secret_is_404_and_with_it_only_post_and_put_are_taken(
        daraja_rail, client, method):
    good = _result_path()
    wrong = good.replace(rail_callback_secret(rail=daraja_rail), secrets.token_urlsafe(32))
    response = client.generic(method.upper(), wrong, b"{}", content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert b"Daraja" not in response.content
    response = client.generic(method.upper(), good, b"{}", content_type="application/json")
    assert response.status_code == (200 if method == "put" else 405), response.content
    assert b"Daraja" not in response.content
    assert PayoutCallback.objects.count() == (1 if method == "put" else 0)


def test_the_secret_is_stored_encrypted_and_made_on_first_use(daraja_rail):
    assert daraja_rail.callback_secret == ""
    assert [s.ok for s in rail_callback_secrets_status()] == [False]
    secret = rail_callback_secret(rail=daraja_rail)
    daraja_rail.refresh_from_db()
    assert len(secret) == 43
    assert secret not in daraja_rail.callback_secret
    assert rail_callback_secret(rail=daraja_rail) == secret
    [status] = rail_callback_secrets_status()
    assert (status.rail_code, status.configured, status.readable, status.ok) == (
        "mpesa-ke", True, True, True)
    assert rail_for_callback(rail_code="mpesa-ke", secret=secret) == daraja_rail
    assert rail_for_callback(rail_code="mpesa-ke", secret=secret[:-1]) is None
    assert rail_for_callback(rail_code="mpesa-ke", secret="") is None
    assert rail_for_callback(rail_code="mpesa-tz", secret=secret) is None


def test_rotation_keeps_the_old_secret_for_its_grace_period_only(daraja_rail, client):
    old = rail_callback_secret(rail=daraja_rail)
    old_path = _result_path()
    rail_callback_secret_rotate(rail=daraja_rail, grace_seconds=3600)
    new = rail_callback_secret(rail=daraja_rail)
    assert new != old
    assert _result_path() != old_path
    assert rail_for_callback(rail_code="mpesa-ke", secret=new) == daraja_rail
    assert rail_for_callback(rail_code="mpesa-ke", secret=old) == daraja_rail
    [status] = rail_callback_secrets_status()
    assert status.previous_accepted_until is not None
    assert _post(client, old_path, _result_body("x")).status_code == 200

    Rail.objects.filter(pk=daraja_rail.pk).update(
        callback_secret_previous_until=timezone.now() - datetime.timedelta(seconds=1))
    assert rail_for_callback(rail_code="mpesa-ke", secret=old) is None
    assert _post(client, old_path, _result_body("x")).status_code == 404
    assert PayoutCallback.objects.count() == 1

    # A second rotation forgets the first secret at once, whatever its grace.
    rail_callback_secret_rotate(rail=daraja_rail, grace_seconds=3600)
    assert rail_for_callback(rail_code="mpesa-ke", secret=old) is None
    assert rail_for_callback(rail_code="mpesa-ke", secret=new) == daraja_rail
    with pytest.raises(PayoutValidationError):
        rail_callback_secret_rotate(rail=daraja_rail, grace_seconds=-1)


def test_rotate_command_changes_the_secret_without_printing_it(daraja_rail, capsys):
    from django.core.management import call_command

    old = rail_callback_secret(rail=daraja_rail)
    call_command("rail_callback_secret_rotate", "mpesa-ke", "--grace-seconds", "60")
    new = rail_callback_secret(rail=daraja_rail)
    out = capsys.readouterr().out
    assert new != old
    assert new not in out
    assert old not in out
    assert "mpesa-ke" in out
    assert rail_for_callback(rail_code="mpesa-ke", secret=old) == daraja_rail


# --- bodies that are not what a provider sends ------------------------------------------------


def test_a_body_with_a_nul_character_is_stored_and_answered(daraja_rail, client):
    reference = str(uuid.uuid4())
    raw = json.dumps(_result_body(reference)).replace("forged", "for\\u0000ged").encode()
    response = _post(client, _result_path(), raw)
    assert response.status_code == 200
    callback = PayoutCallback.objects.get()
    assert bytes(callback.raw_body) == raw
    assert callback.body["Result"]["ResultDesc"] == "for\ufffdged"
    assert callback.reference == reference
    assert callback.processing_status == Processing.UNMATCHED


def test_a_body_with_a_raw_nul_byte_or_no_json_is_stored_and_refused_with_400(daraja_rail,
                                                                             client):
    for raw in (b'{"Result": {"ResultCode": 0\x00}}', b"\x00\xff not json"):
        response = _post(client, _result_path(), raw)
        assert response.status_code == 400
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["type"] == "/problems/malformed-request"
    stored = list(PayoutCallback.objects.order_by("pk"))
    assert [bytes(c.raw_body) for c in stored] == [b'{"Result": {"ResultCode": 0\x00}}',
                                                    b"\x00\xff not json"]
    assert [c.processing_status for c in stored] == [Processing.ERROR, Processing.ERROR]
    assert stored[0].body == {"unparsed": '{"Result": {"ResultCode": 0\ufffd}}'}
    assert stored[0].error.startswith("body is not usable JSON")


def test_a_deeply_nested_callback_is_refused_before_anything_is_stored(daraja_rail, client):
    raw = b"[" * 150_000 + b"]" * 150_000
    response = _post(client, _result_path(), raw)
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/json-too-deep"
    assert PayoutCallback.objects.count() == 0
    # Within the bound the service itself still refuses what it cannot use, and keeps it.
    result = payout_callback_record(rail=daraja_rail, headers={},
                                    raw_body=b'{"a":' * 70 + b"1" + b"}" * 70)
    assert result.malformed is True
    assert result.callback.error == ("body is not usable JSON: JSON nested deeper than 64 "
                                     "levels")


@pytest.mark.parametrize("raw", [
    b"null",  # JSON, but no object: stored as JSON null, not refused by the database
    b'{"Result": {"OriginatorConversationID": "x\\ud800"}}',  # lone surrogate escape
    b'{"a\\udfff": "\\ud83d"}',
    b'{"Result": {"OriginatorConversationID": "x", "ResultParameters": {"ResultParameter": 5}}}',
    b'{"Result": {"OriginatorConversationID": "x", "ReferenceData": {"ReferenceItem": 7}}}',
    b'{"Result": {"OriginatorConversationID": "x", "ReferenceData": {"ReferenceItem": "ab"}}}',
])
@pytest.mark.parametrize("rail_fixture", ["daraja_rail", "momo_rail"])
def test_an_odd_but_parsable_body_is_stored_and_answered_never_a_500(rail_fixture, raw, client,
                                                                   request):
    rail = request.getfixturevalue(rail_fixture)
    path = urlsplit(payout_callback_urls(rail_code=rail.code)[0]).path
    response = client.post(path, data=raw, content_type="application/json")
    assert response.status_code == 200, response.content
    callback = PayoutCallback.objects.get()
    assert bytes(callback.raw_body) == raw
    assert callback.processing_status in (Processing.ERROR, Processing.UNMATCHED)
    assert "\ud800" not in json.dumps(callback.body)


_json_scalars = (st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30)
                 | st.text(max_size=12))
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["Result", "ResultParameters", "ResultParameter", "ReferenceData",
                         "ReferenceItem", "Key", "Value", "OriginatorConversationID",
                         "ConversationID", "ResultCode", "ResultType", "status", "externalId",
                         "referenceId", "TransactionStatus", "Occasion"]) | st.text(max_size=5),
        children, max_size=4),
    max_leaves=12)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_json_values)
def test_any_json_body_is_stored_once_and_answered_with_200_or_a_problem(daraja_rail, momo_rail,
                                                                         client, value):
    """Whatever JSON arrives under a valid secret, in the shape of a provider's result or not:
    one stored callback per request, and 200 or a 4xx problem, never a 500."""
    raw = json.dumps(value).encode()
    for rail in (daraja_rail, momo_rail):
        before = PayoutCallback.objects.count()
        path = urlsplit(payout_callback_urls(rail_code=rail.code)[0]).path
        response = client.post(path, data=raw, content_type="application/json")
        assert response.status_code in (200, 400), (value, response.content)
        assert PayoutCallback.objects.count() == before + 1


# --- confirmation by status query -------------------------------------------------------------


def _attempt(rail, digit, receiver):
    attempt = payout_attempt_create(
        rail=rail, owner_reference=f"tr_{uuid.uuid4().hex}", amount=Decimal("1500"),
        currency="KES", recipient_msisdn=f"+25470837414{digit}", remarks="Remittance payout")
    return payout_attempt_submit(
        attempt=attempt, result_url=receiver.url(f"/daraja/result/{attempt.reference}"),
        timeout_url=receiver.url(f"/daraja/timeout/{attempt.reference}"))


def _payments(sandbox, reference):
    return [p for p in sandbox.payments if p["reference"] == reference]


def test_a_forged_failure_for_a_paid_attempt_is_contradicted_by_the_status_query(
        daraja_rail, daraja_sandbox, callback_receiver, django_capture_on_commit_callbacks):
    attempt = _attempt(daraja_rail, 4, callback_receiver)  # paid, no result callback
    assert attempt.status == Status.SUBMITTED
    forged = _result_body(attempt.reference, code=26, conversation_id=attempt.provider_reference)
    with django_capture_on_commit_callbacks(execute=True):
        held = payout_callback_record(
            rail=daraja_rail, body=forged, headers={},
            confirm_result_url=callback_receiver.url(f"/confirm/{attempt.reference}"),
            confirm_timeout_url=callback_receiver.url(f"/confirm-timeout/{attempt.reference}"))
    assert (held.changed, held.callback.processing_status) == (False, Processing.UNCONFIRMED)
    [answer] = callback_receiver.wait_for(f"/confirm/{attempt.reference}")
    result = payout_callback_record(rail=daraja_rail, body=answer.body, headers={})

    attempt.refresh_from_db()
    held.callback.refresh_from_db()
    assert result.changed is True
    assert attempt.status == Status.SUCCEEDED
    assert attempt.failure_kind == ""
    assert held.callback.processing_status == Processing.ERROR
    assert held.callback.error == ("claimed failed; the provider's status query says "
                                   "succeeded")
    assert len(_payments(daraja_sandbox, attempt.reference)) == 1
    assert PayoutAttempt.objects.filter(owner_reference=attempt.owner_reference).count() == 1


def test_a_status_answer_without_the_nonce_of_a_sent_query_changes_nothing(
        daraja_rail, daraja_sandbox, callback_receiver):
    attempt = _attempt(daraja_rail, 7, callback_receiver)  # stuck pending, never paid
    payout_attempt_query(attempt=attempt,
                         result_url=callback_receiver.url(f"/q/{attempt.reference}"),
                         timeout_url=callback_receiver.url(f"/qt/{attempt.reference}"))
    [answer] = callback_receiver.wait_for(f"/q/{attempt.reference}")
    query = attempt.status_queries.get()
    assert answer.body["Result"]["ReferenceData"]["ReferenceItem"]["Value"] == (
        f"{attempt.reference}:{query.nonce}")
    # A forger copies the answer's shape, says "Failed" and guesses a nonce.
    forged = json.loads(json.dumps(answer.body, default=int))
    for item in forged["Result"]["ResultParameters"]["ResultParameter"]:
        if item["Key"] == "TransactionStatus":
            item["Value"] = "Failed"
    for nonce in ("", secrets.token_hex(16)):
        forged["Result"]["ReferenceData"]["ReferenceItem"]["Value"] = (
            f"{attempt.reference}:{nonce}" if nonce else attempt.reference)
        result = payout_callback_record(rail=daraja_rail, body=forged, headers={})
        assert result.changed is False
        assert result.callback.processing_status == Processing.ERROR
        assert result.callback.error == "answer to a status query this gateway did not send"
    attempt.refresh_from_db()
    assert attempt.status == Status.SUBMITTED
    query.refresh_from_db()
    assert query.answered_at is None


def test_a_success_with_another_conversation_id_is_confirmed_first(
        daraja_rail, daraja_sandbox, callback_receiver, django_capture_on_commit_callbacks):
    attempt = _attempt(daraja_rail, 7, callback_receiver)  # never paid
    forged = _result_body(attempt.reference, code=0, conversation_id="AG_not_the_one")
    with django_capture_on_commit_callbacks(execute=True):
        held = payout_callback_record(
            rail=daraja_rail, body=forged, headers={},
            confirm_result_url=callback_receiver.url(f"/c/{attempt.reference}"),
            confirm_timeout_url=callback_receiver.url(f"/ct/{attempt.reference}"))
    assert held.callback.processing_status == Processing.UNCONFIRMED
    [answer] = callback_receiver.wait_for(f"/c/{attempt.reference}")
    result = payout_callback_record(rail=daraja_rail, body=answer.body, headers={})
    attempt.refresh_from_db()
    assert result.changed is False  # the provider says pending: nothing is settled
    assert attempt.status == Status.SUBMITTED
    assert _payments(daraja_sandbox, attempt.reference) == []


# --- the whole way: a forged retryable failure against the live gateway -----------------------


@pytest.fixture
def queued(monkeypatch):
    sent = []
    monkeypatch.setattr(transfer_tasks.transfer_advance, "delay",
                        lambda pk: sent.append(("transfer_advance", pk)))
    monkeypatch.setattr(webhook_tasks.webhook_deliver, "delay",
                        lambda pk: sent.append(("webhook_deliver", pk)))
    return sent


@pytest.mark.django_db(transaction=True)
def test_a_forged_retryable_failure_for_a_paid_transfer_never_pays_twice(
        exchange_venue, daraja_rail, daraja_sandbox, queued, settings, live_server):
    settings.PUBLIC_BASE_URL = live_server.url
    sanctions_import(source="ofac-crypto", files=sorted(CRYPTO_DIR.glob("*.json")))
    ledger_entry_post(
        reference="test:float:mpesa-ke", description="Opening float",
        legs=[debit("assets:float:mpesa-ke", "KES", Decimal("1000000.00"),
                    kind=LedgerAccount.Kind.ASSET, floor=True),
              credit("equity:opening-balances", "KES", Decimal("1000000.00"),
                     kind=LedgerAccount.Kind.EQUITY)])
    corridor = make_corridor(venue=exchange_venue, rail=daraja_rail)
    partner, _ = make_partner()
    # Last digit 4: Daraja pays and never sends its result.
    transfer = make_transfer(partner=partner, corridor=corridor,
                             recipient={"name": "Joseph Mwangi", "phone_number": "+254708374144"})
    Deposit.objects.create(
        chain=corridor.token.chain, token=corridor.token,
        deposit_address=transfer.deposit_address, tx_hash="0x" + secrets.token_hex(32),
        log_index=0, block_number=100, block_hash="0x" + secrets.token_hex(32),
        from_address=PAYER, amount=transfer.amount_in_base_units,
        status=Deposit.Status.CONFIRMED, confirmed_at=timezone.now())
    assert transfer_advance(transfer_id=transfer.pk).state == S.PAYOUT_PENDING
    attempt = PayoutAttempt.objects.get(owner_reference=transfer.reference)
    assert attempt.status == Status.SUBMITTED
    assert len(_payments(daraja_sandbox, attempt.reference)) == 1

    result_url = payout_callback_urls(rail_code="mpesa-ke")[0]
    forged = _result_body(attempt.reference, code=26,  # "system busy": retryable
                          conversation_id=attempt.provider_reference)
    # Without the secret: refused, nothing stored.
    response = requests.post(f"{live_server.url}/callbacks/payouts/mpesa-ke/result",
                             json=forged, timeout=10)
    assert response.status_code == 404
    assert PayoutCallback.objects.count() == 0
    # With it (a leaked URL): held, and the status query's answer settles it as paid.
    response = requests.post(result_url, json=forged, timeout=10)
    assert response.status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (
            Transfer.objects.get(pk=transfer.pk).state != S.COMPLETED):
        time.sleep(0.05)

    transfer.refresh_from_db()
    attempt.refresh_from_db()
    assert transfer.state == S.COMPLETED
    assert attempt.status == Status.SUCCEEDED
    assert list(PayoutAttempt.objects.filter(owner_reference=transfer.reference)
                .values_list("reference", flat=True)) == [attempt.reference]
    references = set(PayoutAttempt.objects.filter(owner_reference=transfer.reference)
                     .values_list("reference", flat=True))
    assert [p["reference"] for p in daraja_sandbox.payments
            if p["reference"] in references] == [attempt.reference]
    forged_callback, answer = PayoutCallback.objects.filter(attempt=attempt).order_by("pk")
    assert forged_callback.processing_status == Processing.ERROR
    assert answer.processing_status == Processing.APPLIED
    assert attempt.status_queries.get().answered_at is not None


# --- the operators' health pages --------------------------------------------------------------


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def test_the_health_pages_say_whether_callback_secrets_are_in_place(daraja_rail, admin_client):
    from django.urls import reverse

    expected = ("info", "Payout callback secrets: 0 of 1 active rails have one; mpesa-ke will "
                        "get one with their first payout.")
    for page in ("admin:payouts_rail_changelist", "admin:chain_chain_changelist"):
        response = admin_client.get(reverse(page))
        assert response.status_code == 200
        assert expected in _messages(response)

    rail_callback_secret(rail=daraja_rail)
    response = admin_client.get(reverse("admin:payouts_rail_changelist"))
    assert ("info", "Payout callback secrets: 1 of 1 active rails have one.") in (
        _messages(response))
    assert rail_callback_secret(rail=daraja_rail) not in response.content.decode()

    # A secret encrypted under a key this process no longer has: loudly.
    Rail.objects.filter(pk=daraja_rail.pk).update(callback_secret="deadbeef:gAAAA-not-a-token")
    response = admin_client.get(reverse("admin:chain_chain_changelist"))
    assert ("error", "Payout callback secrets cannot be decrypted for mpesa-ke "
                     "(FIELD_ENCRYPTION_KEYS lost the key?): their callbacks are refused until "
                     "the secret is rotated.") in _messages(response)
    assert rail_for_callback(rail_code="mpesa-ke", secret="anything") is None
