"""Errors raised by the state store.

They derive from `SkyhopError` so that the CLI shows their message as the whole
explanation: each one names what was asked for and what the user can do.
"""

from __future__ import annotations

from skyhop import errors as _errors
from skyhop.errors import ConflictError, SkyhopError

# The project-wide "no such thing" error (the API server maps it to 404).
_NotFound: type[SkyhopError] = getattr(_errors, "NotFoundError", SkyhopError)  # absent in older trees


class StateError(SkyhopError):
    """The state database refused an operation or cannot be used."""


class ClusterExistsError(StateError, ConflictError):
    """A cluster with this name is already recorded."""


class ClusterNotFoundError(StateError, _NotFound):  # type: ignore[misc,valid-type]
    """No cluster with this name is recorded."""


class RequestNotFoundError(StateError, _NotFound):  # type: ignore[misc,valid-type]
    """No API request with this id is recorded."""


class RequestExistsError(StateError, ConflictError):
    """An API request with this id is recorded already (a client's idempotency key used twice)."""


class SchemaError(StateError):
    """The database schema is unknown to this version of skyhop (e.g. newer)."""
