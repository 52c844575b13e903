"""Typed provider failures: the failover loop reads the type, the user reads the message.

Providers translate their SDK's exceptions into these so orchestration never
needs to know one cloud's error codes from another's. Each type carries the
scope the failure rules out (`ZONE`, `REGION` or `CLOUD`): the failover loop
blocks exactly that much of the offer it tried and plans again. A provider
that knows better passes `scope=` (e.g. a capacity error that covers a whole
region).
"""

from __future__ import annotations

from skyhop.errors import SkyhopError

ZONE = "zone"
REGION = "region"
CLOUD = "cloud"
INSTANCE = "instance"  # this instance type in this zone only


class ProviderError(SkyhopError):
    """A provider could not do what was asked."""

    scope: str | None = None  # None: not a placement failure, failover does not apply

    def __init__(self, message: str, *, scope: str | None = None) -> None:
        super().__init__(message)
        if scope is not None:
            if scope not in (ZONE, REGION, CLOUD, INSTANCE):
                raise ValueError(f"unknown failure scope {scope!r}")
            self.scope = scope


class CapacityError(ProviderError):
    """No room for this request here now; another zone, region or cloud may have it."""

    scope = ZONE


class QuotaError(ProviderError):
    """The account's quota forbids the request; retrying in another region of the same cloud may work."""

    scope = REGION


class AuthError(ProviderError):
    """Credentials are missing, expired or lack permissions: skip this provider entirely."""

    scope = CLOUD


class NotSupportedError(ProviderError):
    """The provider cannot do this at all (e.g. stopping a machine that can only be deleted)."""

    scope = INSTANCE


class LaunchCancelled(ProviderError):
    """The request was cancelled (`LaunchRequest.cancelled`) while the provider waited; what it created is removed."""
