"""Quote throughput and latency through the liquidity router, with several venues configured.

Starts three Luno sandboxes and one Bitso sandbox on loopback (each quoting USDC/KES around a
different mid, with different taker fees), points real ccxt classes at them, and measures:

- indicative quotes (``route_quote``: every venue's book fetched and walked, nothing held)
- firm quotes (``route_quote_firm``: the same plus a reservation row, venue rows locked)
- the router's chosen net amount against the best net amount computed independently from
  ``venue_price_quote`` on each venue in the same run (must be equal)
- the router's own computation time against the time spent fetching books (a ratio)

Run: ``DATABASE_URL=postgres://... python -m bench.quotes [--quick]``. Writes only inside a
transaction that is rolled back (the database is migrated first if needed).
"""

import sys
import time
import uuid
from decimal import Decimal

from bench.common import arguments, django_setup, report, summary_ms, timed


def main() -> None:
    options = arguments("Quotes per second and latency through the liquidity router.")
    django_setup()
    from django.core.management import call_command
    from django.db import transaction

    from ramps.liquidity.client import venue_markets_cache_clear
    from ramps.liquidity.models import Venue
    from ramps.liquidity.router import route_quote, route_quote_firm
    from ramps.liquidity.services import venue_price_quote
    from ramps.sandbox.exchange import ExchangeSandbox, MarketConfig
    from ramps.sandbox.exchange_bitso import BitsoSandbox

    call_command("migrate", verbosity=0)
    count = 60 if options.quick else 400
    sandboxes = [
        ExchangeSandbox(drift_interval_seconds=0, markets=[
            MarketConfig("USDCKES", "USDC", "KES", Decimal(mid))])
        for mid in ("129.00", "129.40", "128.80")
    ] + [BitsoSandbox(drift_interval_seconds=0, markets=[
        MarketConfig("usdc_kes", "USDC", "KES", Decimal("129.30"))])]
    fees = [Decimal("0.002"), Decimal("0.0035"), Decimal("0.001"), Decimal("0.0065")]
    for sandbox in sandboxes:
        sandbox.start()
    figures: dict[str, object] = {}
    try:
        with transaction.atomic():
            venue_markets_cache_clear()
            venues = [Venue.objects.create(name=f"bench-{index}-{sandbox.name}",
                                           taker_fee_rate=fee, **sandbox.credentials())
                      for index, (sandbox, fee) in enumerate(zip(sandboxes, fees, strict=True))]
            amount = Decimal("250")
            route_quote(venues=venues, symbol="USDC/KES", side="sell", amount_base=amount)

            # Router's choice vs the best computed independently, same books.
            routed = route_quote(venues=venues, symbol="USDC/KES", side="sell",
                                 amount_base=amount)
            independent = []
            for venue in venues:
                price = venue_price_quote(venue=venue, symbol="USDC/KES", side="sell",
                                          amount_base=amount)
                independent.append((price.amount_quote * (1 - venue.taker_fee_rate), venue))
            best_net, best_venue = max(independent, key=lambda pair: pair[0])
            figures["router_venue"] = routed.venue.name
            figures["independent_best_venue"] = best_venue.name
            figures["router_net_kes"] = str(routed.amount_quote_net)
            figures["independent_best_net_kes"] = str(best_net)
            figures["router_equals_best"] = (routed.amount_quote_net == best_net
                                             and routed.venue == best_venue)

            indicative, fetch_s, compute_s = [], 0.0, 0.0
            started = time.perf_counter()
            for index in range(count):
                elapsed, result = timed(lambda: route_quote(
                    venues=venues, symbol="USDC/KES", side="sell", amount_base=amount))
                indicative.append(elapsed)
                fetch_s += result.fetch_seconds
                compute_s += result.compute_seconds
                if (index + 1) % max(count // 4, 1) == 0:
                    print(f"indicative {index + 1}/{count}", file=sys.stderr)
            indicative_wall = time.perf_counter() - started

            firm = []
            started = time.perf_counter()
            for index in range(count):
                elapsed, _ = timed(lambda: route_quote_firm(
                    quote_reference=f"bench-{uuid.uuid4().hex}", venues=venues,
                    symbol="USDC/KES", side="sell", amount_base=Decimal("5")))
                firm.append(elapsed)
                if (index + 1) % max(count // 4, 1) == 0:
                    print(f"firm {index + 1}/{count}", file=sys.stderr)
            firm_wall = time.perf_counter() - started
            transaction.set_rollback(True)
    finally:
        for sandbox in sandboxes:
            sandbox.stop()
    indicative_summary, firm_summary = summary_ms(indicative), summary_ms(firm)
    figures.update({
        "venues": len(sandboxes),
        "quotes_each": count,
        "indicative_quotes_per_s": round(count / indicative_wall, 1),
        "firm_quotes_per_s": round(count / firm_wall, 1),
        "quotes_per_s": round(count / indicative_wall, 1),
        "quote_ms_p50": indicative_summary["p50"],
        "quote_ms_p99": indicative_summary["p99"],
        "firm_quote_ms_p50": firm_summary["p50"],
        "firm_quote_ms_p99": firm_summary["p99"],
        "router_compute_ms_per_quote": round(compute_s * 1000 / count, 3),
        "book_fetch_ms_per_quote": round(fetch_s * 1000 / count, 3),
        "compute_to_fetch_ratio": round(compute_s / fetch_s, 4) if fetch_s else None,
    })
    report(figures)


if __name__ == "__main__":
    main()
