"""The watcher against a node that refuses ranges, times out, fails and lags (a real anvil
behind a misbehaving JSON-RPC proxy), a crash between fetching and committing, two chains at
once, a USDT-style token, deposit flags and deep-reorg incidents."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from ramps.chain import watcher
from ramps.chain.addresses import deposit_address_allocate, deposit_address_close
from ramps.chain.devchain import AnvilProcess, mine, token_deploy, token_mint, token_transfer
from ramps.chain.incidents import chain_incident_resolve
from ramps.chain.models import Chain, ChainIncident, Deposit, DepositAddress, Token
from ramps.chain.selectors import chain_incidents_open, deposits_flagged
from ramps.chain.watcher import chain_scan
from tests.ramps.chain.rpc_proxy import FaultyRpcProxy

pytestmark = pytest.mark.django_db

SENDER_INDEX = 1


@pytest.fixture
def proxy(anvil):
    running = FaultyRpcProxy(anvil.rpc_url).start()
    yield running
    running.stop()


def _pay(anvil, token, to, amount, artifact="StableToken"):
    tx_hash = token_transfer(anvil.w3, token, to=to, amount_base_units=amount,
                             sender=anvil.w3.eth.accounts[SENDER_INDEX], artifact=artifact)
    return tx_hash, anvil.w3.eth.get_transaction_receipt(tx_hash)["blockNumber"]


def _spread_payments(anvil, token, addresses, gap_blocks):
    """One payment to each address with ``gap_blocks`` empty blocks before each."""
    hashes = []
    for index, address in enumerate(addresses):
        mine(anvil.w3, gap_blocks)
        hashes.append(_pay(anvil, token, address.address, 1_000_000 + index)[0])
    return hashes


def test_range_too_large_shrinks_the_range_and_loses_nothing(anvil, stable_token, chain_factory,
                                                              proxy):
    chain = chain_factory(tokens=(stable_token,), confirmations=1, max_log_range=64,
                          rpc_url=proxy.url)
    addresses = [deposit_address_allocate(chain=chain) for _ in range(4)]
    hashes = _spread_payments(anvil, stable_token, addresses, gap_blocks=20)
    proxy.max_log_blocks = 10

    result = chain_scan(chain=chain)

    assert result.error == ""
    assert result.range_shrinks == 3  # 64 -> 32 -> 16 -> 8
    assert {d.tx_hash for d in result.new_deposits} == set(hashes)
    assert Deposit.objects.filter(chain=chain).count() == 4
    assert result.cursor == anvil.w3.eth.block_number
    # Every range it asked after the refusals fit the node's limit, and it grew back up to
    # the limit's neighbourhood (8 -> 16 refused -> 8 ...), never past max_log_range.
    accepted = [(first, last) for first, last in proxy.log_requests if last - first + 1 <= 10]
    assert sum(last - first + 1 for first, last in accepted) == (
        result.cursor - chain.start_block + 1)
    chain.refresh_from_db()
    assert chain.log_range_current == result.log_range
    assert chain.log_range_current == 8


def test_range_grows_back_to_max_when_the_node_is_healthy(anvil, stable_token, chain_factory,
                                                          proxy):
    chain = chain_factory(tokens=(stable_token,), confirmations=1, max_log_range=64,
                          rpc_url=proxy.url)
    Chain.objects.filter(pk=chain.pk).update(log_range_current=2)
    chain.refresh_from_db()
    mine(anvil.w3, 200)

    result = chain_scan(chain=chain)

    assert result.error == ""
    assert result.log_range == 64
    spans = [last - first + 1 for first, last in proxy.log_requests]
    assert spans[:5] == [2, 2, 4, 4, 8]


def test_too_many_results_shrinks_the_range(anvil, stable_token, chain_factory, proxy):
    chain = chain_factory(tokens=(stable_token,), confirmations=1, max_log_range=1000,
                          rpc_url=proxy.url)
    addresses = [deposit_address_allocate(chain=chain) for _ in range(6)]
    hashes = _spread_payments(anvil, stable_token, addresses, gap_blocks=3)
    proxy.max_log_results = 2

    result = chain_scan(chain=chain)

    assert result.error == ""
    assert result.range_shrinks >= 1
    assert sorted(d.tx_hash for d in Deposit.objects.filter(chain=chain)) == sorted(hashes)


@override_settings(OUTBOUND_HTTP_TIMEOUT_SECONDS=0.5)
def test_timeouts_on_wide_ranges_shrink_the_range(anvil, stable_token, chain_factory, proxy):
    chain = chain_factory(tokens=(stable_token,), confirmations=1, max_log_range=32,
                          rpc_url=proxy.url)
    address = deposit_address_allocate(chain=chain)
    mine(anvil.w3, 30)
    tx_hash, _ = _pay(anvil, stable_token, address.address, 4_000_000)
    proxy.slow_log_blocks = 8
    proxy.slow_seconds = 1.0

    result = chain_scan(chain=chain)

    assert result.error == ""
    assert result.range_shrinks >= 2
    assert [d.tx_hash for d in result.new_deposits] == [tx_hash]


def test_a_failing_node_is_recorded_then_survived(anvil, stable_token, chain_factory, proxy):
    chain = chain_factory(tokens=(stable_token,), confirmations=1, rpc_url=proxy.url)
    address = deposit_address_allocate(chain=chain)
    tx_hash, _ = _pay(anvil, stable_token, address.address, 7_000_000)
    proxy.fail_next = 1

    failed = chain_scan(chain=chain)

    assert failed.error.startswith("HTTPError: 502")
    assert proxy.url not in failed.error
    assert Deposit.objects.filter(chain=chain).count() == 0
    recovered = chain_scan(chain=chain)
    assert recovered.error == ""
    assert [d.tx_hash for d in recovered.new_deposits] == [tx_hash]
    assert Deposit.objects.get(chain=chain).status == Deposit.Status.CONFIRMED


def test_a_node_that_refuses_batches_still_confirms_deposits_in_several_blocks(
        anvil, stable_token, chain_factory, proxy):
    # The proxy drops a JSON-RPC batch (a list body), as some hosted nodes refuse them: the
    # block hashes for confirmation are then asked one by one.
    chain = chain_factory(tokens=(stable_token,), confirmations=1, rpc_url=proxy.url)
    addresses = [deposit_address_allocate(chain=chain) for _ in range(3)]
    hashes = _spread_payments(anvil, stable_token, addresses, gap_blocks=1)

    result = chain_scan(chain=chain)

    assert result.error == ""
    assert [d.tx_hash for d in result.new_deposits] == hashes
    assert sorted(d.tx_hash for d in result.confirmed_deposits) == sorted(hashes)
    assert set(Deposit.objects.filter(chain=chain).values_list("status", flat=True)) == {
        Deposit.Status.CONFIRMED}


def test_a_rescan_records_only_the_logs_it_had_not_recorded(anvil, stable_token, chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=5)
    addresses = [deposit_address_allocate(chain=chain) for _ in range(3)]
    first = _spread_payments(anvil, stable_token, addresses[:2], gap_blocks=1)
    assert len(chain_scan(chain=chain).new_deposits) == 2
    later = _spread_payments(anvil, stable_token, addresses[2:], gap_blocks=1)
    Chain.objects.filter(pk=chain.pk).update(cursor_block=None)  # rescan from the start

    result = chain_scan(chain=chain)

    assert result.error == ""
    assert [d.tx_hash for d in result.new_deposits] == later
    assert all(d.pk for d in result.new_deposits)
    assert sorted(Deposit.objects.filter(chain=chain).values_list("tx_hash", flat=True)) == (
        sorted(first + later))
    assert not Deposit.objects.filter(chain=chain, status=Deposit.Status.REORGED).exists()


def test_a_lagging_node_raises_no_false_reorg(anvil, stable_token, chain_factory, proxy):
    chain = chain_factory(tokens=(stable_token,), confirmations=2, rpc_url=proxy.url)
    address = deposit_address_allocate(chain=chain)
    _, block = _pay(anvil, stable_token, address.address, 3_000_000)
    mine(anvil.w3, 3)
    assert chain_scan(chain=chain).confirmed_deposits
    proxy.lag_blocks = 3

    lagging = chain_scan(chain=chain)

    assert lagging.error.startswith(f"Node head {block} is behind the scan cursor")
    assert lagging.reorged_deposits == lagging.deep_reorged_deposits == []
    assert ChainIncident.objects.count() == 0
    proxy.lag_blocks = 0
    assert chain_scan(chain=chain).error == ""
    assert Deposit.objects.get(chain=chain).status == Deposit.Status.CONFIRMED


class _Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the scan may catch it."""


def test_crash_between_fetch_and_commit_loses_and_duplicates_nothing(anvil, stable_token,
                                                                     chain_factory, monkeypatch):
    chain = chain_factory(tokens=(stable_token,), confirmations=1, max_log_range=5)
    addresses = [deposit_address_allocate(chain=chain) for _ in range(3)]
    hashes = _spread_payments(anvil, stable_token, addresses, gap_blocks=4)
    real_cursor_set = watcher._cursor_set
    calls = {"n": 0}

    def crash_on_second_range(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise _Killed  # logs fetched and deposits written, cursor not yet committed
        return real_cursor_set(**kwargs)

    monkeypatch.setattr(watcher, "_cursor_set", crash_on_second_range)
    with pytest.raises(_Killed):
        chain_scan(chain=chain)
    first_range_end = chain.start_block + 4
    chain.refresh_from_db()
    assert chain.cursor_block == first_range_end
    committed = set(Deposit.objects.filter(chain=chain).values_list("tx_hash", flat=True))
    monkeypatch.setattr(watcher, "_cursor_set", real_cursor_set)

    result = chain_scan(chain=chain)

    assert result.error == ""
    assert sorted(Deposit.objects.filter(chain=chain).values_list("tx_hash", flat=True)) == (
        sorted(hashes))
    assert {d.tx_hash for d in result.new_deposits} == set(hashes) - committed


def test_two_chains_are_watched_at_once(anvil, stable_token, chain_factory, deposit_xpub):
    other = AnvilProcess(chain_id=31338).start()
    try:
        other_token = token_deploy(other.w3, deployer=other.w3.eth.accounts[0], name="Tether",
                                   symbol="USDT", decimals=6, artifact="NoBoolToken")
        token_mint(other.w3, other_token, other.w3.eth.accounts[1], 10**12,
                   artifact="NoBoolToken")
        first = chain_factory(tokens=(stable_token,), confirmations=1)
        second = Chain.objects.create(caip2=other.caip2, name="second", chain_id=31338,
                                      rpc_url=other.rpc_url, confirmations=1, xpub=deposit_xpub,
                                      start_block=other.w3.eth.block_number + 1)
        Token.objects.create(chain=second, symbol="USDT", contract_address=other_token,
                             decimals=6)
        address_one = deposit_address_allocate(chain=first)
        address_two = deposit_address_allocate(chain=second)
        # Same derivation index on both chains: the same address, kept apart by chain.
        assert address_one.address == address_two.address
        _pay(anvil, stable_token, address_one.address, 11_000_000)
        tx_two = token_transfer(other.w3, other_token, to=address_two.address,
                                amount_base_units=22_000_000,
                                sender=other.w3.eth.accounts[1], artifact="NoBoolToken")

        results = [chain_scan(chain=first), chain_scan(chain=second)]

        assert [r.error for r in results] == ["", ""]
        one = Deposit.objects.get(chain=first)
        two = Deposit.objects.get(chain=second)
        assert (one.amount, one.token.symbol, one.status) == (11_000_000, "USDC", "confirmed")
        assert (two.amount, two.token.symbol, two.tx_hash) == (22_000_000, "USDT", tx_two)
        assert two.deposit_address == address_two
    finally:
        other.stop()


def test_deposit_to_a_closed_address_is_flagged(anvil, stable_token, chain_factory):
    # Judged by block against the cursor at closing, never by a block timestamp against this
    # server's clock: an anvil reorg rewinds the node's clock, so the two drift apart and the
    # old comparison flagged or missed payments depending on what ran before.
    chain = chain_factory(tokens=(stable_token,), confirmations=1)
    seen = deposit_address_allocate(chain=chain)
    late = deposit_address_allocate(chain=chain)
    unscanned = deposit_address_allocate(chain=chain)
    _pay(anvil, stable_token, seen.address, 1_000_000)
    chain_scan(chain=chain)  # the owner has seen this payment when it closes the address
    _, unscanned_block = _pay(anvil, stable_token, unscanned.address, 3_000_000)
    cursor = Chain.objects.get(pk=chain.pk).cursor_block
    assert cursor < unscanned_block
    for address in (seen, late, unscanned):
        deposit_address_close(deposit_address=address)
    deposit_address_close(deposit_address=late)  # idempotent
    closed_at = late.closed_at
    assert (seen.closed_after_block, late.closed_after_block) == (cursor, cursor)
    # Server-side close times that contradict the chain change nothing.
    DepositAddress.objects.filter(pk=seen.pk).update(closed_at=timezone.now() - timedelta(days=9))
    DepositAddress.objects.filter(pk=late.pk).update(closed_at=timezone.now() + timedelta(days=9))
    _pay(anvil, stable_token, late.address, 2_000_000)
    _pay(anvil, stable_token, seen.address, 4_000_000)

    chain_scan(chain=chain)

    late.refresh_from_db()
    assert late.closed_after_block == cursor
    flags = {(d.deposit_address_id, d.amount): d.flag for d in Deposit.objects.filter(chain=chain)}
    assert flags == {
        (seen.pk, 1_000_000): Deposit.Flag.NONE,
        (seen.pk, 4_000_000): Deposit.Flag.ADDRESS_CLOSED,
        (late.pk, 2_000_000): Deposit.Flag.ADDRESS_CLOSED,
        # Paid before the close, in a block the watcher had not reached: its owner decided
        # without it, so it is flagged (and refunded) rather than silently left uncredited.
        (unscanned.pk, 3_000_000): Deposit.Flag.ADDRESS_CLOSED,
    }
    assert [d.amount for d in deposits_flagged(chain=chain)] == [3_000_000, 2_000_000, 4_000_000]
    assert closed_at is not None


def test_the_cursor_block_time_is_the_cursor_blocks_own_timestamp(anvil, stable_token,
                                                                   chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=1)
    assert chain.cursor_block_time is None
    mine(anvil.w3, 3)
    result = chain_scan(chain=chain)
    chain.refresh_from_db()
    block = anvil.w3.eth.get_block(result.cursor)
    assert chain.cursor_block == block["number"]
    assert chain.cursor_block_time == datetime.fromtimestamp(block["timestamp"], tz=UTC)


def test_deposit_of_a_token_not_accepted_is_flagged(anvil, stable_token, chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=1)
    Token.objects.filter(chain=chain).update(is_accepted=False)
    address = deposit_address_allocate(chain=chain)
    _pay(anvil, stable_token, address.address, 1_000_000)

    chain_scan(chain=chain)

    assert Deposit.objects.get(chain=chain).flag == Deposit.Flag.TOKEN_NOT_ACCEPTED


def test_deep_reorg_after_confirmation_opens_one_incident(anvil, stable_token, chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=1)
    address = deposit_address_allocate(chain=chain)
    _pay(anvil, stable_token, address.address, 2_000_000)
    assert len(chain_scan(chain=chain).confirmed_deposits) == 1
    response = anvil.w3.provider.make_request("anvil_reorg", [1, []])
    assert "error" not in response, response

    first = chain_scan(chain=chain)
    again = chain_scan(chain=chain)

    deposit = Deposit.objects.get(chain=chain)
    incident = ChainIncident.objects.get()
    assert first.incidents_opened == [incident]
    assert again.incidents_opened == []
    assert (incident.chain, incident.deposit, incident.kind) == (
        chain, deposit, ChainIncident.Kind.DEEP_REORG)
    assert list(chain_incidents_open(chain=chain)) == [incident]
    assert deposit.status == Deposit.Status.REORGED

    chain_incident_resolve(incident=incident, resolved_by="ops", note="treasury covered it")
    assert list(chain_incidents_open(chain=chain)) == []


def test_finalized_tag_decides_finality(anvil, stable_token, chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=1)
    Chain.objects.filter(pk=chain.pk).update(finality=Chain.Finality.FINALIZED)
    chain.refresh_from_db()
    address = deposit_address_allocate(chain=chain)
    _, block = _pay(anvil, stable_token, address.address, 1_000_000)

    chain_scan(chain=chain)
    assert Deposit.objects.get(chain=chain).status == Deposit.Status.SEEN

    while int(anvil.w3.eth.get_block("finalized")["number"]) < block:
        mine(anvil.w3, 16)
    result = chain_scan(chain=chain)

    assert [d.tx_hash for d in result.confirmed_deposits] == [
        Deposit.objects.get(chain=chain).tx_hash]
