"""The transfer driver's own cost: state changes per second through the one writer, against bare
row updates measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gateway python -m bench.transfers [--quick]

Each transfer makes three moves, as the chain and the sender make them: a deposit is seen
(``transfer_advance``: ``awaiting_deposit`` -> ``deposit_seen``), the deposit is reorged away
(``transfer_advance``: back to ``awaiting_deposit``), the sender cancels (``transfer_cancel``:
``cancelled``). Every move is the real one: the row locked, the transition checked against the
table, the history row, the webhook outbox row, the advance queued after commit (to kombu's
in-memory transport: nothing consumes it), the deposit address closed at the end.

Baseline, same run, same deposits: the same three state changes as a bare locked UPDATE and a
history INSERT per move, each in its own transaction, interleaved with the driven transfers
(one of each at a time). The ratio says what the driver, its checks and its outbox cost on top
of the writes any state change needs.
"""

import time

from bench.common import arguments, django_setup, report, summary_ms


def main() -> None:
    options = arguments(__doc__.splitlines()[0])
    django_setup()
    import logging
    import secrets

    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from gateway.transfers.models import Transfer, TransferEvent
    from gateway.transfers.services.cancel import transfer_cancel
    from gateway.transfers.services.driver import transfer_advance
    from ramps.chain.models import Deposit
    from tests.gateway.partners.factories import make_partner
    from tests.gateway.transfers.factories import make_corridor, make_transfer
    from tests.ramps.chain.factories import make_chain

    call_command("migrate", verbosity=0)
    logging.disable(logging.INFO)  # a line per cancelled transfer is not a figure
    count = 60 if options.quick else 600
    chain_id = 980000 + secrets.randbelow(9000)
    with transaction.atomic():
        chain = make_chain(caip2=f"eip155:{chain_id}", name=f"bench-{chain_id}",
                           chain_id=chain_id)
        corridor = make_corridor(chain=chain, code=f"bench-transfers-{chain_id}")
        partner, _ = make_partner()
        driven = [make_transfer(partner=partner, corridor=corridor) for _ in range(count)]
        bare = [make_transfer(partner=partner, corridor=corridor) for _ in range(count)]

    def deposit_seen(transfer: Transfer) -> Deposit:
        return Deposit.objects.create(
            chain=chain, token=corridor.token, deposit_address=transfer.deposit_address,
            tx_hash="0x" + secrets.token_hex(32), log_index=0, block_number=100,
            block_hash="0x" + secrets.token_hex(32),
            from_address="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            amount=transfer.amount_in_base_units, status=Deposit.Status.SEEN)

    def reorged(deposit: Deposit) -> None:
        Deposit.objects.filter(pk=deposit.pk).update(status=Deposit.Status.REORGED)

    def move_bare(transfer: Transfer, from_state: str, to_state: str) -> None:
        with transaction.atomic():
            Transfer.objects.select_for_update().get(pk=transfer.pk)
            Transfer.objects.filter(pk=transfer.pk).update(state=to_state,
                                                           state_changed_at=timezone.now())
            TransferEvent.objects.create(transfer=transfer, from_state=from_state,
                                         to_state=to_state, reason="bench")

    per_move_driver: list[float] = []
    per_move_bare: list[float] = []

    def timed_move(samples: list[float], work) -> None:
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1000)

    # Interleaved, one transfer of each at a time, so that a machine shared with other work
    # slows both sides alike and the ratio stays meaningful.
    for transfer, other in zip(driven, bare, strict=True):
        deposit = deposit_seen(transfer)
        timed_move(per_move_driver, lambda t=transfer: transfer_advance(transfer_id=t.pk))
        reorged(deposit)
        timed_move(per_move_driver, lambda t=transfer: transfer_advance(transfer_id=t.pk))
        timed_move(per_move_driver, lambda t=transfer: transfer_cancel(transfer_id=t.pk,
                                                                       actor="bench"))
        deposit = deposit_seen(other)
        timed_move(per_move_bare, lambda t=other: move_bare(t, "awaiting_deposit",
                                                            "deposit_seen"))
        reorged(deposit)
        timed_move(per_move_bare, lambda t=other: move_bare(t, "deposit_seen",
                                                            "awaiting_deposit"))
        timed_move(per_move_bare, lambda t=other: move_bare(t, "awaiting_deposit",
                                                            "cancelled"))
    driver_seconds = sum(per_move_driver) / 1000
    bare_seconds = sum(per_move_bare) / 1000

    states = set(Transfer.objects.filter(pk__in=[t.pk for t in driven])
                 .values_list("state", flat=True))
    if states != {"cancelled"}:
        raise SystemExit(f"the driven transfers ended in {sorted(states)}, not cancelled")
    moves = 3 * count
    driver_rate = moves / driver_seconds
    bare_rate = moves / bare_seconds
    figures = {
        "transfers": count,
        "moves": moves,
        "driver_moves_per_s": round(driver_rate, 1),
        "bare_moves_per_s": round(bare_rate, 1),
        "driver_move_ms": summary_ms(per_move_driver),
        "bare_move_ms": summary_ms(per_move_bare),
        "ratio_driver_to_bare_time": round(bare_rate / driver_rate, 2),
    }
    report(figures)


if __name__ == "__main__":
    main()
