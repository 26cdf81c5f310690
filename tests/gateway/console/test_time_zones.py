"""Operators see times and the dashboard's days in their own time zone (a preference, by default
CONSOLE_TIME_ZONE); the database keeps UTC."""

import datetime

import pytest

from gateway.console.models import AuditEvent, OperatorPreference
from gateway.transfers.models import Transfer
from gateway.transfers.states import TransferState
from tests.gateway.transfers.factories import make_corridor, make_transfer

pytestmark = pytest.mark.django_db
# 20:00 UTC on the 19th is 23:00 in Nairobi (the 19th) and 01:30 in Kolkata (the 20th).
CREATED = datetime.datetime(2026, 11, 19, 20, 0, tzinfo=datetime.UTC)


@pytest.fixture
def late_evening_transfer():
    transfer = make_transfer(corridor=make_corridor(code="usdc-kes"),
                             state=TransferState.COMPLETED)
    Transfer.objects.filter(pk=transfer.pk).update(
        created_at=CREATED, state_changed_at=CREATED + datetime.timedelta(minutes=30))
    return transfer


def days(client) -> list[tuple[str, int]]:
    data = client.get("/admin/console/dashboard.json?from=2026-11-18&to=2026-11-21").json()
    return [(row["day"], row["transfers"]) for row in data["per_day"]]


def choose(client, zone: str):
    return client.post("/admin/console/time-zone/", {"time_zone": zone})


def test_dashboard_days_are_the_operators_days(operator_client, late_evening_transfer, settings):
    settings.CONSOLE_TIME_ZONE = "Africa/Nairobi"
    nairobi = operator_client("nairobi", roles=["support"])
    kolkata = operator_client("kolkata", roles=["support"])
    assert choose(kolkata, "Asia/Kolkata").status_code == 302
    assert days(nairobi) == [("2026-11-19", 1)]  # the default zone
    assert days(kolkata) == [("2026-11-20", 1)]
    assert choose(nairobi, "UTC").status_code == 302
    assert days(nairobi) == [("2026-11-19", 1)]
    # stored in UTC whatever the operators chose
    assert Transfer.objects.get(pk=late_evening_transfer.pk).created_at == CREATED


def test_shared_figures_are_per_zone(operator_client, late_evening_transfer, settings):
    """Figures shared between operators (DASHBOARD_CACHE_SECONDS) are not shared across
    zones."""
    settings.DASHBOARD_CACHE_SECONDS = 60
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "console-time-zones"}}
    utc = operator_client("utc", roles=["support"])
    kolkata = operator_client("kolkata", roles=["support"])
    choose(kolkata, "Asia/Kolkata")
    assert days(utc) == [("2026-11-19", 1)]
    assert days(kolkata) == [("2026-11-20", 1)]


def test_transfer_page_shows_times_in_the_operators_zone(operator_client,
                                                         late_evening_transfer):
    client = operator_client("kolkata", roles=["support"])
    choose(client, "Asia/Kolkata")
    page = client.get(
        f"/admin/transfers/transfer/{late_evening_transfer.pk}/change/").content.decode()
    assert "Nov. 20, 2026, 1:30 a.m." in page  # created_at, rendered by the admin
    assert "Nov. 19, 2026, 8 p.m." not in page


def test_a_time_zone_choice_is_audited_and_a_bad_one_refused(operator_client):
    client = operator_client("desk", roles=["support"])
    page = client.get("/admin/console/time-zone/")
    assert page.status_code == 200
    assert 'id="current-zone">UTC<' in page.content.decode()
    for bad in ["Mars/Olympus_Mons", "../etc/passwd", "x" * 300]:
        response = choose(client, bad)
        assert response.status_code == 400
        assert "is not a time zone name" in response.content.decode()
    assert not OperatorPreference.objects.exists()
    assert choose(client, "America/Sao_Paulo").status_code == 302
    event = AuditEvent.objects.get(action="console.time_zone")
    assert (event.before, event.after) == ({"time_zone": ""},
                                           {"time_zone": "America/Sao_Paulo"})
    assert 'id="current-zone">America/Sao_Paulo<' in client.get(
        "/admin/console/time-zone/").content.decode()
    assert choose(client, "").status_code == 302  # back to the default
    assert OperatorPreference.objects.get().time_zone == ""


def test_signing_in_needs_no_zone(client):
    assert client.get("/admin/console/time-zone/").status_code == 302  # to the sign-in
