"""Typed provider failures: the failover loop reads the type, the user reads the message.

Providers translate their SDK's exceptions into these so orchestration never
needs to know one cloud's error codes from another's.
"""

from __future__ import annotations

from skyhop.errors import SkyhopError


class ProviderError(SkyhopError):
    """A provider could not do what was asked."""


class CapacityError(ProviderError):
    """No room for this request here now; another zone, region or cloud may have it."""


class QuotaError(ProviderError):
    """The account's quota forbids the request; retrying elsewhere in the same cloud may work."""


class AuthError(ProviderError):
    """Credentials are missing, expired or lack permissions: skip this provider entirely."""


class NotSupportedError(ProviderError):
    """The provider cannot do this at all (e.g. stopping a machine that can only be deleted)."""
