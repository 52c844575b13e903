"""Lambda Cloud API failures -> skyhop's typed provider errors, with the scope each rules out.

Lambda answers errors as `{"error": {"code", "message", "suggestion"?}}`
(API reference, "Errors": https://docs-api.lambda.ai/api/cloud, and the
spec at https://cloud.lambda.ai/api/v1/openapi.json). The code decides, not
the HTTP status, except where no body came (a proxy's 502, a timeout):
- `instance-operations/launch/insufficient-capacity` (HTTP 400): no room for
  the type in that region now. Lambda has regions only, no zones, so the
  capacity error rules out the region.
- `global/quota-exceeded`: the account's instance limit, which Lambda keeps
  per account, not per region: the whole cloud.
- `global/invalid-api-key` (401), `global/account-inactive` (403): the cloud.
- `global/invalid-parameters`: this request (an instance type or region
  Lambda does not know): this offer only.
"""

from __future__ import annotations

from typing import Any

from skyhop.providers.errors import CLOUD, AuthError, CapacityError, NotSupportedError, ProviderError, QuotaError
from skyhop.providers.http import ApiError

CAPACITY = "instance-operations/launch/insufficient-capacity"
QUOTA = "global/quota-exceeded"
AUTH = frozenset({"global/invalid-api-key", "global/account-inactive", "global/unauthorized"})
INVALID = "global/invalid-parameters"
NOT_FOUND = "global/object-does-not-exist"


def error_fields(body: Any) -> tuple[str, str]:
    """(code, message with Lambda's suggestion) of an error body; empty strings when it has none."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", body.strip()[:300] if isinstance(body, str) else ""
    message = str(error.get("message") or "").strip()
    suggestion = error.get("suggestion")
    if suggestion:
        message = f"{message} {str(suggestion).strip()}".strip()
    return str(error.get("code") or ""), message


def translate(error: ApiError, *, region: str | None = None) -> ProviderError:
    """The typed error for a failed Lambda call (made in `region`, when it concerns one)."""
    if error.status == 0:  # no answer at all (unreachable, timed out): no region of it will do better now
        return ProviderError(f"{error}; trying elsewhere.", scope=CLOUD)
    code, message = error_fields(error.body)
    said = f"({code}: {message})" if code else f"(HTTP {error.status}{': ' + message if message else ''})"
    where = f" in {region}" if region else ""
    if code == CAPACITY:
        return CapacityError(f"Lambda Cloud has no capacity for this instance type{where} right now {said}.", scope="region")
    if code == QUOTA:
        return QuotaError(f"Your Lambda Cloud account's instance quota does not allow this request {said}. "
                          "Ask Lambda for more, or remove instances you no longer need.", scope=CLOUD)
    if code in AUTH or error.status in (401, 403):
        return AuthError(f"Lambda Cloud refused the API key {said}. Check $LAMBDA_API_KEY or ~/.lambda_cloud/lambda_keys "
                         "(a key from https://cloud.lambda.ai/api-keys), then run `skyhop check`.")
    if code == INVALID:
        return NotSupportedError(f"Lambda Cloud rejected the request{where} {said}.")
    if error.status >= 500 or error.status == 429:
        return ProviderError(f"The Lambda Cloud API is unavailable right now {said}; trying elsewhere.", scope=CLOUD)
    return ProviderError(f"Lambda Cloud refused the request{where} {said}.")


def is_gone(error: ApiError) -> bool:
    """Whether a failure only says the object no longer exists (what terminate and key removal tolerate)."""
    return error.status == 404 or error_fields(error.body)[0] == NOT_FOUND
