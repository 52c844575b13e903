"""The OpenAPI description says what error answers look like, and the server sends exactly that."""

from __future__ import annotations

from server.api_http import send
from skyhop.server.schemas import ErrorBody


def test_every_422_is_described_as_the_error_body_the_server_sends(shared_api_server):
    schema = send(shared_api_server, "GET", "/openapi.json", auth=False).json
    described = [
        (path, method) for path, item in schema["paths"].items() for method, operation in item.items() if "422" in operation.get("responses", {})
    ]
    assert described  # routes that take parameters or bodies
    for path, method in described:
        answer = schema["paths"][path][method]["responses"]["422"]
        assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (path, method)
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert set(schema["components"]["schemas"]["ErrorBody"]["properties"]) == {"code", "detail", "fields"}
    # A real 422 has that shape and no other key.
    refused = send(shared_api_server, "GET", "/api/v1/managed-jobs?limit=0")
    assert refused.status == 422
    body = ErrorBody.model_validate(refused.json)
    assert set(refused.json) <= {"code", "detail", "fields"} and body.code == "invalid_request" and body.fields == ["query.limit"]
