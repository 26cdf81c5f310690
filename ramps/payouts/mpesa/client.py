"""Client of Safaricom's Daraja API for B2C payouts: OAuth token, B2C payment request, transaction
status query, and parsing of the asynchronous results Daraja posts back.

Daraja answers a payment request synchronously only with "accepted"; the outcome arrives later as
a POST to ResultURL. The idempotency reference is the OriginatorConversationID, which Daraja
refuses to process twice (errorCode 500.002.1001).
"""

from __future__ import annotations

import base64
import logging
from decimal import Decimal
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding

from gateway.common.money import money_round
from ramps.payouts.http import http_timeout, surely_not_sent, token_cache
from ramps.payouts.rails import (
    FINAL,
    MPESA_OPERATORS,
    NEEDS_OPERATOR,
    RETRYABLE,
    CallbackResult,
    RailCallbackError,
    RailError,
    RailNotSentError,
    RecipientRules,
    SubmitOutcome,
)

logger = logging.getLogger(__name__)

B2C_PATH = "/mpesa/b2c/v3/paymentrequest"
STATUS_PATH = "/mpesa/transactionstatus/v1/query"
TOKEN_PATH = "/oauth/v1/generate"  # noqa: S105 - a URL path, not a secret

OCCASION_SEPARATOR = ":"
INVALID_TOKEN = "404.001.03"  # noqa: S105 - an error code, not a secret
DUPLICATE_REFERENCE = "500.002.1001"

# Result codes of the asynchronous B2C result, by what can be done about them.
RESULT_FAILURE_KINDS: dict[str, str] = {
    "1": NEEDS_OPERATOR,  # the business account's float is too low
    "2001": NEEDS_OPERATOR,  # initiator name or security credential wrong
    "2028": NEEDS_OPERATOR,  # the product does not allow this request
    "8": FINAL,  # the recipient's wallet would exceed its maximum balance
    "2040": FINAL,  # the recipient is not a registered M-PESA customer
    "17": RETRYABLE,  # M-PESA internal error
    "26": RETRYABLE,  # system busy
}


def _plain(value: Any) -> str:
    return "" if value is None else str(value)


def _amount_for_wire(amount: Decimal, currency: str) -> int | str:
    """Daraja takes the amount as a JSON number; whole amounts go as integers, others as their
    exact decimal text in the currency's exponent (never a float)."""
    amount = money_round(amount, currency)
    if amount == amount.to_integral_value():
        return int(amount)
    return str(amount)


def _parameters(result: dict[str, Any]) -> dict[str, Any]:
    """``ResultParameters.ResultParameter`` as a dict (Daraja sends an object when there is only
    one parameter and a list otherwise)."""
    container = result.get("ResultParameters") or {}
    items = container.get("ResultParameter") if isinstance(container, dict) else None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        items = []  # absent, or not a shape Daraja sends
    return {str(item.get("Key")): item.get("Value") for item in items
            if isinstance(item, dict)}


def _reference_items(result: dict[str, Any]) -> dict[str, Any]:
    container = result.get("ReferenceData") or {}
    items = container.get("ReferenceItem") if isinstance(container, dict) else None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        items = []  # absent, or not a shape Daraja sends
    return {str(item.get("Key")): item.get("Value") for item in items
            if isinstance(item, dict)}


def security_credential(password: str, certificate_pem: str) -> str:
    """The initiator password encrypted with the provider's certificate (PKCS#1 v1.5), base64."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    encrypted = certificate.public_key().encrypt(password.encode(), padding.PKCS1v15())
    return base64.b64encode(encrypted).decode()


class DarajaClient:
    synchronous_query = False

    def __init__(self, rail: Any) -> None:
        self.base_url = rail.base_url.rstrip("/")
        self.credentials: dict[str, Any] = rail.credentials or {}
        self.currency = rail.currency
        self.recipient_rules = RecipientRules(service="M-Pesa", country=rail.country,
                                              operators=MPESA_OPERATORS.get(rail.country, ()))
        self._cache_key = (self.base_url, str(self.credentials.get("consumer_key", "")))

    # -- auth ----------------------------------------------------------------------------------

    def _fetch_token(self) -> tuple[str, int]:
        response = requests.get(
            self.base_url + TOKEN_PATH,
            params={"grant_type": "client_credentials"},
            auth=(self.credentials["consumer_key"], self.credentials["consumer_secret"]),
            timeout=http_timeout(),
        )
        if response.status_code != 200:
            raise RailNotSentError(f"Daraja token request refused with HTTP {response.status_code}")
        body = response.json()
        # expires_in arrives as a string ("3599").
        return body["access_token"], int(body["expires_in"])

    def access_token(self) -> str:
        return token_cache.get(self._cache_key, self._fetch_token)

    def _post(self, path: str, body: dict[str, Any]) -> requests.Response:
        """POST with a cached token; once more with a fresh token if Daraja calls it invalid
        (the call was refused before any processing, so repeating it is safe)."""
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self.access_token()}"}
            response = requests.post(self.base_url + path, json=body, headers=headers,
                                     timeout=http_timeout())
            if attempt == 0 and _error_code(response) == INVALID_TOKEN:
                token_cache.forget(self._cache_key)
                continue
            return response
        return response

    def _security_credential(self) -> str:
        return security_credential(self.credentials["initiator_password"],
                                   self.credentials["certificate_pem"])

    # -- payment -------------------------------------------------------------------------------

    def submit(self, attempt: Any, *, result_url: str, timeout_url: str) -> SubmitOutcome:
        body = {
            "OriginatorConversationID": attempt.reference,
            "InitiatorName": self.credentials["initiator_name"],
            "SecurityCredential": self._security_credential(),
            "CommandID": self.credentials.get("command_id") or "BusinessPayment",
            "Amount": _amount_for_wire(attempt.amount, attempt.currency),
            "PartyA": self.credentials["shortcode"],
            "PartyB": attempt.recipient_msisdn.lstrip("+"),
            "Remarks": attempt.remarks or "Payout",
            "QueueTimeOutURL": timeout_url,
            "ResultURL": result_url,
            "Occassion": "",  # sic: the API's own spelling
        }
        try:
            response = self._post(B2C_PATH, body)
        except requests.RequestException as exc:
            if surely_not_sent(exc):
                raise RailNotSentError(f"Daraja unreachable: {type(exc).__name__}") from exc
            logger.warning("Daraja B2C %s: no answer (%s); outcome unknown", attempt.reference,
                           type(exc).__name__)
            return SubmitOutcome("unknown", result_description=f"no answer: {type(exc).__name__}")
        return _submit_outcome(response)

    def query(self, attempt: Any, *, result_url: str, timeout_url: str, nonce: str = "") -> None:
        """Ask for the status; Daraja posts the answer to ``result_url`` (see parse_callback).

        ``nonce`` travels in ``Occasion`` (after the payment's reference), which Daraja echoes in
        the answer's ReferenceData: the gateway trusts only answers to queries it sent.
        """
        body = {
            "Initiator": self.credentials["initiator_name"],
            "SecurityCredential": self._security_credential(),
            "CommandID": "TransactionStatusQuery",
            "TransactionID": attempt.provider_receipt or "",
            "OriginatorConversationID": attempt.reference,
            "PartyA": self.credentials["shortcode"],
            "IdentifierType": "4",
            "ResultURL": result_url,
            "QueueTimeOutURL": timeout_url,
            "Remarks": "Payout status check",
            # Echoed back in ReferenceData: matches the answer even when the query fails, and
            # ties it to this query.
            "Occasion": f"{attempt.reference}{OCCASION_SEPARATOR}{nonce}" if nonce
                        else attempt.reference,
        }
        try:
            response = self._post(STATUS_PATH, body)
        except requests.RequestException as exc:
            raise RailError(f"Daraja status query failed: {type(exc).__name__}") from exc
        payload = _json(response)
        if response.status_code != 200 or str(payload.get("ResponseCode")) != "0":
            raise RailError(
                f"Daraja refused the status query: HTTP {response.status_code} "
                f"{payload.get('errorCode', payload.get('ResponseCode', ''))} "
                f"{payload.get('errorMessage', payload.get('ResponseDescription', ''))}".strip())
        return None

    def recipient_validate(self, phone: str) -> str:
        return self.recipient_rules.check(phone)

    def recipient_active(self, msisdn: str) -> bool | None:
        return None  # Daraja B2C has no recipient check; 2040 comes with the result

    def balance(self) -> None:
        return None  # reported with each B2C result (see _float_balance)

    # -- callbacks -----------------------------------------------------------------------------

    def parse_callback(self, body: Any, headers: dict[str, str]) -> CallbackResult:
        result = body.get("Result") if isinstance(body, dict) else None
        if not isinstance(result, dict):
            raise RailCallbackError("Daraja callback without a Result object")
        parameters = _parameters(result)
        code = _plain(result.get("ResultCode"))
        description = _plain(result.get("ResultDesc"))
        if "TransactionStatus" in parameters or _reference_items(result).get("Occasion"):
            return _status_result(result, parameters, code, description)
        reference = _plain(result.get("OriginatorConversationID"))
        if not reference:
            raise RailCallbackError("Daraja result without OriginatorConversationID")
        common = {"reference": reference, "result_code": code, "result_description": description,
                  "provider_reference": _plain(result.get("ConversationID")), "raw": body}
        if code == "0":
            receipt = parameters.get("TransactionReceipt") or result.get("TransactionID")
            return CallbackResult("succeeded", provider_receipt=_plain(receipt),
                                  float_balance=_float_balance(parameters), **common)
        if _plain(result.get("ResultType")) == "1":
            # A queue-timeout notice: the request expired in Daraja's queue, no verdict on money.
            return CallbackResult("pending", **common)
        return CallbackResult("failed", failure_kind=RESULT_FAILURE_KINDS.get(code, NEEDS_OPERATOR),
                              **common)


def _float_balance(parameters: dict[str, Any]) -> Decimal | None:
    """The balance a B2C result reports for the account payouts are drawn from: B2C payments
    debit the utility account; the working account is used when no utility figure is given."""
    for key in ("B2CUtilityAccountAvailableFunds", "B2CWorkingAccountAvailableFunds"):
        value = parameters.get(key)
        if value in (None, ""):
            continue
        try:
            amount = Decimal(str(value))
        except ArithmeticError:
            continue
        if amount.is_finite():
            return amount
    return None


def _status_result(result: dict[str, Any], parameters: dict[str, Any], code: str,
                   description: str) -> CallbackResult:
    """The answer to a transaction status query. Its own OriginatorConversationID is the query's;
    the payment's is among the parameters, or echoed before the nonce in the Occasion."""
    occasion_reference, _, nonce = _plain(_reference_items(result).get("Occasion")).partition(
        OCCASION_SEPARATOR)
    reference = _plain(parameters.get("OriginatorConversationID")) or occasion_reference
    if not reference:
        raise RailCallbackError("Daraja status result without the payment's reference")
    if code != "0":
        return CallbackResult("not_found", reference=reference, result_code=code,
                              result_description=f"status query: {description}",
                              raw={"Result": result}, query_nonce=nonce, is_status_answer=True)
    state = _plain(parameters.get("TransactionStatus")).lower()
    common = {"reference": reference,
              "provider_reference": _plain(parameters.get("ConversationID")),
              "raw": {"Result": result}, "query_nonce": nonce, "is_status_answer": True}
    if state == "completed":
        return CallbackResult("succeeded", provider_receipt=_plain(parameters.get("ReceiptNo")),
                              result_code="0", result_description="Completed (status query)",
                              **common)
    if state in ("failed", "declined", "cancelled", "expired"):
        reason = _plain(parameters.get("TransactionReason")) or state
        return CallbackResult("failed", result_code=state, result_description=reason,
                              failure_kind=NEEDS_OPERATOR, **common)
    return CallbackResult("pending", result_code=state, result_description=state, **common)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _error_code(response: requests.Response) -> str:
    return _plain(_json(response).get("errorCode"))


def _submit_outcome(response: requests.Response) -> SubmitOutcome:
    payload = _json(response)
    if response.status_code == 200 and _plain(payload.get("ResponseCode")) == "0":
        return SubmitOutcome("accepted", provider_reference=_plain(payload.get("ConversationID")),
                             result_code="0",
                             result_description=_plain(payload.get("ResponseDescription")),
                             raw=payload)
    code = _plain(payload.get("errorCode") or payload.get("ResponseCode"))
    description = _plain(payload.get("errorMessage") or payload.get("ResponseDescription"))
    if code == DUPLICATE_REFERENCE:
        # Daraja already holds a request under this reference: its outcome is that request's.
        return SubmitOutcome("unknown", result_code=code, result_description=description,
                             raw=payload)
    if response.status_code >= 500:
        if not code:
            # No Daraja error body (a proxy's page, a crash): cannot tell whether it was processed.
            return SubmitOutcome("unknown", result_code=str(response.status_code),
                                 result_description="server error without an error body",
                                 raw=payload)
        return SubmitOutcome("rejected", failure_kind=RETRYABLE, result_code=code,
                             result_description=description, raw=payload)
    return SubmitOutcome("rejected", failure_kind=NEEDS_OPERATOR,
                         result_code=code or str(response.status_code),
                         result_description=description, raw=payload)
