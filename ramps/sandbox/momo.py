"""Loopback simulator of MTN MoMo's Disbursement API (token, transfer, status, account holder,
balance), with the callback that MoMo sends once a transfer reaches a final state.

Requests carry what MoMo requires: ``Ocp-Apim-Subscription-Key`` on every call, HTTP Basic
``apiUser:apiKey`` on ``POST /disbursement/token/``, then ``Authorization: Bearer``,
``X-Target-Environment`` and, on a transfer, ``X-Reference-Id`` (a UUID chosen by the caller: the
idempotency key of the transfer) and optionally ``X-Callback-Url``.

Scenario by the last digit of the payee's number, unless forced with
``POST /_sandbox/control {"scenario": "..."}``:

===== ======================= =====================================================================
digit scenario                behaviour
===== ======================= =====================================================================
0,9   success                 202; paid; status SUCCESSFUL; one callback
1     insufficient_float      202; not paid; status FAILED, reason NOT_ENOUGH_FUNDS; one callback
2     invalid_recipient       202; not paid; status FAILED, reason PAYEE_NOT_FOUND; one callback;
                              the account holder check answers ``{"result": false}``
3     provider_error          500 INTERNAL_PROCESSING_ERROR; nothing recorded (GET status is 404)
4     no_callback             202; paid; SUCCESSFUL; the callback is never sent
5     duplicate_callback      202; paid; SUCCESSFUL; the same callback is sent twice
6     timeout_after_payment   paid, then the connection is dropped unanswered after
                              ``hang_seconds``; no callback (GET status tells)
7     stuck_pending           202; never completes; status PENDING; no callback
8     delayed_callback        202; paid; SUCCESSFUL; the callback comes ``late_callback_seconds``
                              later, after a status request has answered
===== ======================= =====================================================================

A reused ``X-Reference-Id`` gets 409 RESOURCE_ALREADY_EXIST and pays nothing. The callback goes
to ``X-Callback-Url`` with method PUT (``callback_method`` changes it) and the same body as
``GET /disbursement/v1_0/transfer/{referenceId}``. A FAILED transfer's ``reason`` is an
object ``{"code": ..., "message": ...}`` as in MoMo's API description.

Sandbox-only paths: ``GET /_sandbox/payments``, ``GET /_sandbox/callbacks``, ``GET /_sandbox/state``
and ``POST /_sandbox/control`` (``scenario``, ``callback_delay``, ``hang_seconds``,
``token_lifetime``, ``reset``).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from ramps.sandbox.base import (
    SandboxRequest,
    SandboxResponse,
    TokenIssuingSandbox,
    json_response,
)

DEFAULT_API_USER = "3b1e2a52-5d1c-4a8e-9a57-2f0d6c7b9e41"
DEFAULT_API_KEY = "sandbox-momo-api-key"
DEFAULT_SUBSCRIPTION_KEY = "sandbox-momo-subscription-key"
DEFAULT_TARGET_ENVIRONMENT = "sandbox"
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600
STARTING_BALANCE = Decimal("10000000")

TRANSFER_PATH = re.compile(r"^/disbursement/v1_0/transfer/(?P<reference>[^/]+)$")
ACTIVE_PATH = re.compile(
    r"^/disbursement/v1_0/accountholder/(?P<kind>msisdn|email|party_code)/(?P<party>[^/]+)/active$",
    re.IGNORECASE,
)
MSISDN = re.compile(r"^\d{6,15}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")


def _error(status: int, code: str, message: str) -> SandboxResponse:
    return json_response(status, {"code": code, "message": message})


class MomoSandbox(TokenIssuingSandbox):
    name = "momo"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 api_user: str = DEFAULT_API_USER, api_key: str = DEFAULT_API_KEY,
                 subscription_key: str = DEFAULT_SUBSCRIPTION_KEY,
                 target_environment: str = DEFAULT_TARGET_ENVIRONMENT,
                 token_lifetime: int = DEFAULT_TOKEN_LIFETIME_SECONDS,
                 callback_method: str = "PUT", balance_currency: str = "EUR",
                 **options: Any) -> None:
        super().__init__(host=host, port=port, token_lifetime=token_lifetime, **options)
        self.api_user = api_user
        self.api_key = api_key
        self.subscription_key = subscription_key
        self.target_environment = target_environment
        self.callback_method = callback_method
        self.balance_currency = balance_currency
        self.balance = STARTING_BALANCE
        self.transfers: dict[str, dict[str, Any]] = {}

    def credentials(self) -> dict[str, Any]:
        return {
            "api_user": self.api_user,
            "api_key": self.api_key,
            "subscription_key": self.subscription_key,
            "target_environment": self.target_environment,
        }

    def reset(self) -> None:
        super().reset()
        self.transfers.clear()
        self.balance = STARTING_BALANCE

    # -- routing -------------------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path
        if path == "/_sandbox/state":
            with self.lock:
                return json_response(200, {"tokens_issued": self.tokens_issued,
                                           "transfers": len(self.transfers),
                                           "balance": str(self.balance),
                                           **self.control_state()})
        if not path.startswith("/disbursement/"):
            return _error(404, "RESOURCE_NOT_FOUND", "Requested resource was not found.")
        if not secrets.compare_digest(request.header("ocp-apim-subscription-key"),
                                      self.subscription_key):
            return json_response(401, {"statusCode": 401, "message": (
                "Access denied due to invalid subscription key. Make sure to provide a valid "
                "key for an active subscription.")})
        if path.rstrip("/") == "/disbursement/token" and request.method == "POST":
            return self._token(request)
        denied = self._authorised(request)
        if denied:
            return denied
        if path == "/disbursement/v1_0/transfer" and request.method == "POST":
            return self._transfer(request)
        match = TRANSFER_PATH.match(path)
        if match and request.method == "GET":
            with self.lock:
                transfer = self.transfers.get(match["reference"])
                if transfer is None:
                    return _error(404, "RESOURCE_NOT_FOUND", "Requested resource was not found.")
                return json_response(200, self._status_body(transfer))
        match = ACTIVE_PATH.match(path)
        if match and request.method == "GET":
            party = match["party"]
            active = match["kind"].lower() != "msisdn" or (
                MSISDN.match(party) is not None
                and self.scenario_for(party) != "invalid_recipient")
            return json_response(200, {"result": active})
        if path == "/disbursement/v1_0/account/balance" and request.method == "GET":
            with self.lock:
                return json_response(200, {"availableBalance": str(self.balance),
                                           "currency": self.balance_currency})
        return _error(404, "RESOURCE_NOT_FOUND", "Requested resource was not found.")

    def _token(self, request: SandboxRequest) -> SandboxResponse:
        scheme, _, encoded = request.header("authorization").partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, _, key = decoded.partition(":")
        if (scheme.lower() != "basic" or not secrets.compare_digest(user, self.api_user)
                or not secrets.compare_digest(key, self.api_key)):
            return json_response(401, {"error": "login_failed"})
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.token_lifetime
            self.tokens_issued += 1
            lifetime = self.token_lifetime
        return json_response(200, {"access_token": token, "token_type": "access_token",
                                   "expires_in": lifetime})

    def _authorised(self, request: SandboxRequest) -> SandboxResponse | None:
        scheme, _, token = request.header("authorization").partition(" ")
        with self.lock:
            expires_at = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if expires_at is None or expires_at <= time.monotonic():
            return json_response(401, {"statusCode": 401,
                                       "message": "Access denied due to invalid access token."})
        if request.header("x-target-environment") != self.target_environment:
            return _error(403, "NOT_ALLOWED_TARGET_ENVIRONMENT",
                          "Access to target environment is forbidden.")
        return None

    # -- transfer ------------------------------------------------------------------------------

    def _transfer(self, request: SandboxRequest) -> SandboxResponse:
        reference = request.header("x-reference-id")
        try:
            if uuid.UUID(reference).version != 4:
                raise ValueError
        except ValueError:
            return _error(400, "INVALID_REFERENCE_ID", "X-Reference-Id must be a UUID version 4.")
        try:
            body = request.json()
        except ValueError:
            body = None
        problem = self._transfer_problem(body)
        if problem:
            return _error(400, "VALIDATION_ERROR", problem)
        msisdn = body["payee"]["partyId"]
        scenario = self.scenario_for(msisdn)
        if scenario == "provider_error":
            return _error(500, "INTERNAL_PROCESSING_ERROR",
                          "An internal error occurred while processing.")
        with self.lock:
            if reference in self.transfers:
                return _error(409, "RESOURCE_ALREADY_EXIST",
                              "Duplicated reference id. Creation of resource failed.")
            transfer: dict[str, Any] = {
                "reference": reference,
                "amount": str(body["amount"]),
                "currency": body["currency"],
                "externalId": str(body.get("externalId", "")),
                "payee": {"partyIdType": "MSISDN", "partyId": msisdn},
                "payerMessage": body.get("payerMessage", ""),
                "payeeNote": body.get("payeeNote", ""),
                "scenario": scenario,
                "financialTransactionId": None,
                "reason": None,
            }
            if scenario == "insufficient_float":
                transfer.update(status="FAILED", reason={
                    "code": "NOT_ENOUGH_FUNDS",
                    "message": "The payer does not have enough funds."})
            elif scenario == "invalid_recipient":
                transfer.update(status="FAILED", reason={
                    "code": "PAYEE_NOT_FOUND",
                    "message": "The payee could not be found."})
            elif scenario == "stuck_pending":
                transfer.update(status="PENDING")
            else:
                transfer.update(status="SUCCESSFUL",
                                financialTransactionId=str(secrets.randbelow(9 * 10**8) + 10**8))
                self.balance -= Decimal(transfer["amount"])
                self.record_payment(
                    reference=reference, transaction_id=transfer["financialTransactionId"],
                    external_id=transfer["externalId"], msisdn=msisdn, amount=transfer["amount"],
                    currency=transfer["currency"], scenario=scenario,
                )
            self.transfers[reference] = transfer
            status_body = self._status_body(transfer)
        callback_url = request.header("x-callback-url")
        if (callback_url and transfer["status"] != "PENDING"
                and scenario not in ("no_callback", "timeout_after_payment")):
            self.send_callback(callback_url, status_body, method=self.callback_method,
                               times=2 if scenario == "duplicate_callback" else 1,
                               delay=(self.late_callback_seconds
                                      if scenario == "delayed_callback" else None))
        if scenario == "timeout_after_payment":
            return SandboxResponse(hang_seconds=self.hang_seconds)
        return SandboxResponse(status=202)

    @staticmethod
    def _transfer_problem(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "The request body must be a JSON object."
        try:
            amount = Decimal(str(body.get("amount")))
        except InvalidOperation:
            return "amount must be a decimal number."
        if not isinstance(body.get("amount"), str) or not amount.is_finite() or amount <= 0:
            return "amount must be a positive decimal string."
        if not isinstance(body.get("currency"), str) or not CURRENCY.match(body["currency"]):
            return "currency must be an ISO 4217 code."
        payee = body.get("payee")
        if not isinstance(payee, dict) or payee.get("partyIdType") != "MSISDN":
            return "payee.partyIdType must be MSISDN."
        if not isinstance(payee.get("partyId"), str) or not MSISDN.match(payee["partyId"]):
            return "payee.partyId must be an MSISDN without a plus sign."
        return None

    @staticmethod
    def _status_body(transfer: dict[str, Any]) -> dict[str, Any]:
        body = {
            "amount": transfer["amount"],
            "currency": transfer["currency"],
            "financialTransactionId": transfer["financialTransactionId"],
            "externalId": transfer["externalId"],
            "payee": dict(transfer["payee"]),
            "payerMessage": transfer["payerMessage"],
            "payeeNote": transfer["payeeNote"],
            "status": transfer["status"],
        }
        if transfer["reason"]:
            body["reason"] = dict(transfer["reason"])
        if body["financialTransactionId"] is None:
            del body["financialTransactionId"]
        return body
