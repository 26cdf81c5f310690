"""The fault-injection run (``python -m bench.faults --quick``) as a test: one transfer of each
scenario through the whole stack while worker, beat and web are killed with SIGKILL.

Whatever is still stranded, nothing may be paid twice and the ledger must balance. A transfer
left stranded is accepted (as an expected failure, with the reasons) only while every stranding
is one of the dead ends issue 10 lists; any other stranding fails the test.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.faults import LISTED_DEAD_ENDS, scenario_catalog

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e

# One of each kind of trouble (the benchmark's --quick runs 20 scenarios, the full run all 32
# of them, 224 transfers).
SCENARIOS = ("mpesa:success", "mpesa:timeout_after_payment", "mpesa:invalid_recipient",
             "momo:success", "momo:duplicate_callback", "momo:insufficient_float",
             "cash:collected", "underpaid:refund", "overpaid", "sanctions-hold:reject",
             "conversion-rejected", "reorg:drop", "cancelled")


@pytest.mark.timeout(900)
def test_transfers_under_killed_processes_are_paid_at_most_once_and_the_ledger_balances():
    assert set(SCENARIOS) <= {scenario.name for scenario in scenario_catalog()}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the run configures its own processes
    result = subprocess.run(
        [sys.executable, "-m", "bench.faults", "--quick", "--seed", "11",
         "--scenarios", ",".join(SCENARIOS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=840, check=False,
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
    assert figures["final"] + figures["stranded"] == figures["transfers"]
    unlisted = {reason: count for reason, count in figures["stranded_by_dead_end"].items()
                if reason not in LISTED_DEAD_ENDS}
    assert unlisted == {}, output
    # Listed in issue 10 and being fixed: strandings, overpayments kept, and a payout approved
    # after a deep reorg removed the held transfer's deposit.
    listed = (figures["stranded"], figures["overpayments_held"] != "0.000000",
              figures["paid_without_deposit"])
    if any(listed):
        pytest.xfail(f"issue 10's listed dead ends still show: {figures['stranded_by_dead_end']}"
                     f", overpayments held {figures['overpayments_held']} USDC, "
                     f"{figures['paid_without_deposit']} paid without a deposit on chain")
    assert figures["stranded"] == 0
