"""docs/openapi.json is the live description, and the description is complete: what each path parameter
accepts, and every error answer the server can give, each an ErrorBody."""

from __future__ import annotations

import json

import pytest
from helpers import REPO

from skyhop.server import openapi
from skyhop.server.middleware import OPEN_PATHS

COMMITTED = REPO / openapi.COMMITTED


@pytest.fixture(scope="module")
def described() -> dict:
    return openapi.offline_app().openapi()


def test_the_committed_description_is_the_live_one():
    live = openapi.text(openapi.offline_app())
    assert COMMITTED.read_text(encoding="utf-8") == live, (
        f"{openapi.COMMITTED} differs from the API's description: run `python -m skyhop.server.openapi` "
        "from the repository root and commit the result (review the diff: a removed or narrowed field is a breaking change "
        "that bumps API_VERSION in skyhop/server/api_version.py)."
    )


def _operations(described: dict):
    for path, item in described["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_path_parameter_says_what_it_accepts(described):
    for path, method, operation in _operations(described):
        for parameter in operation.get("parameters", ()):
            if parameter["in"] != "path":
                continue
            schema = parameter["schema"]
            assert schema.get("type") == "integer" and "maximum" in schema or "pattern" in schema or "enum" in schema, (method, path, parameter)


def test_every_error_answer_is_documented_with_the_error_body(described):
    assert described["info"]["x-api-version"] >= 1
    for path, method, operation in _operations(described):
        responses = operation["responses"]
        expected = set() if path in OPEN_PATHS else {"401", "403", "426"}
        if "requestBody" in operation:
            expected |= {"413", "422"}
        assert expected <= set(responses), (method, path, sorted(responses))
        for status, answer in responses.items():
            if int(status) >= 400:
                assert answer["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}, (method, path, status)
            assert "X-Skyhop-API-Version" in answer["headers"], (method, path, status)
    assert json.loads(COMMITTED.read_text())["components"]["schemas"]["ErrorBody"]["required"] == ["code", "detail"]
