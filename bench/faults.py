"""Fault injection over the whole stack: many transfers, processes killed at random, then proof.

``python -m bench.faults`` drives at least 200 transfers (``--quick``: 20, one of each kind)
through the real parts on PostgreSQL and Redis: anvil with the project's ERC-20, the sandbox
simulators in their own process (exchange, Daraja, MoMo), gunicorn, a Celery worker and beat.
The scenarios cover every sandbox scenario of both mobile-money rails, cash pickup (collected
and not), underpayments, overpayments, unpaid transfers, sanctions holds (a listed name),
amount reviews, a conversion the venue rejects and reorgs (a deposit dropped, or moved to
another block, by ``anvil_reorg``). Meanwhile the worker, beat and web processes are killed with
SIGKILL at seeded random moments and restarted.

The run takes the named actions that waiting transfers list (an operator's approve or reject,
a release, settling a payout under review by hand, the agent paying the cash, the pickup
deadline) as soon as a transfer waits on one: once the chaos is over in the full run, while it
goes on with ``--quick``. The chaos lasts until every transfer has been final or waiting on an
action and at least two processes were killed; the run ends as soon as every transfer is final
(or nothing moved for a quiet period with no deadline still to come). A transfer left neither
final nor in a state whose named actions (``states.ACTIONS``, ``HOLD_ACTIONS``) can move it on
is ``stranded``, with its state and reason; one that still waits on such an action is counted
apart (``waiting_on_named_actions``), with the actions listed. Then it checks: at most one
payment per transfer in the sandboxes' own records; every refund on chain exactly once; the
ledger balanced per currency and no liability left on a
final transfer. It prints counts per scenario and end state, then one JSON line.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import hashlib
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import requests

ROOT = Path(__file__).resolve().parents[1]

# Anvil dev accounts: 0 deploys and mints, 2 is the gateway's hot wallet (refunds), 3..8 pay
# ordinary transfers, 9 pays only the transfers whose deposit a shallow reorg removes, one at a
# time, so that dropping a transaction never leaves a later one of the same sender with a nonce
# gap. Each deep-reorg transfer is paid by an account of its own, made for the run.
HOT_WALLET_INDEX = 2
PAYER_INDICES = (3, 4, 5, 6, 7, 8)
REORG_PAYER_INDEX = 9
FRESH_PAYER_BASE = 100  # payers made for the run (one per deep-reorg transfer), after the dev ones
TOKEN_DECIMALS = 6
CONFIRMATIONS = 3
BLOCK_TIME = 1  # seconds between blocks once set up
LISTED_NAME = "Ayman Al Zawahiri"  # an SDN entry of the shipped OFAC list
PROCESS_ROLES = ("worker", "beat", "web")
DRIVE_CONCURRENCY = 4  # transfers being created and paid at the same time

# The dead ends issue 10 lists; a transfer stranded for another reason is a new finding.
DEAD_END_PAYOUT_FAILED = "payout_failed: no correction, retry/reroute or refund"
DEAD_END_UNDERPAID = "underpaid hold: no refund-what-was-paid or accept-lower-amount"
DEAD_END_PRECISION = "amount finer than the venue's step: held at conversion"
DEAD_END_CONVERSION = "rejected conversion: release retries the same rejected order"
DEAD_END_UNCOLLECTED = "uncollected cash: refund_pending, no refund recorded"
DEAD_END_SIGNER = "refund not sent: CHAIN_SIGNER default cannot be imported"
DEAD_END_REORG = "deep reorg hold: neither cleared nor cancelled"
LISTED_DEAD_ENDS = frozenset({DEAD_END_PAYOUT_FAILED, DEAD_END_UNDERPAID, DEAD_END_PRECISION,
                              DEAD_END_CONVERSION, DEAD_END_UNCOLLECTED, DEAD_END_SIGNER,
                              DEAD_END_REORG})
FINAL_STATES = frozenset({"completed", "refunded", "expired", "cancelled"})

RAIL_SCENARIOS = {  # last digit of the recipient number -> the sandboxes' scenario
    "0": "success", "1": "insufficient_float", "2": "invalid_recipient", "3": "provider_error",
    "4": "no_callback", "5": "duplicate_callback", "6": "timeout_after_payment",
    "7": "stuck_pending", "8": "delayed_callback",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    route: str                      # mpesa | momo | cash
    digit: str = "0"                # last digit of the recipient number: the rail scenario
    paid: Decimal = Decimal(1)      # share of the amount the sender pays (0: nothing)
    recipient_name: str = "Joseph Mwangi"
    reject_conversion: bool = False
    reorg: str = ""                 # drop (paid again) | move (other block) | deep (when held)
    cash: str = ""                  # collect | uncollected
    review: bool = False            # amount at the corridor's review threshold
    operator: str = "approve"       # the operator's decision: approve|reject|refund|accept
    cancel: bool = False            # the sender cancels before paying


QUICK = ("mpesa:success", "mpesa:insufficient_float", "mpesa:invalid_recipient",
         "mpesa:provider_error", "mpesa:timeout_after_payment", "mpesa:stuck_pending",
         "mpesa:duplicate_callback", "momo:success", "momo:invalid_recipient", "momo:no_callback",
         "momo:delayed_callback", "cash:collected", "cash:uncollected", "underpaid:refund",
         "underpaid:accept", "overpaid", "sanctions-hold:approve", "sanctions-hold:reject",
         "conversion-rejected", "reorg:drop")


def scenario_catalog() -> list[Scenario]:
    catalog = [Scenario(f"{route}:{name}", route, digit=digit)
               for route in ("mpesa", "momo") for digit, name in RAIL_SCENARIOS.items()]
    return [
        *catalog,
        Scenario("cash:collected", "cash", cash="collect"),
        Scenario("cash:uncollected", "cash", cash="uncollected"),
        Scenario("underpaid:refund", "mpesa", paid=Decimal("0.6"), operator="refund"),
        Scenario("underpaid:accept", "momo", paid=Decimal("0.6"), operator="accept"),
        Scenario("overpaid", "mpesa", paid=Decimal("1.25")),
        Scenario("unpaid", "mpesa", paid=Decimal(0)),
        Scenario("cancelled", "mpesa", paid=Decimal(0), cancel=True),
        Scenario("sanctions-hold:approve", "mpesa", recipient_name=LISTED_NAME),
        Scenario("sanctions-hold:reject", "mpesa", recipient_name=LISTED_NAME,
                 operator="reject"),
        Scenario("amount-review", "momo", review=True),
        Scenario("conversion-rejected", "mpesa", reject_conversion=True),
        Scenario("reorg:drop", "mpesa", reorg="drop"),
        Scenario("reorg:move", "momo", reorg="move"),
        Scenario("reorg:deep-on-hold", "mpesa", recipient_name=LISTED_NAME, reorg="deep"),
    ]


@dataclass
class Plan:
    transfers: int
    seed: int
    pace: tuple[float, float]        # seconds between two new transfers
    kill_every: tuple[float, float]  # seconds between two kills
    down_for: tuple[float, float]    # seconds a killed process stays down
    deposit_window: int              # seconds (TRANSFER_DEPOSIT_WINDOW_SECONDS)
    pickup_window: int               # seconds a cash code can be collected
    settle_timeout: float
    keep: bool = False
    only: tuple[str, ...] = ()       # scenario names (all when empty)
    drive_seconds: float = 0.0       # stop creating transfers after this long (0: no limit)
    # How fast the gateway's own clocks run in this run: seconds of silence before a payout is
    # queried (TRANSFER_STUCK_AFTER_SECONDS), between re-drives, a failed MoMo payout waits for
    # a correction, retryable failures are retried, and a payout stays unsettled at the
    # provider before it is reviewed (the rails' unsettled_review_seconds).
    stuck_after: int = 10
    redrive_every: float = 5.0
    correction_window: int = 20
    retry_deadline: int = 20
    unsettled_review: int = 30
    # How long a queued advance keeps others from being queued for the same transfer
    # (TRANSFER_ADVANCE_QUEUED_SECONDS; 0: the gateway's default): a worker killed with the
    # message in hand leaves the transfer still until then.
    advance_queued: int = 0
    quiet: float = 20.0              # settling stops once nothing moved for this long
    min_kills: int = 2               # the chaos goes on until it has killed this many
    # Whether the listed actions are taken as soon as a transfer waits on one, while processes
    # are still being killed (quick), or only once the chaos is over (the full run).
    act_during_chaos: bool = False

    @classmethod
    def make(cls, *, quick: bool, transfers: int | None, seed: int, keep: bool,
             only: tuple[str, ...] = ()) -> Plan:
        only = only or (QUICK if quick else ())
        catalog = [s for s in scenario_catalog() if not only or s.name in only]
        count = transfers or (len(catalog) if quick else max(200, len(catalog) * 7))
        if quick:  # every clock short: one of each kind through in well under a minute
            return cls(count, seed, (0.05, 0.2), (5.0, 10.0), (0.3, 1.0), 20, 15, 45.0, keep,
                       only, stuck_after=2, redrive_every=2.0, correction_window=8,
                       retry_deadline=8, unsettled_review=10, advance_queued=5, quiet=8.0,
                       act_during_chaos=True)
        return cls(count, seed, (0.3, 0.9), (10.0, 20.0), (0.3, 2.0), 150, 60, 300.0, keep,
                   only)

    def scenarios(self) -> list[Scenario]:
        catalog = [s for s in scenario_catalog() if not self.only or s.name in self.only]
        chosen = [catalog[index % len(catalog)] for index in range(self.transfers)]
        random.Random(self.seed).shuffle(chosen)
        return chosen


@dataclass
class Sent:
    """One transfer the run created, and what it knows about it."""

    scenario: Scenario
    public_id: str
    amount: Decimal
    payer: int
    deposit_address: str
    amount_base_units: int
    tx_hashes: list[str] = field(default_factory=list)
    collected: bool = False
    actions: list[str] = field(default_factory=list)


# --- processes ------------------------------------------------------------------------------


class Chaos:
    """Owns the web, worker and beat processes: starts them, kills one with SIGKILL at seeded
    random moments, restarts it after a short outage."""

    def __init__(self, stack: Any, *, web_port: int, rng: random.Random, plan: Plan,
                 say: Any = None) -> None:
        self.stack = stack
        self.say = say or (lambda text: None)
        self.web_port = web_port
        self.rng = rng
        self.plan = plan
        self.kills: Counter[str] = Counter()
        self.starts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.errors: list[str] = []

    def _live(self, role: str) -> list[Any]:
        return [child for child in self.stack.children
                if child.name.split(".")[0] == role and child.process.poll() is None]

    def start(self, role: str) -> None:
        from gateway.demo.stack import beat_start, web_start, worker_start

        number = self.starts[role]
        name = role if number == 0 else f"{role}.{number}"
        self.starts[role] += 1
        if role == "web":
            # Up once the project answers (an unauthenticated call: 401), not once the schema is
            # built: a restart after a kill costs less of the machine's time.
            web_start(self.stack, port=self.web_port, name=name, timeout=180,
                      ready_path="/api/v1/info", ready_statuses=(401,))
        elif role == "worker":
            worker_start(self.stack, name=name)
        else:
            beat_start(self.stack, name=name)

    def kill(self, role: str) -> None:
        for child in self._live(role):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)  # the whole group: gunicorn's
            child.process.wait(timeout=10)                     # and Celery's children too
            self.stack.children.remove(child)
        self.kills[role] += 1
        self.say(f"killed {role} (SIGKILL)")

    def ensure_up(self) -> None:
        with self.lock:
            for role in PROCESS_ROLES:
                for child in [c for c in self.stack.children
                              if c.name.split(".")[0] == role and c.process.poll() is not None]:
                    self.stack.children.remove(child)  # died by itself: noted, restarted
                    self.errors.append(f"{child.name} exited with {child.process.returncode}")
                if not self._live(role):
                    self.start(role)

    def run(self) -> None:
        while not self.stop_event.wait(self.rng.uniform(*self.plan.kill_every)):
            role = self.rng.choice(PROCESS_ROLES)
            down = self.rng.uniform(*self.plan.down_for)
            try:
                with self.lock:
                    self.kill(role)
                if self.stop_event.wait(down):
                    break
                started = time.monotonic()
                self.ensure_up()
                self.say(f"{role} restarted in {time.monotonic() - started:.1f}s")
            except Exception as exc:  # reported; the run goes on
                self.errors.append(f"restart of {role} failed: {exc}")
        self.ensure_up()

    def begin(self) -> None:
        self.thread = threading.Thread(target=self.run, name="chaos", daemon=True)
        self.thread.start()

    def end(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=120)
        self.ensure_up()


# --- the partner's side: API calls that survive a dead web process ---------------------------


class Api:
    def __init__(self, base_url: str, api_key: str, *, patience: float = 240.0) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.local = threading.local()  # a session per sender thread
        self.patience = patience
        self.retries = 0
        self.in_flight = 0  # 409: a claim left by a request the killed web process never answered

    def session(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
            session.headers["Authorization"] = f"Api-Key {self.api_key}"
        return session

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Retries while the server is down or the same request is still in flight."""
        deadline = time.monotonic() + self.patience
        while True:
            in_flight = False
            try:
                response = self.session().request(method, self.base_url + path, timeout=15,
                                                  **kwargs)
                in_flight = (response.status_code == 409
                             and "idempotency-request-in-flight" in response.text)
                if response.status_code not in (409, 502, 503, 504) or (
                        response.status_code == 409 and not in_flight):
                    return response
                self.in_flight += in_flight
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {path}: no answer within {self.patience:.0f}s")
            self.retries += 1
            time.sleep(2.0 if in_flight else 0.3)


# --- chain ----------------------------------------------------------------------------------


class ChainDriver:
    def __init__(self, anvil: Any, token: str) -> None:
        from ramps.chain.devchain import dev_private_key

        self.anvil = anvil
        self.w3 = anvil.w3
        self.token = token
        self.keys = {index: dev_private_key(index)
                     for index in (*PAYER_INDICES, REORG_PAYER_INDEX,
                                   HOT_WALLET_INDEX)}
        self.reorgs: Counter[str] = Counter()
        # One change to the chain at a time: a payment's nonce, a reorg's blocks.
        self.lock = threading.RLock()

    def address(self, index: int) -> str:
        from eth_account import Account

        return Account.from_key(self.keys[index]).address

    def fresh_payers(self, count: int, *, tokens: int) -> list[int]:
        """``count`` new accounts holding ``tokens`` base units and gas, each to make one
        payment: a deep reorg can drop that payment without leaving a nonce gap under another,
        so such payments need not wait for each other. Run while anvil mines every transaction
        at once."""
        from eth_account import Account

        from ramps.chain.devchain import token_mint

        indices = []
        for number in range(count):
            index = FRESH_PAYER_BASE + number
            account = Account.create()
            self.keys[index] = account.key.to_0x_hex()
            self.w3.provider.make_request("anvil_setBalance", [account.address, hex(10**19)])
            token_mint(self.w3, self.token, account.address, tokens)
            indices.append(index)
        return indices

    def pay(self, payer_index: int, to: str, amount_base_units: int) -> str:
        from ramps.chain.devchain import token_transfer

        with self.lock:
            return token_transfer(self.w3, self.token, to=to,
                                  amount_base_units=amount_base_units,
                                  sender_private_key=self.keys[payer_index], wait=False)

    def receipt(self, tx_hash: str, timeout: float = 30.0) -> Any:
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout,
                                                        poll_latency=0.1)

    def mined(self, tx_hash: str) -> bool:
        """Whether the transaction is in the canonical chain now, and succeeded."""
        from web3.exceptions import TransactionNotFound

        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
        except TransactionNotFound:
            return False

    def reorg(self, victim: str, *, move: bool) -> bool:
        """Replace the blocks from the victim's block to the head: every other transaction is
        mined again (same raw bytes, same hash); the victim is dropped or moved one block on.
        Returns whether it did (not when the victim never got mined)."""
        from web3.exceptions import TimeExhausted, TransactionNotFound

        try:
            self.receipt(victim)
        except TimeExhausted:
            return False
        with self.lock:  # the victim's block read again under the lock: another reorg may
            try:         # have moved it meanwhile
                block = self.w3.eth.get_transaction_receipt(victim)["blockNumber"]
            except TransactionNotFound:
                return False
            return self._reorg(victim, block, move=move)

    def _mempool_empty(self, timeout: float = 10.0) -> None:
        """Wait (under the lock: nobody sends meanwhile) until every sent transaction is in a
        block: a reorg must not lose a payment still waiting in anvil's pool."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.w3.provider.make_request("txpool_status", []).get("result") or {}
            if int(status.get("pending", "0x0"), 16) + int(status.get("queued", "0x0"), 16) == 0:
                return
            time.sleep(0.2)

    def _reorg(self, victim: str, block: int, *, move: bool) -> bool:
        self._mempool_empty()
        old_hash = self.w3.eth.get_block(block)["hash"]
        head = self.w3.eth.block_number
        depth = head - block + 1
        included: list[list[Any]] = []
        for offset, number in enumerate(range(block, head + 1)):
            for tx in self.w3.eth.get_block(number)["transactions"]:
                tx_hash = tx.to_0x_hex()
                raw = self.w3.provider.make_request("eth_getRawTransactionByHash",
                                                    [tx_hash])["result"]
                if tx_hash == victim:
                    if move:
                        included.append([raw, min(offset + 1, depth - 1)])
                    continue
                included.append([raw, offset])
        response = self.w3.provider.make_request("anvil_reorg", [depth, included])
        if "error" in response:
            return False
        after = (self.w3.eth.get_transaction_receipt(victim) if self.mined(victim)
                 else None)
        done = (after is not None and self.w3.eth.get_block(after["blockNumber"])["hash"]
                != old_hash) if move else after is None
        if done:
            self.reorgs["move" if move else "drop"] += 1
        return done


# --- the run --------------------------------------------------------------------------------


@dataclass
class Outcome:
    figures: dict[str, Any]
    by_scenario: dict[str, Counter]
    stranded: list[dict[str, Any]]


def _database_url_for(name: str) -> str:
    parsed = urlparse(os.environ.get("DATABASE_URL",
                                     "postgres://postgres@127.0.0.1:5432/gateway"))
    return urlunparse(parsed._replace(path=f"/{name}"))


def _admin_execute(statement: str) -> None:
    import psycopg

    with psycopg.connect(_database_url_for("postgres"), autocommit=True) as admin:
        admin.execute(statement)


def _migrations_fingerprint() -> str:
    digest = hashlib.sha256()
    for top in ("gateway", "ramps", "compliance"):
        for path in sorted((ROOT / top).glob("**/migrations/*.py")):
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def database_create(name: str) -> bool:
    """Create the run's database from a migrated template when one exists for the current
    migrations (True), else empty (False: the caller migrates and calls ``template_save``)."""
    import psycopg

    template = f"gw_faults_tpl_{_migrations_fingerprint()}"
    with psycopg.connect(_database_url_for("postgres"), autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                         (template,)).fetchone():
            try:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                return True
            except psycopg.Error:
                pass  # the template is in use by a concurrent run: migrate instead
        admin.execute(f'CREATE DATABASE "{name}"')
    return False


def template_save(name: str) -> None:
    """Keep the freshly migrated database as the template of later runs (older ones go)."""
    import psycopg

    template = f"gw_faults_tpl_{_migrations_fingerprint()}"
    with psycopg.connect(_database_url_for("postgres"), autocommit=True) as admin:
        for (old,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE "
                                    "'gw\\_faults\\_tpl\\_%%' AND datname <> %s",
                                    (template,)).fetchall():
            with contextlib.suppress(psycopg.Error):
                admin.execute(f'DROP DATABASE "{old}"')
        with contextlib.suppress(psycopg.Error):
            admin.execute(f'CREATE DATABASE "{template}" TEMPLATE "{name}"')


def _amount(rng: random.Random, scenario: Scenario) -> Decimal:
    if scenario.review:
        return Decimal("150.00")
    low, high = {"mpesa": (5, 120), "momo": (3, 25), "cash": (5, 60)}[scenario.route]
    return Decimal(rng.randint(low * 100, high * 100)) / 100


def _phone(rng: random.Random, scenario: Scenario) -> str:
    digits = "".join(str(rng.randrange(10)) for _ in range(6))
    if scenario.route == "mpesa":
        return f"+25471{digits}{scenario.digit}"
    if scenario.route == "momo":
        return f"+25677{digits}{scenario.digit}"
    return f"+234803{digits}{rng.randrange(10)}"


class FaultRun:
    def __init__(self, plan: Plan, *, echo: Any = print) -> None:
        self.plan = plan
        self.echo = echo
        self.rng = random.Random(plan.seed)
        self.sent: list[Sent] = []
        self.refused: Counter[str] = Counter()
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.driver_errors: list[str] = []  # a sender's own failure (the chain, say)
        self.database = f"gw_faults_run_{uuid.uuid4().hex[:8]}"
        self.var_dir = Path(tempfile.mkdtemp(prefix="gateway-faults-"))

    def say(self, text: str) -> None:
        self.echo(f"[{time.monotonic() - self.started:6.1f}s] {text}")

    # -- set-up ----------------------------------------------------------------------------

    def environment(self, ports: dict[str, int]) -> dict[str, str]:
        from eth_account import Account

        from ramps.chain.devchain import dev_private_key

        keystore = self.var_dir / "hot-wallet.json"
        password = uuid.uuid4().hex
        keystore.write_text(json.dumps(Account.encrypt(
            dev_private_key(HOT_WALLET_INDEX), password, kdf="pbkdf2", iterations=2)))
        return {
            "GATEWAY_DEMO": "1",
            "DJANGO_SETTINGS_MODULE": "gateway.settings",
            "DATABASE_URL": _database_url_for(self.database),
            "CELERY_BROKER_URL": os.environ.get("E2E_BROKER_URL", "redis://127.0.0.1:6379/14"),
            "GATEWAY_VAR_DIR": str(self.var_dir),
            "GATEWAY_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['web']}",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
            "CHAIN_POLL_SECONDS": "1" if self.plan.redrive_every < 5 else "2",
            "TRANSFER_REDRIVE_SECONDS": str(self.plan.redrive_every),
            "TRANSFER_STUCK_AFTER_SECONDS": str(self.plan.stuck_after),
            "TRANSFER_DEPOSIT_WINDOW_SECONDS": str(self.plan.deposit_window),
            **({"TRANSFER_ADVANCE_QUEUED_SECONDS": str(self.plan.advance_queued)}
               if self.plan.advance_queued else {}),
            "OUTBOUND_HTTP_TIMEOUT_SECONDS": "5",
            "CHAIN_SIGNER_KEYSTORE_PATH": str(keystore),
            "CHAIN_SIGNER_KEYSTORE_PASSWORD": password,
            "LOG_LEVEL": "INFO",
        }

    def setup(self) -> None:
        from gateway.demo.stack import Stack, free_port_base, sandbox_spawn, sandbox_wait

        base = free_port_base()
        self.ports = {"web": base, "anvil": base + 1, "exchange": base + 2, "daraja": base + 3,
                      "momo": base + 4, "webhooks": base + 5, "bitso": base + 6}
        env = self.environment(self.ports)
        os.environ.update(env)
        self.stack = Stack(var_dir=self.var_dir, env={**os.environ})
        # The sandboxes need no database: they import the project while it is made.
        sandbox_spawn(self.stack, ports=self.ports)
        import redis

        redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
        migrated = database_create(self.database)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        if not migrated:
            self.say(f"database {self.database}: migrating (kept as a template for next runs)")
            call_command("migrate", interactive=False, verbosity=0)
            connections.close_all()
            template_save(self.database)
        self.chaos = Chaos(self.stack, web_port=self.ports["web"], rng=random.Random(
            self.plan.seed + 1), plan=self.plan, say=self.say)
        # Web, worker and beat need only the migrated database to start: they come up (each
        # imports the project) while anvil and the stablecoin are set up.
        self.say("web, worker, beat starting (sandboxes already); anvil, stablecoin")
        starting = threading.Thread(target=self.chaos.ensure_up, name="processes", daemon=True)
        starting.start()
        self.chain_start()
        self.say("anvil and the stablecoin ready")
        self.sandboxes = sandbox_wait(self.stack)
        self.say("sandboxes ready")
        self.say("seeding corridors (M-Pesa KES, MoMo UGX, cash pickup NGN), lists, floats")
        self.seed()
        starting.join()
        if self.chaos.errors:
            raise RuntimeError(f"processes did not start: {self.chaos.errors}")
        self.say("web, worker and beat up")
        self.api = Api(f"http://127.0.0.1:{self.ports['web']}", self.api_key)

    def chain_start(self) -> None:
        from ramps.chain.devchain import AnvilProcess, token_deploy, token_mint

        # Automine while setting up (each transaction mined at once), then a block a second.
        self.anvil = AnvilProcess(port=self.ports["anvil"]).start()
        w3 = self.anvil.w3
        token = token_deploy(w3, deployer=w3.eth.accounts[0], name="USD Coin (local)",
                             symbol="USDC", decimals=TOKEN_DECIMALS)
        for index in (*PAYER_INDICES, REORG_PAYER_INDEX,
                      HOT_WALLET_INDEX):
            token_mint(w3, token, w3.eth.accounts[index], 10_000_000 * 10**TOKEN_DECIMALS)
        self.chain = ChainDriver(self.anvil, token)
        deep = sum(1 for scenario in self.plan.scenarios() if scenario.reorg == "deep")
        self.deep_payers = self.chain.fresh_payers(deep, tokens=10_000 * 10**TOKEN_DECIMALS)
        w3.provider.make_request("evm_setIntervalMining", [int(BLOCK_TIME)])
        w3.provider.make_request("evm_setAutomine", [False])

    def seed(self) -> None:
        from django.db import transaction

        from gateway.demo.seed import demo_seed
        from gateway.demo.webhook_receiver import WebhookReceiver
        from gateway.ledger.models import LedgerAccount
        from gateway.ledger.services import credit, debit, ledger_entry_post
        from gateway.transfers.models import Corridor
        from ramps.payouts.agents.models import (
            Agent,
            AgentNetwork,
            AgentNetworkAPIKey,
            CashPickupCorridor,
        )
        from ramps.payouts.agents.services import agent_float_top_up
        from ramps.payouts.models import Rail

        kind = LedgerAccount.Kind
        self.receiver = WebhookReceiver(secret="whsec_" + "A" * 43, port=self.ports["webhooks"])
        seed = demo_seed(chain_id=self.anvil.chain_id, rpc_url=self.anvil.rpc_url,
                         token_address=self.chain.token, token_decimals=TOKEN_DECIMALS,
                         sandboxes=self.sandboxes, webhook_url=self.receiver.url,
                         confirmations=CONFIRMATIONS)
        self.receiver.secret = seed.webhook_secret
        self.receiver.start()
        self.api_key = seed.api_key
        mpesa = Corridor.objects.select_related("token", "venue", "rail").get(
            code=seed.corridor_code)
        momo = self.sandboxes["momo"]
        with transaction.atomic():
            Rail.objects.filter(pk=mpesa.rail.pk).update(
                retry_backoff_seconds=2, retry_deadline_seconds=self.plan.retry_deadline,
                unsettled_review_seconds=self.plan.unsettled_review)
            momo_rail = Rail.objects.create(
                code="momo-ug", kind=Rail.Kind.MOMO_DISBURSEMENT, country="UG", currency="UGX",
                base_url=momo["base_url"], credentials=momo["credentials"],
                min_amount=Decimal("500"), max_amount=Decimal("5000000"), amount_exponent=0,
                retry_backoff_seconds=2, retry_deadline_seconds=self.plan.retry_deadline,
                unsettled_review_seconds=self.plan.unsettled_review,
            )
            common = {"token": mpesa.token, "venue": mpesa.venue, "fee_fixed": mpesa.fee_fixed,
                      "fee_rate": mpesa.fee_rate, "margin_rate": mpesa.margin_rate,
                      "min_amount_in": Decimal("1"), "max_amount_in": Decimal("10000")}
            # A failed MoMo payout waits a while for a correction, then the driver refunds it.
            Corridor.objects.create(
                code="usdc-anvil-ugx-momo", currency_out="UGX", rail=momo_rail,
                venue_symbol="USDC/UGX", review_amount_in=Decimal("100"),
                correction_window=timedelta(seconds=self.plan.correction_window), **common)
            cash = Corridor.objects.create(
                code="usdc-anvil-ngn-cash", currency_out="NGN",
                payout_method=Corridor.PayoutMethod.CASH_PICKUP, venue_symbol="USDC/NGN",
                review_amount_in=Decimal("5000"), **common)
            ledger_entry_post(
                reference="seed:float:momo-ug", description="Opening float on MoMo",
                legs=[debit("assets:float:momo-ug", "UGX", Decimal("10000000"), kind=kind.ASSET,
                            floor=True),
                      credit("equity:opening-balances", "UGX", Decimal("10000000"),
                             kind=kind.EQUITY)])
            network = AgentNetwork.objects.create(code="faults-cash", name="Faults Cash Agents")
            CashPickupCorridor.objects.create(
                corridor=cash, network=network, pickup_window_seconds=self.plan.pickup_window,
                uncollected_action=CashPickupCorridor.UncollectedAction.REFUND)
            self.agent = Agent.objects.create(
                network=network, code="lagos-1", name="Lagos One", location="Broad St 1, Lagos",
                country="NG", currency="NGN", timezone="Africa/Lagos",
                limit_per_payout=Decimal("100000000"), limit_per_day=Decimal("1000000000"),
                commission_fixed=Decimal("100.00"), commission_rate=Decimal("0.005"))
            agent_float_top_up(agent=self.agent, amount="500000000", reference="opening")
            _, self.network_key = AgentNetworkAPIKey.objects.create_key(network=network,
                                                                        name="faults")

    # -- driving ---------------------------------------------------------------------------

    def create(self, scenario: Scenario, payer: int, amount: Decimal, phone: str,
               index: int) -> Sent | None:
        currency = {"mpesa": "KES", "momo": "UGX", "cash": "NGN"}[scenario.route]
        request = {"amount_in_asset": "USDC:anvil", "amount_in": str(amount),
                   "amount_out_currency": currency}
        if scenario.route != "cash":  # checked against the rail's rules before money moves
            request["recipient_phone_number"] = phone
        quote = self.api.call("POST", "/api/v1/quotes", json=request)
        if quote.status_code != 201:
            with self.lock:
                self.refused[f"{scenario.name}: quote {quote.status_code}"] += 1
            return None
        body = {"quote_id": quote.json()["id"], "external_id": f"faults-{index}",
                "sender": {"name": "Amina Odhiambo", "country": "GB"},
                "recipient": {"name": scenario.recipient_name, "phone_number": phone}}
        if index % 2:  # half name where refunds go; the others leave it to the payer
            body["refund_address"] = self.chain.address(payer)
        created = self.api.call("POST", "/api/v1/transfers",
                                headers={"Idempotency-Key": str(uuid.uuid4())}, json=body)
        if created.status_code != 201:
            with self.lock:
                self.refused[f"{scenario.name}: transfer {created.status_code}"] += 1
            return None
        answer = created.json()
        return Sent(scenario=scenario, public_id=answer["id"], amount=amount, payer=payer,
                    deposit_address=answer["deposit"]["address"],
                    amount_base_units=int(answer["deposit"]["amount_base_units"]))

    def fund(self, sent: Sent) -> None:
        scenario = sent.scenario
        units = int((Decimal(sent.amount_base_units) * scenario.paid).to_integral_value(
            rounding=ROUND_DOWN))
        if scenario.cancel:
            response = self.api.call("POST", f"/api/v1/transfers/{sent.public_id}/cancel",
                                     headers={"Idempotency-Key": str(uuid.uuid4())})
            sent.actions.append(f"sender cancelled ({response.status_code})")
        if units <= 0:
            return
        if scenario.reject_conversion:
            requests.post(self.sandboxes["exchange"]["base_url"] + "/_sandbox/control",
                          json={"action": "reject_next_order",
                                "error_code": "ErrInsufficientBalance"}, timeout=5)
        payer = sent.payer
        sent.tx_hashes.append(self.chain.pay(payer, sent.deposit_address, units))
        if scenario.reorg == "deep":
            # Its own payer: the reorg waits for the hold in the background, the drive goes on.
            waiting = threading.Thread(target=self.deep_reorg, args=(sent,),
                                       name=f"deep-reorg-{sent.public_id[:8]}", daemon=True)
            with self.lock:
                self.deep_waits.append(waiting)
            waiting.start()
        elif scenario.reorg:
            self.reorg(sent, payer, units)

    def deep_reorg(self, sent: Sent, timeout: float = 600.0) -> None:
        """Once the transfer is held (its deposit final and credited), a reorg deeper than the
        chain's confirmations removes that deposit; nobody pays it again. Every other
        transaction in the reorged blocks is mined again (the payer made no other payment)."""
        from django.db import connection

        try:
            self._deep_reorg(sent, timeout)
        except Exception as exc:  # reported; the run goes on
            self.say(f"deep reorg of {sent.public_id} failed: {exc}")
        finally:
            connection.close()

    def _deep_reorg(self, sent: Sent, timeout: float) -> None:
        from gateway.transfers.models import Transfer

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = Transfer.objects.filter(public_id=sent.public_id).values_list(
                "state", flat=True).first()
            if state == "on_hold":
                if self.chain.reorg(sent.tx_hashes[-1], move=False):
                    sent.actions.append("deposit removed by a deep reorg while held")
                return
            if state not in ("awaiting_deposit", "deposit_seen", "funded"):
                break
            time.sleep(0.5)
        self.say(f"deep reorg skipped: {sent.scenario.name} never got to on_hold")

    def reorg(self, sent: Sent, payer: int, units: int) -> None:
        """Wait until the watcher has seen the deposit (or it is two blocks deep), then remove
        it from the chain; a dropped deposit is paid again, as a sender would."""
        from ramps.chain.models import Deposit

        victim = sent.tx_hashes[-1]
        block = self.chain.receipt(victim)["blockNumber"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if Deposit.objects.filter(tx_hash__iexact=victim).exists():
                break
            if self.chain.w3.eth.block_number - block + 1 >= CONFIRMATIONS - 1:
                break
            time.sleep(0.1)
        move = sent.scenario.reorg == "move"
        for _ in range(3):
            if self.chain.reorg(victim, move=move):
                break
        else:
            self.say(f"reorg of {victim} did not take")
        if not move:
            sent.tx_hashes.append(self.chain.pay(payer, sent.deposit_address, units))

    def collect_cash(self, *, deadline_reached: bool = False) -> None:
        """The agent pays the codes of 'collected' transfers; past their pickup window the
        others meet the corridor's deadline rule (the beat's sweep, run here at once)."""
        from gateway.transfers.models import Transfer
        from ramps.payouts.agents.services import (
            redemption_uncollected_handle,
            redemptions_uncollected,
        )

        waiting = {s.public_id: s for s in self.sent
                   if s.scenario.cash == "collect" and not s.collected}
        if waiting:
            ready = Transfer.objects.filter(public_id__in=list(waiting), state="payout_pending")
            for public_id in ready.values_list("public_id", flat=True):
                self.collect(waiting[str(public_id)])
        for redemption_id in redemptions_uncollected():
            redemption_uncollected_handle(redemption_id=redemption_id)

    def collect(self, sent: Sent) -> None:
        pickup = self.api.call("GET", f"/api/v1/transfers/{sent.public_id}/cash-pickup")
        code = pickup.json().get("code") if pickup.status_code == 200 else None
        if not code:
            return
        response = self.api.call(
            "POST", "/api/v1/agent-network/redemptions/confirm",
            headers={"Authorization": f"Api-Key {self.network_key}"},
            json={"agent": self.agent.code, "code": code, "id_document_type": "national_id",
                  "id_document_number": "A1234567", "operator": "till-1"})
        if response.status_code in (200, 201):
            sent.collected = True
            sent.actions.append("agent paid the cash")

    def drive(self) -> None:
        scenarios = self.plan.scenarios()
        self.say(f"driving {len(scenarios)} transfers while killing processes "
                 f"(seed {self.plan.seed})")
        self.chaos.begin()
        self.deep_waits: list[threading.Thread] = []
        deep_payers = iter(self.deep_payers)
        # Senders act at once, as they would: up to DRIVE_CONCURRENCY transfers are being
        # created and paid at the same time. Every seeded choice (amount, number, payer, pace)
        # is drawn here, in order, so the run is the same whatever the threads' timing.
        payer_locks = {index: threading.Lock() for index in (
            *PAYER_INDICES, REORG_PAYER_INDEX, *self.deep_payers)}

        def one(scenario: Scenario, payer: int, amount: Decimal, phone: str,
                index: int) -> None:
            try:
                sent = self.create(scenario, payer, amount, phone, index)
                if sent is None:
                    return
                with self.lock:
                    self.sent.append(sent)
                # One payment of a payer at a time (nonces); a reorg scenario's payer stays
                # taken until its reorg is done, so no later payment of it is dropped with it.
                with payer_locks[payer]:
                    self.fund(sent)
            except Exception as exc:  # counted and shown; the run goes on with the others
                with self.lock:
                    self.driver_errors.append(f"{scenario.name} #{index}: {exc!r}"[:300])
            finally:
                from django.db import connection

                connection.close()

        next_at = time.monotonic()
        drive_started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(DRIVE_CONCURRENCY,
                                                   thread_name_prefix="sender") as senders:
            futures = []
            for index, scenario in enumerate(scenarios):
                if self.plan.drive_seconds and (time.monotonic() - drive_started
                                                > self.plan.drive_seconds):
                    self.say(f"time budget of {self.plan.drive_seconds:.0f}s for driving spent")
                    break
                while time.monotonic() < next_at:
                    time.sleep(0.05)
                payer = (next(deep_payers) if scenario.reorg == "deep" else REORG_PAYER_INDEX
                         if scenario.reorg else self.rng.choice(PAYER_INDICES))
                amount, phone = _amount(self.rng, scenario), _phone(self.rng, scenario)
                futures.append(senders.submit(one, scenario, payer, amount, phone, index))
                if index % 10 == 9:
                    self.collect_cash()
                next_at = time.monotonic() + self.rng.uniform(*self.plan.pace)
            for future in futures:
                future.result()
        for waiting in list(self.deep_waits):
            waiting.join(timeout=max(1.0, 600 - (time.monotonic() - drive_started)))
        self.say(f"{len(self.sent)} transfers created ({sum(self.refused.values())} refused); "
                 f"kills so far {dict(self.chaos.kills)}")

    # -- settling and the listed actions -------------------------------------------------------

    def states(self) -> dict[str, Any]:
        from gateway.transfers.models import Transfer

        return {str(t.public_id): t for t in Transfer.objects.filter(
            public_id__in=[s.public_id for s in self.sent]).select_related(
            "compliance_decision", "corridor")}

    def waiting_for_action(self, transfer: Any, sent: Sent) -> bool:
        from gateway.transfers.models import HoldKind
        from gateway.transfers.services.holds import holds_standing

        if transfer.state in FINAL_STATES or transfer.state in ("payout_failed", "payout_review"):
            return True
        if transfer.state == "on_hold":  # a float hold ends by itself once topped up
            return set(holds_standing(transfer)) != {HoldKind.FLOAT}
        return transfer.state == "payout_pending" and sent.scenario.route == "cash"

    def finish(self, timeout: float) -> None:
        """Settle and take the listed actions until every transfer is final, or nothing can
        move any more, or ``timeout`` (twice that once the chaos is over).

        While the chaos goes on, the run waits until every transfer has been final or waiting on
        an action (as at the end of the first settling before, whether or not an action has
        moved it on since), and the chaos has killed ``plan.min_kills`` processes (or nothing
        moved for ``plan.quiet`` seconds, or ``timeout``); then the chaos ends. Each
        round (about a second) the agent pays the codes that are ready, deadlines past their
        time are met, and (once the chaos is over, or all along with ``plan.act_during_chaos``)
        each waiting transfer gets its action as soon as it waits on one, not in rounds after
        the whole run has settled. The run ends as soon as every transfer is final; otherwise
        once nothing moved for ``plan.quiet`` seconds while no deadline (a deposit window, a
        pickup window, a MoMo correction window) is still to come.
        """
        from django.utils import timezone

        from ramps.payouts.agents.models import Redemption

        plan = self.plan
        deadline = time.monotonic() + timeout
        by_id = {s.public_id: s for s in self.sent}
        last_seen: dict[str, str] = {}
        last_change = time.monotonic()
        reached: set[str] = set()  # transfers seen final or waiting on an action
        pause = 0.5 if len(self.sent) <= 50 else 1.0
        # Once the chaos is over, a transfer whose queued advance a kill lost moves again when
        # the re-drive finds it: the quiet period outlasts that.
        from django.conf import settings

        recovery = (plan.advance_queued or settings.TRANSFER_ADVANCE_QUEUED_SECONDS) + (
            plan.stuck_after + 2 * plan.redrive_every)
        quiet_after = max(plan.quiet, recovery)
        while True:
            chaos_on = not self.chaos.stop_event.is_set()
            self.collect_cash()
            current = self.states()
            if chaos_on:  # before the actions move any of them on
                reached.update(pid for pid, t in current.items()
                               if self.waiting_for_action(t, by_id[pid]))
            if (not chaos_on or plan.act_during_chaos) and self.act():
                last_change = time.monotonic()
                current = self.states()
            seen = {pid: t.state for pid, t in current.items()}
            if seen != last_seen:
                if os.environ.get("FAULTS_TRACE"):  # each change of state, as it is seen
                    self.say("moved: " + ", ".join(
                        f"{by_id[pid].scenario.name}={state}" for pid, state in sorted(
                            seen.items(), key=lambda item: by_id[item[0]].scenario.name)
                        if state != last_seen.get(pid)))
                last_seen, last_change = seen, time.monotonic()
            now = timezone.now()
            # Deadlines still to come: nothing moves until they pass.
            to_come = any(t.state in ("awaiting_deposit", "deposit_seen")
                          and t.deposit_expires_at > now for t in current.values())
            still = not to_come and time.monotonic() - last_change > plan.quiet
            if chaos_on:
                waiting = reached >= set(current)
                enough = sum(self.chaos.kills.values()) >= plan.min_kills
                if (waiting and enough) or still or time.monotonic() > deadline:
                    counts = Counter(t.state for t in current.values())
                    moving = sum(1 for pid, t in current.items()
                                 if not self.waiting_for_action(t, by_id[pid]))
                    self.say(f"settled under chaos: {dict(sorted(counts.items()))}"
                             + (f"; {moving} still moving" if moving else ""))
                    self.chaos.end()
                    deadline = time.monotonic() + 2 * timeout
                    self.say(f"processes killed: {dict(self.chaos.kills)}; chaos over"
                             + ("" if plan.act_during_chaos else "; taking the listed actions"))
                    last_change = time.monotonic()
                    continue
            else:
                if all(t.state in FINAL_STATES for t in current.values()):
                    counts = Counter(t.state for t in current.values())
                    self.say(f"all final: {dict(sorted(counts.items()))}")
                    return
                to_come = to_come or Redemption.objects.filter(
                    status=Redemption.Status.ISSUED,
                    expires_at__gt=now - timedelta(seconds=2 * plan.redrive_every)).exists()
                to_come = to_come or any(
                    t.state == "payout_failed" and by_id[pid].scenario.route == "momo"
                    and t.updated_at > now - timedelta(seconds=plan.correction_window
                                                       + 2 * plan.redrive_every + 5)
                    for pid, t in current.items())
                if not to_come and time.monotonic() - last_change > quiet_after:
                    counts = Counter(t.state for t in current.values())
                    self.say(f"nothing moved for {quiet_after:.0f}s: "
                             f"{dict(sorted(counts.items()))}")
                    return
            if time.monotonic() > deadline:
                counts = Counter(t.state for t in current.values())
                self.say(f"settling timed out: {dict(sorted(counts.items()))}")
                return
            time.sleep(pause)

    def act(self) -> int:
        """Take the action each waiting transfer lists (what an operator, the sender or the
        agent does); returns how many were taken. Each action is taken once per transfer."""
        from django.contrib.auth import get_user_model

        from gateway.common.problems import DomainError
        from gateway.transfers.models import HoldKind
        from gateway.transfers.services.actions import (
            operator_decide,
            transfer_funding_lost,
            transfer_payout_refund,
            transfer_payout_settle,
            transfer_reorg_clear,
            transfer_underpaid_accept,
            transfer_underpaid_refund,
        )
        from gateway.transfers.services.conversion import transfer_release_hold
        from gateway.transfers.services.holds import holds_standing
        from gateway.transfers.services.payouts import (
            transfer_payout_correct,
            transfer_payout_retry,
        )

        def once(sent: Sent, label: str, action: Any, **arguments: Any) -> int:
            if label in sent.actions:
                return 0
            try:
                action(transfer_id=transfer.pk, **arguments)
            except DomainError as exc:  # may be taken in a later round
                refused = f"{label} refused: {exc.detail}"
                if refused not in sent.actions:
                    sent.actions.append(refused)
                return 0
            sent.actions.append(label)
            return 1

        note = {"note": "taken by the fault-injection run"}
        operator = {"operator": "faults", **note}
        maker = get_user_model().objects.get_or_create(username="faults-maker")[0]
        checker = get_user_model().objects.get_or_create(username="faults-checker")[0]
        taken = 0
        by_id = {s.public_id: s for s in self.sent}
        for public_id, transfer in self.states().items():
            sent = by_id[public_id]
            scenario = sent.scenario
            holds = holds_standing(transfer)
            if HoldKind.REORG in holds:
                lost = not any(self.chain.mined(tx) for tx in sent.tx_hashes)
                taken += (once(sent, "operator cancelled: funding lost", transfer_funding_lost,
                               **operator) if lost else
                          once(sent, "operator cleared the reorg hold", transfer_reorg_clear,
                               **operator))
            elif HoldKind.COMPLIANCE in holds:
                approve = scenario.operator == "approve"
                verb = "approved" if approve else "rejected"
                # Maker-checker, as in the admin: one operator proposes, a second confirms.
                taken += once(sent, f"operator proposed: {verb}", operator_decide,
                              approve=approve, operator=maker, **note)
                taken += once(sent, f"second operator confirmed: {verb}", operator_decide,
                              approve=approve, operator=checker, **note)
            elif HoldKind.UNDERPAID in holds:
                taken += (once(sent, "operator accepted the lower amount",
                               transfer_underpaid_accept, **operator)
                          if scenario.operator == "accept" else
                          once(sent, "operator refunded what was paid",
                               transfer_underpaid_refund, **operator))
            elif HoldKind.CONVERSION in holds:
                taken += once(sent, "operator released", transfer_release_hold, **operator)
            elif transfer.state == "payout_review":
                # Pending at the provider past the rail's bound: the operator asks the provider
                # (here its own record of payments) and settles the payout by hand.
                taken += once(sent, "operator settled the payout by hand",
                              transfer_payout_settle, paid=self.provider_paid(transfer),
                              **operator)
            elif transfer.state == "payout_failed" and scenario.route != "momo":
                # MoMo failures are left to the corridor's correction deadline (a refund);
                # uncollected cash and the other M-Pesa failures an operator refunds.
                if scenario.digit == "2":
                    taken += once(sent, "sender corrected the recipient",
                                  transfer_payout_correct, actor="sender:faults",
                                  recipient_phone=_phone(self.rng, Scenario("fix", "mpesa")))
                elif scenario.digit == "1" and "operator retried" not in sent.actions:
                    taken += once(sent, "operator retried", transfer_payout_retry, **operator)
                else:
                    taken += once(sent, "operator refunded the failed payout",
                                  transfer_payout_refund, actor="operator:faults", **note)
        return taken

    def provider_paid(self, transfer: Any) -> bool:
        from ramps.payouts.models import PayoutAttempt

        references = set(PayoutAttempt.objects.filter(
            owner_reference=transfer.reference).values_list("reference", flat=True))
        for rail in ("daraja", "momo"):
            listed = requests.get(self.sandboxes[rail]["base_url"] + "/_sandbox/payments",
                                  timeout=10).json()["payments"]
            if any(payment["reference"] in references for payment in listed):
                return True
        return False

    # -- proof -----------------------------------------------------------------------------

    def named_actions(self, transfer: Any) -> list[str]:
        """The actions the state table names for the transfer where it stands (every standing
        hold's too); empty when it is in a state with no named way out."""
        from gateway.transfers.services.holds import holds_standing
        from gateway.transfers.states import ACTIONS, HOLD_ACTIONS

        actions = [f"{action.actor}: {action.service.rpartition('.')[2]}"
                   for action in ACTIONS.get(transfer.state, ())]
        if transfer.state == "on_hold":
            holds = holds_standing(transfer)
            if not holds or any(not HOLD_ACTIONS.get(kind) for kind in holds):
                return []
            actions = [name.rpartition(".")[2] for kind in holds for name in HOLD_ACTIONS[kind]]
        return actions

    def missing_action(self, transfer: Any, sent: Sent) -> str:
        """Why a transfer that is not final is stuck, named after the issue's dead ends
        (``LISTED_DEAD_ENDS``) where one applies."""
        from gateway.transfers.models import HoldKind
        from gateway.transfers.services.holds import holds_standing

        state, hold = transfer.state, transfer.hold_reason
        holds = holds_standing(transfer)
        if state == "payout_failed":
            return DEAD_END_PAYOUT_FAILED
        if HoldKind.REORG in holds:
            return DEAD_END_REORG
        if HoldKind.UNDERPAID in holds:
            return DEAD_END_UNDERPAID
        if state == "on_hold" and "finer than the venue's step" in self.last_reason(transfer):
            return DEAD_END_PRECISION
        if HoldKind.CONVERSION in holds:
            return DEAD_END_CONVERSION
        if state == "refund_pending" and sent.scenario.cash:
            return DEAD_END_UNCOLLECTED
        if state in ("rejected", "refund_pending") and "signer" in self.worker_log():
            return DEAD_END_SIGNER
        if state == "on_hold":
            return f"on_hold ({hold}): no action applies"
        if state == "payout_pending" and sent.scenario.route in ("mpesa", "momo"):
            return "payout pending at the provider past the rail's bound, not under review"
        if state in ("awaiting_deposit", "deposit_seen") and self.confirmed_uncredited(transfer):
            return "confirmed deposit never credited (queued step not run)"
        return f"{state}: nothing moved it on"

    def confirmed_uncredited(self, transfer: Any) -> bool:
        from ramps.chain.models import Deposit

        return Deposit.objects.filter(deposit_address_id=transfer.deposit_address_id,
                                      status=Deposit.Status.CONFIRMED,
                                      credited_at__isnull=True).exists()

    def last_reason(self, transfer: Any) -> str:
        last = transfer.events.order_by("-id").first()
        return last.reason if last else ""

    def worker_log(self) -> str:
        text = ""
        for path in sorted((self.var_dir / "logs").glob("worker*.log")):
            text += "\n".join(line for line in path.read_text(errors="replace").splitlines()
                              if "refund" in line and "ERROR" in line)
        return text

    def prove(self) -> Outcome:
        from django.db.models import Sum

        from gateway.common.money import money_round
        from gateway.ledger.models import Posting
        from gateway.ledger.selectors import trial_balance, unbalanced_entries
        from ramps.chain.models import Deposit, OutboundTransaction
        from ramps.payouts.models import PayoutAttempt

        current = self.states()
        by_id = {s.public_id: s for s in self.sent}
        by_scenario: dict[str, Counter] = defaultdict(Counter)
        stranded: list[dict[str, Any]] = []
        waiting: list[dict[str, Any]] = []
        for public_id, transfer in current.items():
            sent = by_id[public_id]
            by_scenario[sent.scenario.name][transfer.state] += 1
            if transfer.state not in FINAL_STATES:
                last = transfer.events.order_by("-id").first()
                named = self.named_actions(transfer)
                if named:  # waits on actions the state table names (a person or a deadline)
                    waiting.append({"transfer": public_id, "scenario": sent.scenario.name,
                                    "state": transfer.state, "actions": named})
                    continue
                stranded.append({
                    "transfer": public_id, "scenario": sent.scenario.name,
                    "state": transfer.state, "hold_reason": transfer.hold_reason,
                    "reason": last.reason if last else "", "actions": sent.actions,
                    "dead_end": self.missing_action(transfer, sent)})

        # Payments as the sandboxes themselves recorded them, traced to their transfers.
        owner_of = dict(PayoutAttempt.objects.values_list("reference", "owner_reference"))
        reference_of = {t.reference: pid for pid, t in current.items()}
        payments: Counter[str] = Counter()
        unknown_payments = 0
        for rail in ("daraja", "momo"):
            listed = requests.get(self.sandboxes[rail]["base_url"] + "/_sandbox/payments",
                                  timeout=10).json()["payments"]
            for payment in listed:
                owner = reference_of.get(owner_of.get(payment["reference"], ""))
                if owner is None:
                    unknown_payments += 1
                else:
                    payments[owner] += 1
        from ramps.payouts.agents.models import Redemption

        for public_id in Redemption.objects.filter(status="paid").values_list(
                "transfer__public_id", flat=True):
            payments[str(public_id)] += 1
        double_payments = sum(1 for count in payments.values() if count > 1)
        paid_not_completed = sorted(pid for pid, count in payments.items()
                                    if count and current[pid].state != "completed")
        completed_unpaid = sorted(pid for pid, t in current.items()
                                  if t.state == "completed" and not payments[pid])
        # A payment must rest on a deposit that is still on the chain.
        w3 = self.chain.w3
        unfunded_payments: list[str] = []
        for pid, count in payments.items():
            credited = Deposit.objects.filter(deposit_address__address__iexact=by_id[pid]
                                              .deposit_address, credited_at__isnull=False)
            on_chain = any(self.chain.mined(deposit.tx_hash) for deposit in credited)
            if count and not on_chain:
                unfunded_payments.append(pid)

        # Refunds: each stored refund mined once with status 1; the hot wallet sent nothing else.
        refunds = list(OutboundTransaction.objects.filter(kind=OutboundTransaction.Kind.REFUND))
        hot_wallet = self.chain.address(HOT_WALLET_INDEX)
        refund_problems: list[str] = []
        for refund in refunds:
            if refund.status != OutboundTransaction.Status.CONFIRMED:
                refund_problems.append(f"{refund.reference}: {refund.status}")
                continue
            receipt = w3.eth.get_transaction_receipt(refund.tx_hash)
            if receipt["status"] != 1:
                refund_problems.append(f"{refund.reference}: reverted")
        from ramps.chain.devchain import token_contract

        contract = token_contract(w3, self.chain.token)
        sent_by_hot_wallet = contract.events.Transfer().get_logs(
            from_block=0, to_block="latest", argument_filters={"from": hot_wallet})
        refunds_on_chain = len(sent_by_hot_wallet)
        confirmed = sum(1 for r in refunds if r.status == OutboundTransaction.Status.CONFIRMED)
        if refunds_on_chain != confirmed:
            refund_problems.append(f"{refunds_on_chain} token transfers from the hot wallet for "
                                   f"{confirmed} confirmed refunds")
        for deposit in Deposit.objects.all():
            total = sum(r.amount for r in refunds if r.deposit_id == deposit.pk
                        and r.status == OutboundTransaction.Status.CONFIRMED)
            if total > deposit.amount:
                refund_problems.append(f"deposit {deposit.pk} refunded {total} > {deposit.amount}")
        refunded_without = sorted(pid for pid, t in current.items() if t.state == "refunded"
                                  and not any(r.reference.startswith(f"refund:{pid}:")
                                              for r in refunds))

        # Ledger: every currency sums to zero; no liability left on a final transfer.
        totals = trial_balance()
        unbalanced = unbalanced_entries()
        ledger_imbalance = len(unbalanced) + sum(1 for total in totals.values() if total != 0)
        stranded_liability: list[str] = []
        for public_id, transfer in current.items():
            if transfer.state not in FINAL_STATES:
                continue
            left = (Posting.objects.filter(entry__owner_reference=transfer.reference,
                                           account__code__startswith="liabilities:")
                    .exclude(account__code="liabilities:overpayments")  # counted on its own
                    # owed to the agent network, settled per network, not per transfer
                    .exclude(account__code__startswith="liabilities:agent-commission:")
                    .values("currency").annotate(total=Sum("amount")))
            for row in left:
                if row["total"] != 0:
                    stranded_liability.append(f"{by_id[public_id].scenario.name} "
                                              f"{public_id}: {row['total']} {row['currency']}")
        overpayments = (Posting.objects.filter(account__code="liabilities:overpayments")
                        .aggregate(total=Sum("amount"))["total"]) or Decimal(0)

        final = sum(1 for t in current.values() if t.state in FINAL_STATES)
        import redis

        backlog = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).llen("celery")
        figures: dict[str, Any] = {
            "transfers": len(current),
            "refused_at_creation": sum(self.refused.values()),
            "kills": sum(self.chaos.kills.values()),
            "kills_by_process": dict(sorted(self.chaos.kills.items())),
            "reorgs": sum(self.chain.reorgs.values()),
            "final": final,
            "waiting_on_named_actions": len(waiting),
            "stranded": len(stranded),
            "stranded_unlisted": sum(1 for s in stranded
                                     if s["dead_end"] not in LISTED_DEAD_ENDS),
            "stranded_by_dead_end": dict(Counter(s["dead_end"] for s in stranded).most_common()),
            "double_payments": double_payments,
            "unknown_payments": unknown_payments,
            "paid_not_completed": len(paid_not_completed),
            "completed_unpaid": len(completed_unpaid),
            "paid_without_deposit": len(unfunded_payments),
            "refunds_on_chain": refunds_on_chain,
            "refund_problems": len(refund_problems) + len(refunded_without),
            "ledger_imbalance": ledger_imbalance,
            "stranded_liability": len(stranded_liability),
            "overpayments_held": str(money_round(-overpayments, "USDC")),
            "process_errors": len(self.chaos.errors),
            "driver_errors": len(self.driver_errors),
            "api_retries": self.api.retries,
            "api_in_flight_waits": self.api.in_flight,
            "queue_backlog": backlog,
            "seconds": round(time.monotonic() - self.started, 1),
            "seed": self.plan.seed,
        }
        self.details = {"waiting": waiting,
                        "refund_problems": refund_problems + refunded_without,
                        "paid_not_completed": paid_not_completed,
                        "completed_unpaid": completed_unpaid,
                        "paid_without_deposit": unfunded_payments,
                        "stranded_liability": stranded_liability,
                        "unbalanced": [str(u) for u in unbalanced],
                        "process_errors": self.chaos.errors, "refused": dict(self.refused),
                        "driver_errors": self.driver_errors}
        return Outcome(figures, by_scenario, stranded)

    # -- whole run -------------------------------------------------------------------------

    def run(self) -> Outcome:
        phases: dict[str, float] = {}
        mark = time.monotonic()

        def phase(name: str) -> None:
            nonlocal mark
            now = time.monotonic()
            phases[f"{name}_seconds"] = round(now - mark, 1)
            mark = now

        try:
            self.setup()
            phase("setup")
            self.drive()
            phase("drive")
            self.finish(self.plan.settle_timeout)
            phase("settle")
            outcome = self.prove()
            phase("prove")
        finally:
            self.teardown()
        phase("teardown")
        outcome.figures.update(phases)
        outcome.figures["seconds"] = round(time.monotonic() - self.started, 1)
        return outcome

    def teardown(self) -> None:
        chaos = getattr(self, "chaos", None)
        if chaos is not None:
            chaos.stop_event.set()
        stack = getattr(self, "stack", None)
        if stack is not None:  # the proof is taken: nothing of theirs is needed any more
            for child in list(stack.children):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                stack.stop()
        receiver = getattr(self, "receiver", None)
        if receiver is not None:
            receiver.stop()
        anvil = getattr(self, "anvil", None)
        if anvil is not None:
            anvil.stop()
        from django.db import connections

        connections.close_all()
        if not self.plan.keep:
            with contextlib.suppress(Exception):
                _admin_execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        else:
            self.say(f"kept database {self.database} and logs in {self.var_dir}/logs")


def report(outcome: Outcome, details: dict[str, Any]) -> None:
    states = sorted({state for counts in outcome.by_scenario.values() for state in counts})
    width = max(len(name) for name in outcome.by_scenario) if outcome.by_scenario else 10
    print()
    print(f"{'scenario':<{width}}  " + "  ".join(f"{s:>14}" for s in states))
    for name in sorted(outcome.by_scenario):
        counts = outcome.by_scenario[name]
        print(f"{name:<{width}}  " + "  ".join(f"{counts.get(s, 0) or '':>14}" for s in states))
    if outcome.stranded:
        print("\nstranded (not final after the listed actions):")
        grouped: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for item in outcome.stranded:
            grouped[(item["dead_end"], item["scenario"])].append(item)
        for (dead_end, scenario), items in sorted(grouped.items()):
            example = items[0]
            print(f"  {len(items):>3} x {scenario:<24} {example['state']:<15} {dead_end}"
                  f"\n        last event: {example['reason'][:110]}")
    if details.get("waiting"):
        print("\nwaiting on named actions (not final, a way out listed):")
        for item in details["waiting"]:
            print(f"  {item['scenario']:<24} {item['state']:<15} "
                  f"{', '.join(item['actions'])[:100]}")
    for name in ("refund_problems", "paid_not_completed", "completed_unpaid",
                 "paid_without_deposit",
                 "stranded_liability", "unbalanced", "process_errors", "refused",
                 "driver_errors"):
        if details.get(name):
            print(f"\n{name}: {json.dumps(details[name], default=str)[:1500]}")
    print()
    width = max(len(key) for key in outcome.figures)
    for key, value in outcome.figures.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(outcome.figures, sort_keys=True, default=str))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one transfer of each of 20 scenarios (the full run: 200+, all)")
    parser.add_argument("--transfers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTS_SEED", "10")))
    parser.add_argument("--keep", action="store_true",
                        help="keep the database and the process logs for inspection")
    parser.add_argument("--drive-seconds", type=float, default=0.0,
                        help="stop creating transfers after this many seconds (a slow machine)")
    parser.add_argument("--scenarios", default="",
                        help="comma-separated scenario names (default: every scenario)")
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.scenarios.split(",") if name.strip())
    unknown = set(only) - {s.name for s in scenario_catalog()}
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: "
                     + ", ".join(s.name for s in scenario_catalog()))
    plan = Plan.make(quick=args.quick, transfers=args.transfers, seed=args.seed, keep=args.keep,
                     only=only)
    plan.drive_seconds = args.drive_seconds
    run = FaultRun(plan, echo=lambda text: print(text, flush=True))
    outcome = run.run()
    report(outcome, run.details)
    return 0


if __name__ == "__main__":
    sys.exit(main())
