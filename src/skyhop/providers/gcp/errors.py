"""Compute Engine failures -> skyhop's typed provider errors, with the scope each rules out.

GCP reports failures in two places, and both are read here:

- the HTTP answer of a call, in Google's standard error body
  (https://cloud.google.com/apis/design/errors,
  https://cloud.google.com/compute/docs/api/how-tos/api-requests-responses#handling_api_errors):
  `{"error": {"code": 403, "message": ..., "status": "PERMISSION_DENIED",
  "errors": [{"reason": "forbidden", "domain": "global", "message": ...}]}}`;
- the `error` of an operation that ended (`status: DONE`): an insert is accepted
  with 200 and fails later, so capacity and quota arrive there
  (https://cloud.google.com/compute/docs/reference/rest/v1/zoneOperations#Operation):
  `{"error": {"errors": [{"code": "ZONE_RESOURCE_POOL_EXHAUSTED", "message": ...,
  "errorDetails": [{"quotaInfo": {"metricName": ...}}]}]}}`.

Codes as SkyPilot's GCP failover reads them, and as documented in
https://cloud.google.com/compute/docs/troubleshooting/troubleshooting-resource-availability
(ZONE_RESOURCE_POOL_EXHAUSTED[_WITH_DETAILS]: no room in that zone now) and
https://cloud.google.com/compute/resource-usage (QUOTA_EXCEEDED: regional quotas,
except the project-wide GPUS_ALL_REGIONS, which no other region can satisfy).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from skyhop.providers.errors import CLOUD, REGION, AuthError, CapacityError, ProviderError, QuotaError

# A DONE operation's error codes that mean "no room in this zone right now".
CAPACITY = frozenset({"ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"})
QUOTA = frozenset({"QUOTA_EXCEEDED"})
# The one quota that holds for the whole project, whatever the region.
GLOBAL_QUOTA = "GPUS_ALL_REGIONS"
# `errors[].reason` of an HTTP error that is a quota (or rate) limit rather than a missing permission.
QUOTA_REASONS = frozenset({"quotaExceeded", "rateLimitExceeded", "userRateLimitExceeded"})

_CHECK = "Check the service account or `gcloud auth application-default login`, its roles (Compute Admin), then run `skyhop check`."


def _where(region: str | None, zone: str | None) -> str:
    return zone or region or "GCP"


def _quota(text: str, region: str | None) -> QuotaError:
    if GLOBAL_QUOTA in text:
        return QuotaError(f"Your GCP project's {GLOBAL_QUOTA} quota does not allow this request ({text}). "
                          "It counts GPUs in every region: ask Google for more (IAM & Admin > Quotas).", scope=CLOUD)
    return QuotaError(f"Your GCP project's quota in {region or 'this region'} does not allow this request ({text}). "
                      "Ask Google for more (IAM & Admin > Quotas) or use another region.", scope=REGION)


def from_operation(operation: Mapping[str, Any], *, region: str | None, zone: str | None) -> ProviderError | None:
    """The typed error of a DONE operation that failed; None when it succeeded."""
    errors = ((operation.get("error") or {}).get("errors")) or []
    if not errors:
        return None
    codes = [str(e.get("code", "")) for e in errors]
    said = "; ".join(f"{e.get('code', '')}: {str(e.get('message', '')).strip()}" for e in errors)
    metrics = " ".join(str((d.get("quotaInfo") or {}).get("metricName", "")) for e in errors for d in e.get("errorDetails") or [])
    if CAPACITY & set(codes):
        return CapacityError(f"GCP has no capacity for this request in {_where(region, zone)} right now ({said}).")
    if QUOTA & set(codes):
        return _quota(f"{said} {metrics}".strip(), region)
    return ProviderError(f"GCP could not complete the operation in {_where(region, zone)} ({said}).")


def from_http(status: int, body: Any, *, region: str | None, zone: str | None, what: str) -> ProviderError:
    """The typed error for an HTTP error answer (`status` 0: no answer at all) to the call `what`."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        said = (body if isinstance(body, str) else json.dumps(body))[:300] if body else ""
        error = {"message": said}
    message = str(error.get("message") or "").strip()
    reasons = {str(e.get("reason", "")) for e in error.get("errors") or [] if isinstance(e, dict)}
    said = f"({status} {error.get('status') or ''}: {message})".replace(" :", ":") if status else f"({message})"
    if status == 0:
        return ProviderError(f"The GCP Compute API could not be reached for {what} {said}.", scope=CLOUD)
    if reasons & QUOTA_REASONS or status == 429:
        return _quota(message or ", ".join(sorted(reasons)), region)
    if status in (401, 403):
        return AuthError(f"GCP refused the credentials for {what} {said}. {_CHECK}")
    if status >= 500:
        return ProviderError(f"The GCP Compute API failed {what} in {_where(region, zone)} {said}; trying elsewhere.", scope=REGION)
    if status == 404:
        return ProviderError(f"GCP found no such resource while {what} in {_where(region, zone)} {said}.")
    return ProviderError(f"GCP rejected {what} in {_where(region, zone)} {said}.")
