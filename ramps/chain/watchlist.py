"""The deposit addresses of each chain, held in memory by the watcher process.

Matching every Transfer log against the database would cost one query per range at best and
grows with the number of open addresses; a set lookup per log costs the same with ten or ten
million addresses. The set is only a pre-filter: a hit is confirmed (and its row loaded) in
the database, so a stale entry can never create a deposit by itself.

The set is refreshed incrementally: only addresses with a primary key above the highest one
already loaded are read. ``deposit_address_allocate`` inserts under the chain's row lock, and
the scan refreshes while holding that same lock, so every address committed before a range is
recorded is in the set when its logs are matched.
"""

from dataclasses import dataclass, field
from datetime import datetime
from threading import Lock

from ramps.chain.models import Chain, DepositAddress

_REFRESH_CHUNK = 10_000


@dataclass
class AddressWatchlist:
    """Lowercase 40-hex-digit addresses (no 0x) of one chain's deposit addresses."""

    chain_pk: int
    chain_created_at: datetime
    addresses: set[str] = field(default_factory=set)
    last_pk: int = 0

    def refresh(self) -> int:
        """Load the addresses recorded since the last refresh; returns how many were new."""
        added = 0
        while True:
            rows = list(
                DepositAddress.objects.filter(chain_id=self.chain_pk, pk__gt=self.last_pk)
                .order_by("pk").values_list("pk", "address")[:_REFRESH_CHUNK]
            )
            for _pk, address in rows:
                self.addresses.add(address[2:].lower())
            added += len(rows)
            if len(rows) < _REFRESH_CHUNK:
                if rows:
                    self.last_pk = rows[-1][0]
                return added
            self.last_pk = rows[-1][0]

    def __len__(self) -> int:
        return len(self.addresses)


_watchlists: dict[int, AddressWatchlist] = {}
_lock = Lock()


def address_watchlist(*, chain: Chain) -> AddressWatchlist:
    """The process's watchlist of ``chain``, refreshed; built on first use.

    Keyed by the chain's primary key and creation time, so a chain row recreated under the
    same key (test databases) never inherits another chain's addresses.
    """
    with _lock:
        watchlist = _watchlists.get(chain.pk)
        if watchlist is None or watchlist.chain_created_at != chain.created_at:
            watchlist = AddressWatchlist(chain_pk=chain.pk, chain_created_at=chain.created_at)
            _watchlists[chain.pk] = watchlist
    watchlist.refresh()
    return watchlist


def address_watchlists_clear() -> None:
    """Forget every watchlist (tests, or after addresses were deleted by hand)."""
    with _lock:
        _watchlists.clear()
