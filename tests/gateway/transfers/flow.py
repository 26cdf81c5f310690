"""Helpers of the transfer step tests: transfers on the fixtures' corridor, deposits written as
the chain watcher records them, what a transfer booked and went through.

Deposits are written as the chain watcher would record them; conversion runs on the sandbox
exchange through the real ccxt client; payouts go to the Daraja sandbox, whose result callbacks
are replayed into the gateway's callback endpoint (or posted by the sandbox itself to a live
server).
"""

import json
import secrets
import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from django.db import connection
from django.utils import timezone

from gateway.ledger.models import JournalEntry
from gateway.transfers.models import Transfer
from gateway.transfers.services.payouts import payout_callback_urls
from ramps.chain.models import Chain, Deposit
from ramps.liquidity.models import ConversionOrder
from ramps.payouts.models import PayoutAttempt
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_transfer

CRYPTO_DIR = (Path(__file__).resolve().parents[3] / "compliance" / "data" / "sanctions"
              / "crypto-addresses-2024-09")
PAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
SANCTIONED_PAYER = "0x01e2919679362dFBC9ee1644Ba9C6da6D6245BB1"  # on the OFAC ETH list
RAIL_FLOAT = Decimal("1000000.00")
# Daraja sandbox scenarios by the recipient's last digit: 9 paid, 5 paid with a duplicate result.
PAID = "+254708374149"
PAID_WITH_DUPLICATE_CALLBACK = "+254708374145"


def new_transfer(corridor, *, phone=PAID, **overrides) -> Transfer:
    partner, _ = make_partner()
    return make_transfer(partner=partner, corridor=corridor,
                         recipient={"name": "Joseph Mwangi", "phone_number": phone}, **overrides)


def add_deposit(transfer, *, amount=None, status=Deposit.Status.CONFIRMED, payer=PAYER,
                token=None) -> Deposit:
    return Deposit.objects.create(
        chain=transfer.corridor.token.chain, token=token or transfer.corridor.token,
        deposit_address=transfer.deposit_address, tx_hash="0x" + secrets.token_hex(32),
        log_index=0, block_number=100, block_hash="0x" + secrets.token_hex(32),
        from_address=payer,
        amount=transfer.amount_in_base_units if amount is None else amount, status=status,
        confirmed_at=timezone.now() if status == Deposit.Status.CONFIRMED else None,
    )


def watcher_past_window(transfer) -> None:
    """The chain's watcher has scanned a block stamped after the transfer's deposit window
    (expiry follows chain time, not this server's clock)."""
    Chain.objects.filter(pk=transfer.corridor.token.chain_id).update(
        cursor_block=100, cursor_block_time=Transfer.objects.get(pk=transfer.pk)
        .deposit_expires_at + timedelta(seconds=1))


def entries(transfer) -> list[str]:
    """Journal entries of the transfer, by event name (the transfer's and the treasury's)."""
    prefixes = (f"transfer:{transfer.public_id}:", f"treasury:{transfer.public_id}:")
    names = []
    for reference in JournalEntry.objects.filter(owner_reference=transfer.reference).order_by(
            "id").values_list("reference", flat=True):
        for prefix in prefixes:
            reference = reference.removeprefix(prefix)
        names.append(reference)
    return names


def path(transfer) -> list[tuple[str, str]]:
    return list(transfer.events.order_by("id").values_list("from_state", "to_state"))


def replay(client, request):
    """Post a captured callback to the gateway at the path the sandbox used (which carries the
    rail's callback secret)."""
    body = json.dumps(request.body, default=lambda d: int(d) if d == d.to_integral() else float(d))
    return client.post(request.path, data=body, content_type="application/json")


def result_path(rail_code="mpesa-ke") -> str:
    return urlsplit(payout_callback_urls(rail_code=rail_code)[0]).path


def payments(sandbox, attempt) -> list[dict]:
    return [p for p in sandbox.payments if p["reference"] == attempt.reference]


def assert_nothing_moved_money(transfer) -> None:
    assert not ConversionOrder.objects.filter(reference=transfer.reference).exists()
    assert not PayoutAttempt.objects.filter(owner_reference=transfer.reference).exists()
    # Funding may have reserved float (given back on rejection); nothing was converted or paid.
    assert [e for e in entries(transfer)
            if e not in ("funding", "float-reserve", "float-released")] == []


def run_in_threads(count, work):
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []
    results: list = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(work())
        except BaseException as exc:  # asserted by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results, errors
