"""One remittance through the public REST API, as a partner's integration would send it."""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from web3 import Web3

from ramps.chain.devchain import token_transfer


class RemittanceError(RuntimeError):
    pass


@dataclass
class RemittanceResult:
    transfer_id: str
    quote: dict
    transfer: dict
    tx_hash: str
    states_seen: list[str] = field(default_factory=list)


def remittance_send(*, base_url: str, api_key: str, w3: Web3, token_address: str,
                    payer_private_key: str, amount: str, recipient_phone: str,
                    timeout: float = 120, echo: Callable[[str], None] = print) -> RemittanceResult:
    session = requests.Session()
    session.headers["Authorization"] = f"Api-Key {api_key}"

    def call(method: str, path: str, **kwargs) -> dict:
        response = session.request(method, f"{base_url}{path}", timeout=15, **kwargs)
        if response.status_code >= 400:
            raise RemittanceError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json()

    quote = call("POST", "/api/v1/quotes", json={
        "amount_in_asset": "USDC:anvil", "amount_in": amount, "amount_out_currency": "KES"})
    echo(f"  quote     {quote['amount_in']} USDC -> {quote['amount_out']} KES "
         f"(rate {quote['rate']}, fee {quote['fee']['total']} USDC, expires {quote['expires_at']})")
    transfer = call("POST", "/api/v1/transfers", headers={"Idempotency-Key": str(uuid.uuid4())},
                    json={"quote_id": quote["id"], "external_id": f"demo-{uuid.uuid4().hex[:8]}",
                          "sender": {"name": "Amina Odhiambo", "country": "GB"},
                          "recipient": {"name": "Joseph Mwangi",
                                        "phone_number": recipient_phone}})
    deposit = transfer["deposit"]
    echo(f"  transfer  {transfer['id']} status={transfer['status']}")
    echo(f"  deposit   send {deposit['amount']} ({deposit['amount_base_units']} base units) of "
         f"{deposit['asset']} to {deposit['address']}")
    tx_hash = token_transfer(w3, token_address, to=deposit["address"],
                             amount_base_units=int(deposit["amount_base_units"]),
                             sender_private_key=payer_private_key)
    echo(f"  on chain  ERC-20 transfer {tx_hash} mined")
    result = RemittanceResult(transfer_id=transfer["id"], quote=quote, transfer=transfer,
                              tx_hash=tx_hash)
    deadline = time.monotonic() + timeout
    last_state = ""
    while time.monotonic() < deadline:
        current = call("GET", f"/api/v1/transfers/{transfer['id']}")
        if current["state"] != last_state:
            last_state = current["state"]
            result.states_seen.append(last_state)
            echo(f"  status    {current['status']:<18} (state {current['state']})")
        result.transfer = current
        if current["status"] in ("completed", "refunded", "expired", "error", "on_hold",
                                 "pending_transaction_info_update"):
            return result
        time.sleep(0.5)
    raise RemittanceError(f"transfer {transfer['id']} still {last_state} after {timeout:.0f}s")
