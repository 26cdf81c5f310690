"""Fixtures of the transfer step tests (test_deposits, test_screening, test_conversion,
test_payouts, test_driver): a corridor on the sandbox exchange and the Daraja sandbox, with the
crypto sanctions list loaded and the rail's float opened; nothing queued runs behind a test."""

import pytest

from compliance.services import sanctions_import
from gateway.ledger.models import LedgerAccount
from gateway.ledger.services import credit, debit, ledger_entry_post
from gateway.transfers import tasks as transfer_tasks
from gateway.webhooks import tasks as webhook_tasks
from tests.gateway.transfers.factories import make_corridor
from tests.gateway.transfers.flow import CRYPTO_DIR, RAIL_FLOAT


@pytest.fixture
def queued(monkeypatch):
    """What would go to the broker after commit; recorded, so that nothing runs behind a test."""
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(transfer_tasks.transfer_advance, "delay",
                        lambda pk: sent.append(("transfer_advance", pk)))
    monkeypatch.setattr(webhook_tasks.webhook_deliver, "delay",
                        lambda pk: sent.append(("webhook_deliver", pk)))
    return sent


@pytest.fixture
def corridor(db, exchange_venue, daraja_rail, queued, callbacks_to_receiver):
    sanctions_import(source="ofac-crypto", files=sorted(CRYPTO_DIR.glob("*.json")))
    ledger_entry_post(
        reference=f"test:float:{daraja_rail.code}", description="Opening float",
        legs=[debit(f"assets:float:{daraja_rail.code}", "KES", RAIL_FLOAT,
                    kind=LedgerAccount.Kind.ASSET, floor=True),
              credit("equity:opening-balances", "KES", RAIL_FLOAT,
                     kind=LedgerAccount.Kind.EQUITY)],
    )
    return make_corridor(venue=exchange_venue, rail=daraja_rail)


@pytest.fixture
def callbacks_to_receiver(settings, callback_receiver):
    """Daraja posts its results to the loopback receiver; tests replay them to the gateway."""
    settings.PUBLIC_BASE_URL = callback_receiver.base_url
    return callback_receiver


@pytest.fixture
def maker(django_user_model):
    """The operator who proposes a decision on a compliance case."""
    return django_user_model.objects.create_user(username="ops-maker")


@pytest.fixture
def checker(django_user_model):
    """A second operator, who confirms it (maker-checker)."""
    return django_user_model.objects.create_user(username="ops@example")

