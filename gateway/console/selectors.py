"""The dashboard's figures and the Needs-attention queue: reads only.

On PostgreSQL the figures come from the summary of ``gateway.console.summary`` (per quarter
hour and corridor, refreshed just before it is read), so the page reads a few thousand summary
rows rather than every transfer of the range; days are the operator's days (their time zone).
SQLite (the demo) stores money as text, so there the same figures are summed exactly in Python
from the transfers.
"""

import datetime
import functools
import statistics
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import (
    Aggregate,
    CharField,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    FloatField,
    Q,
    Sum,
)
from django.db.models.functions import Cast, TruncDate
from django.urls import reverse
from django.utils import timezone

from gateway.common.money import money_round
from gateway.common.problems import DomainError
from gateway.transfers.models import Corridor, Transfer
from gateway.transfers.states import TransferState

S = TransferState
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 14
ZERO = Decimal(0)


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(p) WITHIN GROUP (ORDER BY expression)``."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, percentile: float, **extra):
        super().__init__(expression, percentile=float(percentile), **extra)


@dataclass(frozen=True)
class DashboardFilter:
    date_from: datetime.date
    date_to: datetime.date  # inclusive
    corridor: str = ""

    @property
    def days(self) -> list[datetime.date]:
        count = (self.date_to - self.date_from).days + 1
        return [self.date_from + datetime.timedelta(days=offset) for offset in range(count)]

    def bounds(self) -> tuple[datetime.datetime, datetime.datetime]:
        zone = timezone.get_current_timezone()
        start = datetime.datetime.combine(self.date_from, datetime.time.min, tzinfo=zone)
        end = datetime.datetime.combine(self.date_to + datetime.timedelta(days=1),
                                        datetime.time.min, tzinfo=zone)
        return start, end

    def query(self) -> str:
        from urllib.parse import urlencode

        return urlencode({"from": self.date_from.isoformat(), "to": self.date_to.isoformat(),
                          **({"corridor": self.corridor} if self.corridor else {})})


def dashboard_filter_parse(params, *, today: datetime.date | None = None) -> DashboardFilter:
    """``from``, ``to`` (YYYY-MM-DD, inclusive) and ``corridor`` from a query string; readable
    errors for bad input."""
    today = today or timezone.localdate()

    def day(name: str, default: datetime.date) -> datetime.date:
        text = (params.get(name) or "").strip()
        if not text:
            return default
        try:
            return datetime.date.fromisoformat(text)
        except ValueError as exc:
            raise DomainError(f"'{name}' must be a date like 2026-12-01, not {text[:20]!r}.",
                              slug="invalid-date-range", status=400) from exc

    date_to = day("to", today)
    date_from = day("from", date_to - datetime.timedelta(days=DEFAULT_RANGE_DAYS - 1))
    if date_from > date_to:
        raise DomainError("'from' must not be after 'to'.", slug="invalid-date-range",
                          status=400)
    if (date_to - date_from).days >= MAX_RANGE_DAYS:
        raise DomainError(f"Choose at most {MAX_RANGE_DAYS} days.", slug="invalid-date-range",
                          status=400)
    corridor = (params.get("corridor") or "").strip()
    if corridor and not Corridor.objects.filter(code=corridor).exists():
        raise DomainError(f"There is no corridor {corridor[:80]!r}.", slug="unknown-corridor",
                          status=400)
    return DashboardFilter(date_from=date_from, date_to=date_to, corridor=corridor)


def _transfers(selection: DashboardFilter):
    start, end = selection.bounds()
    queryset = Transfer.objects.filter(created_at__gte=start, created_at__lt=end)
    if selection.corridor:
        queryset = queryset.filter(corridor__code=selection.corridor)
    return queryset


MONEY = DecimalField(max_digits=40, decimal_places=18)


def _per_day_and_corridor(selection: DashboardFilter) -> list[dict]:
    """Per day and corridor: transfers created, value in, and for the completed ones the value
    paid out, the fees and the FX spread kept (both in the sell asset)."""
    completed = Q(state=S.COMPLETED)
    spread = ExpressionWrapper(
        F("amount_in") - F("amount_fee") - F("amount_out") / F("quote__venue_rate"),
        output_field=MONEY)
    base = _transfers(selection).annotate(day=TruncDate("created_at")).values(
        "day", "corridor__code", "corridor__token__symbol", "currency_out")
    if connection.vendor == "postgresql":
        rows = base.annotate(
            transfers=Count("pk"), completed=Count("pk", filter=completed),
            value_in=Sum("amount_in"), value_out=Sum("amount_out", filter=completed),
            fees=Sum("amount_fee", filter=completed), fx_spread=Sum(spread, filter=completed),
        ).order_by("day", "corridor__code")
        return [{**row, **{key: row[key] or ZERO for key in
                           ("value_in", "value_out", "fees", "fx_spread")}} for row in rows]
    grouped: dict[tuple, dict] = {}
    for row in base.values("day", "corridor__code", "corridor__token__symbol", "currency_out",
                           "state", "amount_in", "amount_fee", "amount_out",
                           "quote__venue_rate"):
        key = (row["day"], row["corridor__code"])
        entry = grouped.setdefault(key, {
            "day": row["day"], "corridor__code": row["corridor__code"],
            "corridor__token__symbol": row["corridor__token__symbol"],
            "currency_out": row["currency_out"], "transfers": 0, "completed": 0,
            "value_in": ZERO, "value_out": ZERO, "fees": ZERO, "fx_spread": ZERO})
        entry["transfers"] += 1
        entry["value_in"] += row["amount_in"]
        if row["state"] == S.COMPLETED:
            entry["completed"] += 1
            entry["value_out"] += row["amount_out"]
            entry["fees"] += row["amount_fee"]
            entry["fx_spread"] += (row["amount_in"] - row["amount_fee"]
                                   - row["amount_out"] / row["quote__venue_rate"])
    return [grouped[key] for key in sorted(grouped, key=lambda k: (k[0], k[1]))]


def _time_to_cash(selection: DashboardFilter) -> list[dict]:
    """Seconds from creation to completion of the completed transfers, p50 and p90 per
    corridor."""
    completed = _transfers(selection).filter(state=S.COMPLETED)
    if connection.vendor == "postgresql":
        from django.db.models.functions import Extract

        seconds = Extract(F("state_changed_at") - F("created_at"), "epoch")
        rows = completed.values("corridor__code").annotate(
            count=Count("pk"), p50=PercentileCont(seconds, 0.5),
            p90=PercentileCont(seconds, 0.9)).order_by("corridor__code")
        return [{"corridor": row["corridor__code"], "count": row["count"],
                 "p50_seconds": round(row["p50"], 1), "p90_seconds": round(row["p90"], 1)}
                for row in rows]
    durations: dict[str, list[float]] = defaultdict(list)
    for code, created, finished in completed.values_list("corridor__code", "created_at",
                                                         "state_changed_at"):
        durations[code].append((finished - created).total_seconds())
    result = []
    for code in sorted(durations):
        values = sorted(durations[code])
        quantiles = statistics.quantiles(values, n=10, method="inclusive") if len(values) > 1 \
            else [values[0]] * 9
        result.append({"corridor": code, "count": len(values),
                       "p50_seconds": round(statistics.median(values), 1),
                       "p90_seconds": round(quantiles[8], 1)})
    return result


def _payouts(selection: DashboardFilter) -> list[dict]:
    """Per rail: attempts by outcome, failure reasons, failed rate, attempts per success."""
    from ramps.payouts.selectors import payout_attempts_created_between

    start, end = selection.bounds()
    references = None
    if selection.corridor:
        if connection.vendor == "postgresql":
            references = _transfers(selection).annotate(
                reference=Cast("public_id", CharField())).values("reference")
        else:  # SQLite keeps UUIDs as bare hex: compare the canonical text in Python's form
            references = [str(value) for value in
                          _transfers(selection).values_list("public_id", flat=True)]
    attempts = payout_attempts_created_between(start=start, end=end, owner_references=references)
    return _payouts_per_rail(attempts.values("rail__code", "status", "failure_kind",
                                             "result_code").annotate(n=Count("pk")))


def _payouts_per_rail(counts) -> list[dict]:
    """Rows of (rail__code, status, failure_kind, result_code, n) as figures per rail."""
    rails: dict[str, dict] = {}
    for row in counts:
        rail = rails.setdefault(row["rail__code"], {
            "rail": row["rail__code"], "attempts": 0, "succeeded": 0, "failed": 0,
            "unknown": 0, "pending": 0, "failure_reasons": {}})
        rail["attempts"] += row["n"]
        status = row["status"]
        if status in ("succeeded", "failed", "unknown"):
            rail[status] += row["n"]
        else:
            rail["pending"] += row["n"]
        if status == "failed":
            reason = " ".join(part for part in (row["failure_kind"], row["result_code"])
                              if part) or "unspecified"
            rail["failure_reasons"][reason] = rail["failure_reasons"].get(reason, 0) + row["n"]
    for rail in rails.values():
        decided = rail["succeeded"] + rail["failed"]
        rail["failed_rate"] = round(rail["failed"] / decided, 4) if decided else None
        rail["attempts_per_success"] = (round(rail["attempts"] / rail["succeeded"], 2)
                                        if rail["succeeded"] else None)
    return [rails[code] for code in sorted(rails)]


def _float() -> list[dict]:
    """Free and reserved float per rail now, with the refill threshold and target."""
    from gateway.ledger.models import Posting
    from gateway.treasury.models import FloatPolicy
    from ramps.payouts.selectors import rails_active

    policies = {policy.rail_code: policy for policy in FloatPolicy.objects.all()}
    balances: dict[str, Decimal] = defaultdict(lambda: ZERO)
    postings = Posting.objects.filter(account__code__startswith="assets:float")
    if connection.vendor == "postgresql":
        for code, currency, total in postings.values("account__code", "currency").annotate(
                total=Sum("amount")).values_list("account__code", "currency", "total"):
            balances[(code, currency)] = total or ZERO
    else:
        for code, currency, amount in postings.values_list("account__code", "currency",
                                                           "amount"):
            balances[(code, currency)] += amount
    result = []
    for rail in rails_active():
        policy = policies.get(rail.code)
        free = balances[(f"assets:float:{rail.code}", rail.currency)]
        reserved = balances[(f"assets:float-reserved:{rail.code}", rail.currency)]
        result.append({
            "rail": rail.code, "currency": rail.currency, "free": free, "reserved": reserved,
            "refill_threshold": policy.refill_threshold if policy else None,
            "refill_target": policy.refill_target if policy else None,
            "below_threshold": bool(policy and free < policy.refill_threshold)})
    return result


CASH_HISTOGRAM_SQL = """
    SELECT corridor.code, bin.key::bigint, sum(bin.value::bigint)::bigint
    FROM console_dashboardbucket summary
    JOIN transfers_corridor corridor ON corridor.id = summary.corridor_id,
    jsonb_each_text(summary.cash_seconds) bin
    WHERE summary.bucket_start >= %(start)s AND summary.bucket_start < %(end)s
      AND (%(corridor)s = '' OR corridor.code = %(corridor)s)
    GROUP BY corridor.code, bin.key"""


def _from_summary(selection: DashboardFilter) -> tuple[list[dict], list[dict], list[dict]]:
    """(per day and corridor, time to cash, payouts) from the summary, after recounting the
    newest DASHBOARD_REFRESH_QUARTER_HOURS of what changed since the last refresh (the beat
    recounts the rest every minute; the page says how many wait)."""
    from django.conf import settings

    from gateway.console.models import DashboardBucket, PayoutBucket
    from gateway.console.summary import dashboard_summary_refresh, histogram_percentile

    dashboard_summary_refresh(limit=settings.DASHBOARD_REFRESH_QUARTER_HOURS)
    start, end = selection.bounds()
    buckets = DashboardBucket.objects.filter(bucket_start__gte=start, bucket_start__lt=end)
    payouts = PayoutBucket.objects.filter(bucket_start__gte=start, bucket_start__lt=end)
    if selection.corridor:
        buckets = buckets.filter(corridor__code=selection.corridor)
        payouts = payouts.filter(corridor__code=selection.corridor)
    # Days in the operator's zone (TruncDate uses the current time zone); summed in SQL.
    rows = [{**row, "value_in": row["value_in"] or ZERO} for row in buckets.annotate(
        day=TruncDate("bucket_start")).values(
        "day", "corridor__code", "corridor__token__symbol", "currency_out").annotate(
        transfers=Sum("transfers"), completed=Sum("completed"), value_in=Sum("value_in"),
        value_out=Sum("value_out"), fees=Sum("fees"), fx_spread=Sum("fx_spread"),
    ).order_by("day", "corridor__code", "currency_out")]
    cash: dict[str, dict[int, int]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(CASH_HISTOGRAM_SQL, {"start": start, "end": end,
                                            "corridor": selection.corridor})
        for code, value, count in cursor.fetchall():
            cash[code][value] = count
    time_to_cash = [{"corridor": code, "count": sum(cash[code].values()),
                     "p50_seconds": round(histogram_percentile(cash[code], 0.5), 1),
                     "p90_seconds": round(histogram_percentile(cash[code], 0.9), 1)}
                    for code in sorted(cash) if cash[code]]
    attempts = payouts.values("rail__code", "status", "failure_kind", "result_code").annotate(
        n=Sum("attempts"))
    return rows, time_to_cash, _payouts_per_rail(attempts)


def dashboard_figures(*, selection: DashboardFilter) -> dict:
    from gateway.console.summary import dashboard_summary_pending

    if connection.vendor == "postgresql":
        rows, time_to_cash, payouts = _from_summary(selection)
    else:
        rows, time_to_cash, payouts = (_per_day_and_corridor(selection),
                                       _time_to_cash(selection), _payouts(selection))
    for row in rows:  # the spread divides by a rate: rounded once, to the asset's exponent
        row["fx_spread"] = money_round(row["fx_spread"], row["corridor__token__symbol"])
    corridors = sorted({row["corridor__code"] for row in rows})
    totals = {"transfers": sum(row["transfers"] for row in rows),
              "completed": sum(row["completed"] for row in rows)}
    revenue_by_asset: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"fees": ZERO, "fx_spread": ZERO})
    for row in rows:
        asset = row["corridor__token__symbol"]
        revenue_by_asset[asset]["fees"] += row["fees"]
        revenue_by_asset[asset]["fx_spread"] += row["fx_spread"]
    return {
        "from": selection.date_from, "to": selection.date_to, "corridor": selection.corridor,
        "days": selection.days, "corridors": corridors, "totals": totals,
        "per_day": [{
            "day": row["day"], "corridor": row["corridor__code"],
            "asset": row["corridor__token__symbol"], "currency_out": row["currency_out"],
            "transfers": row["transfers"], "completed": row["completed"],
            "value_in": row["value_in"], "value_out": row["value_out"], "fees": row["fees"],
            "fx_spread": row["fx_spread"], "revenue": row["fees"] + row["fx_spread"],
        } for row in rows],
        "revenue": {asset: {**parts, "total": parts["fees"] + parts["fx_spread"]}
                    for asset, parts in sorted(revenue_by_asset.items())},
        "payouts": payouts,
        "time_to_cash": time_to_cash,
        "float": _float(),
        "pending_quarter_hours": dashboard_summary_pending(),
    }


def dashboard_figures_cached(*, selection: DashboardFilter) -> dict:
    """The figures as of at most DASHBOARD_CACHE_SECONDS ago (0: always fresh): several
    operators watching the same range share one computation."""
    from django.conf import settings
    from django.core.cache import cache

    seconds = getattr(settings, "DASHBOARD_CACHE_SECONDS", 60)
    if seconds <= 0:
        return {**dashboard_figures(selection=selection), "as_of": timezone.now()}
    # Days are the operator's days: operators in other zones see other figures.
    key = f"console:dashboard:{timezone.get_current_timezone_name()}:{selection.query()}"
    figures = cache.get(key)
    if figures is None:
        figures = {**dashboard_figures(selection=selection), "as_of": timezone.now()}
        cache.set(key, figures, seconds)
    return figures


# --- Needs attention ------------------------------------------------------------------------

UNKNOWN_PAYOUT_DEADLINE = datetime.timedelta(minutes=30)
QUEUE_LIMIT_PER_KIND = 200


@dataclass(frozen=True)
class AttentionItem:
    kind: str
    since: datetime.datetime
    title: str
    detail: str
    action: str
    url: str


_PLACEHOLDER = 987654321


@functools.lru_cache(maxsize=64)
def _admin_url_pattern(name: str) -> str:
    return reverse(f"admin:{name}", args=[_PLACEHOLDER])


def _admin_url(name: str, pk) -> str:
    """The admin page of one object (its URL pattern resolved once, not per row)."""
    return _admin_url_pattern(name).replace(str(_PLACEHOLDER), str(pk), 1)


def attention_queue(*, now: datetime.datetime | None = None) -> list[AttentionItem]:
    """Everything waiting on a person, oldest first, with what to do about it."""
    from compliance.cases.models import Case
    from compliance.cases.selectors import cases_open_for_subjects
    from gateway.treasury.models import Incident
    from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
    from ramps.chain.selectors import chain_incidents_open, deposits_flagged_uncredited
    from ramps.payouts.selectors import (
        payout_attempts_unknown_since,
        payout_callbacks_unprocessed,
    )

    now = now or timezone.now()
    items: list[AttentionItem] = []
    # Only the columns the queue shows, as tuples: the parties are encrypted, and building
    # (and decrypting) whole transfers for every row would cost more than the rest of the page.
    columns = ["pk", "public_id", "state_changed_at", "hold_reason", "amount_out",
               "currency_out", "corridor__code"]
    held = list(Transfer.objects.filter(state=S.ON_HOLD).order_by(
        "state_changed_at").values_list(*columns)[:QUEUE_LIMIT_PER_KIND])
    cases = cases_open_for_subjects(subject_references=[str(row[1]) for row in held])
    for pk, public_id, changed_at, hold_reason, amount_out, currency_out, corridor in held:
        case = cases.get(str(public_id))
        if case is not None:
            case_pk, status = case
            action = ("Confirm or return the proposal" if status ==
                      Case.Status.PENDING_CONFIRMATION else "Work the compliance case")
            url = _admin_url("cases_case_act", case_pk)
        else:
            action, url = "Release, refund or decide the hold", _admin_url(
                "transfers_transfer_change", pk)
        items.append(AttentionItem(
            "hold", changed_at, f"Held: {hold_reason or 'no reason'}",
            f"{corridor} · {amount_out} {currency_out} · {str(public_id)[:8]}", action, url))
    for pk, public_id, changed_at, _, amount_out, currency_out, corridor in \
            Transfer.objects.filter(state=S.PAYOUT_FAILED).order_by(
                "state_changed_at").values_list(*columns)[:QUEUE_LIMIT_PER_KIND]:
        items.append(AttentionItem(
            "failed_payout", changed_at, "Payout failed",
            f"{corridor} · {amount_out} {currency_out} · {str(public_id)[:8]}",
            "Correct the recipient, retry, reroute or refund",
            _admin_url("transfers_transfer_change", pk)))
    for pk, public_id, changed_at, _, amount_out, currency_out, corridor in \
            Transfer.objects.filter(state=S.PAYOUT_REVIEW).order_by(
                "state_changed_at").values_list(*columns)[:QUEUE_LIMIT_PER_KIND]:
        items.append(AttentionItem(
            "payout_review", changed_at, "Payout unsettled at the provider",
            f"{corridor} · {amount_out} {currency_out} · {str(public_id)[:8]}",
            "Check with the provider: settle by hand, or retry or refund once it says not paid",
            _admin_url("transfers_transfer_change", pk)))
    for deposit in deposits_flagged_uncredited(limit=QUEUE_LIMIT_PER_KIND):
        items.append(AttentionItem(
            "flagged_deposit", deposit.created_at, f"Deposit flagged: {deposit.get_flag_display()}",
            f"{deposit.token.symbol} from {deposit.from_address} · tx {deposit.tx_hash[:12]}…",
            "Refund it or attach it to a transfer", _admin_url("chain_deposit_change",
                                                               deposit.pk)))
    for callback in payout_callbacks_unprocessed(limit=QUEUE_LIMIT_PER_KIND):
        items.append(AttentionItem(
            "unmatched_callback", callback.created_at,
            f"Provider callback {callback.processing_status}",
            f"{callback.rail.code if callback.rail else '?'} · reference "
            f"{callback.reference or '—'}", "Match it to an attempt or dismiss it",
            _admin_url("payouts_payoutcallback_change", callback.pk)))
    for attempt in payout_attempts_unknown_since(before=now - UNKNOWN_PAYOUT_DEADLINE,
                                                 limit=QUEUE_LIMIT_PER_KIND):
        items.append(AttentionItem(
            "unknown_payout", attempt.created_at, "Payout outcome unknown past its deadline",
            f"{attempt.rail.code} · {attempt.amount} {attempt.currency} · {attempt.reference}",
            "Ask the provider (status query); never send again",
            _admin_url("payouts_payoutattempt_change", attempt.pk)))
    for incident in chain_incidents_open()[:QUEUE_LIMIT_PER_KIND]:
        items.append(AttentionItem(
            "chain_incident", incident.created_at, f"Chain incident: {incident.get_kind_display()}",
            incident.chain.caip2, "Investigate and resolve",
            _admin_url("chain_chainincident_change", incident.pk)))
    for incident in Incident.objects.filter(status="open").order_by("created_at")[
            :QUEUE_LIMIT_PER_KIND]:
        items.append(AttentionItem(
            "reconciliation", incident.created_at, incident.title, incident.kind,
            "Explain the difference and resolve", _admin_url("treasury_incident_change",
                                                             incident.pk)))
    failed = dict(WebhookDelivery.objects.filter(status="failed").values(
        "endpoint_id").annotate(n=Count("pk")).values_list("endpoint_id", "n"))
    failing = WebhookEndpoint.objects.filter(
        Q(failing_since__isnull=False) | Q(is_active=False, disabled_at__isnull=False)
        & ~Q(disabled_reason="")).select_related("partner").order_by("pk")[
        :QUEUE_LIMIT_PER_KIND]
    for endpoint in failing:
        since = endpoint.failing_since or endpoint.disabled_at
        state = (f"disabled: {endpoint.disabled_reason}" if not endpoint.is_active
                 else "failing")
        items.append(AttentionItem(
            "webhook_endpoint", since, f"Webhook endpoint {state}"[:200],
            f"{endpoint.partner} · {endpoint.url} · {failed.get(endpoint.pk, 0)} deliveries "
            f"given up", "Check the endpoint with the partner, then re-enable or resend",
            _admin_url("webhooks_webhookendpoint_change", endpoint.pk)))
    from gateway.console.models import PendingApproval

    for approval in PendingApproval.objects.filter(status="pending").select_related(
            "maker").order_by("created_at")[:QUEUE_LIMIT_PER_KIND]:
        app_label, model = approval.object_type.split(".", 1)
        items.append(AttentionItem(
            "second_operator", approval.created_at,
            f"Waiting for a second operator: {approval.action.split('.', 1)[-1]}",
            f"{approval.object_repr} · asked by {approval.maker.get_username()}: "
            f"{approval.reason[:80]}", "Check it, then run the same action to confirm",
            _admin_url(f"{app_label}_{model}_change", approval.object_id)))
    return sorted(items, key=lambda item: item.since)

