"""The OpenAPI schema documents headers, problems and examples of the partner operations."""

import json

from rest_framework.test import APIClient


def test_schema_documents_idempotency_headers_typed_problems_and_examples(db):
    schema = json.loads(APIClient().get("/api/schema/?format=json").content)
    create = schema["paths"]["/api/v1/transfers"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" and p["required"]
               for p in create["parameters"])
    assert create["responses"]["201"]["headers"]["Idempotent-Replayed"]["schema"]["enum"] == [
        "true"]
    problem = create["responses"]["409"]["content"]["application/problem+json"]["schema"][
        "$ref"]
    assert problem.endswith("/Problem")
    assert set(schema["components"]["schemas"]["Problem"]["properties"]) >= {
        "type", "title", "status", "detail"}
    correct = schema["paths"]["/api/v1/transfers/{transfer_id}"]["patch"]
    assert correct["operationId"] == "transfer_correct"
    assert correct["responses"]["200"]["headers"]["Idempotent-Replayed"]
    quote = schema["paths"]["/api/v1/quotes"]["post"]
    examples = quote["requestBody"]["content"]["application/json"]["examples"]
    assert next(iter(examples.values()))["value"]["amount_in"] == "100.00"
    transfer = schema["components"]["schemas"]["TransferResponse"]["properties"]
    assert {"fee", "refunds", "deposit", "cash_pickup", "required_info_updates"} <= set(transfer)
    operation_ids = {op["operationId"] for path in schema["paths"].values()
                     for op in path.values() if isinstance(op, dict) and "operationId" in op}
    assert {"transfer_list", "transfer_cancel", "transfer_export", "price_retrieve",
            "info_retrieve", "recipient_create"} <= operation_ids
