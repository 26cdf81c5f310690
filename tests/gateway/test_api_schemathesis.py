"""Schemathesis against the API's own OpenAPI schema, every partner operation, every check.

The schema is the one ``/api/schema/`` serves; requests go to the Django application in process
(WSGI) with a partner's API key on every generated case, against a world with a corridor priced
by the sandbox exchange and a transfer to follow. Positive and negative cases are generated
deterministically (fixed examples, derandomized) so that a run is the same every time.

Strings hold no NUL characters here (``allow_x00=False``): NUL in ordinary API fields is a
separate piece of work with its own tests.
"""

import json
from decimal import Decimal

import pytest
import schemathesis
from django.apps import apps
from django.core import signals
from django.db import close_old_connections
from django.test import Client, override_settings
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gateway.wsgi import application
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_transfer
from tests.gateway.transfers.test_api import fund_rail_float

MAX_EXAMPLES = 10


@pytest.fixture
def in_process_requests(settings):
    """Requests through the real WSGI handler inside the test's transaction: Django closes the
    database connection after each request (``close_old_connections``), which the test client
    avoids and a raw WSGI call does not; the host is the one schemathesis' transport sends."""
    settings.ALLOWED_HOSTS = ["localhost"]
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_keys(db, exchange_venue) -> dict[str, str]:
    """A key per security scheme: a partner's, and an agent network's (cash pickup counters)."""
    corridor = make_corridor(venue=exchange_venue)
    fund_rail_float(corridor.rail.code, Decimal("1000000.00"))
    partner, key = make_partner()
    make_transfer(partner=partner, corridor=corridor)
    network = apps.get_model("agents", "AgentNetwork").objects.create(code="net", name="Net")
    _, network_key = apps.get_model("agents", "AgentNetworkAPIKey").objects.create_key(
        network=network, name="counter")
    return {"PartnerApiKey": key, "AgentNetworkApiKey": network_key}


def served_schema() -> dict:
    """The schema exactly as /api/schema/ serves it (read once, at collection)."""
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        return json.loads(Client().get("/api/schema/?format=json").content)


SERVED = served_schema()
SECURITY_SCHEME = {f"{method.upper()} {path}": next(iter(operation["security"][0]))
                   for path, item in SERVED["paths"].items()
                   for method, operation in item.items()
                   if isinstance(operation, dict) and operation.get("security")}
schema = schemathesis.openapi.from_dict(SERVED)
schema.app = application
# The key is not generated (with_security_parameters=False: a generated or negated Authorization
# header would replace it); the ignored_auth check still sends requests without it, expecting 401.
schema.config.generation.update(modes=["positive", "negative"], max_examples=MAX_EXAMPLES,
                                deterministic=True, allow_x00=False,
                                with_security_parameters=False)


# Rules the schema cannot express (one field depending on another, or on rows that exist: a
# corridor, a KYC tier, a quote), each stated in its operation's description. A schema-valid
# request may be refused only with one of these problem types; a validation-error only for the
# fields named. Anything else refused is a schema that says too little.
PRICE_RULES = {"unknown-corridor": None, "invalid-amount": None, "below-venue-minimum": None,
               "above-venue-maximum": None, "venue-price-out-of-range": None,
               "venue-order-rules": None, "below-payout-minimum": None,
               "above-payout-maximum": None}
RULES_BEYOND_THE_SCHEMA: dict[str, dict[str, frozenset[str] | None]] = {
    "GET /api/v1/customers": {"validation-error": frozenset({"non_field_errors"})},
    "PUT /api/v1/customers": {"unknown-kyc-tier": None, "customer-fields-invalid": None},
    "GET /api/v1/prices": {**PRICE_RULES, "validation-error": frozenset(
        {"amount_in", "amount_out", "amount_in_asset", "amount_out_currency"})},
    "POST /api/v1/quotes": {**PRICE_RULES, "invalid-recipient": None,
                            "validation-error": frozenset(
                                {"amount_in", "amount_in_asset", "amount_out_currency"})},
    "POST /api/v1/recipients": {"unknown-corridor": None, "invalid-recipient": None},
    "POST /api/v1/transfers": {"unknown-quote": None, "quote-expired": None,
                               "quote-already-used": None,
                               "unknown-recipient": None, "invalid-recipient": None,
                               "travel-rule-data-invalid": None,
                               "recipient-verification-mismatch": None,
                               "idempotency-key-reused": None,
                               "validation-error": frozenset({"recipient"})},
    "GET /api/v1/transfers": {"invalid-cursor": None},
    "POST /api/v1/customers/{customer_id}/documents": {"document-rejected": None},
    "PATCH /api/v1/transfers/{transfer_id}": {"validation-error": frozenset(
        {"non_field_errors"})},
    "POST /api/v1/travel-rule/validate": {"travel-rule-data-invalid": None},
    "POST /api/v1/webhook-endpoints": {"webhook-endpoint-invalid": None},
    "PATCH /api/v1/webhook-endpoints/{endpoint_id}": {"webhook-endpoint-invalid": None},
}
# Rules of every operation, stated in the API's own description.
GLOBAL_RULES: dict[str, frozenset[str] | None] = {"control-character": None}
ACCEPTED_STATUSES = frozenset({401, 403, 404, 409, 429})
REFUSED_BEFORE_THE_VIEW = frozenset({"/problems/control-character", "/problems/malformed-request"})


def refusal_is_documented(case, response) -> None:
    """Schemathesis' positive_data_acceptance, tolerant only for RULES_BEYOND_THE_SCHEMA."""
    if not case.meta.generation.mode.is_positive:
        return
    if response.status_code < 400 or response.status_code in ACCEPTED_STATUSES:
        return
    assert response.status_code < 500  # not_a_server_error says so already, with its details
    body = response.json()
    slug = body["type"].removeprefix("/problems/")
    rules = {**GLOBAL_RULES, **RULES_BEYOND_THE_SCHEMA.get(case.operation.label, {})}
    assert slug in rules, (
        f"{case.operation.label} refused schema-valid data with {response.status_code} {slug} "
        f"(not a documented rule beyond the schema): {body}")
    fields = rules[slug]
    if fields is not None:
        assert set(body.get("errors", {})) <= fields, (
            f"{case.operation.label}: {slug} for {sorted(body.get('errors', {}))}, documented "
            f"only for {sorted(fields)}: {body}")


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_every_operation_keeps_its_contract(case, api_keys, in_process_requests):
    scheme = SECURITY_SCHEME[case.operation.label]
    response = case.call_and_validate(headers={"Authorization": f"Api-Key {api_keys[scheme]}"},
                                      excluded_checks=[positive_data_acceptance])
    assert response.status_code != 401, "the key goes with every generated case"
    before_the_key = response.status_code == 406 or (
        response.status_code == 400 and response.json()["type"] in REFUSED_BEFORE_THE_VIEW)
    if scheme == "PartnerApiKey" and not before_the_key:
        # Every answer to a partner's request says where the partner stands against its rate
        # limit, but those given before the key is read (content negotiation; a control
        # character or a body Django cannot read, refused before any view).
        assert response.headers["ratelimit-limit"] == ["1000000"]
    refusal_is_documented(case, response)


def test_every_rule_beyond_the_schema_is_documented_on_its_operation():
    operations = {f"{method.upper()} {path}": operation
                  for path, item in SERVED["paths"].items()
                  for method, operation in item.items() if isinstance(operation, dict)}
    assert all(slug in SERVED["info"]["description"] for slug in GLOBAL_RULES)
    for label, rules in RULES_BEYOND_THE_SCHEMA.items():
        description = operations[label].get("description", "")
        for slug in rules:
            assert slug in description, f"{label} does not document {slug}"


def test_a_body_django_cannot_read_is_a_problem_not_an_html_page(db):
    # Found by this module: multipart/form-data without a boundary made Django answer its own
    # HTML 400 page.
    _partner, key = make_partner()
    client = Client()
    response = client.post("/api/v1/quotes", data=b"amount_in=1",
                           content_type="multipart/form-data",
                           HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/malformed-request"
