"""The audit log's writer (gateway.common.audit): every app records through it without importing
the console, values are stored JSON-safe (money as decimal strings), the client's address only
when it is one."""

import datetime
import decimal
import json
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.common.audit import AuditOutcome, audit_record, client_ip, snapshot
from gateway.console.models import AuditEvent

plain_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=20),
    st.decimals(allow_nan=False, allow_infinity=False, places=6),
    st.uuids(), st.datetimes(), st.dates())
nested = st.recursive(plain_leaves, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=20)


def expected_plain(value):
    """What the log keeps: JSON values, with NUL (which PostgreSQL cannot store) as U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {expected_plain(key): expected_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expected_plain(item) for item in value]
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, derandomize=True)  # one database row per example
@given(before=nested)
def test_any_value_is_stored_json_safe_with_money_as_decimal_strings(before):
    event = audit_record(actor_username="amina", action="tests.any", before={"value": before})

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.before == {"value": expected_plain(before)}
    json.dumps(stored.before)  # never raises


def test_a_snapshot_holds_the_named_fields_only_as_plain_values():
    user = get_user_model()(pk=7, username="kofi", is_staff=True,
                            date_joined=datetime.datetime(2026, 5, 1, 9, 30, tzinfo=datetime.UTC))

    assert snapshot(user, ["username", "is_staff", "date_joined"]) == {
        "username": "kofi", "is_staff": True, "date_joined": "2026-05-01T09:30:00+00:00"}
    assert snapshot(None, ["username"]) == {}


@pytest.mark.parametrize(("remote", "expected"), [
    ("203.0.113.9", "203.0.113.9"), (" 2001:db8::1 ", "2001:db8::1"),
    ("", None), ("not-an-address", None), ("203.0.113.9, 10.0.0.1", None)])
def test_the_client_address_is_kept_only_when_it_is_one(remote, expected):
    request = RequestFactory().get("/", REMOTE_ADDR=remote)
    assert client_ip(request) == expected
    assert client_ip(None) is None


@pytest.mark.django_db
def test_an_event_names_the_signed_in_operator_the_object_and_where_the_request_came_from():
    user = get_user_model().objects.create_user(username="amina", password="unused-here-9")
    request = RequestFactory().post("/admin/", REMOTE_ADDR="198.51.100.4")
    request.user = user

    event = audit_record(request=request, action="x" * 100, obj=user, subject_reference="t-1",
                         before={"is_active": True}, after={"is_active": False},
                         reason="left the team", detail="d" * 3000)

    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor, stored.actor_username, stored.action, stored.outcome) == (
        user, "amina", "x" * 80, AuditOutcome.DONE)
    assert (stored.object_type, stored.object_id, stored.object_repr) == (
        "auth.user", str(user.pk), "amina")
    assert (stored.before, stored.after, stored.reason) == (
        {"is_active": True}, {"is_active": False}, "left the team")
    assert (len(stored.detail), stored.ip_address, stored.subject_reference) == (
        2000, "198.51.100.4", "t-1")


@pytest.mark.django_db
def test_an_anonymous_attempt_is_recorded_under_the_name_typed():
    request = RequestFactory().post("/admin/login/", REMOTE_ADDR="198.51.100.4")

    event = audit_record(request=request, actor_username="mallory", action="console.sign_in",
                         outcome=AuditOutcome.REFUSED)

    assert (event.actor, event.actor_username, event.outcome) == (None, "mallory", "refused")


def test_the_console_log_uses_the_shared_outcomes():
    assert AuditEvent.Outcome is AuditOutcome
    assert AuditEvent._meta.get_field("outcome").choices == AuditOutcome.choices
