"""AWS API failures -> skyhop's typed provider errors, with the scope each rules out.

The failover loop blocks exactly the scope of the error and plans again, so the
code decides: no capacity is one zone's problem, a quota one region's, bad
credentials or missing permissions the whole cloud's. Codes come from the EC2
API reference's error list
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html)
and the shape EC2 and STS answer them in
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/query-api-troubleshooting.html);
the HTTP status is not used, only `Error.Code`, since EC2 documents the codes
and not the status of each.

botocore is imported inside `translate`, never at module import (skyhop's
import guard: SDKs stay out of `import skyhop`).
"""

from __future__ import annotations

from skyhop.providers.errors import REGION, AuthError, CapacityError, NotSupportedError, ProviderError, QuotaError

# No room in that zone now: another zone may have it. The spot codes count as capacity too: a spot
# request whose price or pool cannot be met is an offer that is out, as SkyPilot treats it.
CAPACITY = frozenset({
    "InsufficientInstanceCapacity", "InsufficientHostCapacity", "InsufficientReservedInstanceCapacity",
    "InsufficientCapacity", "InsufficientAddressCapacity", "UnfulfillableCapacity", "SpotMaxPriceTooLow",
})
# The account's limits in this region (quotas are regional in EC2).
QUOTA = frozenset({
    "VcpuLimitExceeded", "InstanceLimitExceeded", "MaxSpotInstanceCountExceeded", "MaxSpotFleetRequestCountExceeded",
    "AddressLimitExceeded", "VolumeLimitExceeded", "SecurityGroupLimitExceeded",
})
# Credentials not valid, expired, or without the permission: no region of this cloud will do better.
# AccessDenied is what IAM (and moto) answer; EC2 itself says UnauthorizedOperation.
AUTH = frozenset({
    "AuthFailure", "UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "InvalidClientTokenId",
    "ExpiredToken", "ExpiredTokenException", "RequestExpired", "SignatureDoesNotMatch", "UnrecognizedClientException",
})
# This instance type is not offered in this zone: other types or zones may be.
UNSUPPORTED = frozenset({"Unsupported"})
# The service is busy in this region: botocore already retried; try elsewhere.
THROTTLED = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException", "ServiceUnavailable", "InternalError", "Unavailable"})


class ApiTimeout(ProviderError):
    """An AWS call got no answer in time: the region failed, and a create may still have happened."""

    scope = REGION


def classify(code: str, message: str, *, region: str, zone: str | None = None) -> ProviderError:
    """The typed error for AWS error `code` (its `Message` quoted), raised by a call in `region`/`zone`."""
    where = zone or region
    said = f"({code}: {message.strip()})" if message.strip() else f"({code})"
    if code in CAPACITY:
        return CapacityError(f"AWS has no capacity for this request in {where} right now {said}.")
    if code in QUOTA:
        return QuotaError(f"Your AWS account's quota in {region} does not allow this request {said}. "
                          "Ask AWS for more (Service Quotas console) or use another region.")
    if code in AUTH:
        return AuthError(f"AWS refused the credentials or lacks a permission for them {said}. "
                         "Check them with `aws sts get-caller-identity` and the IAM policy, then run `skyhop check`.")
    if code in UNSUPPORTED:
        return NotSupportedError(f"AWS does not offer this instance type in {where} {said}.")
    if code in THROTTLED:
        return ProviderError(f"The AWS API in {region} is overloaded or unavailable {said}; trying elsewhere.", scope=REGION)
    if code.startswith("InvalidAMIID"):
        return ProviderError(f"The image does not exist in {region} or cannot be used there {said}. Set `image_id` to an AMI of that region.")
    return ProviderError(f"AWS rejected the request in {where} {said}.")


def translate(error: BaseException, *, region: str, zone: str | None = None) -> ProviderError:
    """The typed error for an exception botocore raised; anything else is returned as a plain ProviderError."""
    from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return classify(str(details.get("Code", "")), str(details.get("Message", "")), region=region, zone=zone)
    if isinstance(error, NoCredentialsError):
        return AuthError("No AWS credentials found (environment, ~/.aws/credentials or a profile). Configure them, then run `skyhop check`.")
    if isinstance(error, (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError)):
        return ApiTimeout(f"The AWS API in {region} did not answer in time ({type(error).__name__}); trying elsewhere.")
    return ProviderError(f"AWS call in {zone or region} failed: {error}")
