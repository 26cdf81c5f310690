"""Loopback simulator of Safaricom's Daraja API: OAuth, B2C payment request, transaction status.

It speaks the wire format that Daraja clients send (``/oauth/v1/generate``,
``/mpesa/b2c/v3/paymentrequest`` and its ``v1`` predecessor, ``/mpesa/transactionstatus/v1/query``)
so that the gateway's own client and third-party libraries can be tested against it unchanged.
At start it makes its own RSA key pair and self-signed certificate; clients encrypt the initiator
password with that certificate (PKCS#1 v1.5, base64) exactly as they do with Safaricom's, and the
sandbox decrypts and checks the credential on every request.

Scenario by the last digit of the recipient number (PartyB), unless forced with
``POST /_sandbox/control {"scenario": "..."}``:

===== ======================= =====================================================================
digit scenario                behaviour
===== ======================= =====================================================================
0,9   success                 accepted; paid; one result callback with ResultCode 0
1     insufficient_float      accepted; not paid; result ResultCode 1 (balance insufficient)
2     invalid_recipient       accepted; not paid; result ResultCode 2040 (not a registered customer)
3     provider_error          HTTP 500 errorCode 500.003.02 (system busy); nothing recorded
4     no_callback             accepted; paid; the result callback is never sent
5     duplicate_callback      accepted; paid; the same result callback is sent twice
6     timeout_after_payment   paid, then the connection is dropped unanswered after
                              ``hang_seconds``; no callback (only a status query can tell)
7     stuck_pending           accepted; never completes; status query says ``Pending``
8     delayed_callback        accepted; paid; the result callback comes ``late_callback_seconds``
                              later, after a status query has answered
===== ======================= =====================================================================

A wrong initiator name or password is accepted synchronously and fails asynchronously with
ResultCode 2001, as Daraja does. A reused OriginatorConversationID is refused with errorCode
500.002.1001 and pays nothing. A transaction status query for an id the sandbox never saw
answers (asynchronously) ResultCode 404, a convention of this sandbox.

Sandbox-only paths: ``GET /_sandbox/certificate.pem``, ``GET /_sandbox/payments`` (every payment
made, so tests can assert "paid exactly once"), ``GET /_sandbox/callbacks``, ``GET /_sandbox/state``
and ``POST /_sandbox/control`` with ``scenario``, ``callback_delay``, ``hang_seconds``,
``late_callback_seconds``, ``token_lifetime`` and ``reset``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
import secrets
import string
import time
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from ramps.sandbox.base import (
    SandboxRequest,
    SandboxResponse,
    TokenIssuingSandbox,
    json_response,
)

DEFAULT_CONSUMER_KEY = "sandbox-daraja-consumer-key"
DEFAULT_CONSUMER_SECRET = "sandbox-daraja-consumer-secret"  # noqa: S105 - public sandbox default
DEFAULT_SHORTCODE = "600000"
DEFAULT_INITIATOR_NAME = "sandboxapi"
DEFAULT_INITIATOR_PASSWORD = "Sandbox-Initiator-1!"  # noqa: S105 - public sandbox default
DEFAULT_TOKEN_LIFETIME_SECONDS = 3599
STARTING_FLOAT = Decimal("5000000.00")

COMMAND_IDS = frozenset({"BusinessPayment", "SalaryPayment", "PromotionPayment"})
KENYAN_MSISDN = re.compile(r"^254(7|1)\d{8}$")
ACCEPTED = "Accept the service request successfully."
TRANSACTION_NOT_FOUND_CODE = 404

RESULT_TEXT = {
    0: "The service request is processed successfully.",
    1: "The balance is insufficient for the transaction.",
    2001: "The initiator information is invalid.",
    2040: "The receiver is not a registered M-PESA customer.",
    TRANSACTION_NOT_FOUND_CODE: "The transaction could not be found.",
}


def _error(status: int, code: str, message: str) -> SandboxResponse:
    return json_response(status, {"requestId": _request_id(), "errorCode": code,
                                  "errorMessage": message})


def _request_id() -> str:
    return f"{secrets.randbelow(10**5)}-{secrets.randbelow(10**8)}-1"


def _conversation_id() -> str:
    today = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d")
    return f"AG_{today}_{secrets.token_hex(10)}"


def _receipt() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "S" + "".join(secrets.choice(alphabet) for _ in range(9))


def _number(value: Decimal) -> int | Decimal:
    """Daraja reports amounts as JSON numbers; whole ones without a fraction."""
    return int(value) if value == value.to_integral_value() else value


class DarajaSandbox(TokenIssuingSandbox):
    name = "daraja"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 consumer_key: str = DEFAULT_CONSUMER_KEY,
                 consumer_secret: str = DEFAULT_CONSUMER_SECRET,
                 shortcode: str = DEFAULT_SHORTCODE,
                 initiator_name: str = DEFAULT_INITIATOR_NAME,
                 initiator_password: str = DEFAULT_INITIATOR_PASSWORD,
                 token_lifetime: int = DEFAULT_TOKEN_LIFETIME_SECONDS,
                 **options: Any) -> None:
        super().__init__(host=host, port=port, token_lifetime=token_lifetime, **options)
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.shortcode = shortcode
        self.initiator_name = initiator_name
        self.initiator_password = initiator_password
        self.transactions: dict[str, dict[str, Any]] = {}
        self.utility_float = STARTING_FLOAT
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.certificate_pem = self._self_signed_certificate()

    def _self_signed_certificate(self) -> str:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Daraja loopback sandbox")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(self._private_key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()

    def credentials(self) -> dict[str, Any]:
        return {
            "consumer_key": self.consumer_key,
            "consumer_secret": self.consumer_secret,
            "shortcode": self.shortcode,
            "initiator_name": self.initiator_name,
            "initiator_password": self.initiator_password,
            "certificate_pem": self.certificate_pem,
            "command_id": "BusinessPayment",
        }

    # -- control -------------------------------------------------------------------------------

    def reset(self) -> None:
        super().reset()
        self.transactions.clear()
        self.utility_float = STARTING_FLOAT

    # -- routing -------------------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path.rstrip("/")
        if path == "/oauth/v1/generate" and request.method == "GET":
            return self._generate_token(request)
        if path in ("/mpesa/b2c/v3/paymentrequest", "/mpesa/b2c/v1/paymentrequest"):
            if request.method != "POST":
                return _error(405, "405.001.01", "Method Not Allowed")
            return self._authorised(request) or self._b2c(request, path.split("/")[3])
        if path == "/mpesa/transactionstatus/v1/query" and request.method == "POST":
            return self._authorised(request) or self._transaction_status(request)
        if path == "/_sandbox/certificate.pem":
            return SandboxResponse(200, self.certificate_pem,
                                   {"Content-Type": "application/x-pem-file"})
        if path == "/_sandbox/state":
            with self.lock:
                return json_response(200, {"tokens_issued": self.tokens_issued,
                                           "transactions": len(self.transactions),
                                           "utility_float": str(self.utility_float),
                                           **self.control_state()})
        return _error(404, "404.001.01", "Resource not found")

    def _generate_token(self, request: SandboxRequest) -> SandboxResponse:
        if request.query.get("grant_type") != "client_credentials":
            return _error(400, "400.008.02", "Invalid grant type passed")
        scheme, _, encoded = request.header("authorization").partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        key, _, secret = decoded.partition(":")
        if (scheme.lower() != "basic" or not secrets.compare_digest(key, self.consumer_key)
                or not secrets.compare_digest(secret, self.consumer_secret)):
            return _error(400, "400.008.01", "Invalid Authentication passed")
        token = secrets.token_urlsafe(21)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.token_lifetime
            self.tokens_issued += 1
            lifetime = self.token_lifetime
        # Daraja sends expires_in as a string.
        return json_response(200, {"access_token": token, "expires_in": str(lifetime)})

    def _authorised(self, request: SandboxRequest) -> SandboxResponse | None:
        scheme, _, token = request.header("authorization").partition(" ")
        with self.lock:
            expires_at = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if expires_at is None or expires_at <= time.monotonic():
            return _error(404, "404.001.03", "Invalid Access Token")
        return None

    def _credential_valid(self, initiator: Any, credential: Any) -> bool:
        if initiator != self.initiator_name or not isinstance(credential, str):
            return False
        try:
            plain = self._private_key.decrypt(base64.b64decode(credential, validate=True),
                                              padding.PKCS1v15())
        except (binascii.Error, ValueError):
            return False
        return secrets.compare_digest(plain, self.initiator_password.encode())

    # -- B2C -----------------------------------------------------------------------------------

    def _b2c(self, request: SandboxRequest, version: str) -> SandboxResponse:
        try:
            body = request.json()
        except ValueError:
            return _error(400, "400.002.02", "Bad Request - Invalid JSON")
        if not isinstance(body, dict):
            return _error(400, "400.002.02", "Bad Request - Invalid JSON")
        problem = self._b2c_problem(body, version)
        if problem:
            return _error(400, "400.002.02", f"Bad Request - Invalid {problem}")
        amount = Decimal(str(body["Amount"]))
        msisdn = str(body["PartyB"])
        originator_id = str(body.get("OriginatorConversationID") or uuid.uuid4())
        scenario = self.scenario_for(msisdn)
        if scenario == "provider_error":
            return _error(500, "500.003.02", "System is busy. Please try again in few minutes.")
        with self.lock:
            if originator_id in self.transactions:
                return _error(500, "500.002.1001", "Duplicate OriginatorConversationID.")
            record: dict[str, Any] = {
                "originator_conversation_id": originator_id,
                "conversation_id": _conversation_id(),
                "transaction_id": _receipt(),
                "msisdn": msisdn,
                "amount": amount,
                "command_id": body["CommandID"],
                "scenario": scenario,
                "result_url": body["ResultURL"],
                "timeout_url": body["QueueTimeOutURL"],
            }
            initiator_valid = self._credential_valid(body.get("InitiatorName"),
                                                     body.get("SecurityCredential"))
            if not initiator_valid:
                record.update(status="failed", result_code=2001)
            elif scenario == "insufficient_float":
                record.update(status="failed", result_code=1)
            elif scenario == "invalid_recipient":
                record.update(status="failed", result_code=2040)
            elif scenario == "stuck_pending":
                record.update(status="pending", result_code=None)
            else:
                record.update(status="completed", result_code=0)
                self.utility_float -= amount
                record["completed_at"] = datetime.datetime.now(datetime.UTC)
                self.record_payment(
                    reference=originator_id, conversation_id=record["conversation_id"],
                    transaction_id=record["transaction_id"], msisdn=msisdn, amount=str(amount),
                    currency="KES", scenario=scenario,
                )
            self.transactions[originator_id] = record
        if record["status"] != "pending" and scenario not in ("no_callback",
                                                              "timeout_after_payment"):
            times = 2 if scenario == "duplicate_callback" else 1
            delay = self.late_callback_seconds if scenario == "delayed_callback" else None
            self.send_callback(record["result_url"], self._b2c_result(record), times=times,
                               delay=delay)
        if scenario == "timeout_after_payment":
            return SandboxResponse(hang_seconds=self.hang_seconds)
        return json_response(200, {
            "ConversationID": record["conversation_id"],
            "OriginatorConversationID": originator_id,
            "ResponseCode": "0",
            "ResponseDescription": ACCEPTED,
        })

    def _b2c_problem(self, body: dict[str, Any], version: str) -> str | None:
        required = ["InitiatorName", "SecurityCredential", "CommandID", "Amount", "PartyA",
                    "PartyB", "Remarks", "QueueTimeOutURL", "ResultURL"]
        if version == "v3":
            required.insert(0, "OriginatorConversationID")
        for name in required:
            if body.get(name) in (None, ""):
                return name
        if body["CommandID"] not in COMMAND_IDS:
            return "CommandID"
        try:
            amount = Decimal(str(body["Amount"]))
        except InvalidOperation:
            return "Amount"
        if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:
            return "Amount"
        if str(body["PartyA"]) != self.shortcode:
            return "PartyA"
        if not KENYAN_MSISDN.match(str(body["PartyB"])):
            return "PartyB"
        if not 2 <= len(str(body["Remarks"])) <= 100:
            return "Remarks"
        for name in ("QueueTimeOutURL", "ResultURL"):
            if not str(body[name]).startswith(("http://", "https://")):
                return name
        return None

    def _b2c_result(self, record: dict[str, Any]) -> dict[str, Any]:
        code = record["result_code"]
        result: dict[str, Any] = {
            "ResultType": 0,
            "ResultCode": code,
            "ResultDesc": RESULT_TEXT[code],
            "OriginatorConversationID": record["originator_conversation_id"],
            "ConversationID": record["conversation_id"],
            "TransactionID": record["transaction_id"],
            "ReferenceData": {"ReferenceItem": {"Key": "QueueTimeoutURL",
                                                "Value": record["timeout_url"]}},
        }
        if code == 0:
            completed = record["completed_at"].strftime("%d.%m.%Y %H:%M:%S")
            result["ResultParameters"] = {"ResultParameter": [
                {"Key": "TransactionAmount", "Value": _number(record["amount"])},
                {"Key": "TransactionReceipt", "Value": record["transaction_id"]},
                {"Key": "ReceiverPartyPublicName",
                 "Value": f"{record['msisdn']} - Sandbox Recipient"},
                {"Key": "TransactionCompletedDateTime", "Value": completed},
                {"Key": "B2CUtilityAccountAvailableFunds", "Value": _number(self.utility_float)},
                {"Key": "B2CWorkingAccountAvailableFunds", "Value": 0},
                {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
                {"Key": "B2CChargesPaidAccountAvailableFunds", "Value": 0},
            ]}
        return {"Result": result}

    # -- transaction status --------------------------------------------------------------------

    def _transaction_status(self, request: SandboxRequest) -> SandboxResponse:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "400.002.02", "Bad Request - Invalid JSON")
        for name in ("Initiator", "SecurityCredential", "CommandID", "PartyA", "ResultURL",
                     "QueueTimeOutURL"):
            if body.get(name) in (None, ""):
                return _error(400, "400.002.02", f"Bad Request - Invalid {name}")
        if body["CommandID"] != "TransactionStatusQuery":
            return _error(400, "400.002.02", "Bad Request - Invalid CommandID")
        # Daraja's Transaction Status API names the field OriginalConversationID; the
        # OriginatorConversationID that some clients send instead is accepted too.
        originator_id = (body.get("OriginalConversationID")
                         or body.get("OriginatorConversationID"))
        if not body.get("TransactionID") and not originator_id:
            return _error(400, "400.002.02", "Bad Request - Invalid TransactionID")
        if not str(body["ResultURL"]).startswith(("http://", "https://")):
            return _error(400, "400.002.02", "Bad Request - Invalid ResultURL")
        query_originator_id = str(uuid.uuid4())
        query_conversation_id = _conversation_id()
        with self.lock:
            record = None
            if originator_id:
                record = self.transactions.get(str(originator_id))
            if record is None and body.get("TransactionID"):
                record = next((r for r in self.transactions.values()
                               if r["transaction_id"] == body["TransactionID"]), None)
            record = dict(record) if record else None
        result: dict[str, Any] = {
            "ResultType": 0,
            "OriginatorConversationID": query_originator_id,
            "ConversationID": query_conversation_id,
            "TransactionID": _receipt(),
            "ReferenceData": {"ReferenceItem": {"Key": "Occasion",
                                                "Value": body.get("Occasion", "")}},
        }
        if not self._credential_valid(body.get("Initiator"), body.get("SecurityCredential")):
            result.update(ResultCode=2001, ResultDesc=RESULT_TEXT[2001])
        elif record is None:
            result.update(ResultCode=TRANSACTION_NOT_FOUND_CODE,
                          ResultDesc=RESULT_TEXT[TRANSACTION_NOT_FOUND_CODE])
        else:
            result.update(ResultCode=0, ResultDesc=RESULT_TEXT[0])
            status = {"completed": "Completed", "failed": "Failed", "pending": "Pending"}
            failed = record["status"] == "failed"
            reason = RESULT_TEXT.get(record["result_code"], "") if failed else ""
            completed_at = record.get("completed_at")
            result["ResultParameters"] = {"ResultParameter": [
                {"Key": "DebitPartyName", "Value": f"{self.shortcode} - Sandbox Business"},
                {"Key": "CreditPartyName", "Value": f"{record['msisdn']} - Sandbox Recipient"},
                {"Key": "OriginatorConversationID", "Value": record["originator_conversation_id"]},
                {"Key": "DebitAccountType", "Value": "Utility Account"},
                {"Key": "DebitPartyCharges", "Value": ""},
                {"Key": "TransactionReason", "Value": reason},
                {"Key": "ReasonType", "Value": "Business Payment to Customer via API"},
                {"Key": "TransactionStatus", "Value": status[record["status"]]},
                {"Key": "FinalisedTime",
                 "Value": int(completed_at.strftime("%Y%m%d%H%M%S")) if completed_at else ""},
                {"Key": "Amount", "Value": _number(record["amount"])},
                {"Key": "ConversationID", "Value": record["conversation_id"]},
                {"Key": "ReceiptNo",
                 "Value": record["transaction_id"] if record["status"] == "completed" else ""},
            ]}
        self.send_callback(str(body["ResultURL"]), {"Result": result})
        return json_response(200, {
            "OriginatorConversationID": query_originator_id,
            "ConversationID": query_conversation_id,
            "ResponseCode": "0",
            "ResponseDescription": ACCEPTED,
        })
