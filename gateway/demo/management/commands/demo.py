"""python manage.py demo [--once]: the whole gateway on loopback, and one remittance through it.

Starts anvil (with the project's ERC-20 stablecoin), the sandbox simulators, the web server, a
Celery worker and beat; seeds a partner, a corridor and a webhook receiver; then sends one
remittance through the public API and prints its timeline and ledger entries. Without --once it
keeps serving until Ctrl-C, which stops every process it started.
"""

import json
import os
import signal
import time
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from gateway.common.money import money_round
from gateway.demo.remittance import RemittanceError, remittance_send
from gateway.demo.seed import demo_seed
from gateway.demo.signer import demo_signer_environment
from gateway.demo.stack import (
    Stack,
    StackError,
    ports_check,
    sandbox_start,
    web_start,
    workers_start,
)
from gateway.demo.webhook_receiver import WebhookReceiver
from gateway.ledger.selectors import entries_for_owner, trial_balance, unbalanced_entries
from gateway.transfers.models import Transfer
from ramps.chain.devchain import (
    AnvilProcess,
    AnvilStartError,
    PortInUseError,
    ToolMissingError,
    anvil_binary,
    dev_private_key,
    token_deploy,
    token_mint,
)

PAYER_ACCOUNT_INDEX = 1  # anvil dev account that plays the remittance sender's wallet
RECIPIENT_PHONE = "+254708374149"


class Command(BaseCommand):
    help = "Run the whole gateway locally and send one remittance through it."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true",
                            help="Exit after the remittance: 0 if completed and balanced.")
        parser.add_argument("--port-base", type=int,
                            default=int(os.environ.get("DEMO_PORT_BASE", "8000")),
                            help="web=N, anvil=N+1, exchange=N+2, daraja=N+3, momo=N+4, "
                                 "webhooks=N+5, bitso=N+6 (default 8000)")
        parser.add_argument("--amount", default="100.00", help="USDC to send (default 100.00)")
        parser.add_argument("--block-time", type=float, default=1.0,
                            help="Seconds between anvil blocks (default 1)")
        parser.add_argument("--summary-json", default="",
                            help="Write a JSON summary of the run to this file")

    def signer_use(self, environment: dict[str, str]) -> None:
        """This process signs as its workers do (admin actions run here too)."""
        from ramps.chain.signer import signer_check_at_start, signer_get

        for name, value in environment.items():
            if name == "CHAIN_SIGNER_ACCOUNT":
                value = int(value)
            elif name == "CHAIN_SIGNER_CHECK_AT_START":
                value = True
            setattr(settings, name, value)
        signer_get.cache_clear()
        signer_check_at_start()

    def handle(self, *args, **options):
        base = options["port_base"]
        ports = {"web": base, "anvil": base + 1, "exchange": base + 2, "daraja": base + 3,
                 "momo": base + 4, "webhooks": base + 5, "bitso": base + 6}
        var_dir = Path(settings.VAR_DIR)
        var_dir.mkdir(parents=True, exist_ok=True)
        web_base = f"http://127.0.0.1:{ports['web']}"
        env = {**os.environ, "GATEWAY_PUBLIC_BASE_URL": web_base, "PYTHONUNBUFFERED": "1"}
        stack = Stack(var_dir=var_dir, env=env)
        anvil: AnvilProcess | None = None
        receiver: WebhookReceiver | None = None
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            anvil_binary()  # a missing tool is reported before anything starts
            ports_check(ports)
            self.step("preparing the database")
            self.fresh_demo_storage(var_dir)
            call_command("migrate", interactive=False, verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)

            self.step(f"starting anvil on port {ports['anvil']} and deploying the stablecoin")
            anvil = AnvilProcess(port=ports["anvil"], block_time=options["block_time"]).start()
            w3 = anvil.web3()
            token = token_deploy(w3, deployer=w3.eth.accounts[0], name="USD Coin (local)",
                                 symbol="USDC", decimals=6)
            payer_key = dev_private_key(PAYER_ACCOUNT_INDEX)
            payer = w3.eth.accounts[PAYER_ACCOUNT_INDEX]
            token_mint(w3, token, payer, 1_000_000 * 10**6)
            self.say(f"    USDC at {token}; payer wallet {payer} holds 1,000,000 USDC")
            # A real signer for the web server and workers (they refuse to start without
            # one), its hot wallet funded so that refunds really happen on this anvil.
            signer_environment, hot_wallet = demo_signer_environment(var_dir=var_dir)
            env.update(signer_environment)
            self.signer_use(signer_environment)
            token_mint(w3, token, hot_wallet, 1_000_000 * 10**6)
            self.say(f"    signer hot wallet {hot_wallet} holds 1,000,000 USDC for refunds")

            self.step("starting the sandbox simulators (exchange, Daraja, MoMo)")
            sandboxes = sandbox_start(stack, ports=ports)

            self.step("seeding partner, corridor USDC(anvil) -> KES via M-Pesa, float, lists")
            receiver = WebhookReceiver(secret="whsec_" + "A" * 43, port=ports["webhooks"])
            seed = demo_seed(chain_id=anvil.chain_id, rpc_url=anvil.rpc_url, token_address=token,
                             token_decimals=6, sandboxes=sandboxes, webhook_url=receiver.url)
            receiver.secret = seed.webhook_secret
            receiver.start()

            self.step("starting the web server, Celery worker and beat")
            web_start(stack, port=ports["web"])
            workers_start(stack)
            stack.check_alive()

            self.step(f"sending {options['amount']} USDC to {RECIPIENT_PHONE} through the API")
            started = time.monotonic()
            result = remittance_send(base_url=web_base, api_key=seed.api_key, w3=w3,
                                     token_address=token, payer_private_key=payer_key,
                                     amount=options["amount"], recipient_phone=RECIPIENT_PHONE,
                                     echo=self.say)
            elapsed = time.monotonic() - started
            webhook_ok = self.wait_for_webhook(receiver, result.transfer_id,
                                               result.transfer["status"])
            balanced = self.report(result.transfer_id, elapsed, receiver)
            completed = result.transfer["status"] == "completed"
            summary = {
                "transfer_id": result.transfer_id, "status": result.transfer["status"],
                "states": result.states_seen, "seconds": round(elapsed, 2),
                "ledger_balanced": balanced, "webhook_statuses":
                    receiver.statuses_for(result.transfer_id), "webhook_verified": webhook_ok,
                "webhook_rejected": receiver.rejected, "tx_hash": result.tx_hash,
                "amount_out": result.transfer["amount_out"],
            }
            if options["summary_json"]:
                Path(options["summary_json"]).write_text(json.dumps(summary, indent=2))
            ok = completed and balanced and webhook_ok
            if options["once"]:
                if not ok:
                    raise CommandError(f"demo failed: {json.dumps(summary)}")
                self.say(self.style.SUCCESS("demo completed: transfer paid, ledger balanced, "
                                            "signed webhook received"))
                # The partner's key, so the README's API examples can be tried on this data.
                self.say(f"    API key      {seed.api_key}")
                return
            self.serve(web_base, seed, sandboxes, anvil, stack)
        except (StackError, ToolMissingError, PortInUseError, AnvilStartError,
                RemittanceError) as exc:
            for child in stack.children:
                if child.process.poll() is not None:
                    self.stderr.write(f"{child.name} log:\n" + child.log_path.read_text()[-2000:])
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            self.say("\nstopping...")
        finally:
            stack.stop()
            if receiver is not None:
                receiver.stop()
            if anvil is not None:
                anvil.stop()

    # -- steps ---------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def step(self, text: str) -> None:
        self.say(self.style.MIGRATE_HEADING(f"==> {text}"))

    def fresh_demo_storage(self, var_dir: Path) -> None:
        """The local chain is new on every run, so the demo's own SQLite file and queue are too."""
        database = settings.DATABASES["default"]
        if database["ENGINE"].endswith("sqlite3"):
            connection.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database['NAME']}{suffix}").unlink(missing_ok=True)
        broker = var_dir / "broker"
        if broker.exists():
            for item in broker.rglob("*"):
                if item.is_file():
                    item.unlink()
        broker.mkdir(parents=True, exist_ok=True)
        (broker / "processed").mkdir(exist_ok=True)
        (var_dir / "celerybeat-schedule").unlink(missing_ok=True)

    def wait_for_webhook(self, receiver: WebhookReceiver, transfer_id: str, status: str,
                         timeout: float = 20) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if status in receiver.statuses_for(transfer_id):
                return True
            time.sleep(0.2)
        return False

    def report(self, transfer_id: str, elapsed: float, receiver: WebhookReceiver) -> bool:
        transfer = Transfer.objects.get(public_id=transfer_id)
        self.step(f"timeline of transfer {transfer_id} ({elapsed:.1f}s after the API call)")
        events = list(transfer.events.order_by("created_at", "id"))
        start = events[0].created_at
        for event in events:
            offset = (event.created_at - start).total_seconds()
            self.say(f"    {event.created_at:%H:%M:%S.%f}"[:-3] + f"  +{offset:6.2f}s  "
                     f"{event.to_state:<17} {event.reason}")
        self.step("ledger entries of the transfer")
        for entry in entries_for_owner(owner_reference=transfer.reference):
            self.say(f"    {entry.reference}")
            for posting in entry.postings.all():
                side = "Dr" if posting.amount > 0 else "Cr"
                amount = money_round(abs(posting.amount), posting.currency)
                self.say(f"        {side} {posting.account.code:<34} {amount:>16,f} "
                         f"{posting.currency}")
        unbalanced = unbalanced_entries()
        totals = trial_balance()
        balanced = not unbalanced and all(total == Decimal(0) for total in totals.values())
        self.say("    trial balance per currency: "
                 + ", ".join(f"{c}={t:f}" for c, t in sorted(totals.items()))
                 + ("  (balanced)" if balanced else f"  UNBALANCED {unbalanced}"))
        statuses = receiver.statuses_for(transfer_id)
        self.say(f"    signed webhooks received and verified: {' -> '.join(statuses)}"
                 f" (rejected: {receiver.rejected})")
        return balanced

    def serve(self, web_base, seed, sandboxes, anvil, stack) -> None:
        self.step("the gateway is running; Ctrl-C stops everything")
        self.say(f"    API docs     {web_base}/api/docs/")
        self.say(f"    admin        {web_base}/admin/  (user {seed.admin_username}, "
                 f"password {seed.admin_password})")
        self.say(f"    API key      {seed.api_key}")
        self.say(f"    chain        {anvil.rpc_url} (chain id {anvil.chain_id})")
        for name, info in sandboxes.items():
            self.say(f"    {name:<12} {info['base_url']}")
        self.say(f"    logs         {stack.var_dir / 'logs'}")
        while True:
            time.sleep(1)
            stack.check_alive()


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt
