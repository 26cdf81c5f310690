"""Control characters in any public endpoint's fields get a 400 problem, never a 500.

The endpoints and their fields come from the OpenAPI schema the API publishes (every path,
query and header parameter, every string and object key of every JSON request body), so a new
endpoint or field is covered without touching this file. PostgreSQL refuses NUL in text and
jsonb; before the boundary check a NUL in a query parameter or an Idempotency-Key was a 500.
"""

import json
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.common.control_characters import control_character_in, visible
from tests.gateway.partners.factories import make_partner

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
# Every control character (C0, DEL, C1). Body text may hold TAB, LF and CR, and JSON can carry a
# lone surrogate (an escape such as \ud800) that PostgreSQL cannot store either; a path, a query
# or a header cannot (it is not UTF-8), so there an invalid byte is just U+FFFD.
CONTROL = [chr(code) for code in [*range(0x20), *range(0x7F, 0xA0)]]
BODY_CONTROL = [ch for ch in CONTROL if ch not in "\t\n\r"] + ["\ud800", "\udfff"]


@dataclass(frozen=True)
class Target:
    method: str
    path: str          # with {placeholders}
    where: str         # path | query | header | body | body-key
    name: str          # parameter name, or a JSON pointer into the body


def _resolve(schema: dict, components: dict) -> dict:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _body_fields(schema: dict, components: dict, pointer: str = "",
                 seen: frozenset = frozenset()) -> list[tuple[str, str]]:
    """(kind, pointer) of every place in a request body a string can go: a string field, or a
    key of an object that takes any keys (metadata)."""
    ref = schema.get("$ref", "")
    if ref and ref in seen:
        return []  # a schema that contains itself: its fields are listed once
    schema = _resolve(schema, components)
    seen = seen | {ref} if ref else seen
    found: list[tuple[str, str]] = []
    for option in schema.get("oneOf", []) + schema.get("anyOf", []) + schema.get("allOf", []):
        found += _body_fields(option, components, pointer, seen)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        for name, child in schema.get("properties", {}).items():
            if _resolve(child, components).get("readOnly"):
                continue
            found += _body_fields(child, components, f"{pointer}/{name}", seen)
        if schema.get("additionalProperties") not in (None, False) or not schema.get(
                "properties"):
            found.append(("body-key", pointer))
    elif kind == "array":
        found += _body_fields(schema.get("items", {}), components, f"{pointer}/0", seen)
    elif kind in ("string", None) and pointer and not schema.get("allOf"):
        found.append(("body", pointer))
    return found


@cache
def targets() -> tuple[Target, ...]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema.get("components", {}).get("schemas", {})
    found: set[Target] = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                found.add(Target(method, path, parameter["in"], parameter["name"]))
            if method in ("post", "put", "patch"):
                found.add(Target(method, path, "header", "Idempotency-Key"))
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                for kind, pointer in _body_fields(body["schema"], components):
                    found.add(Target(method, path, kind, pointer))
    return tuple(sorted(found, key=lambda t: (t.path, t.method, t.where, t.name)))


def _set_pointer(pointer: str, value: Any, *, as_key: bool = False) -> Any:
    """A JSON document holding ``value`` at ``pointer`` (or, ``as_key``, an object there with
    ``value`` as one of its keys), lists for numeric parts."""
    parts = [part for part in pointer.split("/") if part]
    leaf: Any = {value: "x"} if as_key else value
    for part in reversed(parts):
        leaf = [leaf] if part.isdigit() else {part: leaf}
    return leaf


def _send(client: Client, target: Target, bad: str, ids: dict[str, str]):
    path = target.path
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    body: Any = {}
    if target.where == "path":
        path = target.path.replace("{" + target.name + "}", quote(bad, safe=""))
        for name, value in ids.items():
            path = path.replace("{" + name + "}", value)
    elif target.where == "query":
        query[target.name] = bad
    elif target.where == "header":  # as WSGI hands headers over: UTF-8 bytes read as latin-1
        headers["HTTP_" + target.name.upper().replace("-", "_")] = bad.encode().decode("latin-1")
    else:
        body = _set_pointer(target.name, bad, as_key=target.where == "body-key")
    method = getattr(client, target.method)
    if target.method in ("post", "put", "patch"):
        if query:
            from urllib.parse import urlencode

            path += "?" + urlencode(query)
        return method(path, data=json.dumps(body), content_type="application/json", **headers)
    return method(path, data=query, **headers)


@pytest.fixture
def partner_client(db):
    _, key = make_partner()
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


# Existing ids for path parameters, so that only the control character can be wrong.
IDS = {"transfer_id": str(uuid.uuid4()), "recipient_id": str(uuid.uuid4()),
       "endpoint_id": str(uuid.uuid4()), "delivery_id": str(uuid.uuid4()),
       "agent_code": "lagos-1"}


def test_the_schema_gives_every_kind_of_field():
    kinds = {(t.path, t.where, t.name) for t in targets()}
    assert ("/api/v1/transfers", "header", "Idempotency-Key") in kinds
    assert ("/api/v1/transfers", "query", "external_id") in kinds
    assert ("/api/v1/transfers", "body", "/recipient/name") in kinds
    assert ("/api/v1/transfers", "body", "/refund_address") in kinds
    assert ("/api/v1/transfers", "body-key", "/travel_rule") in kinds
    assert ("/api/v1/customers", "body-key", "/fields") in kinds
    assert ("/api/v1/quotes", "body", "/amount_in") in kinds
    assert ("/api/v1/transfers/{transfer_id}", "path", "transfer_id") in kinds
    assert len({t.path for t in targets()}) >= 20


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_a_control_character_in_any_field_gets_a_400_problem(partner_client, data):
    target = data.draw(st.sampled_from(targets()), label="target")
    control = BODY_CONTROL if target.where.startswith("body") else CONTROL
    text = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
    bad = (data.draw(text, label="before")
           + data.draw(st.sampled_from(control), label="control")
           + data.draw(text, label="after"))
    response = _send(partner_client, target, bad, IDS)
    assert response.status_code == 400, (target, response.content[:300])
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "/problems/control-character", problem
    assert problem["status"] == 400


def test_nul_in_the_idempotency_key_of_a_real_transfer_is_a_400_and_stores_nothing(
        partner_client):
    from gateway.transfers.models import IdempotencyRecord

    response = partner_client.post("/api/v1/transfers", data=json.dumps({"quote_id": "x"}),
                                   content_type="application/json",
                                   HTTP_IDEMPOTENCY_KEY="key\x00one")
    assert response.status_code == 400
    assert response.json()["location"] == "header Idempotency-Key"
    assert response.json()["character"] == "U+0000"
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("text", ["Flat 2\nBroad St 1\r\nLagos", "Joseph\tMwangi"])
def test_tab_and_line_breaks_pass_in_body_text(partner_client, text):
    response = partner_client.post("/api/v1/quotes", data=json.dumps({"note": text}),
                                   content_type="application/json")
    assert response.status_code != 500
    assert response.json().get("type") != "/problems/control-character"


def test_non_ascii_text_in_headers_and_bodies_passes(partner_client):
    response = partner_client.get("/api/v1/info", HTTP_USER_AGENT="Zé\u2019s wallet\u2026".encode()
                                  .decode("latin-1"))
    assert response.status_code == 200
    response = partner_client.post(
        "/api/v1/quotes", content_type="application/json",
        data=json.dumps({"recipient_name": "Zoë Ñandú \u0645\u062d\u0645\u062f"}))
    assert response.json().get("type") != "/problems/control-character"


def test_the_admin_and_the_agent_portal_refuse_them_too(db):
    staff = User.objects.create_user("ops", password="pw-12345678", is_staff=True)
    client = Client()
    client.force_login(staff)
    response = client.get("/admin/transfers/transfer/", {"q": "abc\x00"})
    assert response.status_code == 400
    response = Client().post("/agents/login/", {"username": "a\x00", "password": "b"})
    assert response.status_code == 400
    assert response.json()["location"] == "form field 'username'"


def test_a_provider_callback_body_is_not_refused_it_is_stored_as_received(db):
    # The path's secret is wrong, so the view answers 404 (stores nothing); what matters is
    # that the body's NUL did not stop it at the boundary with a 400.
    response = Client().post("/callbacks/payouts/mpesa/not-the-secret/result",
                             data=b'{"Result": "\\u0000"}', content_type="application/json")
    assert response.status_code == 404


@example(text="\ud801")  # a lone surrogate alone: found once by chance, kept
@given(text=st.text(st.characters(), max_size=30))
def test_the_check_finds_exactly_the_control_characters(text):
    found = control_character_in(text)
    assert (found is not None) is any(ch in CONTROL or "\ud800" <= ch <= "\udfff"
                                      for ch in text)
    in_body = control_character_in(text, allow_whitespace=True)
    # Lone surrogates are refused in bodies too (PostgreSQL cannot store them either).
    assert (in_body is not None) is any(ch in BODY_CONTROL or "\ud800" <= ch <= "\udfff"
                                        for ch in text)
    assert control_character_in(visible(text)) is None
