"""The dashboard's summary (gateway/console/summary.py) always equals a recount from the raw
transfers and payout attempts: after any mix of creations, state changes, amount changes and
attempts, with refreshes at any moment in between, in any operator time zone."""

import datetime
import zoneinfo
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.console import selectors
from gateway.console.models import DashboardBucket, DashboardDirtyBucket
from gateway.console.summary import (
    bucket_start,
    cash_bin,
    dashboard_summary_refresh,
    histogram_percentile,
)
from gateway.transfers.models import Transfer
from gateway.transfers.states import TransferState
from ramps.payouts.models import PayoutAttempt
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_transfer
from tests.ramps.chain.factories import make_chain

pytestmark = pytest.mark.django_db
S = TransferState
START = datetime.datetime(2026, 11, 10, tzinfo=datetime.UTC)
ZONES = ["UTC", "Africa/Nairobi", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York",
         "Pacific/Chatham"]
STATES = [S.AWAITING_DEPOSIT, S.FUNDED, S.ON_HOLD, S.PAYOUT_FAILED, S.COMPLETED, S.EXPIRED]


@pytest.fixture
def corridors():
    return [make_corridor(code="usdc-kes"), make_corridor(code="usdc-ghs", chain=make_chain(
        caip2="eip155:31338", name="anvil-2", chain_id=31338))]


def raw_figures(selection) -> tuple:
    """The figures counted from the raw rows (the path SQLite takes), for comparison."""
    rows = selectors._per_day_and_corridor(selection)
    attempts = selectors._payouts(selection)
    return rows, attempts


def summary_figures(selection) -> tuple:
    rows, time_to_cash, attempts = selectors._from_summary(selection)
    return rows, time_to_cash, attempts


minutes = st.integers(min_value=0, max_value=6 * 24 * 60)
amounts = st.decimals(min_value=Decimal("1.00"), max_value=Decimal("99999.99"), places=2)
step = st.one_of(
    st.tuples(st.just("create"), st.integers(0, 1), minutes, st.sampled_from(STATES),
              st.integers(1, 50_000)),
    st.tuples(st.just("transition"), st.integers(0, 30), st.sampled_from(STATES),
              st.integers(1, 50_000)),
    st.tuples(st.just("amount"), st.integers(0, 30), amounts, amounts),
    st.tuples(st.just("attempt"), st.integers(0, 30), st.sampled_from(
        [("succeeded", "", "0"), ("failed", "final", "2001"), ("failed", "retryable", ""),
         ("unknown", "", "")]), minutes),
    st.tuples(st.just("refresh")),
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=14), zone=st.sampled_from(ZONES),
       corridor_filter=st.booleans())
def test_summary_equals_a_recount_after_any_mix_of_changes(corridors, steps, zone,
                                                           corridor_filter):
    partner, _ = make_partner()
    with transaction.atomic():
        transfers: list[Transfer] = []
        for entry in steps:
            kind = entry[0]
            if kind == "create":
                _, corridor, offset, state, seconds = entry
                transfer = make_transfer(corridor=corridors[corridor], state=state,
                                         partner=partner)
                created = START + datetime.timedelta(minutes=offset)
                Transfer.objects.filter(pk=transfer.pk).update(
                    created_at=created,
                    state_changed_at=created + datetime.timedelta(seconds=seconds))
                transfers.append(transfer)
            elif kind == "transition" and transfers:
                _, index, state, seconds = entry
                transfer = transfers[index % len(transfers)]
                created = Transfer.objects.values_list("created_at", flat=True).get(
                    pk=transfer.pk)
                Transfer.objects.filter(pk=transfer.pk).update(
                    state=state, state_changed_at=created + datetime.timedelta(seconds=seconds))
            elif kind == "amount" and transfers:
                _, index, amount_in, amount_out = entry
                Transfer.objects.filter(pk=transfers[index % len(transfers)].pk).update(
                    amount_in=amount_in, amount_out=amount_out)
            elif kind == "attempt" and transfers:
                _, index, (status, failure_kind, code), offset = entry
                transfer = transfers[index % len(transfers)]
                PayoutAttempt.objects.filter(  # at most one live attempt per transfer
                    owner_reference=str(transfer.public_id),
                    status__in=PayoutAttempt.LIVE_STATUSES).update(
                    status="failed", failure_kind="final")
                attempt = PayoutAttempt.objects.create(
                    rail=transfer.corridor.rail,
                    reference=f"attempt-{PayoutAttempt.objects.count()}",
                    owner_reference=str(transfer.public_id), amount=Decimal("10.00"),
                    currency="KES", recipient_msisdn="+254708374149",
                    status="failed" if status != "failed" else status,
                    failure_kind="final" if status != "failed" else failure_kind)
                PayoutAttempt.objects.filter(pk=attempt.pk).update(
                    created_at=START + datetime.timedelta(minutes=offset), status=status,
                    failure_kind=failure_kind, result_code=code)
            elif kind == "refresh":
                dashboard_summary_refresh()
        with timezone.override(zoneinfo.ZoneInfo(zone)):
            selection = selectors.DashboardFilter(
                date_from=datetime.date(2026, 11, 9), date_to=datetime.date(2026, 11, 17),
                corridor="usdc-kes" if corridor_filter else "")
            rows, time_to_cash, attempts = summary_figures(selection)
            raw_rows, raw_attempts = raw_figures(selection)
            raw_cash = selectors._time_to_cash(selection)
        assert rows == raw_rows
        assert attempts == raw_attempts
        assert DashboardDirtyBucket.objects.count() == 0
        assert [(row["corridor"], row["count"]) for row in time_to_cash] == [
            (row["corridor"], row["count"]) for row in raw_cash]
        for ours, exact in zip(time_to_cash, raw_cash, strict=True):
            for key in ("p50_seconds", "p90_seconds"):  # bins of three significant digits
                assert exact[key] * 0.99 - 0.1 <= ours[key] <= exact[key] + 0.1
        transaction.set_rollback(True)


def test_a_change_committed_during_a_refresh_is_recounted_next_time(corridors):
    """The refresh takes only the dirty rows it can see; what it recounts is current."""
    transfer = make_transfer(corridor=corridors[0], state=S.COMPLETED)
    assert dashboard_summary_refresh() >= 1
    assert dashboard_summary_refresh() == 0  # nothing changed since
    Transfer.objects.filter(pk=transfer.pk).update(advance_queued_until=timezone.now())
    assert dashboard_summary_refresh() == 0  # not a counted column
    Transfer.objects.filter(pk=transfer.pk).update(state=S.REFUNDED)
    assert dashboard_summary_refresh() == 1
    bucket = DashboardBucket.objects.get(corridor=corridors[0])
    assert (bucket.bucket_start, bucket.transfers, bucket.completed) == (
        bucket_start(transfer.created_at), 1, 0)


@given(seconds=st.floats(min_value=0, max_value=10**8, allow_nan=False))
def test_cash_bins_keep_three_significant_digits(seconds):
    value = cash_bin(seconds)
    assert value <= seconds
    assert seconds - value < max(1, seconds * 0.01)


def test_percentile_of_a_histogram_is_postgresql_percentile_cont():
    assert histogram_percentile({1800: 1, 3600: 1}, 0.5) == 2700.0
    assert histogram_percentile({1800: 1, 3600: 1}, 0.9) == pytest.approx(3420.0)
    assert histogram_percentile({600: 3}, 0.9) == 600.0
    assert histogram_percentile({}, 0.5) == 0.0
