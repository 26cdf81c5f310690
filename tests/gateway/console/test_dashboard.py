"""The dashboard's figures (HTML, JSON, CSV) with exact values, its filters and their errors,
and the Needs-attention queue."""

import csv
import datetime
import html
import io
from decimal import Decimal

import pytest
from django.utils import timezone

from compliance.cases.services import case_open
from compliance.models import ScreeningDecision
from gateway.transfers.models import Transfer
from gateway.transfers.states import TransferState
from gateway.treasury.models import FloatPolicy, Incident
from gateway.webhooks.models import WebhookEndpoint
from ramps.payouts.models import PayoutAttempt
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_transfer
from tests.ramps.chain.factories import make_chain

pytestmark = pytest.mark.django_db
S = TransferState
TODAY = datetime.date(2026, 11, 20)


def at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=datetime.UTC)


def transfer_on(corridor, day, *, state=S.COMPLETED, seconds_to_cash=1800, partner=None):
    transfer = make_transfer(corridor=corridor, state=state, partner=partner)
    created = at(day, 10)
    Transfer.objects.filter(pk=transfer.pk).update(
        created_at=created, state_changed_at=created + datetime.timedelta(
            seconds=seconds_to_cash))
    return Transfer.objects.get(pk=transfer.pk)


@pytest.fixture
def business():
    partner, _ = make_partner()
    nairobi = make_corridor(code="usdc-kes")
    accra = make_corridor(code="usdc-ghs", chain=make_chain(
        caip2="eip155:31338", name="anvil-2", chain_id=31338))
    yesterday = TODAY - datetime.timedelta(days=1)
    transfer_on(nairobi, yesterday, seconds_to_cash=1800, partner=partner)
    transfer_on(nairobi, yesterday, seconds_to_cash=3600, partner=partner)
    transfer_on(nairobi, TODAY, state=S.ON_HOLD, partner=partner)
    transfer_on(accra, TODAY, seconds_to_cash=600, partner=partner)
    transfer_on(nairobi, TODAY - datetime.timedelta(days=30), partner=partner)  # out of range
    rail = nairobi.rail
    for status, kind, code in [("succeeded", "", ""), ("succeeded", "", ""),
                               ("failed", "final", "2001"), ("failed", "retryable", "")]:
        attempt = PayoutAttempt.objects.create(
            rail=rail, reference=f"ref-{PayoutAttempt.objects.count()}",
            owner_reference=f"t-{PayoutAttempt.objects.count()}", amount=Decimal("10.00"),
            currency="KES", recipient_msisdn="+254708374149", status=status,
            failure_kind=kind, result_code=code)
        PayoutAttempt.objects.filter(pk=attempt.pk).update(created_at=at(yesterday, 11))
    FloatPolicy.objects.create(rail_code=rail.code, currency="KES",
                               refill_threshold=Decimal("100000.00"),
                               refill_target=Decimal("500000.00"))
    return {"nairobi": nairobi, "accra": accra, "rail": rail}


def figures(client, query: str = ""):
    response = client.get(f"/admin/console/dashboard.json?from=2026-11-07&to=2026-11-20{query}")
    assert response.status_code == 200
    return response.json()


def test_dashboard_figures_per_corridor_and_day(operator_client, business):
    data = figures(operator_client("lead", roles=["support"]))
    assert data["totals"] == {"transfers": 4, "completed": 3}
    assert data["corridors"] == ["usdc-ghs", "usdc-kes"]
    assert [(row["day"], row["corridor"], row["transfers"], row["completed"], row["value_in"],
             row["value_out"], row["fees"], row["fx_spread"]) for row in data["per_day"]] == [
        ("2026-11-19", "usdc-kes", 2, 2, "200", "25400", "2", "0.795031"),
        ("2026-11-20", "usdc-ghs", 1, 1, "100", "12700", "1", "0.397516"),
        ("2026-11-20", "usdc-kes", 1, 0, "100", "0", "0", "0")]
    # the FX spread kept: 100 - 1 fee - 12700 / 128.8 venue rate = 0.397516 USDC a transfer
    assert data["revenue"] == {"USDC": {"fees": "3", "fx_spread": "1.192547",
                                        "total": "4.192547"}}
    assert data["time_to_cash"] == [
        {"corridor": "usdc-ghs", "count": 1, "p50_seconds": 600.0, "p90_seconds": 600.0},
        {"corridor": "usdc-kes", "count": 2, "p50_seconds": 2700.0, "p90_seconds": 3420.0}]
    [rail] = [row for row in data["payouts"] if row["rail"] == business["rail"].code]
    assert (rail["attempts"], rail["succeeded"], rail["failed"], rail["failed_rate"],
            rail["attempts_per_success"]) == (4, 2, 2, 0.5, 2.0)
    assert rail["failure_reasons"] == {"final 2001": 1, "retryable": 1}
    [float_row] = [row for row in data["float"] if row["rail"] == business["rail"].code]
    assert (float_row["free"], float_row["refill_threshold"], float_row["below_threshold"]) == (
        "0", "100000", True)


def test_corridor_filter_and_csv(operator_client, business):
    client = operator_client("lead", roles=["treasury"])
    data = figures(client, "&corridor=usdc-ghs")
    assert data["totals"] == {"transfers": 1, "completed": 1}
    assert [row["rail"] for row in data["payouts"]] == []  # attempts belong to other transfers
    response = client.get("/admin/console/dashboard.csv?from=2026-11-07&to=2026-11-20")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert response["Content-Type"] == "text/csv"
    assert [(row["day"], row["corridor"], row["revenue"]) for row in rows] == [
        ("2026-11-19", "usdc-kes", "2.795031"), ("2026-11-20", "usdc-ghs", "1.397516"),
        ("2026-11-20", "usdc-kes", "0")]


@pytest.mark.parametrize(("query", "message"), [
    ("from=2026-13-01", "'from' must be a date like"),
    ("from=2026-11-20&to=2026-11-01", "'from' must not be after 'to'"),
    ("from=2024-01-01&to=2026-11-20", "at most 366 days"),
    ("corridor=nowhere", "There is no corridor 'nowhere'"),
])
def test_bad_filters_get_a_problem_not_a_500(operator_client, query, message):
    client = operator_client("lead", roles=["support"])
    response = client.get(f"/admin/console/dashboard.json?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert message in response.json()["detail"]
    page = client.get(f"/admin/?{query}")
    assert page.status_code == 200
    assert message in html.unescape(page.content.decode())


def test_the_home_page_renders_the_charts_with_money_formatted(operator_client, business,
                                                               monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args: TODAY)
    page = operator_client("lead", roles=["support"]).get("/admin/")
    body = page.content.decode()
    assert page.status_code == 200
    assert body.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"') == 6
    assert "25,400.00 KES" in body
    assert "2.80 USDC" in body  # revenue per day, stablecoin to the cent
    assert "below threshold" in body


def test_roles_without_the_dashboard_permission_see_no_figures(operator_client, business):
    client = operator_client("nobody", roles=["support"])
    client.operator.user.groups.clear()
    assert client.get("/admin/console/dashboard.json").status_code == 403
    assert client.get("/admin/console/attention/").status_code == 403
    assert 'id="dashboard"' not in client.get("/admin/").content.decode()


def test_needs_attention_lists_what_waits_oldest_first_with_its_action(operator_client):
    now = timezone.now()
    held = make_transfer(state=S.ON_HOLD)
    decision = ScreeningDecision.objects.create(
        subject_reference=held.reference, outcome="hold", reasons=[{"rule": "sanctions"}],
        rules_version="t", list_versions={})
    Transfer.objects.filter(pk=held.pk).update(
        compliance_decision=decision, hold_reason="sanctions",
        state_changed_at=now - datetime.timedelta(hours=5))
    case = case_open(subject_reference=held.reference, reasons=decision.reasons,
                     decision_id=decision.pk)
    failed = make_transfer(state=S.PAYOUT_FAILED, corridor=held.corridor, partner=held.partner)
    Transfer.objects.filter(pk=failed.pk).update(state_changed_at=now - datetime.timedelta(
        hours=2))
    incident = Incident.objects.create(title="Float differs by 250.00 KES")
    Incident.objects.filter(pk=incident.pk).update(created_at=now - datetime.timedelta(days=1))
    WebhookEndpoint.objects.create(partner=held.partner, url="https://partner.example/hooks",
                                   failing_since=now - datetime.timedelta(minutes=30))
    page = operator_client("lead", roles=["support"]).get("/admin/console/attention/")
    assert page.status_code == 200
    items = page.context["items"]
    assert [item.kind for item in items] == ["reconciliation", "hold", "failed_payout",
                                             "webhook_endpoint"]
    assert items[1].url == f"/admin/cases/case/{case.pk}/act/"
    assert items[1].action == "Work the compliance case"
    assert items[2].url == f"/admin/transfers/transfer/{failed.pk}/change/"
    assert "partner.example/hooks · 0 deliveries given up" in items[3].detail
    assert items[3].title == "Webhook endpoint failing"
    assert "Correct the recipient, retry, reroute or refund" in page.content.decode()


def test_operators_share_the_figures_for_the_cache_period(operator_client, business, settings):
    from django.core.cache import cache

    settings.DASHBOARD_CACHE_SECONDS = 60
    cache.clear()
    client = operator_client("lead", roles=["support"])
    first = figures(client)
    transfer_on(business["accra"], TODAY)
    assert figures(client) == first  # the same computation, as of the same time
    assert first["totals"]["transfers"] == 4
    cache.clear()
    assert figures(client)["totals"]["transfers"] == 5
