"""The whole remittance, as `make demo ONCE=1` runs it, on PostgreSQL and Redis.

Real parts only: anvil with the project's ERC-20, the sandbox simulators as their own process,
gunicorn serving the API, a Celery worker and beat as separate processes, the real ccxt client,
the Daraja client with its asynchronous callback, Standard Webhooks verified by a receiver.
"""

import json
import os
import re
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest
import redis

from gateway.demo.stack import free_port_base

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e


@pytest.fixture
def e2e_database():
    """A fresh, empty PostgreSQL database on the server of DATABASE_URL, dropped afterwards."""
    base_url = os.environ["DATABASE_URL"]
    parsed = urlparse(base_url)
    name = f"gateway_e2e_{uuid.uuid4().hex[:10]}"
    admin_url = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield urlunparse(parsed._replace(path=f"/{name}"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def e2e_broker():
    url = os.environ.get("E2E_BROKER_URL", "redis://127.0.0.1:6379/14")
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()


def test_one_remittance_from_chain_deposit_to_mpesa_payout(tmp_path, e2e_database, e2e_broker):
    summary_path = tmp_path / "summary.json"
    env = {
        **os.environ,
        "GATEWAY_DEMO": "1",
        "DATABASE_URL": e2e_database,
        "CELERY_BROKER_URL": e2e_broker,
        "GATEWAY_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "gateway.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--once", "--port-base", str(free_port_base()),
         "--summary-json", str(summary_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "completed"
    assert summary["ledger_balanced"] is True
    assert summary["webhook_verified"] is True
    assert summary["webhook_rejected"] == 0
    assert summary["webhook_statuses"][0] == "pending_sender"
    assert summary["webhook_statuses"][-1] == "completed"
    assert summary["seconds"] < 60
    for marker in ("timeline of transfer", "ledger entries of the transfer", "(balanced)"):
        assert marker in result.stdout
    assert re.search(r"API key +\S+\.\S+", result.stdout), "ONCE mode prints the partner's key"

    transfer_id = summary["transfer_id"]
    with psycopg.connect(e2e_database) as conn:
        states = [row[0] for row in conn.execute(
            "SELECT e.to_state FROM transfers_transferevent e JOIN transfers_transfer t "
            "ON t.id = e.transfer_id WHERE t.public_id = %s ORDER BY e.created_at, e.id",
            (transfer_id,))]
        assert states == ["awaiting_deposit", "deposit_seen", "funded", "approved",
                          "converting", "payout_pending", "completed"]
        attempts = conn.execute(
            "SELECT status FROM payouts_payoutattempt WHERE owner_reference = %s",
            (transfer_id,)).fetchall()
        assert attempts == [("succeeded",)]
        credited = conn.execute(
            "SELECT count(*) FROM chain_deposit WHERE credited_at IS NOT NULL").fetchone()[0]
        assert credited == 1
        entries = [row[0] for row in conn.execute(
            "SELECT reference FROM ledger_journalentry WHERE owner_reference = %s ORDER BY id",
            (transfer_id,))]
        assert entries == [f"transfer:{transfer_id}:funding",
                           f"treasury:{transfer_id}:float-reserve",
                           f"transfer:{transfer_id}:conversion",
                           f"treasury:{transfer_id}:float-committed"]
        unbalanced = conn.execute(
            "SELECT entry_id, currency, sum(amount) FROM ledger_posting "
            "GROUP BY entry_id, currency HAVING sum(amount) <> 0").fetchall()
        assert unbalanced == []
        decision = conn.execute(
            "SELECT d.outcome, d.rules_version, d.list_versions FROM compliance_screeningdecision"
            " d WHERE d.subject_reference = %s", (transfer_id,)).fetchall()
        assert len(decision) == 1
        assert decision[0][0] == "approve"
        assert "ofac-crypto" in decision[0][2]
        paid_out = conn.execute(
            "SELECT amount_out FROM transfers_transfer WHERE public_id = %s",
            (transfer_id,)).fetchone()[0]
        float_movements = dict(conn.execute(
            "SELECT a.code, sum(p.amount) FROM ledger_posting p JOIN ledger_ledgeraccount a "
            "ON a.id = p.account_id JOIN ledger_journalentry j ON j.id = p.entry_id "
            "WHERE a.code LIKE 'assets:float%%' AND j.owner_reference = %s GROUP BY a.code",
            (transfer_id,)).fetchall())
        # Reserved out of the free float, then paid out of the reservation.
        assert float_movements == {"assets:float:mpesa-ke": -paid_out,
                                   "assets:float-reserved:mpesa-ke": Decimal(0)}
        assert paid_out == Decimal(summary["amount_out"])
