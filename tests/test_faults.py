"""The fault-injection run (``python -m bench.faults --quick``) as a test: one transfer of each
scenario through the whole stack while worker, beat and web are killed with SIGKILL.

Every transfer ends final, or waits in a state whose named actions can move it on; nothing is
paid twice, nothing is paid without its deposit on chain, every refund is on chain once, no
overpayment is kept and the ledger balances. The run is seeded (scenarios, amounts, kill
moments), and what it proves holds whatever the timing of the kills.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.faults import scenario_catalog

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e

# One of each kind of trouble (the benchmark's --quick runs 20 scenarios, the full run all 32
# of them, 224 transfers).
SCENARIOS = ("mpesa:success", "mpesa:timeout_after_payment", "mpesa:invalid_recipient",
             "mpesa:stuck_pending", "momo:success", "momo:duplicate_callback",
             "momo:insufficient_float", "cash:collected", "underpaid:refund", "overpaid",
             "sanctions-hold:reject", "conversion-rejected", "reorg:drop", "cancelled")


@pytest.mark.timeout(600)
def test_transfers_under_killed_processes_are_paid_at_most_once_and_the_ledger_balances():
    assert set(SCENARIOS) <= {scenario.name for scenario in scenario_catalog()}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the run configures its own processes
    result = subprocess.run(
        [sys.executable, "-m", "bench.faults", "--quick", "--seed", "11",
         "--scenarios", ",".join(SCENARIOS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=540, check=False,
    )
    output = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    figures = json.loads(result.stdout.strip().splitlines()[-1])

    assert figures["transfers"] + figures["refused_at_creation"] == len(SCENARIOS)
    assert figures["kills"] >= 2, output
    assert figures["double_payments"] == 0, output
    assert figures["unknown_payments"] == 0, output
    assert figures["paid_not_completed"] == 0, output
    assert figures["completed_unpaid"] == 0, output
    assert figures["refund_problems"] == 0, output
    assert figures["ledger_imbalance"] == 0, output
    assert figures["stranded_liability"] == 0, output
    assert figures["paid_without_deposit"] == 0, output
    assert figures["overpayments_held"] == "0.000000", output
    assert figures["stranded"] == 0, output
    assert figures["final"] + figures["waiting_on_named_actions"] == figures["transfers"], output
