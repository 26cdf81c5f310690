"""Fill the transfers' search indexes (blind indexes of the parties) for rows written before
they existed, or for every row after BLIND_INDEX_KEY changed (``--all``).

Reads the encrypted parties in batches by id, writes the three index columns with one bulk
update per batch, and prints its progress; safe to stop and run again (it resumes with the rows
still empty)."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q

from gateway.transfers.models import Transfer
from gateway.transfers.services.party_search import transfer_party_indexes

FIELDS = ["recipient_phone_index", "recipient_name_index", "sender_name_index"]


class Command(BaseCommand):
    help = "Compute the transfers' party search indexes (blind indexes) for existing rows."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true",
                            help="recompute every row (after a change of BLIND_INDEX_KEY)")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, **options):
        batch_size = max(1, options["batch_size"])
        rows = Transfer.objects.all()
        if not options["all"]:
            rows = rows.filter(Q(recipient_name_index="") & Q(sender_name_index=""))
        total = rows.count()
        done, last_pk = 0, 0
        self.stdout.write(f"{total} transfers to index")
        while True:
            batch = list(rows.filter(pk__gt=last_pk).order_by("pk").only(
                "pk", "sender", "recipient")[:batch_size])
            if not batch:
                break
            for transfer in batch:
                for name, value in transfer_party_indexes(
                        sender=transfer.sender, recipient=transfer.recipient).items():
                    setattr(transfer, name, value)
            with transaction.atomic():
                Transfer.objects.bulk_update(batch, FIELDS)
            done += len(batch)
            last_pk = batch[-1].pk
            self.stdout.write(f"{done}/{total} indexed ({done * 100 // max(total, 1)} %)")
        self.stdout.write(self.style.SUCCESS(f"done: {done} transfers indexed"))
