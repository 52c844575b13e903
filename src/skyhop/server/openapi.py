"""The OpenAPI description as the server behaves: error answers, auth and versions included.

FastAPI describes what routes return when they succeed and a 422 of its own
shape. The server answers every error with `ErrorBody` and, for every route
but the open ones, may answer 401 (no valid token), 426 (a client too old)
and, for a body, 413 (too large), and 403 (a role that does not allow it,
team mode) or 503 (a team server whose database does not answer). Those follow from the middleware
and the policy, so they are added here for every operation; what depends on
the route (404 for an unknown name, 409 for a taken one, 400 for a task that
does not parse) is declared on the route with `errors(...)`.

`docs/openapi.json` is this description, committed so a change to the API
shows in review; `python -m skyhop.server.openapi` writes it, and
tests/server/test_openapi_file.py fails while the two differ.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from skyhop.server import api_version
from skyhop.server.middleware import OPEN_PATHS

#: What each error status means here (its `code`s are in docs/json-output.md).
DESCRIPTIONS: dict[int, str] = {
    400: "Refused: the task or a setting does not hold (`code` invalid_request, infeasible, config, error)",
    402: "The caller's budget is spent (`code` budget_exceeded; the detail names the budget and the numbers)",
    401: "Not authenticated: no valid API token (`code` unauthorized)",
    403: "The caller's role does not allow this (`code` forbidden), or a cloud refused it (auth, quota)",
    404: "No such object, or one the caller may not see (`code` not_found)",
    409: "The name is taken, or the object's state refuses the change (`code` conflict)",
    413: "The body is larger than api_server.max_body_mb (`code` payload_too_large)",
    422: "Invalid request: `code` invalid_request, `fields` names what is wrong",
    426: "The client speaks an older API than the server answers (`code` client_too_old; the detail says what to install)",
    501: "The provider cannot do this (`code` not_supported)",
    502: "The provider or the cluster's agent failed (`code` provider)",
    503: "No capacity now, the price catalog is unavailable, or the server's database does not answer (`code` capacity, catalog, unavailable)",
}

_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error answers that depend on it, each an `ErrorBody`."""
    from skyhop.server.schemas import ErrorBody

    return {status: {"model": ErrorBody, "description": DESCRIPTIONS[status]} for status in statuses}


def describe(app) -> dict[str, Any]:
    """FastAPI's description of `app`, completed (kept on the app: built once)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    from skyhop.server.schemas import ErrorBody

    schema = get_openapi(title=app.title, version=str(api_version.API_VERSION), description=app.description, routes=app.routes)
    schema["info"]["x-api-version"] = api_version.API_VERSION
    schema["info"]["x-min-client-api-version"] = api_version.MIN_CLIENT_API_VERSION
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            _complete(path, method, operation)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = _with_security_scheme(schema)
    return schema


def _complete(path: str, method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    added: list[int] = []
    if path not in OPEN_PATHS:
        # 503: a team server whose database does not answer cannot check the token. 403: a role may be refused
        # anything but the open paths (a viewer writing, a user asking for all users, others' costs, admin routes).
        added += [401, 403, 426, 503]
        operation["security"] = [{"bearer": []}]
    if "requestBody" in operation:
        added.append(413)
    for status in added:
        responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
    ok = responses.get("200", {}).get("content", {})
    if len(ok) > 1 and ok.get("application/json") == {"schema": {}}:
        del ok["application/json"]  # a stream (text/plain, ndjson): FastAPI's default JSON entry is not what it sends
    for status, answer in responses.items():
        if status.isdigit() and int(status) >= 400:
            answer["description"] = DESCRIPTIONS.get(int(status), answer.get("description", ""))
            answer["content"] = dict(_ERROR_REF)
    for answer in responses.values():
        answer.setdefault("headers", {})[api_version.SERVER_HEADER] = {
            "description": "the API version the server speaks", "schema": {"type": "integer"},
        }


def _with_security_scheme(schema: dict[str, Any]) -> dict[str, Any]:
    schema["components"].setdefault("securitySchemes", {})["bearer"] = {
        "type": "http", "scheme": "bearer", "description": "the token in SKYHOP_HOME/api/server.json (local) or a user's token (team)",
    }
    return schema


def text(app) -> str:
    """The description as committed in docs/openapi.json (sorted keys, two-space indents, a final newline)."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def offline_app():
    """An app built only to be described: no database, no token that opens anything."""
    from skyhop.server.app import create_app

    class _NoOne:
        blocking = False

        def principal(self, token: str) -> None:
            return None

    return create_app(None, _NoOne())


COMMITTED = Path("docs") / "openapi.json"


def main(argv: list[str] | None = None) -> int:
    """`python -m skyhop.server.openapi [PATH]`: write the description (default docs/openapi.json, from the repository root)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else COMMITTED
    target.write_text(text(offline_app()), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
