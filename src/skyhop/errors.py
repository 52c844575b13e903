"""The error family every user-facing failure belongs to.

The CLI prints a `SkyhopError` as one paragraph and exits non-zero; anything
else reaching the top is a bug and is shown as such. Keeping one base class
is what lets us promise "no traceback for a user mistake".
"""

from __future__ import annotations


class SkyhopError(Exception):
    """A failure the user can act on; its message is the whole explanation."""

    exit_code: int = 1


class CatalogError(SkyhopError):
    """The price catalog is missing, unreadable or could not be fetched."""


class InfeasibleError(SkyhopError):
    """No offer satisfies the request; the message says why, per constraint."""


class ConfigError(SkyhopError):
    """`config.yaml` is malformed."""


class NotFoundError(SkyhopError):
    """A named cluster, job or request does not exist."""


class ConflictError(SkyhopError):
    """A name is already taken, or the object is in a state that refuses the change (HTTP 409)."""


class ForbiddenError(SkyhopError):
    """The caller is known but their role does not allow the action (HTTP 403)."""


class BudgetExceeded(SkyhopError):
    """A budget of the caller (theirs or their workspace's) is spent: new launches are refused (HTTP 402).

    The message names the budget and its numbers and says how it ends (next month, or an admin raising it)."""
