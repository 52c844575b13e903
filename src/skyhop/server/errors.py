"""Error answers: every failure is `{"code", "detail"}` with the status its code implies.

Validation failures (422, `invalid_request`) name each offending field and
never echo the value sent (it may be a secret). Anything outside the
SkyhopError family is a bug: the answer is a 500 with code `internal` and a
pointer to the server log, never the traceback itself.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from skyhop import paths
from skyhop.errors import SkyhopError
from skyhop.server import api_version
from skyhop.server.error_codes import INTERNAL, INVALID_REQUEST, code_of, status_of
from skyhop.server.openapi import describe

log = logging.getLogger("skyhop.server")


def error_response(status: int, code: str, detail: str, fields: list[str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return JSONResponse(body, status_code=status)


def _field(loc: Any) -> str:
    return ".".join(str(part) for part in loc)


async def _user_error(request: Request, error: Exception) -> JSONResponse:
    code = code_of(error)
    return error_response(status_of(code), code, str(error))


async def _invalid(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    fields = [_field(p.get("loc", ())) for p in problems]
    detail = "; ".join(f"{field}: {p.get('msg', 'invalid')}" for field, p in zip(fields, problems, strict=True)) or "The request is malformed."
    return error_response(422, INVALID_REQUEST, detail[:2000], fields[:50])


async def _http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    if error.status_code == 400 and isinstance(error.__cause__, UnicodeDecodeError):
        # FastAPI's own 400 for a body that is not UTF-8 ("There was an error parsing the body"): a body that is
        # not JSON text is the same mistake as one that does not parse, which is a 422 naming `body`.
        return error_response(422, INVALID_REQUEST, "body: not JSON text (it must be UTF-8).", ["body"])
    code = "not_found" if error.status_code == 404 else INVALID_REQUEST
    response = error_response(error.status_code, code, str(error.detail))
    # The exception's own headers belong to the answer: a 405 says which methods are allowed (RFC 9110 15.5.6).
    response.headers.update(error.headers or {})
    return response


async def _bug(request: Request, error: Exception) -> JSONResponse:
    log.exception("unexpected error serving %s %s", request.method, request.url.path)
    detail = f"Internal error in the API server ({type(error).__name__}); details in {paths.api_dir() / 'server.log'}."
    response = error_response(500, INTERNAL, detail)
    # Starlette sends this answer from outside the middleware, so it gets the API version here.
    response.headers[api_version.SERVER_HEADER] = str(api_version.API_VERSION)
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(SkyhopError, _user_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _bug)
    app.openapi = lambda: describe(app)  # type: ignore[method-assign]

