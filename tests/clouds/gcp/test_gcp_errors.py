"""Compute Engine's documented error bodies -> typed errors with the scope failover blocks."""

from __future__ import annotations

import pytest

from skyhop.providers.errors import CLOUD, REGION, ZONE, AuthError, CapacityError, ProviderError, QuotaError
from skyhop.providers.gcp import errors


def operation(code: str, message: str, details: list | None = None) -> dict:
    """A DONE operation that failed (https://cloud.google.com/compute/docs/reference/rest/v1/zoneOperations#Operation)."""
    entry = {"code": code, "message": message, **({"errorDetails": details} if details else {})}
    return {"kind": "compute#operation", "name": "operation-1", "status": "DONE", "error": {"errors": [entry]}, "httpErrorStatusCode": 503}


@pytest.mark.parametrize("code", ["ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"])
def test_an_exhausted_zone_is_capacity_in_that_zone(code):
    text = "The zone 'projects/p/zones/us-central1-a' does not have enough resources available to fulfill the request.  '(resource type:compute)'."
    error = errors.from_operation(operation(code, text), region="us-central1", zone="us-central1-a")
    assert isinstance(error, CapacityError) and error.scope == ZONE
    assert "us-central1-a" in str(error) and code in str(error)


def test_a_regional_quota_blocks_the_region():
    details = [{"quotaInfo": {"metricName": "compute.googleapis.com/cpus", "limitName": "CPUS-per-project-region", "dimensions": {"region": "us-east1"}, "limit": 24}}]
    error = errors.from_operation(operation("QUOTA_EXCEEDED", "Quota 'CPUS' exceeded.  Limit: 24.0 in region us-east1.", details), region="us-east1", zone="us-east1-b")
    assert isinstance(error, QuotaError) and error.scope == REGION and "us-east1" in str(error)


def test_the_all_regions_gpu_quota_blocks_the_whole_cloud():
    error = errors.from_operation(operation("QUOTA_EXCEEDED", "Quota 'GPUS_ALL_REGIONS' exceeded.  Limit: 0.0 globally."), region="us-east1", zone="us-east1-b")
    assert isinstance(error, QuotaError) and error.scope == CLOUD and "GPUS_ALL_REGIONS" in str(error)


def test_a_succeeded_operation_is_no_error():
    assert errors.from_operation({"status": "DONE", "name": "op"}, region="r", zone="z") is None


def test_another_operation_error_stops_without_failover():
    error = errors.from_operation(operation("RESOURCE_NOT_FOUND", "The resource 'projects/p/global/images/nope' was not found"), region="r", zone="r-a")
    assert type(error) is ProviderError and error.scope is None and "nope" in str(error)


def google(status: int, reason: str, name: str, message: str) -> dict:
    """Google's standard JSON error (https://cloud.google.com/apis/design/errors)."""
    return {"error": {"code": status, "message": message, "errors": [{"message": message, "domain": "global", "reason": reason}], "status": name}}


@pytest.mark.parametrize(("status", "reason", "name"), [(401, "authError", "UNAUTHENTICATED"), (403, "forbidden", "PERMISSION_DENIED")])
def test_refused_credentials_block_the_cloud(status, reason, name):
    error = errors.from_http(status, google(status, reason, name, "Request had invalid authentication credentials."), region="r", zone=None, what="creating x")
    assert isinstance(error, AuthError) and error.scope == CLOUD and "skyhop check" in str(error)


def test_a_quota_answered_over_http_is_a_quota():
    body = google(403, "quotaExceeded", "PERMISSION_DENIED", "Quota 'GPUS_ALL_REGIONS' exceeded. Limit: 1.0 globally.")
    error = errors.from_http(403, body, region="us-west1", zone="us-west1-a", what="creating x")
    assert isinstance(error, QuotaError) and error.scope == CLOUD


def test_server_errors_and_silence_move_on():
    assert errors.from_http(503, google(503, "backendError", "UNAVAILABLE", "Backend Error"), region="r", zone="z", what="x").scope == REGION
    unreachable = errors.from_http(0, None, region="r", zone="z", what="creating x")
    assert unreachable.scope == CLOUD and "could not be reached" in str(unreachable)


def test_a_missing_resource_names_it():
    body = google(404, "notFound", "NOT_FOUND", "The resource 'projects/p/global/images/my-image' was not found")
    error = errors.from_http(404, body, region="r", zone="r-a", what="creating instance x")
    assert type(error) is ProviderError and error.scope is None and "my-image" in str(error)
