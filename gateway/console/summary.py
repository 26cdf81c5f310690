"""The dashboard's summary: per quarter hour (UTC) and corridor, the transfer figures, and per
quarter hour, rail and outcome, the payout attempts; recounted from the raw rows for every
quarter hour that database triggers noted as changed (``DashboardDirtyBucket``).

A refresh recounts whole quarter hours in one transaction, so the summary always equals a
recount of the rows it has seen; the dashboard refreshes before it reads (a few quarter hours
changed since the last view) and the beat keeps the backlog short. PostgreSQL only.
"""

import datetime
import logging
import math
from collections import Counter

from django.db import connection, transaction

logger = logging.getLogger(__name__)

BUCKET_SECONDS = 900
REFRESH_LOCK = 0x636F6E73  # pg advisory lock key of the refresh ("cons")
UUID_PATTERN = "^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$"
BUCKET_SQL = "to_timestamp(floor(extract(epoch FROM {column}) / 900) * 900)"


def bucket_start(moment: datetime.datetime) -> datetime.datetime:
    """The quarter hour (UTC) a moment falls in."""
    seconds = math.floor(moment.timestamp() / BUCKET_SECONDS) * BUCKET_SECONDS
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


def cash_bin(seconds: float) -> int:
    """Seconds cut to three significant digits (1234.5 -> 1230): a time-to-cash histogram bin
    whose width is at most 1 % of its values."""
    whole = max(0, int(seconds))
    if whole < 1000:
        return whole
    scale = 10 ** (len(str(whole)) - 3)
    return whole // scale * scale


CASH_BIN_SQL = """CASE WHEN {seconds} < 1000 THEN floor(greatest({seconds}, 0))::bigint
    ELSE (floor({seconds} / power(10, floor(log({seconds})) - 2))
          * power(10, floor(log({seconds})) - 2))::bigint END"""


TRANSFER_RECOUNT_SQL = """
        WITH counted AS (
            SELECT BUCKET AS bucket_start, t.corridor_id, t.currency_out, t.state,
                   t.amount_in, t.amount_fee, t.amount_out, q.venue_rate,
                   CASH_BIN AS cash_bin
            FROM transfers_transfer t JOIN transfers_quote q ON q.id = t.quote_id
            WHERE RANGES),
        sums AS (
            SELECT bucket_start, corridor_id, currency_out, count(*) AS transfers,
                   count(*) FILTER (WHERE state = %(done)s) AS completed,
                   sum(amount_in) AS value_in,
                   coalesce(sum(amount_out) FILTER (WHERE state = %(done)s), 0) AS value_out,
                   coalesce(sum(amount_fee) FILTER (WHERE state = %(done)s), 0) AS fees,
                   coalesce(sum(amount_in - amount_fee - amount_out / venue_rate)
                            FILTER (WHERE state = %(done)s), 0) AS fx_spread
            FROM counted GROUP BY bucket_start, corridor_id, currency_out),
        histograms AS (
            SELECT bucket_start, corridor_id, currency_out,
                   jsonb_object_agg(cash_bin, n) AS cash_seconds
            FROM (SELECT bucket_start, corridor_id, currency_out, cash_bin, count(*) AS n
                  FROM counted WHERE state = %(done)s
                  GROUP BY bucket_start, corridor_id, currency_out, cash_bin) bins
            GROUP BY bucket_start, corridor_id, currency_out)
        INSERT INTO console_dashboardbucket (bucket_start, corridor_id, currency_out, transfers,
            completed, value_in, value_out, fees, fx_spread, cash_seconds)
        SELECT s.bucket_start, s.corridor_id, s.currency_out, s.transfers, s.completed,
               s.value_in, s.value_out, s.fees, s.fx_spread,
               coalesce(h.cash_seconds, '{}'::jsonb)
        FROM sums s LEFT JOIN histograms h USING (bucket_start, corridor_id, currency_out)"""
TRANSFER_RECOUNT_SQL = TRANSFER_RECOUNT_SQL.replace("CASH_BIN", CASH_BIN_SQL.format(
    seconds="extract(epoch FROM t.state_changed_at - t.created_at)")).replace(
    "BUCKET", BUCKET_SQL.format(column="t.created_at"))

ATTEMPT_RECOUNT_SQL = """
        INSERT INTO console_payoutbucket (bucket_start, rail_id, corridor_id, status,
            failure_kind, result_code, attempts)
        SELECT BUCKET, a.rail_id, t.corridor_id, a.status, a.failure_kind, a.result_code,
               count(*)
        FROM payouts_payoutattempt a
        LEFT JOIN transfers_transfer t ON t.public_id = CASE
             WHEN a.owner_reference ~ %(uuid)s THEN a.owner_reference::uuid END
        WHERE RANGES
        GROUP BY 1, a.rail_id, t.corridor_id, a.status, a.failure_kind, a.result_code
""".replace("BUCKET", BUCKET_SQL.format(column="a.created_at"))
RANGES_PER_STATEMENT = 200


def _ranges(buckets: list[datetime.datetime]) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """Adjacent quarter hours merged into [start, end) ranges."""
    step = datetime.timedelta(seconds=BUCKET_SECONDS)
    ranges: list[list[datetime.datetime]] = []
    for start in sorted(buckets):
        if ranges and ranges[-1][1] == start:
            ranges[-1][1] = start + step
        else:
            ranges.append([start, start + step])
    return [(start, end) for start, end in ranges]


def _ranges_sql(column: str, ranges: list) -> tuple[str, dict]:
    """``(column >= %(from_0)s AND column < %(to_0)s) OR ...``: constants the planner sees,
    so each range is an index range scan."""
    parts, params = [], {}
    for index, (start, end) in enumerate(ranges):
        parts.append(f"({column} >= %(from_{index})s AND {column} < %(to_{index})s)")
        params[f"from_{index}"], params[f"to_{index}"] = start, end
    return "(" + " OR ".join(parts) + ")", params


def histogram_percentile(histogram: dict[int, int], fraction: float) -> float:
    """PostgreSQL's ``percentile_cont`` (linear between the two nearest ranks) over the
    durations as their bins give them: exact for whole seconds under 1000, otherwise at most
    1 % below."""
    total = sum(histogram.values())
    if not total:
        return 0.0
    values = sorted(histogram)

    def at_rank(rank: int) -> int:
        running = 0
        for value in values:
            running += histogram[value]
            if running > rank:
                return value
        return values[-1]

    position = fraction * (total - 1)
    lower = math.floor(position)
    low, high = at_rank(lower), at_rank(min(lower + 1, total - 1))
    return low + (high - low) * (position - lower)


def histogram_add(into: Counter, histogram: dict) -> None:
    for value, count in histogram.items():
        into[int(value)] += int(count)


def _take_dirty(cursor, limit: int | None) -> list[datetime.datetime]:
    """The noted quarter hours (the newest ``limit`` of them), their notes deleted."""
    if limit is None:
        cursor.execute("DELETE FROM console_dashboarddirtybucket RETURNING bucket_start")
    else:
        cursor.execute(
            "DELETE FROM console_dashboarddirtybucket WHERE bucket_start IN (SELECT DISTINCT "
            "bucket_start FROM console_dashboarddirtybucket ORDER BY bucket_start DESC "
            "LIMIT %s) RETURNING bucket_start", [limit])
    return sorted({row[0] for row in cursor.fetchall()})


def dashboard_summary_pending() -> int:
    """Quarter hours noted as changed and not yet recounted."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT bucket_start) FROM console_dashboarddirtybucket")
        return cursor.fetchone()[0]


def _recount(cursor, buckets: list[datetime.datetime]) -> None:
    from gateway.transfers.states import TransferState

    cursor.execute("DELETE FROM console_dashboardbucket WHERE bucket_start = ANY(%s)",
                   [buckets])
    cursor.execute("DELETE FROM console_payoutbucket WHERE bucket_start = ANY(%s)", [buckets])
    ranges = _ranges(buckets)
    for first in range(0, len(ranges), RANGES_PER_STATEMENT):
        chunk = ranges[first:first + RANGES_PER_STATEMENT]
        where, params = _ranges_sql("t.created_at", chunk)
        cursor.execute(TRANSFER_RECOUNT_SQL.replace("RANGES", where),
                       {**params, "done": TransferState.COMPLETED})
        where, params = _ranges_sql("a.created_at", chunk)
        cursor.execute(ATTEMPT_RECOUNT_SQL.replace("RANGES", where),
                       {**params, "uuid": UUID_PATTERN})


def dashboard_summary_refresh(*, wait: bool = False, limit: int | None = None) -> int:
    """Recount the quarter hours noted as changed (the newest ``limit`` of them; all when
    None); returns how many. Another refresh running at the same time is not waited for unless
    ``wait`` (its result is at most seconds old)."""
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
        cursor.execute(f"SELECT {function}(%s)", [REFRESH_LOCK])
        if not wait and not cursor.fetchone()[0]:
            return 0
        buckets = _take_dirty(cursor, limit)
        if buckets:
            # A few index range scans: compiling the plan (JIT) would cost more than running it.
            cursor.execute("SET LOCAL jit = off")
            _recount(cursor, buckets)
    if len(buckets) > 100:
        logger.info("dashboard summary: recounted %s quarter hours", len(buckets))
    return len(buckets)
