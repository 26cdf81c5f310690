"""GET /api/v1/transfers (filters, keyset pagination), its CSV export, unique external_id."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.db.models import Count
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from gateway.partners.models import Partner
from gateway.transfers.models import Quote, Transfer
from gateway.transfers.selectors import cursor_decode, cursor_encode
from gateway.transfers.states import TransferState
from ramps.chain.models import DepositAddress
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_quote, make_transfer
from tests.ramps.chain.factories import make_chain

PROBLEM = "application/problem+json"
S = TransferState
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def client_for(partner_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {partner_key}")
    return client


@pytest.fixture
def setup(db):
    partner, key = make_partner()
    corridor = make_corridor()
    client = client_for(key)
    return partner, corridor, client


def transfer_at(*, partner, corridor, minutes: int, state: str = S.AWAITING_DEPOSIT,
                external_id: str = "", updated_minutes: int | None = None) -> Transfer:
    transfer = make_transfer(partner=partner, corridor=corridor, state=state,
                             external_id=external_id)
    created = T0 + timedelta(minutes=minutes)
    updated = T0 + timedelta(minutes=minutes if updated_minutes is None else updated_minutes)
    Transfer.objects.filter(pk=transfer.pk).update(created_at=created, updated_at=updated)
    transfer.refresh_from_db()
    return transfer


def all_pages(client, query: str = "", limit: int = 2) -> list[list[str]]:
    pages, cursor = [], ""
    for _ in range(100):
        url = f"/api/v1/transfers?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([t["id"] for t in body["results"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("pagination did not end")


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    return body


# --- list and pagination --------------------------------------------------------------------


def test_list_is_newest_first_and_pages_end_with_a_null_cursor(setup):
    partner, corridor, client = setup
    transfers = [transfer_at(partner=partner, corridor=corridor, minutes=m) for m in range(5)]
    pages = all_pages(client, limit=2)
    newest_first = [str(t.public_id) for t in reversed(transfers)]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    body = client.get("/api/v1/transfers").json()
    assert [t["id"] for t in body["results"]] == newest_first
    assert body["next_cursor"] is None
    assert body["results"][0]["status"] == "pending_sender"


def test_pages_are_stable_while_new_transfers_are_created(setup):
    partner, corridor, client = setup
    old = [transfer_at(partner=partner, corridor=corridor, minutes=m) for m in range(4)]
    first = client.get("/api/v1/transfers?limit=2").json()
    assert [t["id"] for t in first["results"]] == [str(old[3].public_id), str(old[2].public_id)]
    # Two transfers arrive between the pages (one at the very same instant as the cursor).
    transfer_at(partner=partner, corridor=corridor, minutes=10)
    transfer_at(partner=partner, corridor=corridor, minutes=3)
    second = client.get(f"/api/v1/transfers?limit=2&cursor={first['next_cursor']}").json()
    ids = [t["id"] for t in second["results"]]
    # Nothing skipped, nothing repeated among the transfers that existed at the first page;
    # a same-instant insert sorts by public id, so it may or may not fall after the cursor.
    assert [i for i in ids if i in {str(t.public_id) for t in old}] == [
        str(old[1].public_id), str(old[0].public_id)][: len(ids)]
    rest = all_pages(client, limit=50)
    assert sum(len(page) for page in rest) == 6


@settings(max_examples=30, deadline=None)
@given(minutes=st.lists(st.integers(min_value=0, max_value=3), min_size=0, max_size=9),
       limit=st.integers(min_value=1, max_value=4))
@pytest.mark.django_db
def test_paging_through_returns_every_transfer_once_in_order_even_with_ties(minutes, limit):
    # Examples share the test's transaction: one pool of transfers, re-timed per example.
    partner = Partner.objects.filter(name="paging-pool").first()
    if partner is None:
        partner = make_partner("paging-pool")[0]
        corridor = make_corridor()
        for _ in range(9):
            make_transfer(partner=partner, corridor=corridor)
    reader, key = make_partner()
    pool = list(Transfer.objects.filter(partner__name__in=["paging-pool"]).order_by("pk"))
    Transfer.objects.filter(pk__in=[t.pk for t in pool]).update(partner=partner)
    transfers = pool[: len(minutes)]
    for transfer, minute in zip(transfers, minutes, strict=False):
        Transfer.objects.filter(pk=transfer.pk).update(
            partner=reader, created_at=T0 + timedelta(minutes=minute))
        transfer.refresh_from_db()
    pages = all_pages(client_for(key), limit=limit)
    expected = [str(t.public_id) for t in sorted(
        transfers, key=lambda t: (t.created_at, t.public_id), reverse=True)]
    assert [i for page in pages for i in page] == expected
    assert all(len(page) <= limit for page in pages)
    assert len(pages) == max(1, -(-len(transfers) // limit))


def test_another_partners_transfers_never_appear(setup):
    partner, corridor, client = setup
    other, other_key = make_partner()
    mine = transfer_at(partner=partner, corridor=corridor, minutes=1, external_id="R-1")
    theirs = transfer_at(partner=other, corridor=corridor, minutes=2, external_id="R-1")
    assert [t["id"] for t in client.get("/api/v1/transfers").json()["results"]] == [
        str(mine.public_id)]
    found = client_for(other_key).get("/api/v1/transfers?external_id=R-1").json()["results"]
    assert [t["id"] for t in found] == [str(theirs.public_id)]


def test_filters_by_status_corridor_external_id_and_time_ranges(setup):
    partner, corridor, client = setup
    other_corridor = make_corridor(chain=make_chain(caip2="eip155:1", name="eth", chain_id=1))
    waiting = transfer_at(partner=partner, corridor=corridor, minutes=0, external_id="A")
    paid = transfer_at(partner=partner, corridor=corridor, minutes=10, state=S.COMPLETED,
                       updated_minutes=60, external_id="B")
    held = transfer_at(partner=partner, corridor=other_corridor, minutes=20, state=S.ON_HOLD)
    refunded = transfer_at(partner=partner, corridor=corridor, minutes=30, state=S.REFUNDED)

    def ids(query: str) -> list[str]:
        response = client.get(f"/api/v1/transfers?{query}")
        assert response.status_code == 200, response.content
        return [t["id"] for t in response.json()["results"]]

    def pid(*transfers) -> list[str]:
        return [str(t.public_id) for t in transfers]

    assert ids("status=completed") == pid(paid)
    assert ids("status=completed,refunded") == pid(refunded, paid)
    assert ids("status=on_hold") == pid(held)
    assert ids(f"corridor={other_corridor.code}") == pid(held)
    assert ids("external_id=A") == pid(waiting)
    assert ids("external_id=nothing") == []
    assert ids("created_after=2026-11-01T12:10:00Z") == pid(refunded, held, paid)
    assert ids("created_before=2026-11-01T12:10:00Z") == pid(waiting)
    assert ids("created_after=2026-11-01T12:05:00Z&created_before=2026-11-01T12:25:00Z") == pid(
        held, paid)
    assert ids("updated_after=2026-11-01T12:45:00Z") == pid(paid)
    assert ids("updated_before=2026-11-01T12:25:00Z&status=pending_sender") == pid(waiting)


@pytest.mark.parametrize(("query", "field"), [
    ("status=finished", "status"),
    ("status=,", "status"),
    ("created_after=yesterday", "created_after"),
    ("updated_before=2026-13-01T00:00:00Z", "updated_before"),
    ("limit=0", "limit"),
    ("limit=201", "limit"),
    ("limit=ten", "limit"),
])
def test_bad_filters_are_400_problems_naming_the_field(setup, query, field):
    _, _, client = setup
    body = assert_problem(client.get(f"/api/v1/transfers?{query}"), 400, "validation-error")
    assert list(body["errors"]) == [field]


@pytest.mark.parametrize(("cursor", "slug"), [
    ("nonsense", "invalid-cursor"), ("e30", "invalid-cursor"), ("eyJjIjoxfQ", "invalid-cursor"),
    ("eyJjIjoiMjAyNi0xMS0wMVQxMjowMDowMCIsImkiOiIwIn0", "invalid-cursor"),
    ("%00", "control-character"), ("e" * 401, "validation-error"),
])
def test_a_forged_cursor_is_a_400_problem(setup, cursor, slug):
    _, _, client = setup
    assert_problem(client.get(f"/api/v1/transfers?cursor={cursor}"), 400, slug)


def test_listing_needs_an_api_key(db):
    assert_problem(APIClient().get("/api/v1/transfers"), 401, "unauthenticated")
    assert_problem(APIClient().get("/api/v1/transfers/export"), 401, "unauthenticated")


def test_a_page_costs_a_fixed_number_of_queries(setup, django_assert_max_num_queries):
    partner, corridor, client = setup
    for minute in range(3):
        transfer_at(partner=partner, corridor=corridor, minutes=minute)
    with django_assert_max_num_queries(16) as few:
        client.get("/api/v1/transfers")
    for minute in range(3, 23):
        transfer_at(partner=partner, corridor=corridor, minutes=minute)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get("/api/v1/transfers").json()["results"]) == 23


@given(created=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),  # noqa: DTZ001
                            timezones=st.just(UTC)),
       public_id=st.uuids())
def test_cursor_round_trips(created, public_id):
    transfer = Transfer(created_at=created, public_id=public_id)
    assert cursor_decode(cursor_encode(transfer)) == (created, public_id)


# --- CSV export -----------------------------------------------------------------------------


def test_csv_export_has_every_matching_transfer_newest_first(setup):
    partner, corridor, client = setup
    other, _ = make_partner()
    first = transfer_at(partner=partner, corridor=corridor, minutes=1, external_id="=HYPERLINK(1)")
    second = transfer_at(partner=partner, corridor=corridor, minutes=2, state=S.COMPLETED,
                         external_id="INV-2")
    transfer_at(partner=other, corridor=corridor, minutes=3)
    response = client.get("/api/v1/transfers/export", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["id", "external_id", "status", "state", "corridor", "amount_in",
                       "amount_in_asset", "amount_fee", "amount_out", "amount_out_currency",
                       "rate", "created_at", "updated_at"]
    assert rows[1] == [str(second.public_id), "INV-2", "completed", "completed", corridor.code,
                       "100.000000", corridor.token.caip19, "1.000000", "12700.00", "KES",
                       "128.282828282828", "2026-11-01T12:02:00.000000Z",
                       "2026-11-01T12:02:00.000000Z"]
    # A spreadsheet formula in the partner's own reference is neutralised.
    assert rows[2][:3] == [str(first.public_id), "'=HYPERLINK(1)", "pending_sender"]
    assert len(rows) == 3
    completed = client.get("/api/v1/transfers/export?status=completed")
    lines = b"".join(completed.streaming_content).decode().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith(str(second.public_id))


def test_csv_export_with_a_bad_filter_is_a_problem_even_when_csv_is_asked_for(setup):
    _, _, client = setup
    response = client.get("/api/v1/transfers/export?status=lost", HTTP_ACCEPT="text/csv")
    body = assert_problem(response, 400, "validation-error")
    assert list(body["errors"]) == ["status"]


# --- external_id is unique per partner ------------------------------------------------------


def transfer_body(quote_id, **overrides):
    return {"quote_id": str(quote_id), "sender": {"name": "Amina Odhiambo"},
            "recipient": {"name": "Joseph Mwangi", "phone_number": "+254708374149"},
            **overrides}


def post(client, body, key):
    return client.post("/api/v1/transfers", data=json.dumps(body),
                       content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_reused_external_id_is_409_with_the_existing_transfer_and_creates_nothing(setup):
    partner, corridor, client = setup
    first = post(client, transfer_body(make_quote(partner=partner, corridor=corridor).public_id,
                                       external_id="INV-77"), "k1")
    assert first.status_code == 201, first.content
    addresses = DepositAddress.objects.count()
    quote = make_quote(partner=partner, corridor=corridor)
    second = post(client, transfer_body(quote.public_id, external_id="INV-77"), "k2")
    body = assert_problem(second, 409, "external-id-reused")
    assert body["existing_transfer_id"] == first.json()["id"]
    assert first.json()["id"] in body["detail"]
    assert Transfer.objects.count() == 1
    assert DepositAddress.objects.count() == addresses
    assert Quote.objects.get(pk=quote.pk).used_at is None
    # The same external_id is free for another partner, and an empty one never conflicts.
    other, other_key = make_partner()
    assert post(client_for(other_key), transfer_body(
        make_quote(partner=other, corridor=corridor).public_id, external_id="INV-77"),
        "k3").status_code == 201
    for key in ("k4", "k5"):
        assert post(client, transfer_body(make_quote(partner=partner, corridor=corridor)
                                          .public_id), key).status_code == 201


def test_a_concurrent_reuse_caught_by_the_constraint_is_409_too(setup, monkeypatch):
    partner, corridor, client = setup
    existing = make_transfer(partner=partner, corridor=corridor, external_id="RACE")
    calls = []

    def not_seen_yet(*, partner, external_id):
        # The first look misses the row, as a request racing the other one's commit would.
        from gateway.transfers.selectors import transfer_get_by_external_id
        calls.append(external_id)
        return None if len(calls) == 1 else transfer_get_by_external_id(
            partner=partner, external_id=external_id)

    monkeypatch.setattr("gateway.transfers.apis.transfer_get_by_external_id", not_seen_yet)
    quote = make_quote(partner=partner, corridor=corridor)
    body = assert_problem(post(client, transfer_body(quote.public_id, external_id="RACE"), "r"),
                          409, "external-id-reused")
    assert body["existing_transfer_id"] == str(existing.public_id)
    assert Transfer.objects.count() == 1
    assert Quote.objects.get(pk=quote.pk).used_at is None


def test_the_migration_renames_existing_duplicates_and_keeps_the_oldest(setup):
    import importlib

    partner, corridor, _ = setup
    migration = importlib.import_module("gateway.transfers.migrations.0006_external_id_unique")
    with connection.cursor() as cursor:  # as the table was before the constraint
        # A conditional unique constraint is a partial unique index in PostgreSQL.
        cursor.execute("DROP INDEX transfer_external_id_once_per_partner")
    oldest = transfer_at(partner=partner, corridor=corridor, minutes=0, external_id="X" * 100)
    later = [transfer_at(partner=partner, corridor=corridor, minutes=m, external_id="X" * 100)
             for m in (1, 2)]
    other, _ = make_partner()
    elsewhere = transfer_at(partner=other, corridor=corridor, minutes=3, external_id="X" * 100)
    unnamed = [transfer_at(partner=partner, corridor=corridor, minutes=m) for m in (4, 5)]
    migration.rename_duplicate_external_ids(django_apps, None)
    oldest.refresh_from_db()
    elsewhere.refresh_from_db()
    assert oldest.external_id == elsewhere.external_id == "X" * 100
    for transfer in later:
        transfer.refresh_from_db()
        suffix = f"~dup-{transfer.public_id}"
        assert transfer.external_id == "X" * (100 - len(suffix)) + suffix
    assert {t.external_id for t in Transfer.objects.filter(pk__in=[u.pk for u in unnamed])} == {
        ""}
    duplicates = (Transfer.objects.exclude(external_id="").values("partner_id", "external_id")
                  .annotate(count=Count("id")).filter(count__gt=1))
    assert not duplicates.exists()  # the constraint can now be created
