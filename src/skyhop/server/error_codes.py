"""The API's error codes: one stable word per error type, on both sides of HTTP.

The server puts `code` next to `detail` in every error body (and stores it
with a failed request); the client turns the code back into the same
exception class, so `except CapacityError` works the same whether the code
ran in-process or behind the API server. Stdlib only: the client imports it.
The codes are documented in docs/json-output.md; never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass

from skyhop.errors import (
    BudgetExceeded,
    CatalogError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    InfeasibleError,
    NotFoundError,
    SkyhopError,
)
from skyhop.execution.progress import RequestCancelled, RequestInterrupted
from skyhop.providers.errors import (
    AuthError,
    CapacityError,
    NotSupportedError,
    ProviderError,
    QuotaError,
)
from skyhop.spec.errors import SpecError

#: Codes with no exception class of their own on the client (it raises SkyhopError for them).
INVALID_REQUEST = "invalid_request"
UNAUTHORIZED = "unauthorized"
PAYLOAD_TOO_LARGE = "payload_too_large"
UNAVAILABLE = "unavailable"  # the server cannot answer now (its database is down): 503, try again
CANCELLED = "cancelled"
INTERNAL = "internal"
ERROR = "error"


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    error_type: type[SkyhopError]


# Most specific first: an error takes the first entry it is an instance of.
_TABLE: tuple[ErrorCode, ...] = (
    # A request outcome only (never an HTTP answer): the server restarted and could not resume it.
    ErrorCode("interrupted", 503, RequestInterrupted),
    ErrorCode("capacity", 503, CapacityError),
    ErrorCode("quota", 403, QuotaError),
    ErrorCode("auth", 403, AuthError),
    ErrorCode("not_supported", 501, NotSupportedError),
    ErrorCode("provider", 502, ProviderError),
    ErrorCode("not_found", 404, NotFoundError),
    ErrorCode("conflict", 409, ConflictError),
    ErrorCode("forbidden", 403, ForbiddenError),
    # 402, not 403: nothing is wrong with who asks (their role allows it), the money is spent; a script tells them apart by
    # the status alone, and no HTTP client or proxy treats 402 specially.
    ErrorCode("budget_exceeded", 402, BudgetExceeded),
    ErrorCode("infeasible", 400, InfeasibleError),
    ErrorCode("catalog", 503, CatalogError),
    ErrorCode("config", 400, ConfigError),
)
_BY_CODE = {entry.code: entry for entry in _TABLE}


def code_of(error: BaseException) -> str:
    """The code the API reports for `error` (`internal` for anything outside the SkyhopError family)."""
    if isinstance(error, RequestCancelled):
        return CANCELLED
    if isinstance(error, SpecError):  # a task that does not parse: the client's input (raised as SkyhopError there)
        return INVALID_REQUEST
    for entry in _TABLE:
        if isinstance(error, entry.error_type):
            return entry.code
    return ERROR if isinstance(error, SkyhopError) else INTERNAL


def status_of(code: str) -> int:
    entry = _BY_CODE.get(code)
    return entry.status if entry is not None else {INTERNAL: 500, UNAVAILABLE: 503}.get(code, 400)


def error_for(code: str | None, message: str) -> SkyhopError:
    """The exception the server raised, rebuilt from its code (SkyhopError for unknown or generic codes)."""
    if code == CANCELLED:
        return RequestCancelled(message)
    entry = _BY_CODE.get(code or "")
    return (entry.error_type if entry is not None else SkyhopError)(message)
