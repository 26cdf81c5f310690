"""The operator console's dashboard with 100,000 transfers in PostgreSQL.

Bulk-inserts the transfers (three corridors over 30 days; completed, failed, held and waiting
ones), their quotes, deposit addresses and payout attempts with ``INSERT ... SELECT`` from one
template row each, then renders, through Django's test client as a signed-in operator with two
factors:

- the admin home with the dashboard for the whole 30 days (every chart, the queue's head),
  computed afresh (cache emptied; before each view 20 recent transfers change state, so the
  view includes the summary's incremental recount) and shared (within DASHBOARD_CACHE_SECONDS)
- the dashboard's JSON
- the baseline: the same admin home for an operator without the dashboard permission (the page
  as it cost before the console), measured in the same run; the ratio is dashboard / baseline

and counts the SQL queries of each. The dashboard reads the per-quarter-hour summary
(gateway/console/summary.py); building it from scratch after the bulk insert is timed
separately (``summary_build_s``: what the migration's first refresh costs on such a database),
and so is a recount after 100 changes spread over the month (what the beat meets after a
burst of late refunds).
The figures are also computed both ways in the same run, from the transfers (as before the
summary) and from the summary, and compared as a ratio. Goal: the dashboard under one second.

Run: ``DATABASE_URL=postgres://... python -m bench.console [--quick]`` (quick: 20,000
transfers). Everything is written inside a transaction that is rolled back.
"""

# ruff: noqa: S608 - the SQL is built from model table and column names; values are parameters

import datetime
import sys

from bench.common import arguments, django_setup, report, summary_ms, timed

STATES = [("completed", 85), ("payout_failed", 5), ("on_hold", 3), ("awaiting_deposit", 4),
          ("expired", 3)]


def _columns(model) -> list[str]:
    return [field.column for field in model._meta.concrete_fields if not field.primary_key]


def _copy_sql(model, template_alias: str, overrides: dict[str, str]) -> tuple[str, str]:
    """(column list, select list): every column copied from the template row unless
    overridden by an SQL expression."""
    columns = _columns(model)
    select = [overrides.get(column, f"{template_alias}.{column}") for column in columns]
    return ", ".join(columns), ", ".join(select)


def bulk_insert(*, count: int, template, corridors: list) -> None:
    """``count`` transfers shaped like ``template`` (quotes, addresses, attempts included)."""
    from django.db import connection

    from gateway.transfers.models import Quote, Transfer
    from ramps.chain.models import DepositAddress
    from ramps.payouts.models import PayoutAttempt

    corridor_ids = "ARRAY[" + ",".join(str(corridor.pk) for corridor in corridors) + "]"
    state_case = "CASE " + " ".join(
        f"WHEN (rn %% 100) < {sum(share for _, share in STATES[:index + 1])} THEN '{state}'"
        for index, (state, _) in enumerate(STATES)) + " END"
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        columns, select = _copy_sql(DepositAddress, "t", {
            "address": "'0x' || lpad(to_hex(g + 1000000), 40, '0')",
            "derivation_index": "g + 1000000"})
        cursor.execute(f"INSERT INTO {DepositAddress._meta.db_table} ({columns}) SELECT {select} "
                       f"FROM {DepositAddress._meta.db_table} t, generate_series(1, %s) g "
                       f"WHERE t.id = %s", [count, template.deposit_address_id])
        columns, select = _copy_sql(Quote, "t", {
            "public_id": "gen_random_uuid()",
            "corridor_id": f"({corridor_ids})[1 + g %% {len(corridors)}]"})
        cursor.execute(f"INSERT INTO {Quote._meta.db_table} ({columns}) SELECT {select} "
                       f"FROM {Quote._meta.db_table} t, generate_series(1, %s) g "
                       f"WHERE t.id = %s", [count, template.quote_id])
        columns, select = _copy_sql(Transfer, "t", {
            "public_id": "gen_random_uuid()", "quote_id": "q.id", "corridor_id": "q.corridor_id",
            "deposit_address_id": "a.id", "state": state_case,
            "created_at": "now() - random() * interval '30 days'",
            "updated_at": "now()", "state_changed_at": "now()"})
        cursor.execute(
            f"INSERT INTO {Transfer._meta.db_table} ({columns}) SELECT {select} "
            f"FROM (SELECT id, corridor_id, row_number() OVER (ORDER BY id) rn "
            f"      FROM {Quote._meta.db_table} WHERE id > %s) q "
            f"JOIN (SELECT id, row_number() OVER (ORDER BY id) rn "
            f"      FROM {DepositAddress._meta.db_table} WHERE id > %s) a USING (rn), "
            f"{Transfer._meta.db_table} t WHERE t.id = %s",
            [template.quote_id, template.deposit_address_id, template.pk])
        cursor.execute(f"UPDATE {Transfer._meta.db_table} SET state_changed_at = created_at + "
                       f"(60 + random() * 3540) * interval '1 second' WHERE id > %s",
                       [template.pk])
        columns, select = _copy_sql(PayoutAttempt, "p", {
            "reference": "'bench-' || t.id", "owner_reference": "t.public_id::text",
            "created_at": "t.state_changed_at", "updated_at": "t.state_changed_at",
            "amount": "t.amount_out",
            "status": "CASE WHEN t.state = 'completed' THEN 'succeeded' ELSE 'failed' END",
            "failure_kind": "CASE WHEN t.state = 'completed' THEN '' ELSE 'final' END",
            "result_code": "CASE WHEN t.state = 'completed' THEN '0' ELSE '2001' END"})
        cursor.execute(
            f"INSERT INTO {PayoutAttempt._meta.db_table} ({columns}) SELECT {select} "
            f"FROM {Transfer._meta.db_table} t, {PayoutAttempt._meta.db_table} p "
            f"WHERE p.reference = 'bench-template' AND t.id > %s "
            f"AND t.state IN ('completed', 'payout_failed')", [template.pk])
        cursor.execute("ANALYZE")


def main() -> None:
    options = arguments("Dashboard render time and queries with 100,000 transfers.",
                        profile=True)
    django_setup()
    from decimal import Decimal

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from gateway.transfers.models import Transfer
    from gateway.treasury.models import FloatPolicy
    from ramps.payouts.models import PayoutAttempt
    from tests.fixtures.console import client_signed_in
    from tests.gateway.console.factories import make_operator
    from tests.gateway.transfers.factories import make_corridor, make_transfer
    from tests.ramps.chain.factories import make_chain

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # Django's test client
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # set-up only
    call_command("migrate", verbosity=0)
    count = 20_000 if options.quick else 100_000
    rounds = 3 if options.quick else 5
    figures: dict[str, object] = {}
    with transaction.atomic():
        chains = [make_chain(caip2=f"eip155:{990000 + index}", name=f"bench-{index}",
                             chain_id=990000 + index) for index in range(3)]
        corridors = [make_corridor(chain=chain, code=f"bench-{index}")
                     for index, chain in enumerate(chains)]
        template = make_transfer(corridor=corridors[0], state="completed")
        PayoutAttempt.objects.create(
            rail=corridors[0].rail, reference="bench-template",
            owner_reference=str(template.public_id), amount=template.amount_out,
            currency="KES", recipient_msisdn="+254708374149", status="succeeded")
        for corridor in corridors:
            FloatPolicy.objects.create(rail_code=corridor.rail.code, currency="KES",
                                       refill_threshold=Decimal("100000"),
                                       refill_target=Decimal("500000"))
        insert_ms, _ = timed(lambda: bulk_insert(count=count, template=template,
                                                 corridors=corridors))
        from gateway.console.summary import dashboard_summary_refresh

        build_ms, built = timed(lambda: dashboard_summary_refresh(wait=True))
        lead = client_signed_in(make_operator("bench-lead", roles=["support"]))
        baseline = client_signed_in(make_operator("bench-plain", roles=["support"]))
        # the baseline operator sees the same home page without the dashboard permission
        get_user_model().objects.get(username="bench-plain").groups.clear()
        today = timezone.localdate()
        query = (f"?from={(today - datetime.timedelta(days=30)).isoformat()}"
                 f"&to={today.isoformat()}")

        def changes_make(round_number: int, count: int = 20, *, recent: bool = True) -> None:
            """Transfers change state as a minute of traffic changes them (``count`` of those
            created in the last two hours; or spread over the month): the next view recounts
            their quarter hours."""
            window = "created_at > now() - interval '2 hours' AND " if recent else ""
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {Transfer._meta.db_table} SET state = CASE WHEN state = "
                    f"'completed' THEN 'payout_failed' ELSE 'completed' END, "
                    f"updated_at = now() WHERE id IN (SELECT id FROM "
                    f"{Transfer._meta.db_table} WHERE {window}id %% 7 = %s LIMIT %s)",
                    [round_number % 7, count])

        def measure(client: Client, url: str, *, cold: bool = True
                    ) -> tuple[list[float], int, int]:
            samples, queries, status = [], 0, 0
            for round_number in range(rounds):
                if cold:
                    cache.clear()  # computed afresh, not shared from the last view
                    changes_make(round_number)
                with CaptureQueriesContext(connection) as captured:
                    elapsed, response = timed(lambda: client.get(url))
                samples.append(elapsed)
                queries, status = len(captured), response.status_code
            return samples, queries, status

        dashboard, dashboard_queries, dashboard_status = measure(lead, f"/admin/{query}")
        as_json, json_queries, json_status = measure(lead, f"/admin/console/dashboard.json{query}")
        warm, warm_queries, _ = measure(lead, f"/admin/{query}", cold=False)
        plain_samples, plain_queries, plain_status = measure(baseline, "/admin/")
        if {dashboard_status, json_status, plain_status} != {200}:
            print(f"unexpected status: {dashboard_status} {json_status} {plain_status}",
                  file=sys.stderr)
            sys.exit(1)
        if options.profile:
            with CaptureQueriesContext(connection) as captured:
                lead.get(f"/admin/{query}")
            slowest = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))
            for entry in slowest[:8]:
                print(f"{entry['time']} s  {entry['sql'][:300]}", file=sys.stderr)
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(lambda: lead.get(f"/admin/{query}"))
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
        # The same figures both ways in this run: counted from the transfers (what the
        # dashboard did before the summary, and still does on SQLite) and from the summary.
        from gateway.console import selectors

        selection = selectors.dashboard_filter_parse(
            {"from": (today - datetime.timedelta(days=30)).isoformat(), "to": today.isoformat()})
        raw_samples = [timed(lambda: (selectors._per_day_and_corridor(selection),
                                      selectors._time_to_cash(selection),
                                      selectors._payouts(selection)))[0] for _ in range(rounds)]
        summary_samples = [timed(lambda: selectors._from_summary(selection))[0]
                           for _ in range(rounds)]
        changes_make(0, 100, recent=False)
        scattered_ms, scattered = timed(lambda: dashboard_summary_refresh(wait=True))
        best, best_plain = min(dashboard), min(plain_samples)
        figures = {
            "transfers": count + 1,
            "bulk_insert_s": round(insert_ms / 1000, 2),
            "summary_build_s": round(build_ms / 1000, 2),
            "summary_quarter_hours_built": built,
            "refresh_100_scattered_changes_ms": round(scattered_ms, 1),
            "refresh_100_scattered_quarter_hours": scattered,
            "dashboard_ms": summary_ms(dashboard),
            "dashboard_best_ms": round(best, 1),
            "dashboard_queries": dashboard_queries,
            "dashboard_shared_best_ms": round(min(warm), 1),
            "dashboard_shared_queries": warm_queries,
            "dashboard_json_best_ms": round(min(as_json), 1),
            "dashboard_json_queries": json_queries,
            "baseline_admin_home_best_ms": round(best_plain, 1),
            "baseline_admin_home_queries": plain_queries,
            "dashboard_over_baseline": round(best / best_plain, 2),
            "figures_from_transfers_best_ms": round(min(raw_samples), 1),
            "figures_from_summary_best_ms": round(min(summary_samples), 1),
            "figures_transfers_over_summary": round(min(raw_samples) / min(summary_samples), 2),
            "goal_under_1s": best < 1000,
        }
        transaction.set_rollback(True)
    report(figures)


if __name__ == "__main__":
    main()
