"""Client of MTN MoMo's Disbursement API: token, transfer, transfer status and callback parsing.

The idempotency reference is the ``X-Reference-Id`` UUID, chosen by the caller; MoMo answers 409
to a second transfer under the same id. It is also sent as ``externalId`` because MoMo's callback
body carries ``externalId`` but not the reference id. A callback is unsigned, so the services
confirm it with a status request before acting on it.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import requests

from gateway.common.money import money_round
from ramps.payouts.http import http_timeout, surely_not_sent, token_cache
from ramps.payouts.rails import (
    FINAL,
    MOMO_OPERATORS,
    NEEDS_OPERATOR,
    RETRYABLE,
    BalanceReport,
    CallbackResult,
    QueryOutcome,
    RailCallbackError,
    RailError,
    RailNotSentError,
    RecipientRules,
    SubmitOutcome,
)

logger = logging.getLogger(__name__)

TOKEN_PATH = "/disbursement/token/"  # noqa: S105 - a URL path, not a secret
TRANSFER_PATH = "/disbursement/v1_0/transfer"
BALANCE_PATH = "/disbursement/v1_0/account/balance"

# MoMo error codes (in error bodies and in a FAILED transfer's reason) by what can be done.
REASON_FAILURE_KINDS: dict[str, str] = {
    "PAYEE_NOT_FOUND": FINAL,
    "PAYEE_NOT_ALLOWED_TO_RECEIVE": FINAL,
    "NOT_ALLOWED": FINAL,
    "INVALID_CURRENCY": NEEDS_OPERATOR,
    "NOT_ENOUGH_FUNDS": NEEDS_OPERATOR,
    "PAYER_LIMIT_REACHED": NEEDS_OPERATOR,
    "PAYER_NOT_FOUND": NEEDS_OPERATOR,
    "NOT_ALLOWED_TARGET_ENVIRONMENT": NEEDS_OPERATOR,
    "INVALID_CALLBACK_URL_HOST": NEEDS_OPERATOR,
    "INTERNAL_PROCESSING_ERROR": RETRYABLE,
    "SERVICE_UNAVAILABLE": RETRYABLE,
    "COULD_NOT_PERFORM_TRANSACTION": RETRYABLE,
    "EXPIRED": RETRYABLE,
    "TRANSACTION_CANCELED": FINAL,
}

STATUS_MAP = {
    "SUCCESSFUL": "succeeded",
    "FAILED": "failed",
    "REJECTED": "failed",
    "TIMEOUT": "failed",
    "PENDING": "pending",
    "CREATED": "pending",
    "ONGOING": "pending",
}


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _reason(body: dict[str, Any]) -> tuple[str, str]:
    """A transfer's reason is a bare code in some API versions and {code, message} in others."""
    reason = body.get("reason")
    if isinstance(reason, dict):
        return str(reason.get("code") or ""), str(reason.get("message") or "")
    return ("", "") if reason is None else (str(reason), str(reason))


def _result_from_status(body: dict[str, Any], reference: str) -> QueryOutcome:
    state = str(body.get("status") or "").upper()
    status = STATUS_MAP.get(state)
    if status is None:
        raise RailCallbackError(f"MoMo transfer in an unknown status {state!r}")
    common = {"reference": reference,
              "provider_reference": str(body.get("financialTransactionId") or ""),
              "provider_receipt": str(body.get("financialTransactionId") or ""),
              "raw": body}
    if status == "failed":
        code, message = _reason(body)
        code = code or state
        return QueryOutcome("failed", result_code=code, result_description=message or state,
                            failure_kind=REASON_FAILURE_KINDS.get(code, NEEDS_OPERATOR), **common)
    return QueryOutcome(status, result_code=state, result_description=state, **common)


class MomoClient:
    synchronous_query = True

    def __init__(self, rail: Any) -> None:
        self.base_url = rail.base_url.rstrip("/")
        self.credentials: dict[str, Any] = rail.credentials or {}
        self.currency = rail.currency
        self.recipient_rules = RecipientRules(service="MTN MoMo", country=rail.country,
                                              operators=MOMO_OPERATORS.get(rail.country, ()))
        self._cache_key = (self.base_url, str(self.credentials.get("api_user", "")))

    def _fetch_token(self) -> tuple[str, int]:
        response = requests.post(
            self.base_url + TOKEN_PATH,
            auth=(self.credentials["api_user"], self.credentials["api_key"]),
            headers={"Ocp-Apim-Subscription-Key": self.credentials["subscription_key"]},
            timeout=http_timeout(),
        )
        if response.status_code != 200:
            raise RailNotSentError(f"MoMo token request refused with HTTP {response.status_code}")
        body = response.json()
        return body["access_token"], int(body["expires_in"])

    def access_token(self) -> str:
        return token_cache.get(self._cache_key, self._fetch_token)

    def _request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                 body: Any = None) -> requests.Response:
        """One call with a cached token; once more with a fresh token on 401 (refused before any
        processing, so repeating it is safe)."""
        for attempt in range(2):
            all_headers = {
                "Authorization": f"Bearer {self.access_token()}",
                "Ocp-Apim-Subscription-Key": self.credentials["subscription_key"],
                "X-Target-Environment": self.credentials.get("target_environment", "sandbox"),
                **(headers or {}),
            }
            response = requests.request(method, self.base_url + path, json=body,
                                        headers=all_headers, timeout=http_timeout())
            if attempt == 0 and response.status_code == 401:
                token_cache.forget(self._cache_key)
                continue
            return response
        return response

    def submit(self, attempt: Any, *, result_url: str, timeout_url: str) -> SubmitOutcome:
        headers = {"X-Reference-Id": attempt.reference}
        if result_url:
            headers["X-Callback-Url"] = result_url
        note = attempt.remarks or "Payout"
        body = {
            # The stored value carries 18 places; MoMo gets the currency's own (a no-op rounding).
            "amount": str(money_round(attempt.amount, attempt.currency)),
            "currency": attempt.currency,
            "externalId": attempt.reference,
            "payee": {"partyIdType": "MSISDN", "partyId": attempt.recipient_msisdn.lstrip("+")},
            "payerMessage": note,
            "payeeNote": note,
        }
        try:
            response = self._request("POST", TRANSFER_PATH, headers=headers, body=body)
        except requests.RequestException as exc:
            if surely_not_sent(exc):
                raise RailNotSentError(f"MoMo unreachable: {type(exc).__name__}") from exc
            logger.warning("MoMo transfer %s: no answer (%s); outcome unknown", attempt.reference,
                           type(exc).__name__)
            return SubmitOutcome("unknown", result_description=f"no answer: {type(exc).__name__}")
        payload = _json(response)
        code = str(payload.get("code") or "")
        description = str(payload.get("message") or "")
        if response.status_code == 202:
            return SubmitOutcome("accepted", result_code="202", result_description="Accepted")
        if response.status_code == 409:
            # MoMo already holds a transfer under this reference: its outcome is that transfer's.
            return SubmitOutcome("unknown", result_code=code or "409",
                                 result_description=description, raw=payload)
        if response.status_code >= 500:
            if not code:
                return SubmitOutcome("unknown", result_code=str(response.status_code),
                                     result_description="server error without an error body",
                                     raw=payload)
            return SubmitOutcome("rejected", failure_kind=REASON_FAILURE_KINDS.get(code, RETRYABLE),
                                 result_code=code, result_description=description, raw=payload)
        return SubmitOutcome("rejected",
                             failure_kind=REASON_FAILURE_KINDS.get(code, NEEDS_OPERATOR),
                             result_code=code or str(response.status_code),
                             result_description=description, raw=payload)

    def query(self, attempt: Any, *, result_url: str = "", timeout_url: str = "",
              nonce: str = "") -> QueryOutcome:
        try:
            response = self._request("GET", f"{TRANSFER_PATH}/{attempt.reference}")
        except requests.RequestException as exc:
            raise RailError(f"MoMo status request failed: {type(exc).__name__}") from exc
        if response.status_code == 404:
            return QueryOutcome("not_found", reference=attempt.reference, result_code="404",
                                result_description="MoMo has no transfer with this reference",
                                raw=_json(response))
        if response.status_code != 200:
            raise RailError(f"MoMo status request answered HTTP {response.status_code}")
        return _result_from_status(_json(response), attempt.reference)

    def account_holder_active(self, msisdn: str) -> bool:
        try:
            response = self._request(
                "GET", f"/disbursement/v1_0/accountholder/msisdn/{msisdn.lstrip('+')}/active")
        except requests.RequestException as exc:
            raise RailError(f"MoMo account holder check failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise RailError(f"MoMo account holder check answered HTTP {response.status_code}")
        return _json(response).get("result") is True

    def recipient_validate(self, phone: str) -> str:
        return self.recipient_rules.check(phone)

    def recipient_active(self, msisdn: str) -> bool | None:
        return self.account_holder_active(msisdn)

    def balance(self) -> BalanceReport:
        try:
            response = self._request("GET", BALANCE_PATH)
        except requests.RequestException as exc:
            raise RailError(f"MoMo balance request failed: {type(exc).__name__}") from exc
        payload = _json(response)
        if response.status_code != 200:
            raise RailError(f"MoMo balance request answered HTTP {response.status_code}")
        try:
            amount = Decimal(str(payload["availableBalance"]))
        except (KeyError, ArithmeticError) as exc:
            raise RailError("MoMo balance without a decimal availableBalance") from exc
        currency = str(payload.get("currency") or "")
        if not amount.is_finite() or len(currency) != 3:
            raise RailError("MoMo balance with an unusable amount or currency")
        return BalanceReport(amount, currency, raw=payload)

    def parse_callback(self, body: Any, headers: dict[str, str]) -> CallbackResult:
        if not isinstance(body, dict) or not body.get("externalId"):
            raise RailCallbackError("MoMo callback without externalId")
        return _result_from_status(body, str(body["externalId"]))
